"""Aging and the aged trial balance (ATB), computed from open items as of any date.

An item's *age* is the number of days from its basis date to the as-of date: the
service date by default, or the bill date, or the due date (AR-195), where items not
yet due have a negative age and so fall in the first bucket as current. Buckets are
given by their upper bounds: ``30,60,90,120,150,180`` means 0-30, 31-60, ... 151-180
and over 180, the seven defaults (AR-192, AR-197, AR-198). Unapplied credits age by
their own date, so every account's row sums to its balance and the ATB total is the
A/R total. Disputed items can be aged as current (AR-196).

All the arithmetic is one SQL aggregate over integer day numbers: items are never
loaded into Python, only one row per account (and group) comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import to_day
from core.errors import ValidationError
from core.ledger.items import _disputed
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


def bucket_labels(bounds: tuple[int, ...]) -> list[str]:
    labels, low = [], 0
    for high in bounds:
        labels.append(f"{low}-{high}")
        low = high + 1
    labels.append(f"over {bounds[-1]}")
    return labels


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


class AtbRow(NamedTuple):
    """One account's line (per group when grouped by doctor or payer). A NamedTuple, not
    a frozen dataclass: the ATB makes 100,000 of them and a tuple is built in C."""

    account_id: int
    number: str
    name: str
    group: str | None
    amounts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.amounts)


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
    return type_coerce(table.c[f"{basis.value}_day"], Integer)


def _item_group(group_by: GroupBy | None) -> Any:
    if group_by is GroupBy.DOCTOR:
        return func.coalesce(ar_item.c.doctor, "(none)")
    return func.coalesce(ar_item.c.payer, "self")


def _half(q: AtbQuery, table: Any) -> Any:
    """Per account (and item group): bucket sums of ``table``'s amounts as of the date.

    ``table`` is ``ar_item`` (what each item added) or ``allocation`` (what was matched
    to it since, carrying copies of its item's account, currency and dates). Each half
    is summed straight off its covering index, in account order, without a sort."""
    day = to_day(q.as_of)
    basis = _basis(table, q.basis)
    query = select(table.c.account_id.label("account_id"))
    if q.disputed_current:
        disputed = _disputed(q.as_of)
        item_key = table.c.id if table is ar_item else table.c.item_id
        query = query.outerjoin(disputed, disputed.c.item_id == item_key)
        basis = case((disputed.c.disputed.is_(True), day), else_=basis)
    keys = [table.c.account_id]
    if q.group_by in ITEM_GROUPS:
        if table is not ar_item:
            query = query.join(ar_item, ar_item.c.id == table.c.item_id)
        keys.append(_item_group(q.group_by))
        query = query.add_columns(keys[-1].label("grp"))
    amount = table.c.amount_minor
    # Cumulative sums c_k = what is at most bound_k days old (age <= bound is
    # basis >= day - bound: one comparison a row); buckets are their differences.
    cumulative = [
        func.sum(case((basis >= day - bound, amount), else_=0)).label(f"c{k}")
        for k, bound in enumerate(q.bounds)
    ]
    query = query.add_columns(*cumulative, func.sum(amount).label(f"c{len(q.bounds)}"))
    if q.over_days is not None:
        old = func.sum(case((basis < day - q.over_days, amount), else_=0))
        query = query.add_columns(old.label("old_amount"))
    return query.where(
        table.c.currency == q.currency, type_coerce(table.c.effective_day, Integer) <= day
    ).group_by(*keys)


def atb_statement(q: AtbQuery) -> Any:
    width = len(q.bounds) + 1
    moves = union_all(_half(q, ar_item), _half(q, allocation)).subquery("moves")
    item_grouped = q.group_by in ITEM_GROUPS
    keys = [moves.c.account_id, *([moves.c.grp] if item_grouped else [])]
    sums = [func.sum(moves.c[f"c{i}"]).label(f"c{i}") for i in range(width)]
    extra = []
    if q.over_days is not None:
        extra.append(func.sum(moves.c.old_amount).label("old_amount"))
    per_account = select(*keys, *sums, *extra).group_by(*keys).subquery("per_account")
    ca = customer_account
    guarantor = ca.alias("guarantor")
    group_col = {
        GroupBy.FINANCIAL_CLASS: ca.c.financial_class,
        GroupBy.LOCATION: ca.c.location,
        GroupBy.PATIENT_TYPE: func.coalesce(ca.c.patient_type, "(none)"),
        GroupBy.GUARANTOR: guarantor.c.number,
    }.get(q.group_by, per_account.c.grp if item_grouped else cast(literal(None), String))  # type: ignore[arg-type]
    cumulative = [per_account.c[f"c{i}"] for i in range(width)]
    buckets = [cumulative[0]] + [b - a for a, b in pairwise(cumulative)]
    statement = (
        select(per_account.c.account_id, ca.c.number, ca.c.name, group_col.label("grp"), *buckets)
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
    balance = cumulative[-1]
    order = [ca.c.sort_name, ca.c.id] if q.sort == "name" else [balance.desc(), ca.c.id]
    return statement.order_by(*order)


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
    one_row_each = len({r.account_id for r in rows}) == len(rows)
    vectors = [r.amounts for r in rows] if one_row_each else list(per_account(rows).values())
    columns = list(zip(*vectors, strict=True)) or [()] * len(labels)
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
    result = (await conn.execute(atb_statement(q))).all()
    if conn.dialect.name == "postgresql":
        # PostgreSQL sums bigints as numeric: make every amount an int once, here.
        rows = [AtbRow(r[0], r[1], r[2], r[3], tuple(map(int, r[4:]))) for r in result]
    else:
        rows = [AtbRow(r[0], r[1], r[2], r[3], r[4:]) for r in result]
    labels = bucket_labels(q.bounds)
    buckets, total = _summarise(rows, labels)
    atb = Atb(q, buckets, total, rows)
    if q.group_by is not None:
        grouped: dict[str, list[AtbRow]] = {}
        for row in rows:
            grouped.setdefault(row.group or "(none)", []).append(row)
        atb.groups = {
            key: _summarise(members, labels)[0] for key, members in sorted(grouped.items())
        }
    return atb
