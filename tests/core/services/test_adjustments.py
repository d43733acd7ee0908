"""Corrections, closing and reopening items, disputes (AR-014, AR-015, AR-078, AR-123)."""

from __future__ import annotations

from datetime import date

import pytest

from core.db import Database
from core.errors import InvalidState, PeriodClosed, ValidationError
from core.ledger.items import ItemStatus
from core.ledger.model import AR_CONTROL, ItemTerms, Line
from core.services.adjustments import (
    close_items,
    correct_entry,
    dispute_item,
    reinstate_item,
    reverse_entry,
)
from core.services.charges import post_charge
from core.services.payments import apply_unapplied, record_payment
from core.services.periods import close_period, open_period
from tests.core.helpers import ADMIN, balance_of, items_of, open_account, usd


async def test_prior_period_correction_posts_in_the_open_period(db: Database) -> None:
    """AR-123: May is closed; a May charge keyed 120 instead of 210 is corrected in June."""
    account = await open_account(db)
    wrong = await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("120"),
        service_date=date(2026, 5, 12),
        key="c-may",
    )
    await open_period(db, ADMIN, name="2026-05", start=date(2026, 5, 1), end=date(2026, 5, 31))
    await close_period(db, ADMIN, name="2026-05")

    with pytest.raises(PeriodClosed):
        await reverse_entry(
            db, ADMIN, entry_id=wrong.id, on=date(2026, 5, 31), key="r", reason="PRIOR_PERIOD"
        )
    right = usd("210")
    reversal, corrected = await correct_entry(
        db,
        ADMIN,
        entry_id=wrong.id,
        on=date(2026, 6, 3),
        key="fix-may",
        corrected=[
            Line(AR_CONTROL, right, account.id, ItemTerms(service_date=date(2026, 5, 12))),
            Line("4000", -right),
        ],
    )

    assert reversal.reverses_id == wrong.id and reversal.effective_date == date(2026, 6, 3)
    assert corrected.reference == wrong.number == reversal.reference
    assert await balance_of(db, account.id, as_of=date(2026, 5, 31)) == usd("120.00")
    assert await balance_of(db, account.id) == usd("210.00")
    with pytest.raises(ValidationError, match="already been reversed"):
        await reverse_entry(
            db, ADMIN, entry_id=wrong.id, on=date(2026, 6, 4), key="again", reason="PRIOR_PERIOD"
        )


async def test_a_reversal_cannot_be_reversed_or_back_dated(db: Database) -> None:
    account = await open_account(db)
    charge = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("10"), service_date=date(2026, 6, 10), key="c"
    )
    with pytest.raises(ValidationError, match="cannot be dated 2026-06-09"):
        await reverse_entry(
            db, ADMIN, entry_id=charge.id, on=date(2026, 6, 9), key="r0", reason="KEYING_ERROR"
        )
    reversal = await reverse_entry(
        db, ADMIN, entry_id=charge.id, on=date(2026, 6, 10), key="r1", reason="KEYING_ERROR"
    )
    with pytest.raises(InvalidState, match="itself a reversal"):
        await reverse_entry(
            db, ADMIN, entry_id=reversal.id, on=date(2026, 6, 11), key="r2", reason="KEYING_ERROR"
        )
    assert await balance_of(db, account.id) == usd("0")


async def test_close_items_by_picking_debits_and_credits(db: Database) -> None:
    """AR-014: two charges closed against one unapplied payment that equals them."""
    account = await open_account(db)
    day = date(2026, 6, 1)
    a = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("30"), service_date=day, key="a"
    )
    b = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("20"), service_date=day, key="b"
    )
    c = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("99"), service_date=date(2026, 6, 5), key="c"
    )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("50"),
        received_on=date(2026, 5, 30),
        key="p",
        method="cheque",
    )
    assert paid.unapplied == usd("50.00")  # dated before the charges: nothing to apply yet

    with pytest.raises(ValidationError, match="do not net to zero"):
        await close_items(
            db,
            ADMIN,
            account_id=account.id,
            debit_ids=[a.item_ids[0]],
            credit_ids=list(paid.entry.item_ids),
            on=day,
            key="x",
        )
    await close_items(
        db,
        ADMIN,
        account_id=account.id,
        debit_ids=[a.item_ids[0], b.item_ids[0]],
        credit_ids=list(paid.entry.item_ids),
        on=day,
        key="close",
    )

    items = {i.id: i for i in await items_of(db, account.id)}
    assert items[a.item_ids[0]].status == items[b.item_ids[0]].status == ItemStatus.PAID
    assert items[c.item_ids[0]].status == ItemStatus.PENDING


