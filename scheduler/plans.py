"""The payment plans job: instalment reminders, autopay with retries, and default
(AR-148, AR-162).

Every run, in this order:

1. plans with an instalment unpaid more than the grace period (``ARBOT_PLAN_GRACE_DAYS``,
   30 days) go into default: dunning takes the account up again at the level the age
   of what it owes calls for;
2. plans on autopay have their oldest unpaid instalment charged to the saved card on
   its due date, and again after a decline on the retry days (``ARBOT_PLAN_RETRY_DAYS``,
   3 and 7 days after the due date), each attempt once (:mod:`core.plans.autopay`);
3. the patients are told, each thing once: an instalment falling due within
   ``ARBOT_PLAN_REMINDER_DAYS`` (3) with a pay link for it (or, on autopay, the day the
   card will be charged); a charge that went through; a charge that was declined, with
   a link to pay another way and the day of the next try; a plan that defaulted, with
   a link to pay the balance.

Money moves at most once a day per attempt whatever the schedule, so the job runs every
hour of the working day: a notice whose location was outside its sending hours goes in
a later run.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db import Database
from core.ledger.accounts import load_account
from core.ledger.items import balance
from core.money import Money
from core.patients.paylinks import PayChoice
from core.plans.autopay import (
    ChargeAttempt,
    attempts_of,
    next_attempt,
    recent_charges,
    retry_on,
    run_autopay,
)
from core.plans.enrolment import load_plan
from core.plans.instalments import (
    default_overdue_plans,
    defaulted_since,
    instalments_due_between,
    oldest_unpaid_due,
)
from scheduler.notices import Notice, already_sent, send_notices
from scheduler.ports import Ports
from scheduler.report import JobReport

TELL_WITHIN = 3
"""Days a charge's or default's notice may still go out (after closed hours, a
scheduler down for a day)."""


async def plans_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Default, charge and tell (see the module docstring); a dry run only lists."""
    if dry_run:
        return await _dry_run(db, ports, as_of)
    defaulted = await default_overdue_plans(db, as_of, ports.plan_grace_days)
    charged = []
    if ports.gateway is not None:
        charged = await run_autopay(db, ports.gateway, as_of, ports.plan_retry_days)
    notices = await plan_notices(db, ports, as_of)
    told = await send_notices(db, clock, ports, notices)
    outcome = Counter(c.status for c in charged)
    lines = [
        *(
            f"default: {d.account_number} plan {d.plan.id}, instalment {d.instalment.seq}"
            f" due {d.instalment.due_date.isoformat()}"
            for d in defaulted
        ),
        *(
            f"charge: {c.due.account_number} instalment {c.attempt.seq} attempt "
            f"{c.attempt.attempt} {c.attempt.amount}: {c.status}"
            f"{f' ({c.attempt.failure})' if c.attempt.failure else ''}"
            for c in charged
        ),
        *(f"notices {what}: {n}" for what, n in sorted(told.items())),
    ]
    return JobReport(
        f"{len(defaulted)} plans defaulted; {outcome['succeeded']} instalments charged, "
        f"{outcome['failed']} declined, {outcome['unavailable']} not answered; "
        f"{told['sent']} notices sent"
        + ("" if ports.gateway is not None else " (no payment gateway: autopay waits)"),
        tuple(lines),
    )


async def plan_notices(db: Database, ports: Ports, as_of: date) -> list[Notice]:
    """Everything patients are to be told about their plans as of ``as_of``."""
    async with db.read() as conn:
        notices = await _reminders(conn, as_of, ports.plan_reminder_days)
        since = as_of - timedelta(days=TELL_WITHIN)
        for attempt in await recent_charges(conn, since):
            notice = await _charge_notice(conn, attempt, ports.plan_retry_days)
            if notice is not None:
                notices.append(notice)
        for d in await defaulted_since(conn, since):
            owed = Money(await balance(conn, d.plan.account_id), d.plan.total.currency)
            notices.append(
                Notice(
                    d.plan.account_id,
                    d.location,
                    f"plan-default:{d.plan.id}",
                    "plan_defaulted",
                    {
                        "number": d.account_number,
                        "amount": d.instalment.open,
                        "due_date": d.instalment.due_date,
                        "balance": owed,
                    },
                    PayChoice.BALANCE,
                )
            )
    return notices


