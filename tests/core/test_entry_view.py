"""Any entry as a record (AR-010, AR-036): a payment's reference, date, the items it
paid, the small balance written off with it and the ledger accounts it was posted to;
a reversal named both ways; a match a reversal undid no longer listed as applied."""

from __future__ import annotations

from datetime import date

import pytest

from core.db import Database
from core.entry_view import entry_view
from core.errors import NotFound
from core.services.adjustments import reverse_entry
from core.services.charges import post_charge
from core.services.payments import Tolerance, record_payment
from tests.core.helpers import ADMIN, open_account, usd

PAID_ON = date(2026, 6, 20)


async def test_a_payment_record_holds_what_it_paid_and_where_it_was_posted(db: Database) -> None:
    ana = await open_account(db, "Ana López")
    first = await post_charge(db, ADMIN, account_id=ana.id, amount=usd("100"),
                              service_date=date(2026, 6, 1), key="c1")  # fmt: skip
    second = await post_charge(db, ADMIN, account_id=ana.id, amount=usd("80.25"),
                               service_date=date(2026, 6, 5), key="c2")  # fmt: skip
    paid = await record_payment(
        db, ADMIN, account_id=ana.id, amount=usd("179.50"), received_on=PAID_ON, key="p",
        method="check", reference="cheque 1042", tolerance=Tolerance(amount_minor=100),
    )  # fmt: skip
    async with db.read() as conn:
        view = await entry_view(conn, paid.entry.id, PAID_ON)

    assert (view.entry_number, view.kind, view.effective) == (
        paid.entry.number,
        "payment",
        PAID_ON,
    )
    assert (view.reference, view.memo, view.actor) == ("cheque 1042", "check", ADMIN.label)
    assert [(i.number, i.amount, i.open) for i in view.items] == [
        (ana.number, usd("-179.50"), usd("0"))
    ]
    assert [(a.entry_number, a.service_date, a.amount, a.on) for a in view.applied] == [
        (first.number, date(2026, 6, 1), usd("100"), PAID_ON),
        (second.number, date(2026, 6, 5), usd("79.50"), PAID_ON),
    ]
    (written_off,) = view.with_it
    assert (written_off.kind, written_off.amount) == ("write_off", usd("0.75"))
    assert [(p.code, p.amount) for p in view.posted] == [
        ("1000", usd("179.50")),
        ("1100", usd("-179.50")),
    ]
    assert view.reverses is None and view.reversed_by is None


async def test_a_reversed_payment_names_its_reversal_and_no_longer_pays_the_charge(
    db: Database,
) -> None:
    ana = await open_account(db, "Ana López")
    charge = await post_charge(db, ADMIN, account_id=ana.id, amount=usd("50"),
                               service_date=date(2026, 6, 1), key="c1")  # fmt: skip
    paid = await record_payment(db, ADMIN, account_id=ana.id, amount=usd("50"),
                                received_on=PAID_ON, key="p", method="cash")  # fmt: skip
    async with db.read() as conn:
        before = await entry_view(conn, paid.entry.id, PAID_ON)
    assert [a.entry_number for a in before.applied] == [charge.number]

    undone = await reverse_entry(db, ADMIN, entry_id=paid.entry.id, on=PAID_ON, key="r",
                                 reason="KEYING_ERROR")  # fmt: skip
    async with db.read() as conn:
        after = await entry_view(conn, paid.entry.id, PAID_ON)
        reversal = await entry_view(conn, undone.id, PAID_ON)
    assert after.reversed_by == undone.number
    # The charge's match was undone; the payment's credit went to its reversal instead.
    assert [(a.entry_number, a.kind, a.amount) for a in after.applied] == [
        (undone.number, "payment_reversal", usd("50"))
    ]
    assert reversal.reverses == paid.entry.number and reversal.kind == "payment_reversal"
    assert [p.amount for p in reversal.posted] == [-p.amount for p in before.posted]


async def test_an_unknown_entry_is_a_clear_message(db: Database) -> None:
    async with db.read() as conn:
        with pytest.raises(NotFound, match="there is no entry T00000999"):
            await entry_view(conn, 999, PAID_ON)
