"""Migration 0015 on a ledger that already holds charges, payments and reversals.

The open amount each item keeps (``ar_item.open_minor``) and each allocation's copy of
its item's date (``item_day``) are worked out from the rows already there, so an
existing clinic's ATB reads the same after the upgrade as before it (issue 2).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from core.db import Database
from core.db.migrate import upgrade
from core.ledger.aging import AtbQuery, Basis, aged_trial_balance
from core.ledger.invariants import check_invariants
from core.services.adjustments import reverse_entry
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.conftest import downgrade
from tests.core.helpers import ADMIN, open_account, usd

DATES = (date(2026, 3, 31), date(2026, 5, 15), date(2026, 6, 30))


async def _clinic(db: Database) -> None:
    """Charges over three months; payments in full, in part, after the ATB's dates, and
    one payment reversed (its allocations undone by negative matches)."""
    ana, luis = await open_account(db), await open_account(db, "Luis Pérez")
    for n, (account, amount, served) in enumerate(
        [
            (ana, "120", date(2026, 2, 10)),
            (ana, "80", date(2026, 4, 2)),
            (luis, "300", date(2026, 3, 20)),
            (luis, "45.50", date(2026, 6, 1)),
        ]
    ):
        await post_charge(
            db, ADMIN, account_id=account.id, amount=usd(amount), service_date=served, key=f"c{n}"
        )
    payments = []
    for n, (account, amount, on) in enumerate(
        [
            (ana, "150", date(2026, 4, 20)),
            (luis, "100", date(2026, 5, 1)),
            (luis, "60", date(2026, 6, 10)),
            (ana, "25", date(2026, 7, 3)),
        ]
    ):
        paid = await record_payment(
            db,
            ADMIN,
            account_id=account.id,
            amount=usd(amount),
            received_on=on,
            key=f"p{n}",
            method="cash",
        )
        payments.append(paid)
    await reverse_entry(
        db, ADMIN, entry_id=payments[2].entry.id, on=date(2026, 6, 20), key="r", reason="NSF"
    )


async def _atbs(db: Database) -> list[tuple[object, ...]]:
    out = []
    async with db.read() as conn:
        for as_of in DATES:
            for basis in Basis:
                atb = await aged_trial_balance(conn, AtbQuery(as_of, "USD", basis=basis))
                out.append((as_of, basis, atb.total_minor, [tuple(r) for r in atb.rows]))
    return out


async def test_upgrading_an_existing_ledger_fills_the_open_amounts(fresh: Database) -> None:
    await _clinic(fresh)
    async with fresh.read() as conn:
        kept = (await conn.execute(text("SELECT id, open_minor FROM ar_item ORDER BY id"))).all()
    before = await _atbs(fresh)
    assert any(open_minor == 0 for _id, open_minor in kept)  # something was paid in full
    assert any(total for _d, _b, total, _rows in before)

    await downgrade(fresh, "0014")
    async with fresh.read() as conn:
        columns = (await conn.execute(text("SELECT * FROM ar_item LIMIT 1"))).keys()
    assert "open_minor" not in columns
    await upgrade(fresh)

    async with fresh.read() as conn:
        again = (await conn.execute(text("SELECT id, open_minor FROM ar_item ORDER BY id"))).all()
        assert await check_invariants(conn) == []  # item_day copied, open amounts agree
    assert again == kept
    assert await _atbs(fresh) == before
