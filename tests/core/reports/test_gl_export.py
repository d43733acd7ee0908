"""The general ledger's interface file (AR-207): a voucher a day per GL account, or
every posted line; each day balances and the period's debits and credits are the GL
summary's (AR-122)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

from core.db import Database
from core.reports.gl import gl_summary
from core.reports.gl_export import export_csv, gl_export, unbalanced_days
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.dunning_helpers import patient
from tests.core.helpers import ADMIN, usd

DAY = date(2026, 6, 29)


async def test_a_voucher_a_day_and_every_line_both_balance(db: Database) -> None:
    ana = await patient(db, "Ana", telegram=False)
    await post_charge(db, ADMIN, account_id=ana.id, amount=usd("50.00"),
                      service_date=DAY - timedelta(days=1), key="c0")  # fmt: skip
    await post_charge(db, ADMIN, account_id=ana.id, amount=usd("100.00"), service_date=DAY,
                      key="c1")  # fmt: skip
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("60.00"), received_on=DAY,
                         key="p1", method="cash")  # fmt: skip
    start = DAY - timedelta(days=1)
    async with db.read() as conn:
        summary = await gl_export(conn, start, DAY, "USD")
        detail = await gl_export(conn, start, DAY, "USD", detail=True)
        gl = await gl_summary(conn, start, DAY, "USD")

    rows = list(csv.DictReader(io.StringIO(export_csv(summary))))
    assert list(rows[0]) == ["date", "gl_account", "gl_name", "debit", "credit", "currency"]
    assert [(r["date"], r["gl_account"], r["debit"], r["credit"]) for r in rows] == [
        ("2026-06-28", "1100", "50.00", "0.00"),
        ("2026-06-28", "4000", "0.00", "50.00"),
        ("2026-06-29", "1000", "60.00", "0.00"),
        ("2026-06-29", "1100", "100.00", "60.00"),
        ("2026-06-29", "4000", "0.00", "100.00"),
    ]
    assert unbalanced_days(summary, "USD") == [] == unbalanced_days(detail, "USD")
    assert sum(Decimal(r["debit"]) for r in rows) == gl.total("debits").to_decimal()
    lines = list(csv.DictReader(io.StringIO(export_csv(detail, detail=True))))
    assert len(lines) == 6 and {ln["account_number"] for ln in lines} >= {ana.number}
    assert [ln["entry_type"] for ln in lines].count("PAYMENT") == 2


async def test_a_day_that_does_not_balance_is_named() -> None:
    rows = [
        {"date": "2026-06-29", "debit": "10.00", "credit": "0.00"},
        {"date": "2026-06-29", "debit": "0.00", "credit": "9.99"},
    ]
    assert unbalanced_days(rows, "USD") == ["2026-06-29"]
