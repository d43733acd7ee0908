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

from sqlalchemy import and_, exists, func, literal_column, or_, select
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


async def retention_expired(conn: AsyncConnection, as_of: date, years: int) -> list[Expired]:
    """The accounts to flag on ``as_of``: settled, idle for ``years`` years or more, not
    flagged already; oldest activity first."""
    ca, je, jl = customer_account, journal_entry, journal_line
    cutoff = years_before(as_of, years)
    named = jl.c.customer_account_id
    activity = (
        select(named.label("account_id"), func.max(je.c.effective_day).label("last"))
        .join(je, je.c.id == jl.c.entry_id)
        .where(named.is_not(None))
        .group_by(named)
        .subquery()
    )
    status = customer_status.alias("latest_status")
    latest = (
        select(func.max(status.c.id))
        .where(status.c.account_id == ca.c.id)
        .correlate(ca)
        .scalar_subquery()
    )
    flagged = (
        exists()
        .where(customer_status.c.id == latest, customer_status.c.status == FLAGGED)
        .correlate(ca)
    )
    still_open = exists().where(
        ar_item.c.account_id == ca.c.id, ar_item.c.open_minor != literal_column("0")
    )
    held = (
        select(named)
        .join(gl_account, gl_account.c.id == jl.c.gl_account_id)
        .where(gl_account.c.role == "patient_prepayments", named == ca.c.id)
        .group_by(named)
        .having(func.sum(jl.c.amount_minor) != 0)
        .exists()
    )
    plan = payment_plan.c
    on_plan = exists().where(plan.account_id == ca.c.id, plan.status == "active")
    registered_before = datetime.combine(cutoff, time(), UTC)
    idle = or_(
        activity.c.last <= cutoff,
        and_(activity.c.last.is_(None), ca.c.created_at < registered_before),
    )
    rows = await conn.execute(
        select(ca.c.id, ca.c.number, activity.c.last, ca.c.created_at)
        .outerjoin(activity, activity.c.account_id == ca.c.id)
        .where(idle, ~flagged, ~still_open, ~held, ~on_plan)
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
                if last == FLAGGED:
                    continue
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
