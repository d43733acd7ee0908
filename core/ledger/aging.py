"""Aging and the aged trial balance (ATB), computed from open items as of any date.

An item's *age* is the number of days from its basis date to the as-of date: the
service date by default, or the bill date, or the due date (AR-195), where items not
yet due have a negative age and so fall in the first bucket as current. Buckets are
given by their upper bounds: ``30,60,90,120,150,180`` means 0-30, 31-60, ... 151-180
and over 180, the seven defaults (AR-192, AR-197, AR-198). Unapplied credits age by
their own date, so every account's row sums to its balance and the ATB total is the
A/R total. Disputed items can be aged as current (AR-196).

All the arithmetic is one SQL aggregate over integer day numbers: items are never
loaded into Python, only one row per account (and group) comes back. It reads the
items open today (a partial index holds only those) and adds back what was applied
to them after the as-of date, so its cost follows what is open, not the whole ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from functools import partial
from itertools import pairwise
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import Subquery

from core.db.bulk import collector_paused
from core.db.metadata import day_number, to_day
from core.errors import ValidationError
from core.ledger.items import latest_disputes
from core.ledger.tables import allocation, ar_item, customer_account

DEFAULT_BOUNDS = (30, 60, 90, 120, 150, 180)


class Basis(StrEnum):
    SERVICE = "service"
    BILL = "bill"
    DUE = "due"


class GroupBy(StrEnum):
    """Ways to slice the ATB; doctor and payer are properties of items, the rest of accounts."""

    FINANCIAL_CLASS = "financial_class"
    LOCATION = "location"
    GUARANTOR = "guarantor"
    DOCTOR = "doctor"
    PAYER = "payer"
    PATIENT_TYPE = "patient_type"


ITEM_GROUPS = (GroupBy.DOCTOR, GroupBy.PAYER)


def parse_bounds(text: str) -> tuple[int, ...]:
    """``"30,60,90"`` -> (30, 60, 90): 1 to 8 increasing bounds, so 2 to 9 buckets."""
    try:
        bounds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValidationError(
            f"buckets must be whole days separated by commas, got {text!r}"
        ) from exc
    if not 1 <= len(bounds) <= 8:
        raise ValidationError("give between 1 and 8 bucket bounds (2 to 9 buckets)")
    if bounds[0] < 0 or any(b <= a for a, b in pairwise(bounds)):
        raise ValidationError(f"bucket bounds must increase and not be negative: {text}")
    return bounds


def parse_basis(text: str) -> Basis:
    try:
        return Basis(text.strip().lower())
    except ValueError:
        raise ValidationError(
            f"items age from their service, bill or due date, not {text!r}"
        ) from None


def parse_disputed(text: str) -> bool:
    """``current`` (disputed items count as current) or ``aged`` (like the rest)."""
    how = text.strip().lower()
    if how not in ("current", "aged"):
        raise ValidationError(
            f"disputed items are either 'current' or 'aged' like the rest, not {text!r}"
        )
    return how == "current"


def bucket_labels(bounds: tuple[int, ...]) -> list[str]:
    labels, low = [], 0
    for high in bounds:
        labels.append(f"{low}-{high}")
        low = high + 1
    labels.append(f"over {bounds[-1]}")
    return labels


@dataclass(frozen=True, slots=True)
class AgingRule:
    """The office's own aging rule (AR-194): the date items age from, the buckets'
    upper bounds and whether disputed items count as current. The ATB in Slack and from
    the CLI, the digests, the home tab and the month-end snapshots all age by it unless
    asked otherwise (``ARBOT_AGING_BASIS``, ``ARBOT_AGING_BUCKETS``,
    ``ARBOT_AGING_DISPUTED``)."""

    basis: Basis = Basis.SERVICE
    bounds: tuple[int, ...] = DEFAULT_BOUNDS
    disputed_current: bool = False

    @classmethod
    def parse(cls, basis: str, buckets: str, disputed: str) -> AgingRule:
        """From the words an office writes: ``due``, ``30,60,90``, ``current`` or ``aged``."""
        return cls(parse_basis(basis), parse_bounds(buckets), parse_disputed(disputed))

    def overridden(
        self, basis: str | None = None, buckets: str | None = None, disputed: str | None = None
    ) -> AgingRule:
        """This rule with what a report asked for instead (its ``--basis`` ...)."""
        return AgingRule.parse(
            basis or self.basis.value,
            buckets or ",".join(map(str, self.bounds)),
            disputed or ("current" if self.disputed_current else "aged"),
        )

    def query(self, as_of: date, currency: str, **rest: Any) -> AtbQuery:
        """An ATB query aging by this rule."""
        return AtbQuery(
            as_of,
            currency,
            basis=self.basis,
            bounds=self.bounds,
            disputed_current=self.disputed_current,
            **rest,
        )


@dataclass(frozen=True, slots=True)
class AtbQuery:
    as_of: date
    currency: str
    basis: Basis = Basis.SERVICE
    bounds: tuple[int, ...] = DEFAULT_BOUNDS
    group_by: GroupBy | None = None
    over_days: int | None = None
    disputed_current: bool = False
    sort: str = "balance"
    location: str | None = None

    @property
    def rule(self) -> AgingRule:
        """The aging rule this query ages by."""
        return AgingRule(self.basis, self.bounds, self.disputed_current)


class AtbRow(tuple[Any, ...]):
    """One account's line (per group when grouped by doctor or payer): the flat tuple
    ``(account_id, number, name, group, total, *bucket amounts)``. Flat and bare, so
    that the ATB makes its 100,000 rows in C (``tuple.__new__`` mapped over the driver's
    rows) rather than with a Python call each, and sorts them by a C key (make bench:
    0.35 s of 1.4 s)."""

    __slots__ = ()

    def __new__(
        cls, account_id: int, number: str, name: str, group: str | None, amounts: Iterable[int]
    ) -> AtbRow:
        buckets = tuple(amounts)
        return tuple.__new__(cls, (account_id, number, name, group, sum(buckets), *buckets))

    @property
    def account_id(self) -> int:
        return self[0]  # type: ignore[no-any-return]

    @property
    def number(self) -> str:
        return self[1]  # type: ignore[no-any-return]

    @property
    def name(self) -> str:
        return self[2]  # type: ignore[no-any-return]

    @property
    def group(self) -> str | None:
        return self[3]  # type: ignore[no-any-return]

    @property
    def total(self) -> int:
        return self[_TOTAL]  # type: ignore[no-any-return]

    @property
    def amounts(self) -> tuple[int, ...]:
        return self[_TOTAL + 1 :]


_TOTAL = 4
_as_row = partial(tuple.__new__, AtbRow)


@dataclass(frozen=True, slots=True)
class AtbBucket:
    label: str
    amount_minor: int
    percent: Decimal
    accounts: int


@dataclass(slots=True)
class Atb:
    query: AtbQuery
    buckets: list[AtbBucket]
    total_minor: int
    rows: list[AtbRow]
    groups: dict[str, list[AtbBucket]] = field(default_factory=dict)


def _basis(table: Any, basis: Basis) -> Any:
    return day_number(table.c[f"{basis.value}_day"])


def _item_group(group_by: GroupBy | None, item: Any = ar_item) -> Any:
    if group_by is GroupBy.DOCTOR:
        return func.coalesce(item.c.doctor, "(none)")
    return func.coalesce(item.c.payer, "self")


def _sum_where(amount: Any, condition: Any) -> Any:
    return func.coalesce(func.sum(amount).filter(condition), literal_column("0"))


def _half(q: AtbQuery, table: Any) -> Any:
    """Per account (and item group): bucket sums of one half of the open amounts.

    An item's open amount as of the date is what is open today (``open_minor``) plus
    what was applied to it after the date. ``table`` is ``ar_item`` (today's open
    items, read off a partial covering index that holds open items only) or
    ``allocation`` (what was applied after the date, negated, to items already posted
    by then; its rows carry copies of their item's account, currency and dates, so no
    item is looked up). As of today the second half is empty."""
    day = to_day(q.as_of)
    basis = _basis(table, q.basis)
    query = select(table.c.account_id.label("account_id"))
    if q.disputed_current:
        disputed = latest_disputes(day)
        item_key = table.c.id if table is ar_item else table.c.item_id
        query = query.outerjoin(disputed, disputed.c.item_id == item_key)
        basis = case((disputed.c.disputed.is_(True), day), else_=basis)
    keys = [table.c.account_id]
    if q.group_by in ITEM_GROUPS:
        if table is not ar_item:
            query = query.join(ar_item, ar_item.c.id == table.c.item_id)
        keys.append(_item_group(q.group_by))
        query = query.add_columns(keys[-1].label("grp"))
    if table is ar_item:
        amount = table.c.open_minor
        window = _open_on(q, table)
    else:
        amount = -table.c.amount_minor
        window = [day_number(table.c.effective_day) > day, day_number(table.c.item_day) <= day]
    # Cumulative sums c_k = what is at most bound_k days old (age <= bound is
    # basis >= day - bound: one comparison a row); buckets are their differences.
    # FILTER, not sum(CASE ...): the row is not summed at all when it does not belong
    # (make bench: about 20% less for this half).
    cumulative = [
        _sum_where(amount, basis >= day - bound).label(f"c{k}") for k, bound in enumerate(q.bounds)
    ]
    query = query.add_columns(*cumulative, func.sum(amount).label(f"c{len(q.bounds)}"))
    if q.over_days is not None:
        old = _sum_where(amount, basis < day - q.over_days)
        query = query.add_columns(old.label("old_amount"))
    return query.where(table.c.currency == q.currency, *window).group_by(*keys)


def _open_on(q: AtbQuery, item: Any) -> list[Any]:
    """Which items (``ar_item`` or an alias) the first half reads: posted by the date
    and open today. A literal 0, not a bound parameter: only then may the planner read
    the partial index of open items (its WHERE must be implied by the query's)."""
    return [
        day_number(item.c.effective_day) <= to_day(q.as_of),
        item.c.open_minor != literal_column("0"),
    ]


def _open_today(q: AtbQuery, late: Any) -> Any:
    """Whether the account (and group) of a ``late`` row has a row in the items half."""
    item = ar_item.alias("open_item")
    found: Any = select(literal_column("1")).where(
        item.c.currency == q.currency, item.c.account_id == late.c.account_id, *_open_on(q, item)
    )
    if q.group_by in ITEM_GROUPS:
        found = found.where(_item_group(q.group_by, item) == late.c.grp)
    return found.exists()


def _per_account(q: AtbQuery) -> Subquery:
    """The two halves added up per account (and group): each account's open items
    with what was applied after the date added back where there was any, then the
    accounts whose every item then open has been settled since. Not a UNION of the
    halves grouped again: that sorted every account's row a second time (make bench)."""
    items, late = _half(q, ar_item).subquery("items"), _half(q, allocation).cte("late")
    keys = ["account_id", *(["grp"] if q.group_by in ITEM_GROUPS else [])]
    sums = [f"c{i}" for i in range(len(q.bounds) + 1)]
    sums += ["old_amount"] if q.over_days is not None else []
    both = select(
        *(items.c[k] for k in keys),
        *((items.c[c] + func.coalesce(late.c[c], literal_column("0"))).label(c) for c in sums),
    ).select_from(items.outerjoin(late, and_(*(items.c[k] == late.c[k] for k in keys))))
    only_late = select(*(late.c[k] for k in keys), *(late.c[c] for c in sums))
    return union_all(both, only_late.where(~_open_today(q, late))).subquery("per_account")


ACCOUNT_GROUPS: dict[GroupBy, ColumnElement[Any]] = {
    GroupBy.FINANCIAL_CLASS: customer_account.c.financial_class,
    GroupBy.PATIENT_TYPE: func.coalesce(customer_account.c.patient_type, "(none)"),
    GroupBy.LOCATION: customer_account.c.location,
}
"""The groupings that are the account's own: the column each reads."""


def atb_statement(q: AtbQuery) -> Any:
    """The ATB's rows. Sorted by name here; by balance, :func:`aged_trial_balance`
    sorts them (in Python: half the time of SQLite's sorter at 100,000 rows)."""
    width = len(q.bounds) + 1
    per_account = _per_account(q)
    item_grouped = q.group_by in ITEM_GROUPS
    ca = customer_account
    guarantor = ca.alias("guarantor")
    group_col = {**ACCOUNT_GROUPS, GroupBy.GUARANTOR: guarantor.c.number}.get(
        q.group_by,  # type: ignore[arg-type]
        per_account.c.grp if item_grouped else cast(literal(None), String),
    )
    cumulative = [per_account.c[f"c{i}"] for i in range(width)]
    buckets = [cumulative[0]] + [b - a for a, b in pairwise(cumulative)]
    balance = cumulative[-1].label("balance")
    statement = (
        select(
            per_account.c.account_id,
            ca.c.number,
            ca.c.name,
            group_col.label("grp"),
            balance,
            *buckets,
        )
        .join(ca, ca.c.id == per_account.c.account_id)
        .where(_any([b != 0 for b in buckets]))
    )
    if q.group_by is GroupBy.GUARANTOR:
        statement = statement.join(
            guarantor, guarantor.c.id == func.coalesce(ca.c.guarantor_id, ca.c.id)
        )
    if q.over_days is not None:
        statement = statement.where(per_account.c.old_amount > 0)
    if q.location is not None:
        statement = statement.where(ca.c.location == q.location)
    if q.sort == "name":
        statement = statement.order_by(ca.c.sort_name, ca.c.id)
    return statement


def _by_balance(rows: list[AtbRow]) -> None:
    """Largest balance first, then by account id (both sorts are stable, both keys C)."""
    rows.sort(key=itemgetter(0))
    rows.sort(key=itemgetter(_TOTAL), reverse=True)


def _any(conditions: list[Any]) -> Any:
    return or_(*conditions) if conditions else false()


def per_account(rows: list[AtbRow]) -> dict[int, list[int]]:
    """Bucket amounts per account, adding up an account's rows when grouped by item
    (doctor, payer) so that one patient counts once."""
    merged: dict[int, list[int]] = {}
    for row in rows:
        into = merged.setdefault(row.account_id, [0] * len(row.amounts))
        for i, amount in enumerate(row.amounts):
            into[i] += amount
    return merged


def _summarise(rows: list[AtbRow], labels: list[str]) -> tuple[list[AtbBucket], int]:
    """Each bucket's amount and number of accounts, from the rows turned into columns
    once (C): each column is then summed and its zeros counted in C."""
    if len(set(map(itemgetter(0), rows))) == len(rows):
        columns = list(zip(*rows, strict=True))[_TOTAL + 1 :] if rows else []
    else:
        columns = list(zip(*per_account(rows).values(), strict=True))
    columns = columns or [()] * len(labels)
    amounts = [sum(column) for column in columns]
    counts = [len(column) - column.count(0) for column in columns]
    total = sum(amounts)
    buckets = [
        AtbBucket(label, amounts[i], _percent(amounts[i], total), counts[i])
        for i, label in enumerate(labels)
    ]
    return buckets, total


def _percent(part: int, total: int) -> Decimal:
    if total == 0:
        return Decimal("0.00")
    return (Decimal(part) * 100 / Decimal(total)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


async def aged_trial_balance(conn: AsyncConnection, q: AtbQuery) -> Atb:
    """The ATB as of ``q.as_of``: summary buckets, per-account detail, per-group summaries."""
    # 100,000 rows are 200,000 new objects, the driver's and ours: the cyclic
    # collector would walk them again and again as they pile up (make bench: 0.3 s).
    with collector_paused():
        result = await conn.execute(atb_statement(q))
        # The driver's own rows: ``CursorResult.cursor`` is the DBAPI cursor, which the
        # async drivers have already filled. SQLAlchemy's Row objects, then a Python
        # call each to make an AtbRow, cost 0.2 s more (make bench).
        fetched = result.cursor.fetchall()
        result.close()
        if conn.dialect.name == "postgresql":
            # PostgreSQL sums bigints as numeric: make every amount an int once, here.
            rows = [AtbRow(r[0], r[1], r[2], r[3], map(int, r[_TOTAL + 1 :])) for r in fetched]
        else:
            rows = list(map(_as_row, fetched))
        labels = bucket_labels(q.bounds)
        buckets, total = _summarise(rows, labels)  # before sorting: memory order is faster
        if q.sort != "name":
            _by_balance(rows)
    atb = Atb(q, buckets, total, rows)
    if q.group_by is not None:
        grouped: dict[str, list[AtbRow]] = {}
        for row in rows:
            grouped.setdefault(row.group or "(none)", []).append(row)
        atb.groups = {
            key: _summarise(members, labels)[0] for key, members in sorted(grouped.items())
        }
    return atb
