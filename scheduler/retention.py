"""The retention job: accounts settled and idle past the office's retention period are
flagged for deletion (AR-204, :mod:`core.retention`); with ``ARBOT_RETENTION_YEARS`` 0
(the default) every account is kept and nothing is flagged. A re-run flags nothing
twice: a flagged account is not found again."""

from __future__ import annotations

from datetime import date

from core.auth import Actor
from core.clock import Clock
from core.db import Database
from core.retention import flag_expired, retention_expired, years_before
from scheduler.ports import Ports
from scheduler.report import JobReport

RETENTION_JOB = Actor.system("retention")
LISTED = 50
"""Accounts the job's report names; the rest are counted."""


async def retention_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    years = ports.retention_years
    if not years:
        return JobReport("retention is off (ARBOT_RETENTION_YEARS is 0): every account is kept")
    async with db.read() as conn:
        expired = await retention_expired(conn, as_of, years)
    since = years_before(as_of, years).isoformat()
    lines = [f"{e.number:<12} last activity {e.last_activity.isoformat()}" for e in expired]
    if len(lines) > LISTED:
        lines = [*lines[:LISTED], f"... and {len(lines) - LISTED} more"]
    if dry_run:
        return JobReport(
            f"dry run: {len(expired)} accounts settled with no activity since {since} would "
            "be flagged for deletion; nothing was flagged",
            tuple(lines),
        )
    done = await flag_expired(db, RETENTION_JOB, expired, years=years, on=as_of)
    return JobReport(
        f"{done} accounts settled with no activity since {since} flagged for deletion "
        f"({years}-year retention)",
        tuple(lines),
    )
