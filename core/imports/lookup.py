"""Lookups an import makes once for its whole batch, instead of once per row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ledger.accounts import Account, account_from_row
from core.ledger.tables import customer_account, customer_status, fiscal_period, payment_terms

CHUNK = 500


def _chunks(values: Iterable[object]) -> list[list[object]]:
    ordered = sorted(values, key=str)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


async def accounts_by_number(conn: AsyncConnection, numbers: Iterable[str]) -> dict[str, Account]:
    found: dict[str, Account] = {}
    for chunk in _chunks(n for n in numbers if n):
        rows = await conn.execute(
            select(customer_account, payment_terms.c.net_days)
            .join(payment_terms, payment_terms.c.code == customer_account.c.terms_code)
            .where(customer_account.c.number.in_(chunk))
        )
        for r in rows.mappings():
            found[r["number"]] = account_from_row(r)
    return found


async def statuses(conn: AsyncConnection, account_ids: Iterable[int]) -> dict[int, str]:
    """The current status of each account that has ever had one set."""
    found: dict[int, str] = {}
    for chunk in _chunks(account_ids):
        latest = (
            select(func.max(customer_status.c.id))
            .where(customer_status.c.account_id.in_(chunk))
            .group_by(customer_status.c.account_id)
        )
        rows = await conn.execute(
            select(customer_status.c.account_id, customer_status.c.status).where(
                customer_status.c.id.in_(latest)
            )
        )
        found.update({r.account_id: r.status for r in rows})
    return found


async def closed_periods(conn: AsyncConnection) -> list[tuple[date, date]]:
    rows = await conn.execute(
        select(fiscal_period.c.start_day, fiscal_period.c.end_day).where(
            fiscal_period.c.closed_at.is_not(None)
        )
    )
    return [(r.start_day, r.end_day) for r in rows]


def in_closed_period(day: date, periods: list[tuple[date, date]]) -> bool:
    return any(start <= day <= end for start, end in periods)
