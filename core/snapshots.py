"""Month-end ATB snapshots: the aged analysis as it stood at a period end, kept (AR-150).

Aging is computed from open items for any date, so a past month-end's ATB can always be
recomputed; but a back-dated payment or a late correction changes that answer, while
the figures the clinic reported at month-end must stay as they were. A snapshot stores
the consolidated buckets (amount, percent of the total, number of accounts) and the
same per location and per financial class, so later reports and digests compare
against what was seen then. One snapshot per as-of date, currency and aging basis;
taking it twice returns the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.db.metadata import Currency, DayNumber, Minor, UtcDateTime, metadata
from core.ledger.aging import AgingRule, AtbBucket, Basis, GroupBy, aged_trial_balance

DIMENSIONS = ("total", "location", "financial_class")
OFFICE_DEFAULT = AgingRule()

atb_snapshot = Table(
    "atb_snapshot",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("as_of", DayNumber, nullable=False),
    Column("currency", Currency, nullable=False),
    Column("basis", String(10), nullable=False),
    Column("bounds", String(60), nullable=False),
    Column("disputed_current", Boolean, nullable=False, server_default="0"),
    Column("total_minor", Minor, nullable=False),
    Column("accounts", Integer, nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    UniqueConstraint("as_of", "currency", "basis"),
)

atb_snapshot_line = Table(
    "atb_snapshot_line",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("snapshot_id", Integer, ForeignKey("atb_snapshot.id"), nullable=False),
    Column("dimension", String(20), nullable=False),
    Column("group_key", String(60), nullable=False),
    Column("position", Integer, nullable=False),
    Column("label", String(20), nullable=False),
    Column("amount_minor", Minor, nullable=False),
    Column("accounts", Integer, nullable=False),
    CheckConstraint("dimension IN ('total','location','financial_class')", name="dimension"),
    UniqueConstraint("snapshot_id", "dimension", "group_key", "position"),
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: int
    as_of: date
    currency: str
    basis: Basis
    bounds: tuple[int, ...]
    disputed_current: bool
    total_minor: int
    accounts: int
    taken_at: datetime
    buckets: tuple[AtbBucket, ...]
    groups: dict[tuple[str, str], tuple[AtbBucket, ...]]
    """(dimension, group) -> buckets, e.g. ("location", "north")."""


def _lines(
    snapshot_id: int, dimension: str, key: str, buckets: list[AtbBucket]
) -> list[dict[str, object]]:
    return [
        {
            "snapshot_id": snapshot_id,
            "dimension": dimension,
            "group_key": key,
            "position": i,
            "label": b.label,
            "amount_minor": b.amount_minor,
            "accounts": b.accounts,
        }
        for i, b in enumerate(buckets)
    ]


async def take_atb_snapshot(
    db: Database,
    *,
    as_of: date,
    currency: str,
    actor: str,
    rule: AgingRule = OFFICE_DEFAULT,
) -> Snapshot:
    """Compute the ATB as of ``as_of`` and keep it; a snapshot already taken for that
    date, currency and basis is returned as it was, never recomputed."""
    async with db.read() as conn:
        found = await snapshot_of(conn, as_of, currency, rule.basis)
        if found is not None:
            return found
        by_location = await aged_trial_balance(
            conn, rule.query(as_of, currency, group_by=GroupBy.LOCATION)
        )
        by_class = await aged_trial_balance(
            conn, rule.query(as_of, currency, group_by=GroupBy.FINANCIAL_CLASS)
        )
    accounts = len({row.account_id for row in by_location.rows})
    async with db.transaction() as tx:
        insert = postgresql.insert if tx.is_postgres else sqlite.insert
        made = await tx.conn.execute(
            insert(atb_snapshot)
            .values(
                as_of=as_of,
                currency=currency,
                basis=rule.basis.value,
                bounds=",".join(map(str, rule.bounds)),
                disputed_current=rule.disputed_current,
                total_minor=by_location.total_minor,
                accounts=accounts,
                taken_at=tx.db.clock.now(),
                actor=actor,
            )
            .on_conflict_do_nothing()
            .returning(atb_snapshot.c.id)
        )
        snapshot_id = made.scalar()
        if snapshot_id is not None:
            lines = _lines(snapshot_id, "total", "", by_location.buckets)
            for key, buckets in by_location.groups.items():
                lines += _lines(snapshot_id, "location", key, buckets)
            for key, buckets in by_class.groups.items():
                lines += _lines(snapshot_id, "financial_class", key, buckets)
            await tx.conn.execute(atb_snapshot_line.insert(), lines)
            tx.audit(
                actor,
                "scheduler",
                "report.atb_snapshot",
                f"ATB {as_of.isoformat()} {currency}",
                total_minor=by_location.total_minor,
                accounts=accounts,
            )
    async with db.read() as conn:
        kept = await snapshot_of(conn, as_of, currency, rule.basis)
    assert kept is not None  # just written, by this call or a concurrent one
    return kept


def _percent(part: int, total: int) -> Decimal:
    if total == 0:
        return Decimal("0.00")
    return (Decimal(part) * 100 / Decimal(total)).quantize(Decimal("0.01"))


async def snapshot_of(
    conn: AsyncConnection, as_of: date, currency: str, basis: Basis = Basis.SERVICE
) -> Snapshot | None:
    """The snapshot kept for ``as_of``, if one was taken."""
    head = (
        await conn.execute(
            select(atb_snapshot).where(
                atb_snapshot.c.as_of == as_of,
                atb_snapshot.c.currency == currency,
                atb_snapshot.c.basis == basis.value,
            )
        )
    ).first()
    return None if head is None else await _load(conn, head)


async def latest_snapshot(
    conn: AsyncConnection, currency: str, *, before: date, basis: Basis = Basis.SERVICE
) -> Snapshot | None:
    """The most recent snapshot taken for a date before ``before`` (the one to compare
    a new ATB with)."""
    head = (
        await conn.execute(
            select(atb_snapshot)
            .where(
                atb_snapshot.c.as_of < before,
                atb_snapshot.c.currency == currency,
                atb_snapshot.c.basis == basis.value,
            )
            .order_by(atb_snapshot.c.as_of.desc())
            .limit(1)
        )
    ).first()
    return None if head is None else await _load(conn, head)


async def _load(conn: AsyncConnection, head: object) -> Snapshot:
    h = head._mapping  # type: ignore[attr-defined]
    rows = await conn.execute(
        select(atb_snapshot_line)
        .where(atb_snapshot_line.c.snapshot_id == h["id"])
        .order_by(
            atb_snapshot_line.c.dimension,
            atb_snapshot_line.c.group_key,
            atb_snapshot_line.c.position,
        )
    )
    grouped: dict[tuple[str, str], list[AtbBucket]] = {}
    for r in rows:
        grouped.setdefault((r.dimension, r.group_key), []).append(
            AtbBucket(r.label, int(r.amount_minor), Decimal(0), r.accounts)
        )
    with_percent = {
        key: tuple(
            AtbBucket(b.label, b.amount_minor, _percent(b.amount_minor, total), b.accounts)
            for b in buckets
        )
        for key, buckets in grouped.items()
        for total in [sum(b.amount_minor for b in buckets)]
    }
    return Snapshot(
        id=h["id"],
        as_of=h["as_of"],
        currency=h["currency"],
        basis=Basis(h["basis"]),
        bounds=tuple(int(b) for b in h["bounds"].split(",")),
        disputed_current=bool(h["disputed_current"]),
        total_minor=int(h["total_minor"]),
        accounts=h["accounts"],
        taken_at=h["taken_at"],
        buckets=with_percent.pop(("total", ""), ()),
        groups=with_percent,
    )
