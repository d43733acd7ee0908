"""The late-fees job: the month's late fees, and a late-fee invoice to each patient
charged one (AR-107, AR-151).

With a policy set (``ARBOT_LATE_FEE``), the first run on or after the policy's day of
the month assesses the month's fees (:mod:`core.latefees`), claimed once for the month
(:data:`ASSESSMENT`); later runs assess nothing, so an account that becomes chargeable
mid-month waits for the next month's run. Every run, whatever the day, then sends the
invoices of the fees of the last 31 days not sent (nor waived) yet, where the
location's sending hours are open: the fee, why,
when it is due, the balance now and a pay link, in the patient's language. A chat whose
person is not verified reads only that there is a new invoice, the link and, by SMS,
STOP/HELP. The job runs every hour of the working day, so an invoice held by quiet hours
goes out in a later run.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from core.auth import Actor
from core.clock import Clock
from core.db import Database
from core.jobs import claim_run, fail_run, finish_run, run_of
from core.latefees import (
    LateFeeDue,
    LateFeePolicy,
    assessment_day,
    charge_late_fee,
    fees_posted,
    late_fees_due,
)
from core.patients.paylinks import PayChoice
from core.patients.summary import patient_account
from scheduler.notices import Notice, already_sent, send_notices
from scheduler.ports import Ports
from scheduler.report import JobReport

LATE_FEE_JOB = Actor.system("late-fees")
INVOICE_DAYS = timedelta(days=31)
"""How long a fee's invoice waits for sending hours or a channel before it is dropped."""
ASSESSMENT = "late-fees:assess"
"""The month's assessment, claimed once per month (``job_run``): an account not
chargeable on that run waits for next month's, so fees are a month apart."""


async def late_fee_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Post ``as_of``'s month's late fees once, then send their invoices (dry run: list
    the fees, write and send nothing)."""
    policy = ports.late_fee
    if policy is None:
        return JobReport("late fees are off (ARBOT_LATE_FEE is not set); nothing was done", ())
    month = f"{as_of:%Y-%m}"
    if assessment_day(as_of, policy) is None:
        head = f"{as_of:%B}'s late fees are assessed from day {policy.day_of_month}"
        if dry_run:
            return JobReport(f"dry run: {head}; nothing now")
        told = await _send_invoices(db, clock, ports, policy, as_of)
        return JobReport(f"{head}; {told['sent']} late-fee invoices sent now", _told(told))
    if dry_run:
        async with db.read() as conn:
            done = await run_of(conn, ASSESSMENT, month)
            due = [] if done is not None else await late_fees_due(conn, as_of, policy)
        if done is not None:
            return JobReport(
                f"dry run: this month's late fees were assessed on {done.started_at:%Y-%m-%d}"
            )
        return JobReport(
            f"dry run for {as_of.isoformat()}: {len(due)} accounts would be charged a late "
            f"fee ({policy.describe()}); nothing was written or sent",
            _lines(due),
        )
    if await claim_run(db, ASSESSMENT, month):
        try:
            due = await _assess(db, as_of, policy)
        except Exception as exc:
            await fail_run(db, ASSESSMENT, month, f"{type(exc).__name__}: {exc}")
            raise
        await finish_run(db, ASSESSMENT, month, f"{len(due)} late fees")
        head = f"{len(due)} accounts owe a late fee this month ({policy.describe()})"
        lines = _lines(due)
    else:
        head, lines = "this month's late fees were assessed by an earlier run", ()
    told = await _send_invoices(db, clock, ports, policy, as_of)
    return JobReport(f"{head}; {told['sent']} late-fee invoices sent now", lines + _told(told))


def _told(told: Counter[str]) -> tuple[str, ...]:
    return tuple(f"{what}: {n}" for what, n in sorted(told.items()))


async def _assess(db: Database, as_of: date, policy: LateFeePolicy) -> list[LateFeeDue]:
    async with db.read() as conn:
        due = await late_fees_due(conn, as_of, policy)
    for d in due:
        await charge_late_fee(db, LATE_FEE_JOB, d, as_of, policy)
    return due


def _lines(due: list[LateFeeDue]) -> tuple[str, ...]:
    return tuple(f"{d.number:<12} {d.overdue!s:>12} overdue -> fee {d.fee!s:>10}" for d in due)


async def _send_invoices(
    db: Database, clock: Clock, ports: Ports, policy: LateFeePolicy, as_of: date
) -> Counter[str]:
    """An invoice for each fee of the last :data:`INVOICE_DAYS` not sent yet (a fee
    whose key is in the outbox already is passed over before anything is read for it):
    one held by quiet hours at a month's end still goes in the next."""
    async with db.read() as conn:
        fees = await fees_posted(conn, as_of - INVOICE_DAYS, as_of)
    sent = await already_sent(db, [fee.key for fee in fees])
    told: Counter[str] = Counter({"already sent": len(sent)} if sent else {})
    notices = []
    async with db.read() as conn:
        for fee in (f for f in fees if f.key not in sent):
            account = await patient_account(conn, fee.account_id, as_of)
            context = {
                "number": account.number,
                "fee": fee.fee,
                "days": policy.days_past_due,
                "due_date": fee.due_date,
                "balance": account.balance,
            }
            notices.append(
                Notice(
                    fee.account_id,
                    fee.location,
                    fee.key,
                    "late_fee",
                    context,
                    PayChoice.BALANCE,
                    unverified="invoice_unverified",
                )
            )
    return told + await send_notices(db, clock, ports, notices)
