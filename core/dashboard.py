"""The dashboard's figures: today's totals, the payments cash application left
unmatched (BI-15, BI-20, AR-139), the accounts in credit (AR-143) and the delinquent
accounts a collector works through (AR-140, AR-099). Read-only; each takes a
connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import day_number, to_day
from core.ledger.model import Kind
from core.ledger.tables import (
    ar_item,
    customer_account,
    gl_account,
    journal_entry,
    journal_line,
)
from core.money import Money


@dataclass(frozen=True, slots=True)
class Totals:
    """The dashboard's figures for one day (BI-15), for some locations or all (BI-20)."""

    day: date
    currency: str
    locations: frozenset[str] | None
    billed: Money
    collected: Money
    outstanding: Money


async def today_totals(
    conn: AsyncConnection,
    *,
    day: date,
    locations: frozenset[str] | None = None,
    currency: str = "USD",
) -> Totals:
    """Billed (charges dated ``day``), collected (cash received that day, less payments
    reversed) and outstanding (all A/R as of the day) in ``currency``, the clinic's
    (``Settings.currency``); ``locations`` None is every location."""
    where_place = (
        [customer_account.c.location.in_(sorted(locations))] if locations is not None else []
    )
    je, ai = journal_entry, ar_item
    billed = (
        select(func.coalesce(func.sum(ai.c.amount_minor), 0))
        .join(je, je.c.id == ai.c.entry_id)
        .join(customer_account, customer_account.c.id == ai.c.account_id)
        .where(je.c.effective_day == day, je.c.kind == Kind.CHARGE.value)
        .where(ai.c.currency == currency, *where_place)
    )
    outstanding = (
        select(func.coalesce(func.sum(ai.c.amount_minor), 0))
        .join(customer_account, customer_account.c.id == ai.c.account_id)
        .where(ai.c.effective_day <= day, ai.c.currency == currency, *where_place)
    )
    cash_in = (
        select(func.coalesce(func.sum(journal_line.c.amount_minor), 0))
        .join(je, je.c.id == journal_line.c.entry_id)
        .join(gl_account, gl_account.c.id == journal_line.c.gl_account_id)
        .where(je.c.effective_day == day, gl_account.c.role == "cash")
        .where(je.c.kind.in_(["payment", "prepayment", "payment_reversal"]))
        .where(journal_line.c.currency == currency)
    )
    if locations is not None:
        # Cash lines name no customer: the entry's line on the customer says where.
        tagged = (
            select(journal_line.c.entry_id)
            .join(customer_account, customer_account.c.id == journal_line.c.customer_account_id)
            .where(*where_place)
        )
        cash_in = cash_in.where(je.c.id.in_(tagged.scalar_subquery()))

    async def total(query: Select[Any]) -> Money:
        return Money(int((await conn.execute(query)).scalar_one()), currency)

    return Totals(
        day,
        currency,
        locations,
        await total(billed),
        await total(cash_in),
        await total(outstanding),
    )


@dataclass(frozen=True, slots=True)
class Unapplied:
    """A payment not (wholly) matched to an item: cash application's exceptions (AR-139)."""

    account_id: int
    account_number: str
    account_name: str
    entry_number: str
    date: date
    amount: Money
    unapplied: Money
    reference: str | None
    account_balance: Money  # negative: the account is in credit, a refund candidate


