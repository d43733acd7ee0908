"""Worked examples of A/R, each a short story a billing office would recognise."""

from __future__ import annotations

from datetime import date

import pytest

from core.db import Database
from core.errors import InvalidState
from core.ledger.items import ItemStatus
from core.services.adjustments import reverse_entry, write_off
from core.services.charges import post_charge
from core.services.payments import record_payment, refund_credit
from tests.core.helpers import ADMIN, balance_of, items_of, open_account, usd

JUNE = date(2026, 6, 1)


async def test_partial_payment_leaves_the_charge_partly_paid(db: Database) -> None:
    """AR-017, AR-089, BI-06: 150 charged, 60 paid: 90 open, item partly paid."""
    account = await open_account(db)
    charge = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("150.00"), service_date=JUNE, key="c1"
    )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("60.00"),
        received_on=date(2026, 6, 10),
        key="p1",
        method="cash",
    )

    assert paid.applied == usd("60.00") and paid.unapplied == usd("0")
    assert await balance_of(db, account.id) == usd("90.00")
    [item, payment] = await items_of(db, account.id)
    assert item.id == charge.item_ids[0]
    assert (item.open, item.status) == (usd("90.00"), ItemStatus.PARTLY_PAID)
    assert item.due_date == date(2026, 7, 1)  # NET30 from the bill date (AR-077)
    assert payment.open == usd("0")


async def test_overpayment_becomes_a_credit_then_is_refunded(db: Database) -> None:
    """AR-021, AR-058: 100 charged, 130 paid: 30 unapplied; refunding it leaves zero."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=JUNE, key="c1"
    )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("130"),
        received_on=JUNE,
        key="p1",
        method="card",
    )
    assert paid.unapplied == usd("30.00")
    assert await balance_of(db, account.id) == usd("-30.00")

    with pytest.raises(InvalidState, match=r"credit balance is less than 40\.00"):
        await refund_credit(
            db, ADMIN, account_id=account.id, amount=usd("40"), on=JUNE, key="r-too-much"
        )
    await refund_credit(db, ADMIN, account_id=account.id, amount=usd("30"), on=JUNE, key="r1")

    assert await balance_of(db, account.id) == usd("0")
    assert all(i.open == usd("0") for i in await items_of(db, account.id))


async def test_write_off_and_its_reversal(db: Database) -> None:
    """AR-026, AR-028: writing off the rest closes the item; reversing reopens it."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("80"), service_date=JUNE, key="c1"
    )
    await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("75"),
        received_on=JUNE,
        key="p1",
        method="cash",
    )
    [wo] = await write_off(
        db, ADMIN, account_id=account.id, key="w1", on=JUNE, reason="ADMIN", note="goodwill"
    )
    assert await balance_of(db, account.id) == usd("0")

    await reverse_entry(
        db, ADMIN, entry_id=wo.id, on=date(2026, 6, 20), key="w1-rev", reason="KEYING_ERROR"
    )

    assert await balance_of(db, account.id) == usd("5.00")
    charge = (await items_of(db, account.id))[0]
    assert (charge.open, charge.status) == (usd("5.00"), ItemStatus.PARTLY_PAID)


async def test_payment_reversal_reopens_the_items_it_paid(db: Database) -> None:
    """AR-119: a bounced cheque reopens both charges it had paid."""
    account = await open_account(db)
    for n, amount in enumerate(("40", "60")):
        await post_charge(
            db,
            ADMIN,
            account_id=account.id,
            amount=usd(amount),
            service_date=date(2026, 5, 1 + n),
            key=f"c{n}",
        )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("100"),
        received_on=JUNE,
        key="p1",
        method="cheque",
        reference="#1001",
    )
    assert await balance_of(db, account.id) == usd("0")

    reversal = await reverse_entry(
        db, ADMIN, entry_id=paid.entry.id, on=date(2026, 6, 5), key="p1-nsf", reason="NSF"
    )

    assert reversal.entry_type == "PAYMENT_REVERSAL" and reversal.reverses_id == paid.entry.id
    assert await balance_of(db, account.id) == usd("100.00")
    opened = [i for i in await items_of(db, account.id) if i.open.minor]
    assert sorted(i.open for i in opened) == [usd("40"), usd("60")]
    assert all(i.status == ItemStatus.PENDING for i in opened)
    # As of the day before the reversal, the account was still paid up.
    assert await balance_of(db, account.id, as_of=date(2026, 6, 4)) == usd("0")


async def test_payment_is_not_applied_to_a_charge_dated_after_it(db: Database) -> None:
    """Regression: a back-dated payment must not pay a charge that did not exist yet."""
    account = await open_account(db)
    await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("50"),
        service_date=date(2026, 6, 20),
        key="later-charge",
    )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("50"),
        received_on=date(2026, 6, 1),
        key="early-pay",
        method="cash",
    )

    assert paid.applied == usd("0") and paid.unapplied == usd("50.00")
    assert await balance_of(db, account.id) == usd("0")
    charge = next(i for i in await items_of(db, account.id) if i.is_debit)
    assert charge.open == usd("50.00")


async def test_write_off_all_leaves_charges_dated_after_it(db: Database) -> None:
    """Regression: 'write off everything' on a date covers only what was open then."""
    account = await open_account(db)
    await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("30"),
        service_date=date(2026, 5, 1),
        key="old",
    )
    await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("70"),
        service_date=date(2026, 6, 20),
        key="new",
    )
    [wo] = await write_off(
        db,
        ADMIN,
        account_id=account.id,
        key="w",
        on=date(2026, 6, 1),
        reason="ADMIN",
        note="small balance policy",
    )

    assert abs(wo.lines[0].amount) == usd("30.00")
    assert await balance_of(db, account.id) == usd("70.00")
