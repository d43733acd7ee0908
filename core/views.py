"""Read-only views for staff screens: one account, today's totals, unapplied payments.

These are what the Slack account view and App Home show (AR-104, AR-129..132, AR-139,
BI-15, BI-20); each takes a connection and writes nothing. The account view is the
inquiry screen: balance, aging, open items, last payment, flags, and the account's
activity newest first, a page at a time, filtered by kind and jumping to a date.
Today's totals and unapplied payments live in :mod:`core.dashboard` and are
importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from core.approvals.tables import approval_request
from core.customers import status_of
from core.dashboard import (
    CreditBalance,
    Delinquent,
    Totals,
    Unapplied,
    credit_balances,
    delinquent_accounts,
    today_totals,
    unapplied_payments,
)
from core.errors import ValidationError
from core.ledger.accounts import load_account
from core.ledger.aging import bucket_labels
from core.ledger.items import Item, load_items
from core.ledger.model import AR_CONTROL, Kind
from core.ledger.tables import (
    ar_item,
    gl_account,
    journal_entry,
    journal_line,
)
from core.money import Money
from core.plans.enrolment import Plan, plan_of
from core.worklists import Collector, Flag, collector_of, open_flags

__all__ = [
    "ACTIVITY_GROUPS",
    "AccountView",
    "Activity",
    "CreditBalance",
    "Delinquent",
    "OpenItem",
    "Payment",
    "Totals",
    "Unapplied",
    "account_view",
    "activity_kinds",
    "credit_balances",
    "delinquent_accounts",
    "today_totals",
    "unapplied_payments",
]

VIEW_BOUNDS = (30, 60, 90, 120)
"""The account view's buckets: 0-30, 31-60, 61-90, 91-120 and over 120 days."""

ACTIVITY_GROUPS: dict[str, frozenset[Kind]] = {
    "charges": frozenset({Kind.CHARGE, Kind.DEBIT_MEMO, Kind.CHARGEBACK}),
    "payments": frozenset({Kind.PAYMENT, Kind.PREPAYMENT, Kind.PAYMENT_REVERSAL}),
    "adjustments": frozenset(
        {
            Kind.ADJUSTMENT,
            Kind.DISCOUNT,
            Kind.CONTRACTUAL,
            Kind.WRITE_OFF,
            Kind.BAD_DEBT,
            Kind.REINSTATEMENT,
            Kind.CREDIT_MEMO,
            Kind.TRANSFER,
            Kind.REVERSAL,
        }
    ),
    "refunds": frozenset({Kind.REFUND}),
    "late_fees": frozenset({Kind.FINANCE_CHARGE}),
}
"""The activity filters staff pick from (AR-011); a single entry kind works too."""


@dataclass(frozen=True, slots=True)
class OpenItem:
    item_id: int
    entry_id: int
    entry_number: str
    description: str
    service_date: date
    due_date: date
    amount: Money
    open: Money
    status: str  # open, partly_paid or disputed


@dataclass(frozen=True, slots=True)
class Payment:
    entry_number: str
    date: date
    amount: Money


@dataclass(frozen=True, slots=True)
class Activity:
    """One entry touching the account: ``amount`` is what it added to the balance
    (negative: paid or credited); ``held`` what it put aside for the patient
    (prepayments)."""

    entry_id: int
    entry_number: str
    date: date
    entry_type: str
    kind: Kind
    amount: Money
    held: Money
    reference: str | None
    memo: str


@dataclass(frozen=True, slots=True)
class AccountView:
    account_id: int
    number: str
    name: str
    currency: str
    location: str
    as_of: date
    balance: Money
    buckets: tuple[tuple[str, Money], ...]
    open_items: tuple[OpenItem, ...]
    unapplied: Money
    last_payment: Payment | None
    status: str
    flags: tuple[str, ...]
    pending_requests: int
    plan: Plan | None
    """The account's active payment plan, with what is paid on each instalment (AR-059)."""
    activity: tuple[Activity, ...]
    page: int
    has_more: bool
    collector: Collector | None = None
    """Who collects the account (AR-045)."""
    follow_ups: tuple[Flag, ...] = ()
    """Its open follow-ups, soonest first (AR-101)."""


def activity_kinds(names: set[str] | None) -> frozenset[Kind] | None:
    """Group names (``payments``) and entry kinds (``write_off``) as a set of kinds."""
    if names is None:
        return None
    kinds: set[Kind] = set()
    for name in names:
        if name in ACTIVITY_GROUPS:
            kinds |= ACTIVITY_GROUPS[name]
        elif name in {k.value for k in Kind}:
            kinds.add(Kind(name))
        else:
            groups = ", ".join(ACTIVITY_GROUPS)
            raise ValidationError(f"{name!r} is not a kind of activity; use {groups} or a kind")
    return frozenset(kinds)


async def account_view(
    conn: AsyncConnection,
    account_id: int,
    *,
    as_of: date,
    page: int = 0,
    page_size: int = 10,
    kinds: set[str] | None = None,
    before: date | None = None,
) -> AccountView:
    """The account as of ``as_of``, with page ``page`` of its activity (AR-130): only
    ``kinds`` when given (AR-011), starting at ``before`` (on or before that day) when
    given (AR-132)."""
    if page < 0 or not 1 <= page_size <= 100:
        raise ValidationError("pages start at 0 and hold 1 to 100 lines")
    account = await load_account(conn, account_id=account_id)
    cur = account.currency
    items = await load_items(conn, account_id=account_id, as_of=as_of, only_open=True)
    debits = [i for i in items if i.is_debit]
    balance = sum(i.open.minor for i in items)
    status = await status_of(conn, account_id, as_of)
    activity = _activity(account_id, min(before or as_of, as_of), kinds)
    lines = await _page(conn, activity, page, page_size, cur)
    return AccountView(
        account_id=account.id,
        number=account.number,
        name=account.name,
        currency=cur,
        location=account.location,
        as_of=as_of,
        balance=Money(balance, cur),
        buckets=_buckets(items, as_of, cur),
        open_items=tuple(_open_item(i) for i in debits),
        unapplied=Money(-sum(i.open.minor for i in items if not i.is_debit), cur),
        last_payment=await _last_payment(conn, account_id, as_of, cur),
        status=status,
        flags=_flags(status, debits, balance),
        pending_requests=await _pending(conn, account_id),
        plan=await plan_of(conn, account_id),
        activity=tuple(lines[:page_size]),
        page=page,
        has_more=len(lines) > page_size,
        collector=await collector_of(conn, account_id),
        follow_ups=tuple(await open_flags(conn, account_id)),
    )


