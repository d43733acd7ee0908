"""The statements job: statements on the office's cycles, with the next payment date
(AR-144, AR-161, AR-164, AR-165), each visit itemised with its invoice's lines (AR-072).

Each account whose statement cycle (:mod:`core.statements`) falls on the day and which
owes more than its cycle's minimum gets its statement in its chat: the open items, what
was paid lately, the balance and the next payment date -- a plan's next instalment
where the account has a plan in good standing (AR-162), else the earliest due date of
what is open -- with a pay link (for the next instalment, on a plan). A chat whose
person is not verified reads only that there is a new statement, the link and, by SMS,
STOP/HELP. Each statement goes once, under a key naming the account and the day; the
job runs every hour of the working day so that locations in later time zones get theirs
within their own sending hours.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from core.clock import Clock
from core.db import Database
from core.patients.invoices import with_invoice_lines
from core.patients.paylinks import PayChoice
from core.patients.summary import patient_account
from core.plans import plan_of
from core.statements import statements_due
from scheduler.notices import Notice, already_sent, send_notices
from scheduler.ports import Ports
from scheduler.report import JobReport


def statement_key(account_id: int, on: date) -> str:
    return f"statement:{account_id}:{on.isoformat()}"


async def statements_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Send the day's statements not sent yet (dry run: list them)."""
    async with db.read() as conn:
        due = await statements_due(conn, as_of)
    sent = await already_sent(db, [statement_key(d.account_id, as_of) for d in due])
    waiting = [d for d in due if statement_key(d.account_id, as_of) not in sent]
    lines = tuple(f"{d.number:<12} {d.balance!s:>12} (cycle {d.cycle_id})" for d in waiting)
    if dry_run:
        return JobReport(
            f"dry run for {as_of.isoformat()}: {len(due)} statements fall due, "
            f"{len(waiting)} not sent yet; nothing was sent",
            lines,
        )
    notices = []
    async with db.read() as conn:
        for d in waiting:
            [account] = await with_invoice_lines(
                conn, [await patient_account(conn, d.account_id, as_of)]
            )
            plan = await plan_of(conn, d.account_id)
            pay = PayChoice.BALANCE
            if plan is not None and plan.status == "active" and plan.next_due is not None:
                account = replace(account, next_due=plan.next_due.due_date)
                pay = PayChoice.INSTALMENT
            notices.append(
                Notice(
                    d.account_id,
                    account.location,
                    statement_key(d.account_id, as_of),
                    "statement_cycle",
                    {"accounts": [account], "today": as_of},
                    pay,
                    unverified="statement_unverified",
                )
            )
    told = await send_notices(db, clock, ports, notices)
    return JobReport(
        f"{len(due)} statements fall due on {as_of.isoformat()}: {told['sent']} sent now, "
        f"{len(sent)} sent before",
        tuple(f"{what}: {n}" for what, n in sorted(told.items())),
    )
