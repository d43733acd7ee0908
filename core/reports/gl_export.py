"""The general ledger's interface file (AR-207): the period's postings as the hospital's
general ledger takes them in, in one currency.

In summary (the default), one journal voucher a day: a row per GL account with what was
debited and credited to it that day; each day's debits equal its credits. In detail,
every posted line with its entry, entry type, customer account and reference. Amounts
are plain decimals, never negative: a debit in ``debit``, a credit in ``credit``.

CSV columns (a contract with the GL's import):

* summary: ``date, gl_account, gl_name, debit, credit, currency``;
* detail: ``entry, date, entry_type, line, gl_account, gl_name, debit, credit,
  currency, account_number, reference``.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ledger.model import entry_number
from core.ledger.tables import customer_account, gl_account, journal_entry, journal_line
from core.money import Money, parse_money
from core.reports import cell
from core.reports.days import check_period

SUMMARY_COLUMNS = ("date", "gl_account", "gl_name", "debit", "credit", "currency")
DETAIL_COLUMNS = (
    "entry", "date", "entry_type", "line", "gl_account", "gl_name", "debit", "credit",
    "currency", "account_number", "reference",
)  # fmt: skip


def _sides(amount: int, currency: str) -> tuple[str, str]:
    debit = Money(max(amount, 0), currency)
    credit = Money(max(-amount, 0), currency)
    return str(debit), str(credit)


async def gl_export(
    conn: AsyncConnection, start: date, end: date, currency: str, *, detail: bool = False
) -> list[dict[str, str]]:
    """The rows of the interface file from ``start`` to ``end`` (both included)."""
    check_period(start, end, "a GL export")
    je, jl, gl = journal_entry, journal_line, gl_account
    where = [jl.c.currency == currency, je.c.effective_day.between(start, end)]
    if detail:
        rows = await conn.execute(
            select(
                je.c.id, je.c.effective_day, je.c.entry_type, je.c.reference, jl.c.line_no,
                gl.c.code, gl.c.name, jl.c.amount_minor, customer_account.c.number,
            )
            .select_from(jl)
            .join(je, je.c.id == jl.c.entry_id)
            .join(gl, gl.c.id == jl.c.gl_account_id)
            .outerjoin(customer_account, customer_account.c.id == jl.c.customer_account_id)
            .where(*where)
            .order_by(je.c.effective_day, je.c.id, jl.c.line_no)
        )  # fmt: skip
        found = []
        for r in rows:
            debit, credit = _sides(int(r.amount_minor), currency)
            values = (
                entry_number(r.id), r.effective_day.isoformat(), r.entry_type, str(r.line_no),
                r.code, r.name, debit, credit, currency, r.number or "", r.reference or "",
            )  # fmt: skip
            found.append(dict(zip(DETAIL_COLUMNS, values, strict=True)))
        return found
    amount = jl.c.amount_minor
    rows = await conn.execute(
        select(
            je.c.effective_day,
            gl.c.code,
            gl.c.name,
            func.sum(case((amount > 0, amount), else_=0)).label("debits"),
            func.sum(case((amount < 0, -amount), else_=0)).label("credits"),
        )
        .select_from(jl)
        .join(je, je.c.id == jl.c.entry_id)
        .join(gl, gl.c.id == jl.c.gl_account_id)
        .where(*where)
        .group_by(je.c.effective_day, gl.c.code, gl.c.name)
        .order_by(je.c.effective_day, gl.c.code)
    )
    return [
        dict(
            zip(
                SUMMARY_COLUMNS,
                (
                    r.effective_day.isoformat(),
                    r.code,
                    r.name,
                    str(Money(int(r.debits), currency)),
                    str(Money(int(r.credits), currency)),
                    currency,
                ),
                strict=True,
            )
        )
        for r in rows
    ]


def unbalanced_days(rows: list[dict[str, str]], currency: str) -> list[str]:
    """The days whose debits and credits differ (there should be none)."""
    sums: dict[str, list[Money]] = defaultdict(lambda: [Money(0, currency), Money(0, currency)])
    for row in rows:
        day = sums[row["date"]]
        day[0] = day[0] + parse_money(row["debit"], currency)
        day[1] = day[1] + parse_money(row["credit"], currency)
    return sorted(day for day, (debit, credit) in sums.items() if debit != credit)


def export_csv(rows: list[dict[str, str]], *, detail: bool = False) -> str:
    columns = DETAIL_COLUMNS if detail else SUMMARY_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(cell(row[c]) if c in ("gl_name", "reference") else row[c] for c in columns)
    return out.getvalue()