async def _reminders(conn: AsyncConnection, as_of: date, days: int) -> list[Notice]:
    due = await instalments_due_between(conn, as_of, as_of + timedelta(days=days))
    return [
        Notice(
            d.plan.account_id,
            d.location,
            f"plan-reminder:{d.key}",
            "plan_reminder",
            {
                "number": d.account_number,
                "amount": d.instalment.open,
                "due_date": d.instalment.due_date,
                "seq": d.instalment.seq,
                "count": d.plan.count,
                "autopay": d.plan.autopay,
            },
            None if d.plan.autopay else PayChoice.INSTALMENT,
        )
        for d in due
        # On autopay the due day itself is the charge's: its receipt or decline tells.
        if not (d.plan.autopay and d.instalment.due_date <= as_of)
    ]


async def _charge_notice(
    conn: AsyncConnection, attempt: ChargeAttempt, retry_days: tuple[int, ...]
) -> Notice | None:
    plan = await load_plan(conn, attempt.plan_id)
    account = await load_account(conn, account_id=plan.account_id)
    [instalment] = [i for i in plan.instalments if i.seq == attempt.seq]
    base = {"number": account.number, "amount": attempt.amount, "seq": attempt.seq}
    key = f"{plan.id}:{attempt.seq}:{attempt.attempt}"
    if attempt.status == "succeeded":
        context = {**base, "count": plan.count, "next_due": plan.next_due}
        return Notice(
            plan.account_id,
            account.location,
            f"plan-charged:{key}",
            "plan_charged",
            context,
            unverified=None,
        )
    if instalment.status == "paid" or plan.status != "active":
        return None  # paid another way since, or the plan is over: nothing to ask for
    context = {
        **base,
        "count": plan.count,
        "due_date": instalment.due_date,
        "retry_on": retry_on(instalment.due_date, attempt.attempt, retry_days),
    }
    return Notice(
        plan.account_id,
        account.location,
        f"plan-charge-failed:{key}",
        "plan_charge_failed",
        context,
        PayChoice.INSTALMENT,
    )


async def _dry_run(db: Database, ports: Ports, as_of: date) -> JobReport:
    """What a run on ``as_of`` would do: defaults, charges, reminders; nothing written."""
    async with db.read() as conn:
        cutoff = as_of - timedelta(days=ports.plan_grace_days + 1)
        late = await oldest_unpaid_due(conn, cutoff)
        dues = await oldest_unpaid_due(conn, as_of, autopay=True)
        charges = []
        for due in dues:
            attempts = await attempts_of(conn, due.plan.id, due.instalment.seq)
            number = next_attempt(due, attempts, as_of, ports.plan_retry_days)
            if number is not None:
                charges.append((due, number))
        reminders = await _reminders(conn, as_of, ports.plan_reminder_days)
    sent = await already_sent(db, [n.key for n in reminders])
    reminders = [n for n in reminders if n.key not in sent]
    lines = [
        *(
            f"would default: {d.account_number} plan {d.plan.id}, instalment "
            f"{d.instalment.seq} due {d.instalment.due_date.isoformat()}"
            for d in late
        ),
        *(
            f"would charge: {d.account_number} instalment {d.instalment.seq} attempt {n} "
            f"{d.instalment.open}"
            for d, n in charges
        ),
        *(
            f"would remind: {n.context['number']} instalment {n.context['seq']} due "
            f"{n.context['due_date'].isoformat()}"
            for n in reminders
        ),
    ]
    return JobReport(
        f"dry run for {as_of.isoformat()}: {len(late)} plans would default, {len(charges)} "
        f"autopay charges, {len(reminders)} reminders; nothing was charged, sent or written",
        tuple(lines),
    )
