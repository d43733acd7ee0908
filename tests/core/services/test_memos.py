"""Memos, transfers, prepayments, bad debt and user-defined codes."""

from __future__ import annotations

from datetime import date

import pytest

from core.db import Database
from core.errors import InvalidState, ValidationError
from core.ledger.posting import load_entry
from core.services.adjustments import reverse_entry, write_off
from core.services.charges import post_charge
from core.services.codes import define_entry_type, define_reason_code
from core.services.memos import post_memo, receive_prepayment, transfer_item, use_prepayment
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, balance_of, items_of, open_account, usd

DAY = date(2026, 6, 1)


async def test_credit_memo_reduces_the_named_item_and_no_more(db: Database) -> None:
    """AR-071, AR-115: a credit memo points at the item it reduces."""
    account = await open_account(db)
    charge = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=DAY, key="c"
    )
    with pytest.raises(ValidationError, match=r"more than the 100\.00 open"):
        await post_memo(
            db,
            ADMIN,
            memo_type="CREDIT_MEMO",
            account_id=account.id,
            amount=usd("150"),
            on=DAY,
            key="m0",
            reason="OTHER",
            note="x",
            item_id=charge.item_ids[0],
        )
    await post_memo(
        db,
        ADMIN,
        memo_type="DISCOUNT",
        account_id=account.id,
        amount=usd("10"),
        on=DAY,
        key="m1",
        reason="PROMPT_PAY",
        note="prompt payment",
        item_id=charge.item_ids[0],
    )
    debit = await post_memo(
        db,
        ADMIN,
        memo_type="FINANCE_CHARGE",
        account_id=account.id,
        amount=usd("2.50"),
        on=DAY,
        key="m2",
        reason="OTHER",
        note="late fee",
    )
    assert await balance_of(db, account.id) == usd("92.50")
    items = {i.id: i for i in await items_of(db, account.id)}
    assert items[charge.item_ids[0]].open == usd("90.00")
    assert items[debit.item_ids[0]].due_date == date(2026, 7, 1)


async def test_transfer_moves_an_open_amount_to_the_guarantor(db: Database) -> None:
    """AR-074: the patient's open charge moves to the guarantor's account."""
    parent = await open_account(db, name="Rosa Garcia", customer_type="guarantor")
    child = await open_account(db, name="Leo Garcia", guarantor_id=parent.id)
    charge = await post_charge(
        db, ADMIN, account_id=child.id, amount=usd("80"), service_date=DAY, key="c"
    )
    await transfer_item(
        db,
        ADMIN,
        item_id=charge.item_ids[0],
        to_account_id=parent.id,
        on=date(2026, 6, 5),
        key="t",
        amount=usd("50"),
    )
    assert await balance_of(db, child.id) == usd("30.00")
    assert await balance_of(db, parent.id) == usd("50.00")
    with pytest.raises(ValidationError, match=r"cannot transfer 40\.00"):
        await transfer_item(
            db,
            ADMIN,
            item_id=charge.item_ids[0],
            to_account_id=parent.id,
            on=date(2026, 6, 5),
            key="t2",
            amount=usd("40"),
        )


async def test_prepayment_is_held_then_used_when_the_treatment_is_billed(db: Database) -> None:
    """AR-087, BI-07: a prepaid bundle sits outside A/R until the sessions are billed."""
    account = await open_account(db)
    await receive_prepayment(
        db, ADMIN, account_id=account.id, amount=usd("200"), on=DAY, key="pre", method="card"
    )
    assert await balance_of(db, account.id) == usd("0")
    session = await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("120"),
        service_date=date(2026, 6, 8),
        key="s1",
    )
    await use_prepayment(
        db, ADMIN, item_id=session.item_ids[0], amount=usd("120"), on=date(2026, 6, 8), key="use1"
    )
    assert await balance_of(db, account.id) == usd("0")
    second = await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("120"),
        service_date=date(2026, 6, 15),
        key="s2",
    )
    with pytest.raises(InvalidState, match=r"only 80\.00 is held"):
        await use_prepayment(
            db,
            ADMIN,
            item_id=second.item_ids[0],
            amount=usd("120"),
            on=date(2026, 6, 15),
            key="use2",
        )
    await use_prepayment(
        db, ADMIN, item_id=second.item_ids[0], amount=usd("80"), on=date(2026, 6, 15), key="use3"
    )
    assert await balance_of(db, account.id) == usd("40.00")


async def test_bad_debt_and_reinstatement_when_money_arrives(db: Database) -> None:
    """AR-027, AR-110, AR-111: written off to bad debt, reinstated when the patient pays."""
    account = await open_account(db)
    await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("300"),
        service_date=date(2026, 1, 10),
        key="c",
    )
    [bad] = await write_off(
        db,
        ADMIN,
        account_id=account.id,
        key="bd",
        on=DAY,
        reason="UNCOLLECTIBLE",
        note="collections exhausted",
        entry_type="WO_BAD_DEBT",
    )
    assert await balance_of(db, account.id) == usd("0")
    assert {ln.gl for ln in bad.lines} == {"6200", "1100"}

    back = await reverse_entry(
        db, ADMIN, entry_id=bad.id, on=date(2026, 6, 20), key="re", reason="LATE_PAYMENT"
    )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("300"),
        received_on=date(2026, 6, 20),
        key="p",
        method="card",
    )
    assert back.entry_type == "REINSTATE" and paid.applied == usd("300.00")
    assert await balance_of(db, account.id) == usd("0")


async def test_offices_define_their_own_entry_types_and_reason_codes(db: Database) -> None:
    """AR-076."""
    await define_entry_type(
        db, ADMIN, code="wo_charity", kind="write_off", description="Charity care write-off"
    )
    await define_reason_code(
        db, ADMIN, code="HARDSHIP", description="Financial hardship", kind="write_off"
    )
    with pytest.raises(ValidationError, match="already exists"):
        await define_reason_code(db, ADMIN, code="hardship", description="again")
    with pytest.raises(ValidationError, match="not a kind of entry"):
        await define_entry_type(db, ADMIN, code="X", kind="gift", description="?")
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("50"), service_date=DAY, key="c"
    )
    [wo] = await write_off(
        db,
        ADMIN,
        account_id=account.id,
        key="w",
        on=DAY,
        reason="HARDSHIP",
        note="charity care",
        entry_type="WO_CHARITY",
    )
    with pytest.raises(ValidationError, match="not a write-off or bad-debt entry type"):
        await write_off(
            db,
            ADMIN,
            account_id=account.id,
            key="w2",
            on=DAY,
            reason="OTHER",
            note="x",
            entry_type="CHARGE",
        )
    async with db.read() as conn:
        assert (await load_entry(conn, entry_id=wo.id)).reason_code == "HARDSHIP"
