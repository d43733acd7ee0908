"""What a patient is shown of an account (AR-131, BI-06, AR-165): the items read for a
chat turn (:func:`core.patients.summary.patient_account`) are the ledger's own items, open
amounts and dispute flags (``core.ledger.items.load_items``), on any as-of date."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import Database
from core.errors import NotFound
from core.ledger.items import load_items
from core.patients.summary import patient_account
from core.services.adjustments import dispute_item
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, usd
from tests.core.profile.common import on_day, person


async def test_items_open_amounts_and_disputes_are_the_ledgers(db: Database) -> None:
    ana = await person(db, "López")
    other = await person(db, "Other")
    today = on_day(db)
    for n, (amount, days_ago) in enumerate((("120.00", 90), ("80.50", 40), ("45.00", 5))):
        await post_charge(
            db,
            ADMIN,
            account_id=ana.id,
            amount=usd(amount),
            service_date=today - timedelta(days=days_ago),
            key=f"c{n}",
            description=f"Visit {n}",
        )
    await post_charge(
        db, ADMIN, account_id=other.id, amount=usd("9.99"), service_date=today, key="other"
    )
    # 150.00 pays the oldest in full and 30.00 of the second, ten days ago.
    await record_payment(
        db,
        ADMIN,
        account_id=ana.id,
        amount=usd("150.00"),
        received_on=today - timedelta(days=10),
        key="p1",
        method="cash",
    )
    async with db.read() as conn:
        second = [i for i in await load_items(conn, account_id=ana.id) if i.amount.minor == 8050]
    await dispute_item(
        db, ADMIN, item_id=second[0].id, disputed=True, on=today - timedelta(days=3), reason="x"
    )

    async with db.read() as conn:
        for as_of in (today - timedelta(days=20), today - timedelta(days=4), today):
            ledger = {i.id: i for i in await load_items(conn, account_id=ana.id, as_of=as_of)}
            seen = (await patient_account(conn, ana.id, as_of)).items
            assert seen and all(
                (i.amount, i.open, i.status == "disputed")
                == (ledger[i.item_id].amount, ledger[i.item_id].open, ledger[i.item_id].disputed)
                for i in seen
            )
        shown = await patient_account(conn, ana.id, today)
        before_payment = await patient_account(conn, ana.id, today - timedelta(days=20))

    assert [i.status for i in shown.items] == ["paid", "disputed", "pending"]
    [payment] = shown.payments
    assert (payment.day, payment.amount) == (today - timedelta(days=10), usd("150.00"))
    assert before_payment.payments == ()
    assert shown.balance == usd("95.50")  # 245.50 charged, 150.00 paid
    assert shown.overdue == usd("0.00")  # the open part of the second is disputed
    assert [i.status for i in before_payment.items] == ["pending", "pending"]
    assert before_payment.balance == usd("200.50")


async def test_an_account_without_items_shows_a_zero_balance(db: Database) -> None:
    ana = await person(db, "López", first="Ana")
    async with db.read() as conn:
        shown = await patient_account(conn, ana.id, on_day(db))
        with pytest.raises(NotFound) as missing:
            await patient_account(conn, ana.id + 100, on_day(db))
    assert (shown.first_name, shown.balance, shown.items, shown.payments) == (
        "Ana",
        usd("0.00"),
        (),
        (),
    )
    assert shown.next_due is None
    assert str(missing.value) == f"there is no customer account with id {ana.id + 100}"
