"""Statement cycles: which accounts get a statement, and on which days (AR-144, AR-161,
AR-164, AR-165).

A statement tells a patient what is open on their account and when the next payment
is due. Besides the statement a patient asks the bot for, the office sends them on
*cycles* it defines: monthly on a day of the month (the 31st means the month's last
day), weekly on a weekday, daily, or never. A cycle applies to one account, or to the
accounts of a location and/or financial class, or to every account; the most specific
one wins, so an account can be moved to its own day (or taken off statements) without
changing anyone else's. A cycle also says the least balance worth a statement
(AR-161): an account owing no more than that gets none that day.

:func:`statements_due` finds in one query the accounts whose cycle falls on a day and
which owe more than their cycle's minimum; the scheduler renders each one, with the
next payment date (a plan's next instalment where there is one, AR-165), and sends it
once under a key naming the account and the day.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    case,
    func,
    literal,
    null,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.db import Database, inserted_id
from core.db.metadata import Minor, UtcDateTime, metadata
from core.errors import ValidationError
from core.ledger.accounts import load_account
from core.ledger.tables import ar_item, customer_account, customer_status
from core.money import Money

FREQUENCIES = ("monthly", "weekly", "daily", "never")
NO_STATEMENTS = ("in_collections", "bad_debt", "inactive", "flagged_for_deletion")
"""Account statuses that get no scheduled statement: someone else is following them up,
or the account is closed."""
PERSON_TYPES = ("patient", "guarantor", "employee")
"""Statements by chat go to people; insurers and businesses are billed otherwise."""

statement_cycle = Table(
    "statement_cycle",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id")),
    Column("location", String(30)),
    Column("financial_class", String(30)),
    Column("frequency", String(10), nullable=False),
    Column("day", Integer),
    Column("min_balance_minor", Minor, nullable=False, server_default="0"),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    CheckConstraint(f"frequency IN {FREQUENCIES!r}", name="frequency"),
    CheckConstraint(
        "(frequency = 'monthly' AND day BETWEEN 1 AND 31) OR "
        "(frequency = 'weekly' AND day BETWEEN 1 AND 7) OR "
        "(frequency IN ('daily', 'never') AND day IS NULL)",
        name="day",
    ),
    CheckConstraint("min_balance_minor >= 0", name="min_balance"),
    CheckConstraint(
        "account_id IS NULL OR (location IS NULL AND financial_class IS NULL)", name="scope"
    ),
    Index("ix_statement_cycle_account", "account_id"),
)


@dataclass(frozen=True, slots=True)
class StatementCycle:
    """When statements go and to whom: ``day`` is the day of the month (1-31) for a
    monthly cycle, the ISO weekday (1 Monday - 7 Sunday) for a weekly one, None
    otherwise. The scope is one ``account_id``, or a ``location`` and/or
    ``financial_class``, or nothing (every account)."""

    frequency: str
    day: int | None = None
    min_balance_minor: int = 0
    account_id: int | None = None
    location: str | None = None
    financial_class: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.frequency not in FREQUENCIES:
            raise ValidationError(
                f"{self.frequency!r} is not a statement cycle; use one of {', '.join(FREQUENCIES)}"
            )
        if self.frequency == "monthly" and not (self.day and 1 <= self.day <= 31):
            raise ValidationError("a monthly statement cycle needs a day of the month, 1 to 31")
        if self.frequency == "weekly" and not (self.day and 1 <= self.day <= 7):
            raise ValidationError(
                "a weekly statement cycle needs a weekday, 1 (Monday) to 7 (Sunday)"
            )
        if self.frequency in ("daily", "never") and self.day is not None:
            raise ValidationError(f"a {self.frequency} statement cycle takes no day")
        if self.min_balance_minor < 0:
            raise ValidationError("a statement cycle's minimum balance cannot be negative")
        if self.account_id is not None and (self.location or self.financial_class):
            raise ValidationError(
                "a statement cycle is for one account, or for a location and/or class"
            )

    @property
    def specificity(self) -> int:
        if self.account_id is not None:
            return 4
        return 2 * (self.location is not None) + (self.financial_class is not None)

    def falls_on(self, day: date) -> bool:
        """Whether a statement goes out on ``day`` under this cycle."""
        if self.frequency == "daily":
            return True
        if self.frequency == "weekly":
            return day.isoweekday() == self.day
        if self.frequency == "monthly":
            assert self.day is not None
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day == min(self.day, last)
        return False


@dataclass(frozen=True, slots=True)
class StatementDue:
    """An account whose cycle falls on the day, and what it owes."""

    account_id: int
    number: str
    cycle_id: int
    balance: Money


def _same_scope(cycle: StatementCycle) -> Any:
    c = statement_cycle.c

    def match(column: Any, value: object) -> Any:
        return column.is_(None) if value is None else column == value

    return and_(
        c.active.is_(True),
        match(c.account_id, cycle.account_id),
        match(c.location, cycle.location),
        match(c.financial_class, cycle.financial_class),
    )


async def set_statement_cycle(db: Database, actor: Actor, cycle: StatementCycle) -> int:
    """Make ``cycle`` the one for its scope (the one it replaces is kept, inactive).
    One account's cycle needs the right to manage accounts at its location; a
    location's, a class's or everyone's is the office's configuration."""
    async with db.transaction() as tx:
        if cycle.account_id is not None:
            account = await load_account(tx.conn, account_id=cycle.account_id)
            require(actor, Permission.MANAGE_ACCOUNTS, account.location)
        else:
            require(actor, Permission.MANAGE_CATALOGUE)
        await tx.conn.execute(
            statement_cycle.update().where(_same_scope(cycle)).values(active=False)
        )
        cycle_id = inserted_id(
            await tx.conn.execute(
                statement_cycle.insert().values(
                    account_id=cycle.account_id,
                    location=cycle.location,
                    financial_class=cycle.financial_class,
                    frequency=cycle.frequency,
                    day=cycle.day,
                    min_balance_minor=cycle.min_balance_minor,
                    created_at=tx.db.clock.now(),
                    actor=actor.label,
                )
            )
        )
        tx.audit(
            actor.label,
            "staff" if actor.kind == "staff" else actor.kind,
            "statement.cycle",
            f"cycle {cycle_id}",
            frequency=cycle.frequency,
            day=cycle.day,
            account=cycle.account_id,
            location=cycle.location,
            financial_class=cycle.financial_class,
        )
    return cycle_id


async def statement_cycles(conn: AsyncConnection) -> list[StatementCycle]:
    """The active cycles, most specific first."""
    rows = await conn.execute(select(statement_cycle).where(statement_cycle.c.active.is_(True)))
    cycles = [
        StatementCycle(
            frequency=r.frequency,
            day=r.day,
            min_balance_minor=int(r.min_balance_minor),
            account_id=r.account_id,
            location=r.location,
            financial_class=r.financial_class,
            id=r.id,
        )
        for r in rows
    ]
    return sorted(cycles, key=lambda c: (-c.specificity, c.id or 0))


def _group_cycle(cycles: Sequence[StatementCycle], ca: Any) -> Any:
    """The id of the most specific location/class/everyone cycle matching each account."""
    whens = []
    for c in cycles:
        if c.account_id is not None:
            continue
        test = [true()]
        if c.location is not None:
            test.append(ca.c.location == c.location)
        if c.financial_class is not None:
            test.append(ca.c.financial_class == c.financial_class)
        whens.append((and_(*test), literal(c.id, Integer)))
    return case(*whens, else_=null()) if whens else null()


async def statements_due(conn: AsyncConnection, on: date) -> list[StatementDue]:
    """The accounts whose statement cycle falls on ``on`` and which owe more than the
    cycle's minimum: people, not in collections, bad debt or closed. One query."""
    cycles = await statement_cycles(conn)
    falling = [c for c in cycles if c.falls_on(on)]
    if not falling:
        return []
    ca = customer_account
    own = statement_cycle.alias("own_cycle")
    chosen = func.coalesce(own.c.id, _group_cycle(cycles, ca))
    owed = (
        select(ar_item.c.account_id, func.sum(ar_item.c.amount_minor).label("owed"))
        .where(ar_item.c.effective_day <= on)
        .group_by(ar_item.c.account_id)
        .subquery("owed")
    )
    latest = (
        select(customer_status.c.account_id, func.max(customer_status.c.id).label("id"))
        .where(customer_status.c.effective_day <= on)
        .group_by(customer_status.c.account_id)
        .subquery("latest_status")
    )
    status = customer_status.alias("status_now")
    minimum = case(*((chosen == c.id, c.min_balance_minor) for c in falling), else_=0)
    rows = await conn.execute(
        select(ca.c.id, ca.c.number, ca.c.currency, chosen.label("cycle"), owed.c.owed)
        .join(owed, owed.c.account_id == ca.c.id)
        .outerjoin(own, and_(own.c.account_id == ca.c.id, own.c.active.is_(True)))
        .outerjoin(latest, latest.c.account_id == ca.c.id)
        .outerjoin(status, status.c.id == latest.c.id)
        .where(
            ca.c.customer_type.in_(PERSON_TYPES),
            chosen.in_([c.id for c in falling]),
            owed.c.owed > minimum,
            owed.c.owed > 0,
            status.c.status.is_(None) | status.c.status.not_in(NO_STATEMENTS),
        )
        .order_by(ca.c.id)
    )
    return [
        StatementDue(r.id, r.number, int(r.cycle), Money(int(r.owed), r.currency)) for r in rows
    ]
