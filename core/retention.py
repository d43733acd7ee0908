"""How long a settled account's history is kept (AR-204).

The ledger is append-only: nothing an account ever owed or paid is deleted, so its
history is there for as long as the hospital keeps the database. What the office sets
(``ARBOT_RETENTION_YEARS``) is how long an account that owes nothing must be kept
before it may be archived: an account whose balance is zero, with nothing open, nothing
paid ahead, no active payment plan, and no activity for that many years, is flagged for
deletion (AR-203: it then takes no charges, statements or reminders) by the
``retention`` job, with the date of its last activity in the reason. Flagging is where
arbot stops: archiving the flagged accounts is the hospital's records process.

An account's *last activity* is the effective date of the last entry that named it, or,
never charged, the day it was registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.db import Database
from core.errors import ValidationError
from core.ledger.tables import (
    ar_item,
    customer_account,
    customer_status,
    gl_account,
    journal_entry,
    journal_line,
)
from core.plans.tables import payment_plan

FLAGGED = "flagged_for_deletion"
MAX_YEARS = 100
BATCH = 500
"""Accounts flagged in one transaction."""


@dataclass(frozen=True, slots=True)
class Expired:
    """An account whose retention period is over."""

    account_id: int
    number: str
    last_activity: date


def years_before(day: date, years: int) -> date:
    """``day`` ``years`` years earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def check_years(years: int) -> int:
    if not 0 <= years <= MAX_YEARS:
        raise ValidationError(
            f"ARBOT_RETENTION_YEARS must be 0 (keep everything, flag nothing) to "
            f"{MAX_YEARS} years, not {years}"
        )
    return years


def _held(account_id: int | None = None) -> Any:
    """The accounts holding money paid ahead (patient prepayments not used), one
    grouped read of the prepayment account's lines (of ``account_id`` only, if given)."""
    jl, named = journal_line, journal_line.c.customer_account_id
    query = (
        select(named)
        .join(gl_account, gl_account.c.id == jl.c.gl_account_id)
        .where(gl_account.c.role == "patient_prepayments", named.is_not(None))
        .group_by(named)
        .having(func.sum(jl.c.amount_minor) != 0)
    )
    return query if account_id is None else query.where(named == account_id)


def _latest_status() -> Any:
    """Each account's current status: (account_id, status) of its latest change."""
    last = (
        select(func.max(customer_status.c.id).label("id"))
        .group_by(customer_status.c.account_id)
        .subquery()
    )
    return (
        select(customer_status.c.account_id, customer_status.c.status)
        .join(last, last.c.id == customer_status.c.id)
        .subquery()
    )


def _kept_by_dependants(guarantor: int | None = None) -> Any:
    """Guarantors of an account not flagged for deletion (``guarantor`` only, if given):
    the dependant's bills and reminders go to them, so they are kept as long as it is."""
    dependant, current = customer_account.alias("dependant"), _latest_status()
    query = (
        select(dependant.c.guarantor_id)
        .outerjoin(current, current.c.account_id == dependant.c.id)
        .where(
            dependant.c.guarantor_id.is_not(None),
            or_(current.c.status.is_(None), current.c.status != FLAGGED),
        )
    )
    return query if guarantor is None else query.where(dependant.c.guarantor_id == guarantor)


async def unsettled(conn: AsyncConnection, account_id: int) -> str | None:
    """Why the account may not be flagged for deletion, or None: it still has items
    open, holds a prepayment, is on an active plan, or guarantees an account kept."""
    checks = (
        (
            select(ar_item.c.id).where(
                ar_item.c.account_id == account_id, ar_item.c.open_minor != literal_column("0")
            ),
            "has items still open: settle its balance",
        ),
        (_held(account_id), "holds a prepayment: refund or use it"),
        (
            select(payment_plan.c.id).where(
                payment_plan.c.account_id == account_id, payment_plan.c.status == "active"
            ),
            "is on an active payment plan",
        ),
        (_kept_by_dependants(account_id), "guarantees an account that is kept"),
    )
    for query, why in checks:
        if (await conn.execute(query.limit(1))).first() is not None:
            return why
    return None