def _buckets(items: list[Item], as_of: date, currency: str) -> tuple[tuple[str, Money], ...]:
    """Open amounts by age from the service date; credits age by their own date, so the
    buckets add up to the balance, as on the ATB."""
    sums = [0] * (len(VIEW_BOUNDS) + 1)
    for item in items:
        age = (as_of - item.service_date).days
        slot = next((n for n, bound in enumerate(VIEW_BOUNDS) if age <= bound), len(VIEW_BOUNDS))
        sums[slot] += item.open.minor
    labels = bucket_labels(VIEW_BOUNDS)
    return tuple((label, Money(s, currency)) for label, s in zip(labels, sums, strict=True))


def _open_item(item: Item) -> OpenItem:
    status = "disputed" if item.disputed else item.status.value.replace("pending", "open")
    return OpenItem(
        item_id=item.id,
        entry_id=item.entry_id,
        entry_number=f"T{item.entry_id:08d}",
        description=item.description,
        service_date=item.service_date,
        due_date=item.due_date,
        amount=item.amount,
        open=item.open,
        status=status,
    )


def _flags(status: str, debits: list[Item], balance: int) -> tuple[str, ...]:
    """What staff must see at a glance: the account's status unless active (credit hold,
    in collections, bad debt ... AR-062), disputed items, a credit balance."""
    flags = [] if status == "active" else [status]
    if any(i.disputed for i in debits) and "disputed" not in flags:
        flags.append("disputed")
    if balance < 0:
        flags.append("credit_balance")
    return tuple(flags)


async def _last_payment(
    conn: AsyncConnection, account_id: int, as_of: date, currency: str
) -> Payment | None:
    row = (
        await conn.execute(
            select(journal_entry.c.id, journal_entry.c.effective_day, ar_item.c.amount_minor)
            .join(ar_item, ar_item.c.entry_id == journal_entry.c.id)
            .where(
                ar_item.c.account_id == account_id,
                ar_item.c.effective_day <= as_of,
                journal_entry.c.kind == Kind.PAYMENT.value,
            )
            .order_by(ar_item.c.effective_day.desc(), journal_entry.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return Payment(f"T{row.id:08d}", row.effective_day, Money(-row.amount_minor, currency))


async def _pending(conn: AsyncConnection, account_id: int) -> int:
    query = select(func.count()).where(
        approval_request.c.account_id == account_id, approval_request.c.status == "pending"
    )
    return int((await conn.execute(query)).scalar_one())


def _activity(
    account_id: int, last_day: date, kinds: set[str] | None
) -> Select[tuple[int, date, str, str, str | None, str, int, int]]:
    """Entries touching the account up to ``last_day``, newest first: those with an
    A/R item on it, and those that only hold money for it (prepayments)."""
    other_gl = select(gl_account.c.id).where(gl_account.c.code != AR_CONTROL)
    touching = union_all(
        select(
            ar_item.c.entry_id.label("entry_id"),
            ar_item.c.amount_minor.label("ar"),
            literal(0).label("held"),
        ).where(ar_item.c.account_id == account_id),
        select(journal_line.c.entry_id, literal(0), -journal_line.c.amount_minor).where(
            journal_line.c.customer_account_id == account_id,
            journal_line.c.gl_account_id.in_(other_gl.scalar_subquery()),
        ),
    ).subquery("touching")
    per_entry = (
        select(
            touching.c.entry_id,
            func.sum(touching.c.ar).label("ar"),
            func.sum(touching.c.held).label("held"),
        )
        .group_by(touching.c.entry_id)
        .subquery("per_entry")
    )
    je = journal_entry
    query = (
        select(
            je.c.id,
            je.c.effective_day,
            je.c.entry_type,
            je.c.kind,
            je.c.reference,
            je.c.memo,
            per_entry.c.ar,
            per_entry.c.held,
        )
        .join(per_entry, per_entry.c.entry_id == je.c.id)
        .where(je.c.effective_day <= last_day)
        .order_by(je.c.effective_day.desc(), je.c.id.desc())
    )
    wanted = activity_kinds(kinds)
    if wanted is not None:
        query = query.where(je.c.kind.in_(sorted(k.value for k in wanted)))
    return query


async def _page(
    conn: AsyncConnection,
    query: Select[tuple[int, date, str, str, str | None, str, int, int]],
    page: int,
    size: int,
    currency: str,
) -> list[Activity]:
    """One more line than the page holds, so the caller knows whether more follow."""
    rows = await conn.execute(query.offset(page * size).limit(size + 1))
    return [
        Activity(
            entry_id=r.id,
            entry_number=f"T{r.id:08d}",
            date=r.effective_day,
            entry_type=r.entry_type,
            kind=Kind(r.kind),
            amount=Money(int(r.ar), currency),
            held=Money(int(r.held), currency),
            reference=r.reference,
            memo=r.memo,
        )
        for r in rows
    ]
