"""Before a refund, the family's other accounts (AR-057): a refund asked while relatives
owe is held as an offer; its asker moves the credit to a relative, or asks for the
refund after all, exactly one of the two."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from core.approvals import RefundOffer, offer_refund, refund_anyway, transfer_instead
from core.approvals.tables import approval_request
from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState, PermissionDenied, ValidationError
from core.ledger.accounts import Account
from core.profile.relationships import relate
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, CLERK, SUPERVISOR, balance_of, open_account, usd

DAY = date(2026, 6, 1)
ON = date(2026, 6, 30)


async def family(db: Database) -> tuple[Account, Account, Account]:
    """A guarantor, a child in credit by 100.00, and a sibling owing 50.00 + 30.00."""
    parent = await open_account(db, "Pia López")
    ana, leo = await open_account(db, "Ana López"), await open_account(db, "Leo López")
    for child in (ana, leo):
        await relate(db, ADMIN, account_id=child.id, related_account_id=parent.id,
                     kind="guarantor", effective_from=DAY)  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("100"), received_on=DAY,
                         key="pay-ana", method="cash")  # fmt: skip
    for n, amount in enumerate(("50", "30")):
        await post_charge(db, ADMIN, account_id=leo.id, amount=usd(amount),
                          service_date=DAY, key=f"leo-{n}")  # fmt: skip
    return parent, ana, leo


async def offer(db: Database, account: Account, amount: str) -> RefundOffer | None:
    return await offer_refund(
        db, SUPERVISOR, token=uuid.uuid4().hex, account_id=account.id,
        amount=usd(amount), reason="CREDIT_BALANCE", note="overpaid", on=ON,
    )  # fmt: skip


async def requests(db: Database) -> int:
    async with db.read() as conn:
        query = select(func.count()).select_from(approval_request)
        return int((await conn.execute(query)).scalar_one())


async def test_relatives_who_owe_are_offered_before_a_refund(db: Database) -> None:
    _, ana, leo = await family(db)
    held = await offer(db, ana, "60")
    assert held is not None and held.status == "open"
    assert [(r.account.id, r.owed, r.how) for r in held.relatives] == [
        (leo.id, usd("80"), "same guarantor")
    ]
    assert await requests(db) == 0  # nothing asked for yet
    alone = await open_account(db, "Sam Solo")
    await record_payment(db, ADMIN, account_id=alone.id, amount=usd("10"), received_on=DAY,
                         key="pay-sam", method="cash")  # fmt: skip
    assert await offer(db, alone, "10") is None  # nobody to offer: refund at once


async def test_a_transfer_pays_the_relatives_oldest_charges_once(db: Database) -> None:
    _, ana, leo = await family(db)
    held = await offer(db, ana, "60")
    assert held is not None
    moved = await transfer_instead(db, SUPERVISOR, held.token, leo.id, on=ON)
    assert moved.amount == usd("60") and not moved.replayed
    assert await balance_of(db, ana.id) == usd("-40")  # 40.00 of credit left
    assert await balance_of(db, leo.id) == usd("20")  # the 50.00 charge and 10.00 of the 30.00
    again = await transfer_instead(db, SUPERVISOR, held.token, leo.id, on=ON)
    assert again.replayed and again.amount == usd("60")
    assert await balance_of(db, ana.id) == usd("-40") and await balance_of(db, leo.id) == usd("20")
    with pytest.raises(InvalidState, match="the credit was transferred instead"):
        await refund_anyway(db, SUPERVISOR, held.token)
    assert await requests(db) == 0


async def test_a_transfer_never_moves_more_than_the_relative_owes(db: Database) -> None:
    _, ana, leo = await family(db)
    held = await offer(db, ana, "100")
    assert held is not None
    moved = await transfer_instead(db, SUPERVISOR, held.token, leo.id, on=ON)
    assert moved.amount == usd("80")
    assert await balance_of(db, ana.id) == usd("-20") and await balance_of(db, leo.id) == usd("0")


async def test_refund_anyway_asks_for_the_refund_and_rules_out_the_transfer(db: Database) -> None:
    _, ana, leo = await family(db)
    held = await offer(db, ana, "60")
    assert held is not None
    request = await refund_anyway(db, SUPERVISOR, held.token)
    assert request.amount == usd("60") and request.reason == "CREDIT_BALANCE"
    assert (await refund_anyway(db, SUPERVISOR, held.token)).id == request.id
    with pytest.raises(InvalidState, match="the refund was asked for instead"):
        await transfer_instead(db, SUPERVISOR, held.token, leo.id, on=ON)
    assert await balance_of(db, leo.id) == usd("80") and await requests(db) == 1


async def test_both_answers_at_once_have_exactly_one_outcome(db: Database) -> None:
    _, ana, leo = await family(db)
    held = await offer(db, ana, "60")
    assert held is not None
    moved, asked = await asyncio.gather(
        transfer_instead(db, SUPERVISOR, held.token, leo.id, on=ON),
        refund_anyway(db, SUPERVISOR, held.token),
        return_exceptions=True,
    )
    if isinstance(moved, BaseException):
        assert isinstance(moved, InvalidState) and await requests(db) == 1
        assert await balance_of(db, leo.id) == usd("80")
    else:
        assert isinstance(asked, InvalidState) and await requests(db) == 0
        assert await balance_of(db, leo.id) == usd("20")


async def test_who_may_answer_and_for_how_long(db: Database, clock: FixedClock) -> None:
    _, ana, leo = await family(db)
    stranger = await open_account(db, "Zed Other")
    held = await offer(db, ana, "60")
    assert held is not None
    with pytest.raises(PermissionDenied, match="only the person who asked"):
        await refund_anyway(db, ADMIN, held.token)
    with pytest.raises(ValidationError, match="is not family of"):
        await transfer_instead(db, SUPERVISOR, held.token, stranger.id, on=ON)
    with pytest.raises(ValidationError, match=r"cannot refund 200\.00"):
        await offer(db, ana, "200")
    with pytest.raises(PermissionDenied):
        await offer_refund(db, CLERK, token=uuid.uuid4().hex, account_id=ana.id,
                           amount=usd("10"), reason="CREDIT_BALANCE", note="", on=ON)  # fmt: skip
    clock.advance(minutes=31)
    with pytest.raises(InvalidState, match="this question has expired"):
        await transfer_instead(db, SUPERVISOR, held.token, leo.id, on=ON)
    assert await balance_of(db, leo.id) == usd("80")