async def retention_expired(conn: AsyncConnection, as_of: date, years: int) -> list[Expired]:
    """The accounts to flag on ``as_of``: settled, idle for ``years`` years or more, not
    flagged already; oldest activity first. Activity is an entry naming the account (by
    its effective date and by when it was posted: a late posting of an old visit is
    recent), a change of its status (a reactivation), or its registration."""
    ca, je, jl = customer_account, journal_entry, journal_line
    cutoff = years_before(as_of, years)
    before = datetime.combine(cutoff, time(), UTC)
    named = jl.c.customer_account_id
    entries = (
        select(
            named.label("account_id"),
            func.max(je.c.effective_day).label("last"),
            func.max(je.c.posted_at).label("posted"),
        )
        .join(je, je.c.id == jl.c.entry_id)
        .where(named.is_not(None))
        .group_by(named)
        .subquery()
    )
    changes = (
        select(
            customer_status.c.account_id,
            func.max(customer_status.c.id).label("latest"),
            func.max(customer_status.c.at).label("changed"),
        )
        .group_by(customer_status.c.account_id)
        .subquery()
    )
    latest = customer_status.alias("latest_status")
    still_open = select(ar_item.c.account_id).where(ar_item.c.open_minor != literal_column("0"))
    on_plan = select(payment_plan.c.account_id).where(payment_plan.c.status == "active")
    idle = and_(
        or_(entries.c.last.is_(None), and_(entries.c.last <= cutoff, entries.c.posted < before)),
        or_(changes.c.changed.is_(None), changes.c.changed < before),
        ca.c.created_at < before,
    )
    rows = await conn.execute(
        select(ca.c.id, ca.c.number, entries.c.last, ca.c.created_at)
        .outerjoin(entries, entries.c.account_id == ca.c.id)
        .outerjoin(changes, changes.c.account_id == ca.c.id)
        .outerjoin(latest, latest.c.id == changes.c.latest)
        .where(
            idle,
            or_(latest.c.status.is_(None), latest.c.status != FLAGGED),
            ca.c.id.not_in(still_open),
            ca.c.id.not_in(_held()),
            ca.c.id.not_in(on_plan),
            ca.c.id.not_in(_kept_by_dependants()),
        )
        .order_by(ca.c.id)
    )
    found = [
        Expired(r.id, r.number, r.last if r.last is not None else r.created_at.date())
        for r in rows
    ]
    return sorted(found, key=lambda e: (e.last_activity, e.account_id))


async def flag_expired(
    db: Database, actor: Actor, expired: list[Expired], *, years: int, on: date
) -> int:
    """Flag ``expired`` for deletion, :data:`BATCH` accounts a transaction, each with its
    reason and an audit record; an account flagged meanwhile (by a concurrent run) is
    left as it is. How many were flagged."""
    done = 0
    for start in range(0, len(expired), BATCH):
        async with db.transaction() as tx:
            for e in expired[start : start + BATCH]:
                last = (
                    await tx.conn.execute(
                        select(customer_status.c.status)
                        .where(customer_status.c.account_id == e.account_id)
                        .order_by(customer_status.c.id.desc())
                        .limit(1)
                    )
                ).scalar()
                if last == FLAGGED or await unsettled(tx.conn, e.account_id) is not None:
                    continue  # flagged meanwhile, or owes or holds something since
                reason = (
                    f"settled, no activity since {e.last_activity.isoformat()}: the "
                    f"{years}-year retention period is over (AR-204)"
                )
                await tx.conn.execute(
                    customer_status.insert().values(
                        account_id=e.account_id,
                        status=FLAGGED,
                        effective_day=on,
                        at=tx.db.clock.now(),
                        actor=actor.label,
                        reason=reason,
                    )
                )
                tx.audit(
                    actor.label,
                    "scheduler",
                    "customer.status",
                    f"account {e.number}",
                    before=last or "active",
                    after=FLAGGED,
                    reason=reason,
                    date=on.isoformat(),
                )
                done += 1
    return done
