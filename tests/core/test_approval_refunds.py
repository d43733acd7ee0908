"""Refund requests (AR-058) and write-off reversal requests (AR-028), approved like
write-offs: a clerk asks, a supervisor decides, the posting happens on approval."""

from __future__ import annotations

from datetime import date

import pytest

from core.approvals import (
    AlreadyDecided,
    Outcome,
    RequestKind,
    Status,
    approve,
    request_refund,
    request_reversal_of_write_off,
    request_write_off,
)
from core.auth import Actor, StaffRole
from core.db import Database
from core.errors import InvalidState, PermissionDenied, ValidationError
from core.ledger.accounts import Account
from core.services.charges import post_charge
from core.services.payments import apply_unapplied, record_payment
from tests.core.helpers import ADMIN, SUPERVISOR, balance_of, open_account, usd

DAY, ON = date(2026, 6, 1), date(2026, 6, 30)
CLERK = Actor("staff", "11", "Carl Clerk", StaffRole.CLERK)
BILLER = Actor("staff", "10", "Bea Biller", StaffRole.BILLER)


async def in_credit(db: Database, paid: str, owed: str | None = None) -> Account:
    account = await open_account(db)
    if owed is not None:
        await post_charge(
            db, ADMIN, account_id=account.id, amount=usd(owed), service_date=DAY, key="c"
        )
    await record_payment(
        db, ADMIN, account_id=account.id, amount=usd(paid), received_on=DAY, key="p", method="card"
    )
    return account


async def test_a_clerk_asks_for_a_refund_and_a_supervisor_approves_it(db: Database) -> None:
    """Overpaid by 200.00; 150.00 goes back as a refund payable (2200)."""
    account = await in_credit(db, "200")
    request = await request_refund(
        db, CLERK, account_id=account.id, amount=usd("150"), reason="CREDIT_BALANCE", key="rf"
    )
    assert (request.kind, request.status) == (RequestKind.REFUND, Status.PENDING)
    with pytest.raises(PermissionDenied, match="'refund'"):
        await approve(db, BILLER, request.id, on=ON)
    decision = await approve(db, SUPERVISOR, request.id, on=ON)
    [entry] = decision.entries
    assert entry.entry_type == "REFUND" and {ln.gl for ln in entry.lines} == {"1100", "2200"}
    assert decision.request.posted == usd("150")
    assert await balance_of(db, account.id) == usd("-50")


async def test_a_refund_must_fit_the_credit_balance(db: Database) -> None:
    account = await in_credit(db, "100")
    with pytest.raises(ValidationError, match=r"cannot refund 120\.00: 100\.00 is in credit"):
        await request_refund(
            db, CLERK, account_id=account.id, amount=usd("120"), reason="CREDIT_BALANCE", key="a"
        )
    with pytest.raises(ValidationError, match="'NOPE' is not a defined reason code"):
        await request_refund(
            db, CLERK, account_id=account.id, amount=usd("10"), reason="NOPE", key="b"
        )
    await request_refund(
        db, CLERK, account_id=account.id, amount=usd("70"), reason="CREDIT_BALANCE", key="c"
    )
    with pytest.raises(ValidationError, match=r"70\.00 is asked for by request 1"):
        await request_refund(
            db, CLERK, account_id=account.id, amount=usd("40"), reason="CREDIT_BALANCE", key="d"
        )


async def test_unapplied_cash_on_an_account_that_owes_is_not_refunded(db: Database) -> None:
    """AR-057: the money should pay what the account owes first."""
    account = await open_account(db)
    await record_payment(
        db, ADMIN, account_id=account.id, amount=usd("50"), received_on=DAY, key="p", method="card"
    )
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("80"), service_date=DAY, key="c"
    )
    with pytest.raises(ValidationError, match=r"no credit balance; its 50\.00 of unapplied cash"):
        await request_refund(
            db, CLERK, account_id=account.id, amount=usd("50"), reason="CREDIT_BALANCE", key="r"
        )


async def test_a_refund_is_checked_again_on_approval(db: Database) -> None:
    account = await in_credit(db, "100")
    request = await request_refund(
        db, CLERK, account_id=account.id, amount=usd("100"), reason="CREDIT_BALANCE", key="r"
    )
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("30"), service_date=DAY, key="c"
    )
    await apply_unapplied(db, ADMIN, account_id=account.id, key="apply", on=DAY)
    with pytest.raises(InvalidState, match=r"only 70\.00 is in credit .* less than the 100\.00"):
        await approve(db, SUPERVISOR, request.id, on=ON)
    assert await balance_of(db, account.id) == usd("-70")


async def test_a_write_off_is_reversed_on_request(db: Database) -> None:
    """AR-028: the write-off was a mistake; reversing it puts the 60.00 back."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=DAY, key="c"
    )
    asked = await request_write_off(
        db,
        BILLER,
        account_id=account.id,
        amount=usd("60"),
        reason="ADMIN",
        note="hardship",
        key="w",
    )
    [write_off] = (await approve(db, SUPERVISOR, asked.id, on=DAY)).entries
    assert await balance_of(db, account.id) == usd("40")

    request = await request_reversal_of_write_off(
        db, BILLER, entry_id=write_off.id, reason="KEYING_ERROR", note="wrong patient", key="rv"
    )
    assert (request.kind, request.amount, request.reverses_entry_id) == (
        RequestKind.WRITE_OFF_REVERSAL,
        usd("60"),
        write_off.id,
    )
    with pytest.raises(InvalidState, match=f"request {request.id} already asks to reverse"):
        await request_reversal_of_write_off(
            db, BILLER, entry_id=write_off.id, reason="KEYING_ERROR", note="again", key="rv2"
        )
    with pytest.raises(PermissionDenied, match="segregation of duties"):
        await approve(db, BILLER, request.id, on=ON)
    decision = await approve(db, SUPERVISOR, request.id, on=ON)
    assert decision.outcome is Outcome.APPROVED
    assert decision.entries[0].reverses_id == write_off.id
    assert await balance_of(db, account.id) == usd("100")
    with pytest.raises(InvalidState, match="has already been reversed by T"):
        await request_reversal_of_write_off(
            db, BILLER, entry_id=write_off.id, reason="KEYING_ERROR", note="again", key="rv3"
        )
    with pytest.raises(AlreadyDecided):
        await approve(db, ADMIN, request.id, on=ON)


async def test_only_write_offs_are_reversed_through_a_request(db: Database) -> None:
    account = await open_account(db)
    charge = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=DAY, key="c"
    )
    with pytest.raises(ValidationError, match="is not a write-off"):
        await request_reversal_of_write_off(
            db, BILLER, entry_id=charge.id, reason="KEYING_ERROR", note="x", key="rv"
        )
