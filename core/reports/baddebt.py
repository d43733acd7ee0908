"""Bad-debt history: what was sent to bad debt, when, and what came back (AR-137, AR-149).

An account goes to bad debt when what it owes is written off as uncollectible
(:mod:`core.baddebt`, entries of kind ``bad_debt``); the ledger keeps those entries for
good, so the history is read from them. Per month and financial class: how many
accounts were sent and how much (AR-149). Per account, newest first: the day it was
sent, the amount, what has been reinstated since (a bad-debt write-off reversed because
the patient paid after all, AR-111), what was paid since, and its status today. Only
the locations asked for; amounts are in the accounts' own currency. Reading writes
nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Subquery, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.customers import status_of
from core.ledger.model import Kind
from core.ledger.tables import customer_account, journal_entry, journal_line
from core.money import Money

SENT = Kind.BAD_DEBT.value
BACK = Kind.REINSTATEMENT.value


@dataclass(frozen=True, slots=True)
class MonthTotal:
    """Accounts sent to bad debt in one month, for one financial class (AR-149)."""

    month: date
    """The first day of the month."""
    financial_class: str
    accounts: int
    amount: Money


@dataclass(frozen=True, slots=True)
class SentAccount:
    account_id: int
    number: str
    name: str
    sent_on: date
    """The day of its latest transfer to bad debt."""
    amount: Money
    """Everything written off to bad debt on the account, over time."""
    reinstated: Money
    paid_since: Money
    status: str


@dataclass(frozen=True, slots=True)
class BadDebtHistory:
    since: date
    months: tuple[MonthTotal, ...]
    accounts: tuple[SentAccount, ...]
    """Newest first, at most the limit asked."""
    more: bool
    """More accounts were sent than are listed."""


async def bad_debt_history(
    conn: AsyncConnection,
    *,
    since: date,
    locations: frozenset[str] | None = None,
    limit: int = 20,
) -> BadDebtHistory:
    """What was sent to bad debt from ``since`` on, at ``locations`` (None: all)."""
    ca, je, jl = customer_account, journal_entry, journal_line
    on_account = (
        select(
            jl.c.customer_account_id,
            jl.c.amount_minor,
            jl.c.currency,
            je.c.kind,
            je.c.effective_day,
        )
        .join(je, je.c.id == jl.c.entry_id)
        .join(ca, ca.c.id == jl.c.customer_account_id)
        .where(je.c.kind.in_([SENT, BACK]), je.c.effective_day >= since)
    )
    if locations is not None:
        on_account = on_account.where(ca.c.location.in_(sorted(locations)))
    lines = on_account.subquery("lines")
    sent = case((lines.c.kind == SENT, -lines.c.amount_minor), else_=0)
    back = case((lines.c.kind == BACK, lines.c.amount_minor), else_=0)
    per_account = list(
        await conn.execute(
            select(
                ca.c.id,
                ca.c.number,
                ca.c.name,
                ca.c.financial_class,
                lines.c.currency,
                func.sum(sent).label("sent"),
                func.sum(back).label("back"),
                func.max(case((lines.c.kind == SENT, lines.c.effective_day))).label("sent_on"),
            )
            .join(lines, lines.c.customer_account_id == ca.c.id)
            .group_by(ca.c.id, lines.c.currency)
            .having(func.sum(sent) != 0)
        )
    )
    per_account.sort(key=lambda r: (-r.sent_on.toordinal(), r.id))  # newest first
    months = await _months(conn, lines, sent)
    listed = per_account[:limit]
    paid = await _paid_since(conn, {r.id: r.sent_on for r in listed})
    accounts = [
        SentAccount(
            r.id,
            r.number,
            r.name,
            r.sent_on,
            Money(int(r.sent), r.currency),
            Money(int(r.back), r.currency),
            Money(paid.get(r.id, 0), r.currency),
            await status_of(conn, r.id),
        )
        for r in listed
    ]
    return BadDebtHistory(since, months, tuple(accounts), len(per_account) > limit)


async def _months(
    conn: AsyncConnection, lines: Subquery, sent: ColumnElement[Any]
) -> tuple[MonthTotal, ...]:
    """Per month and financial class: the accounts sent and the amount sent (a later
    reinstatement does not change the month it was sent in)."""
    ca = customer_account
    by = (lines.c.effective_day, ca.c.financial_class, lines.c.currency, ca.c.id)
    rows = await conn.execute(
        select(*by, func.sum(sent).label("sent"))
        .join(ca, ca.c.id == lines.c.customer_account_id)
        .where(lines.c.kind == SENT)
        .group_by(*by)
    )
    totals: dict[tuple[date, str, str], tuple[set[int], int]] = defaultdict(lambda: (set(), 0))
    for r in rows:
        key = (r.effective_day.replace(day=1), r.financial_class, r.currency)
        accounts, amount = totals[key]
        accounts.add(r.id)
        totals[key] = (accounts, amount + int(r.sent))
    return tuple(
        MonthTotal(month, fc, len(accounts), Money(amount, currency))
        for (month, fc, currency), (accounts, amount) in sorted(totals.items())
    )


async def _paid_since(conn: AsyncConnection, sent_on: dict[int, date]) -> dict[int, int]:
    """What each account paid on or after the day it was sent to bad debt."""
    if not sent_on:
        return {}
    je, jl = journal_entry, journal_line
    rows = await conn.execute(
        select(jl.c.customer_account_id, je.c.effective_day, jl.c.amount_minor)
        .join(je, je.c.id == jl.c.entry_id)
        .where(
            jl.c.customer_account_id.in_(sorted(sent_on)),
            je.c.kind == Kind.PAYMENT.value,
            je.c.effective_day >= min(sent_on.values()),
        )
    )
    paid: dict[int, int] = defaultdict(int)
    for account_id, day, amount_minor in rows:
        if day >= sent_on[account_id]:
            paid[account_id] += -int(amount_minor)
    return dict(paid)
