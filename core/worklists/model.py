"""What a worklist is made of: the tables, a collector, a follow-up flag, and the
queries that read them (:mod:`core.worklists`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Row,
    Select,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import staff_user
from core.db.metadata import DayNumber, UtcDateTime, metadata
from core.errors import NotFound, ValidationError
from core.ledger.tables import ar_item, customer_account
from core.money import Money

MAX_NOTE = 300
MAX_AHEAD = timedelta(days=366)
"""The furthest a review date may be set: a year ahead."""
UPCOMING = timedelta(days=14)
"""How far ahead a worklist shows flags not due yet."""
SHOWN = 15
"""Flags, and accounts without one, listed at most in a worklist (each part)."""

collector_assignment = Table(
    "collector_assignment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    # NULL: the account was taken off its collector.
    Column("staff_id", Integer, ForeignKey("staff_user.id")),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Index("ix_collector_assignment_account", "account_id", "id"),
    Index("ix_collector_assignment_staff", "staff_id"),
)

follow_up = Table(
    "follow_up",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("staff_id", Integer, ForeignKey("staff_user.id"), nullable=False),
    Column("due_day", DayNumber, nullable=False),
    Column("note", String(MAX_NOTE), nullable=False),
    # The request that set it (a Slack request retried sets one flag).
    Column("request_key", String(200), unique=True),
    Column("status", String(10), nullable=False, server_default="open"),
    Column("outcome", String(MAX_NOTE), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("closed_at", UtcDateTime),
    Column("closed_by", String(120)),
    CheckConstraint("status IN ('open','done')", name="status"),
    Index("ix_follow_up_staff", "staff_id", "status", "due_day"),
    Index("ix_follow_up_account", "account_id", "status"),
)


class FlagStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Collector:
    staff_id: int
    name: str
    slack_user_id: str | None


@dataclass(frozen=True, slots=True)
class Flag:
    """An account flagged for follow-up on ``due``, owned by ``owner``."""

    id: int
    account_id: int
    number: str
    name: str
    location: str
    owner: Collector
    due: date
    note: str
    status: FlagStatus
    outcome: str
    balance: Money


@dataclass(frozen=True, slots=True)
class Unflagged:
    """An account of the collector's that owes and has no open flag."""

    account_id: int
    number: str
    name: str
    location: str
    balance: Money


@dataclass(frozen=True, slots=True)
class Worklist:
    collector: Collector
    as_of: date
    due: tuple[Flag, ...]
    upcoming: tuple[Flag, ...]
    unflagged: tuple[Unflagged, ...]
    due_count: int
    assigned: int
    hidden: int = 0
    """Open flags and assigned accounts at locations the reader does not work at."""


def note_text(text: str, what: str) -> str:
    note = " ".join(text.split())
    if len(note) > MAX_NOTE:
        raise ValidationError(f"the {what} has {len(note):,} characters; keep it to {MAX_NOTE}")
    return note


async def collector_by_id(conn: AsyncConnection, staff_id: int) -> Collector:
    row = (
        await conn.execute(
            select(staff_user.c.id, staff_user.c.name, staff_user.c.slack_user_id).where(
                staff_user.c.id == staff_id
            )
        )
    ).one()
    return Collector(row.id, row.name, row.slack_user_id)


def check_due(due: date, on: date) -> None:
    """A review date from today to a year ahead."""
    if not on <= due <= on + MAX_AHEAD:
        raise ValidationError(
            f"a review date is from today ({on.isoformat()}) to a year ahead; "
            f"{due.isoformat()} is not"
        )


def latest_assignment() -> Any:
    return (
        select(
            collector_assignment.c.account_id,
            func.max(collector_assignment.c.id).label("id"),
        )
        .group_by(collector_assignment.c.account_id)
        .subquery("latest_assignment")
    )


async def collector_of(conn: AsyncConnection, account_id: int) -> Collector | None:
    """Who collects the account now, if anyone."""
    row = (
        await conn.execute(
            select(collector_assignment.c.staff_id)
            .where(collector_assignment.c.account_id == account_id)
            .order_by(collector_assignment.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None or row.staff_id is None:
        return None
    return await collector_by_id(conn, row.staff_id)


def flag_query() -> Select[Any]:
    """Flags with their accounts, owners and what each account has open (read per
    account through ``ix_ar_item_account``)."""
    ca = customer_account
    open_now = (
        select(func.coalesce(func.sum(ar_item.c.open_minor), 0))
        .where(ar_item.c.account_id == follow_up.c.account_id)
        .scalar_subquery()
    )
    return (
        select(
            follow_up,
            ca.c.number,
            ca.c.name,
            ca.c.location,
            ca.c.currency,
            open_now.label("open"),
            staff_user.c.name.label("owner_name"),
            staff_user.c.slack_user_id,
        )
        .join(ca, ca.c.id == follow_up.c.account_id)
        .join(staff_user, staff_user.c.id == follow_up.c.staff_id)
    )


def flag_of(r: Row[Any]) -> Flag:
    return Flag(
        r.id,
        r.account_id,
        r.number,
        r.name,
        r.location,
        Collector(r.staff_id, r.owner_name, r.slack_user_id),
        r.due_day,
        r.note,
        FlagStatus(r.status),
        r.outcome,
        Money(int(r.open), r.currency),
    )


async def open_flags(conn: AsyncConnection, account_id: int) -> list[Flag]:
    """The account's open follow-ups, soonest first (the account view shows them)."""
    rows = await conn.execute(
        flag_query()
        .where(follow_up.c.account_id == account_id, follow_up.c.status == FlagStatus.OPEN.value)
        .order_by(follow_up.c.due_day, follow_up.c.id)
    )
    return [flag_of(r) for r in rows]


async def load_flag(conn: AsyncConnection, flag_id: int) -> Flag:
    row = (await conn.execute(flag_query().where(follow_up.c.id == flag_id))).first()
    if row is None:
        raise NotFound(f"there is no follow-up {flag_id}")
    return flag_of(row)
