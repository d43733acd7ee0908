"""The integrity job (``integrity``, AR-175): each night, control totals of the ledger's
tables compared with the night before, the audit trail's hash chain walked and the
ledger's invariants checked (:mod:`core.integrity`). Intact, it says so in its report
(``arbot jobs list``); broken, it also alerts ``ARBOT_CASH_DIGEST_CHANNEL`` in Slack
with every problem found. A dry run checks and records nothing.
"""

from __future__ import annotations

from datetime import date

from core.clock import Clock
from core.db import Database
from core.integrity import Integrity, check_integrity, record_controls
from scheduler.ports import Ports, staff_post
from scheduler.report import JobReport


async def integrity_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    async with db.read() as conn:
        found = await check_integrity(conn, as_of)
    if dry_run:
        return _report(found, "dry run (nothing recorded): ")
    report = _report(found)
    if not found.ok:
        channel = ports.digests.cash_channel
        if ports.staff is None or ports.staff_render is None or not channel:
            report = JobReport(report.summary + "; no Slack channel to alert", report.lines)
        else:
            # Alerted before the controls are kept: if Slack refuses, the run fails and
            # the next tick finds the same differences again, and tells them.
            payload = ports.staff_render("integrity_alert", ports.digests.locale, found=found)
            await ports.staff.post(staff_post(channel, payload))
            report = JobReport(report.summary + f"; alerted {channel}", report.lines)
    await record_controls(db, found)
    return report


def _report(found: Integrity, prefix: str = "") -> JobReport:
    controls = tuple(
        f"{c.table}: {c.rows} rows to id {c.max_id}, total {c.total}" for c in found.controls
    )
    if found.ok:
        return JobReport(
            f"{prefix}books intact: {len(found.controls)} tables controlled, audit trail "
            f"of {found.audit_records} records unbroken, every invariant holds",
            controls,
        )
    return JobReport(
        f"{prefix}{len(found.problems)} INTEGRITY PROBLEMS: {found.problems[0]}",
        (*found.problems, *controls),
    )