async def unapplied_payments(
    conn: AsyncConnection, *, locations: frozenset[str] | None = None, limit: int = 50
) -> list[Unapplied]:
    """Payments with money still unapplied, oldest first."""
    ca, je = customer_account, journal_entry
    query = (
        select(
            ar_item.c.account_id,
            ca.c.number,
            ca.c.name,
            je.c.id,
            ar_item.c.effective_day,
            ar_item.c.amount_minor,
            ar_item.c.currency,
            ar_item.c.open_minor,
            func.coalesce(je.c.reference, je.c.memo).label("reference"),
        )
        .join(je, je.c.id == ar_item.c.entry_id)
        .join(ca, ca.c.id == ar_item.c.account_id)
        .where(je.c.kind == Kind.PAYMENT.value, ar_item.c.amount_minor < 0)
        .where(ar_item.c.open_minor < 0)
        .order_by(ar_item.c.effective_day, ar_item.c.id)
        .limit(limit)
    )
    if locations is not None:
        query = query.where(ca.c.location.in_(sorted(locations)))
    rows = (await conn.execute(query)).all()
    balances = await _balances(conn, {r.account_id for r in rows})
    return [
        Unapplied(
            account_id=r.account_id,
            account_number=r.number,
            account_name=r.name,
            entry_number=f"T{r.id:08d}",
            date=r.effective_day,
            amount=Money(-r.amount_minor, r.currency),
            unapplied=Money(-int(r.open_minor), r.currency),
            reference=r.reference,
            account_balance=Money(balances[r.account_id], r.currency),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class CreditBalance:
    """An account that owes less than nothing: the clinic owes the patient (AR-143)."""

    account_id: int
    account_number: str
    account_name: str
    credit: Money
    """How much the account is in credit, as a positive amount."""
    since: date
    """The day of its oldest credit still open (an unapplied payment, a credit memo)."""


async def credit_balances(
    conn: AsyncConnection, *, locations: frozenset[str] | None = None, limit: int = 50
) -> list[CreditBalance]:
    """Accounts whose open items add up to a credit, the largest credit first (each
    currency's together: amounts of two currencies are not compared): what to
    refund or move to a relative's account (``/ar refund``), and what a payer's rules
    may want returned within a deadline. Reads open items only."""
    owed = func.sum(ar_item.c.open_minor)
    per_account = _open_per_account(
        owed < 0,
        owed.label("owed"),
        func.min(case((ar_item.c.open_minor < 0, ar_item.c.effective_day))).label("since"),
    )
    query = _listed(per_account, per_account.c.owed, locations, limit)
    return [
        CreditBalance(r.id, r.number, r.name, Money(-int(r.owed), r.currency), r.since)
        for r in await conn.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class Delinquent:
    """An account with charges past due by more than the days asked (AR-140)."""

    account_id: int
    account_number: str
    account_name: str
    past_due: Money
    """What is open of its charges due more than the days asked before today."""
    balance: Money
    """Everything open on the account, credits included."""
    oldest_due: date
    last_payment: date | None


async def delinquent_accounts(
    conn: AsyncConnection,
    as_of: date,
    *,
    over_days: int = 90,
    at_least_minor: int = 1,
    locations: frozenset[str] | None = None,
    limit: int = 50,
) -> list[Delinquent]:
    """Accounts with at least ``at_least_minor`` open on charges due more than
    ``over_days`` days before ``as_of``, the most past due first (each currency's
    together): a collector's list
    ("over 90 days and over 500", AR-099). ``as_of`` is today: open amounts are today's."""
    cutoff = to_day(as_of) - over_days
    late = (ar_item.c.open_minor > 0) & (day_number(ar_item.c.due_day) < cutoff)
    past_due = func.sum(case((late, ar_item.c.open_minor), else_=0))
    per_account = _open_per_account(
        past_due >= at_least_minor,
        past_due.label("past_due"),
        func.sum(ar_item.c.open_minor).label("balance"),
        func.min(case((late, ar_item.c.due_day))).label("oldest_due"),
    )
    query = _listed(per_account, per_account.c.past_due.desc(), locations, limit)
    rows = (await conn.execute(query)).all()
    paid = await _last_payments(conn, {r.id for r in rows})
    return [
        Delinquent(
            r.id,
            r.number,
            r.name,
            Money(int(r.past_due), r.currency),
            Money(int(r.balance), r.currency),
            r.oldest_due,
            paid.get(r.id),
        )
        for r in rows
    ]


def _open_per_account(having: ColumnElement[bool], *sums: ColumnElement[Any]) -> Subquery:
    """Each account's open items summed per currency (``sums``), the accounts ``having``
    keeps (open items only: ``ix_ar_item_open``)."""
    return (
        select(ar_item.c.account_id, ar_item.c.currency, *sums)
        .where(ar_item.c.open_minor != 0)
        .group_by(ar_item.c.account_id, ar_item.c.currency)
        .having(having)
        .subquery("per_account")
    )


def _listed(
    per_account: Subquery,
    order: ColumnElement[Any],
    locations: frozenset[str] | None,
    limit: int,
) -> Select[Any]:
    """The accounts of ``per_account`` with their number and name, each currency's
    together in ``order`` (amounts of two currencies are not compared), at
    ``locations`` (None: all), at most ``limit``."""
    ca = customer_account
    query = (
        select(ca.c.id, ca.c.number, ca.c.name, per_account)
        .join(per_account, per_account.c.account_id == ca.c.id)
        .order_by(per_account.c.currency, order, ca.c.id)
        .limit(limit)
    )
    if locations is not None:
        query = query.where(ca.c.location.in_(sorted(locations)))
    return query


async def _last_payments(conn: AsyncConnection, account_ids: set[int]) -> dict[int, date]:
    if not account_ids:
        return {}
    rows = await conn.execute(
        select(ar_item.c.account_id, func.max(ar_item.c.effective_day))
        .join(journal_entry, journal_entry.c.id == ar_item.c.entry_id)
        .where(
            ar_item.c.account_id.in_(sorted(account_ids)),
            journal_entry.c.kind == Kind.PAYMENT.value,
        )
        .group_by(ar_item.c.account_id)
    )
    return {account_id: day for account_id, day in rows}


async def _balances(conn: AsyncConnection, account_ids: set[int]) -> dict[int, int]:
    if not account_ids:
        return {}
    rows = await conn.execute(
        select(ar_item.c.account_id, func.sum(ar_item.c.amount_minor))
        .where(ar_item.c.account_id.in_(sorted(account_ids)))
        .group_by(ar_item.c.account_id)
    )
    return {account_id: int(total) for account_id, total in rows}
