"""Instalments falling due, and plans in default (AR-148, AR-162).

A plan in good standing gets plan notices, not dunning: a reminder a few days before
each instalment falls due (:func:`instalments_due_between`). An instalment left unpaid
longer than the grace period puts the plan in *default* (:func:`default_overdue_plans`):
the plan stops being the account's active plan, so dunning, which pauses only for an
active plan in good standing, takes the account up again at the level the age of what
it owes calls for. The default is decided once (a conditional update), so two
schedulers, or a re-run, report each default once.

What has been paid on each instalment is derived as :mod:`core.plans.enrolment` does:
every payment since enrolment laid over the instalments in due order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.ledger.tables import customer_account
from core.plans.enrolment import Instalment, Plan, load_plan
from core.plans.tables import payment_plan, plan_instalment

DEFAULT_ACTOR = "system:plans"


@dataclass(frozen=True, slots=True)
class PlanInstalment:
    """One instalment of an active plan, with the account it is owed on."""

    plan: Plan
    account_number: str
    location: str
    instalment: Instalment

    @property
    def key(self) -> str:
        """(plan, instalment): what a notice about this instalment is sent under."""
        return f"{self.plan.id}:{self.instalment.seq}"


@dataclass(frozen=True, slots=True)
class Defaulted:
    """A plan that went into default on ``on``, for want of ``instalment``."""

    plan: Plan
    account_number: str
    location: str
    instalment: Instalment
    on: date


async def _active_plans_with_due(
    conn: AsyncConnection, start: date | None, end: date, *, autopay: bool = False
) -> list[tuple[int, str, str]]:
    """(plan id, account number, location) of active plans with an instalment due in
    [``start``, ``end``] (from the first when ``start`` is None)."""
    p, i = payment_plan, plan_instalment
    due = i.c.due_day <= end if start is None else i.c.due_day.between(start, end)
    query = (
        select(p.c.id, customer_account.c.number, customer_account.c.location)
        .join(customer_account, customer_account.c.id == p.c.account_id)
        .where(
            p.c.status == "active",
            p.c.id.in_(select(i.c.plan_id).where(due)),
        )
        .order_by(p.c.id)
    )
    if autopay:
        query = query.where(p.c.autopay_method_ref.is_not(None))
    return [(r.id, r.number, r.location) for r in await conn.execute(query)]


async def instalments_due_between(
    conn: AsyncConnection, start: date, end: date
) -> list[PlanInstalment]:
    """Unpaid instalments of active plans falling due from ``start`` to ``end``: what a
    reminder ``N`` days ahead covers (a window rather than one day, so a day the
    scheduler missed is caught up the next)."""
    found: list[PlanInstalment] = []
    for plan_id, number, location in await _active_plans_with_due(conn, start, end):
        plan = await load_plan(conn, plan_id)
        if plan.status != "active":
            continue  # paid in full meanwhile
        found.extend(
            PlanInstalment(plan, number, location, i)
            for i in plan.instalments
            if start <= i.due_date <= end and i.status != "paid"
        )
    return found


async def oldest_unpaid_due(
    conn: AsyncConnection, on: date, *, autopay: bool = False
) -> list[PlanInstalment]:
    """Per active plan (with autopay, if asked), the oldest instalment that is due on
    or before ``on`` and not paid in full."""
    found = []
    for plan_id, number, location in await _active_plans_with_due(conn, None, on, autopay=autopay):
        plan = await load_plan(conn, plan_id)
        due = plan.next_due
        if plan.status == "active" and due is not None and due.due_date <= on:
            found.append(PlanInstalment(plan, number, location, due))
    return found


async def default_overdue_plans(db: Database, on: date, grace_days: int) -> list[Defaulted]:
    """Put in default every active plan with an instalment unpaid more than
    ``grace_days`` after its due date; returns the plans defaulted by this call (a
    plan another process defaulted first is not returned again)."""
    async with db.read() as conn:
        late = await oldest_unpaid_due(conn, on - timedelta(days=grace_days + 1))
    done = []
    for found in late:
        async with db.transaction() as tx:
            changed = await tx.conn.execute(
                payment_plan.update()
                .where(payment_plan.c.id == found.plan.id, payment_plan.c.status == "active")
                .values(
                    status="cancelled",
                    defaulted_on=on,
                    defaulted_seq=found.instalment.seq,
                )
            )
            if changed.rowcount != 1:
                continue
            tx.audit(
                DEFAULT_ACTOR,
                "scheduler",
                "plan.default",
                f"account {found.account_number}",
                plan=found.plan.id,
                instalment=found.instalment.seq,
                due=found.instalment.due_date.isoformat(),
                open=str(found.instalment.open),
            )
        async with db.read() as conn:
            plan = await load_plan(conn, found.plan.id)
        done.append(Defaulted(plan, found.account_number, found.location, found.instalment, on))
    return done


async def defaulted_since(conn: AsyncConnection, since: date) -> list[Defaulted]:
    """Plans that went into default on or after ``since``: whose patients are told."""
    rows = await conn.execute(
        select(payment_plan.c.id, customer_account.c.number, customer_account.c.location)
        .join(customer_account, customer_account.c.id == payment_plan.c.account_id)
        .where(payment_plan.c.defaulted_on >= since)
        .order_by(payment_plan.c.id)
    )
    found = []
    for plan_id, number, location in rows.all():
        plan = await load_plan(conn, plan_id)
        assert plan.defaulted_on is not None
        seq = (
            await conn.execute(
                select(payment_plan.c.defaulted_seq).where(payment_plan.c.id == plan_id)
            )
        ).scalar_one()
        missed = next(i for i in plan.instalments if i.seq == seq)
        found.append(Defaulted(plan, number, location, missed, plan.defaulted_on))
    return found
