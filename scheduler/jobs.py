"""Every scheduled job by name, with when it runs and how its runs are keyed.

A job is a plain async function ``(db, clock, ports, as_of, dry_run) -> JobReport``.
Its *period* names the run that is claimed once: a day for dunning, a month for the
ATB snapshot, a ten-minute slot for sending. Triggers fire more often than periods
change (dunning every hour of the working day): the first tick of a period claims it,
the others find it claimed and do nothing, so a scheduler started late in the day
still runs the day's jobs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from core.clock import Clock
from core.db import Database
from core.errors import ValidationError
from scheduler.baddebt import bad_debt_job
from scheduler.cash_digest import cash_digest_job
from scheduler.digests import atb_digest_job
from scheduler.dunning import dunning_job, dunning_send_job
from scheduler.followups import follow_up_job
from scheduler.housekeeping import (
    approvals_expiry_job,
    atb_snapshot_job,
    small_balance_job,
    snapshot_period,
)
from scheduler.integrity import integrity_job
from scheduler.latefees import late_fee_job
from scheduler.plans import plans_job
from scheduler.ports import Ports
from scheduler.report import JobReport
from scheduler.retention import retention_job
from scheduler.statements import statements_job

JobFn = Callable[[Database, Clock, Ports, date, bool], Awaitable[JobReport]]


def by_day(as_of: date, now: datetime) -> str:
    return as_of.isoformat()


def by_hour(as_of: date, now: datetime) -> str:
    """An hour of the day the run is for (the hour of the moment it runs, UTC)."""
    return f"{as_of.isoformat()}T{now:%H}"


def by_slot(as_of: date, now: datetime) -> str:
    """A ten-minute slot of the moment it runs (UTC)."""
    return f"{now:%Y-%m-%dT%H}:{now.minute // 10 * 10:02d}"


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    run: JobFn
    trigger: Mapping[str, object] = field(default_factory=dict)
    """APScheduler trigger arguments (cron or interval), in the scheduler's time zone."""
    period: Callable[[date, datetime], str] = by_day


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "dunning",
            "decide the day's reminders and send what may go now (AR-029, AR-108)",
            dunning_job,
            {"trigger": "cron", "hour": "7-20", "minute": 5},
        ),
        Job(
            "dunning-send",
            "send queued reminders where sending hours are open (quiet hours, rates)",
            dunning_send_job,
            {"trigger": "cron", "minute": "*/10"},
            by_slot,
        ),
        Job(
            "small-balances",
            "write off small balances within each payer's tolerance (AR-055)",
            small_balance_job,
            {"trigger": "cron", "hour": "2-23", "minute": 20},
        ),
        Job(
            "atb-snapshot",
            "keep the month-end aged trial balance (AR-150)",
            atb_snapshot_job,
            {"trigger": "cron", "hour": "*", "minute": 40},
            lambda as_of, now: snapshot_period(as_of),
        ),
        Job(
            "plans",
            "plan instalments: reminders, autopay charges and retries, default (AR-148)",
            plans_job,
            {"trigger": "cron", "hour": "7-20", "minute": 25},
            by_hour,
        ),
        Job(
            "statements",
            "statements on each account's cycle, with the next payment date (AR-144, AR-165)",
            statements_job,
            {"trigger": "cron", "hour": "7-20", "minute": 35},
            by_hour,
        ),
        Job(
            "late-fees",
            "the month's late fees where the policy allows, and their invoices (AR-107, AR-151)",
            late_fee_job,
            {"trigger": "cron", "hour": "7-20", "minute": 50},
            by_hour,
        ),
        Job(
            "integrity",
            "control totals of the ledger's tables, the audit chain, the invariants (AR-175)",
            integrity_job,
            {"trigger": "cron", "hour": "2-23", "minute": 30},
        ),
        Job(
            "bad-debt",
            "move accounts meeting the bad-debt rule to bad debt (AR-060, AR-061)",
            bad_debt_job,
            {"trigger": "cron", "hour": "3", "minute": 50},
        ),
        Job(
            "approvals-expiry",
            "expire write-off and refund requests nobody decided (ARBOT_APPROVAL_EXPIRY_DAYS)",
            approvals_expiry_job,
            {"trigger": "cron", "hour": "1-23", "minute": 10},
        ),
        Job(
            "atb-digest",
            "post the ATB digest to Slack, daily or weekly (AR-187, AR-192, AR-193, BI-20)",
            atb_digest_job,
            {"trigger": "cron", "hour": "7-20", "minute": 15},
        ),
        Job(
            "cash-digest",
            "post yesterday's receipts, adjustments, failed deliveries, unapplied cash (AR-170)",
            cash_digest_job,
            {"trigger": "cron", "hour": "6-20", "minute": 45},
        ),
        Job(
            "retention",
            "flag accounts settled and idle past the retention period for deletion (AR-204)",
            retention_job,
            {"trigger": "cron", "hour": "4", "minute": 5},
        ),
        Job(
            "follow-ups",
            "remind each collector of the follow-ups due (AR-101)",
            follow_up_job,
            {"trigger": "cron", "hour": "7-20", "minute": 55},
        ),
    )
}


def job_named(name: str) -> Job:
    try:
        return JOBS[name]
    except KeyError:
        raise ValidationError(
            f"there is no job {name!r}; the jobs are {', '.join(sorted(JOBS))}"
        ) from None


def schedule_text(job: Job) -> str:
    """The trigger in a few words, for ``arbot jobs list``."""
    parts = {k: v for k, v in job.trigger.items() if k != "trigger"}
    return f"{job.trigger.get('trigger', '?')} " + " ".join(f"{k}={v}" for k, v in parts.items())