async def test_reinstate_a_closed_item_puts_the_payment_back_on_account(db: Database) -> None:
    """AR-015."""
    account = await open_account(db)
    day = date(2026, 6, 1)
    charge = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("40"), service_date=day, key="c"
    )
    paid = await record_payment(
        db, ADMIN, account_id=account.id, amount=usd("40"), received_on=day, key="p", method="cash"
    )
    await reinstate_item(db, ADMIN, item_id=charge.item_ids[0], on=date(2026, 6, 2), key="re")

    items = {i.id: i for i in await items_of(db, account.id)}
    assert items[charge.item_ids[0]].open == usd("40.00")
    assert items[paid.entry.item_ids[0]].open == usd("-40.00")
    assert await balance_of(db, account.id) == usd("0")
    with pytest.raises(InvalidState, match="not matched with anything"):
        await reinstate_item(db, ADMIN, item_id=charge.item_ids[0], on=date(2026, 6, 2), key="re2")


async def test_disputed_items_are_skipped_by_automatic_application(db: Database) -> None:
    """AR-078: a disputed charge is not paid by oldest-first; the flag has a history."""
    account = await open_account(db)
    old = await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("70"),
        service_date=date(2026, 5, 1),
        key="old",
    )
    new = await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("30"),
        service_date=date(2026, 5, 20),
        key="new",
    )
    await dispute_item(
        db,
        ADMIN,
        item_id=old.item_ids[0],
        disputed=True,
        on=date(2026, 5, 25),
        reason="patient says the visit was cancelled",
    )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("50"),
        received_on=date(2026, 6, 1),
        key="p",
        method="card",
    )

    assert [p.item_id for p in paid.placements] == [new.item_ids[0]]
    assert paid.unapplied == usd("20.00")
    assert any("disputed" in e for e in paid.exceptions)

    await dispute_item(
        db,
        ADMIN,
        item_id=old.item_ids[0],
        disputed=False,
        on=date(2026, 6, 2),
        reason="resolved: the visit took place",
    )
    plan = await apply_unapplied(
        db, ADMIN, account_id=account.id, key="apply", on=date(2026, 6, 2)
    )
    assert plan.applied_minor == 2000
    items = {i.id: i for i in await items_of(db, account.id, as_of=date(2026, 5, 30))}
    assert items[old.item_ids[0]].disputed  # as of May 30 it was disputed
    with pytest.raises(ValidationError, match="reason is required"):
        await dispute_item(
            db, ADMIN, item_id=new.item_ids[0], disputed=True, on=date(2026, 6, 2), reason=" "
        )


async def test_closing_items_twice_with_one_key_returns_the_first_closing(db: Database) -> None:
    """Regression: a replay of close_items must not fail on the items it closed."""
    account = await open_account(db)
    day = date(2026, 6, 1)
    charge = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("25"), service_date=day, key="c"
    )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("25"),
        received_on=date(2026, 5, 30),
        key="p",
        method="cash",
    )
    args = {
        "account_id": account.id,
        "debit_ids": list(charge.item_ids),
        "credit_ids": list(paid.entry.item_ids),
        "on": day,
        "key": "close",
    }
    first = await close_items(db, ADMIN, **args)  # type: ignore[arg-type]
    assert await close_items(db, ADMIN, **args) == first  # type: ignore[arg-type]
