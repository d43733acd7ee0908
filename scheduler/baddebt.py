"""The bad-debt job: accounts meeting the office's rule move to bad debt (AR-060, AR-061,
AR-062).

The rule (``ARBOT_BAD_DEBT_DAYS``, ``ARBOT_BAD_DEBT_MIN``,
``ARBOT_BAD_DEBT_AFTER_COLLECTIONS_DAYS``; off unless the days are set) is applied by
:mod:`core.baddebt`: each account found is written off to bad debt and marked so, in
one transaction under a key per account and day, so a re-run or a second scheduler
posts nothing twice. The entries are listed in the write-off audit listing (AR-061)
as asked by this job and approved by the rule.
"""

from __future__ import annotations

from datetime import date

from core.auth import Actor
from core.baddebt import bad_debt_candidates, transfer_to_bad_debt
from core.clock import Clock
from core.db import Database
from core.money import Money
from scheduler.ports import Ports
from scheduler.report import JobReport

BAD_DEBT_JOB = Actor.system("bad-debt")


async def bad_debt_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Transfer to bad debt each account the rule finds (dry run: list them)."""
    rule = ports.bad_debt
    if rule is None:
        return JobReport("bad debt by rule is off (ARBOT_BAD_DEBT_DAYS is not set)")
    async with db.read() as conn:
        found = await bad_debt_candidates(conn, as_of, rule)
    lines = tuple(
        f"{c.number:<12} {c.owed!s:>12} oldest due {c.oldest_due.isoformat()} ({c.status})"
        for c in found
    )
    if dry_run:
        return JobReport(
            f"dry run for {as_of.isoformat()}: {len(found)} accounts would go to bad debt "
            f"({rule.describe()}); nothing was written",
            lines,
        )
    total = 0
    for candidate in found:
        entries = await transfer_to_bad_debt(db, BAD_DEBT_JOB, candidate, as_of, rule)
        total += sum(-line.amount.minor for e in entries for line in e.lines if line.item_id)
    currency = found[0].owed.currency if found else ports.currency
    return JobReport(f"{len(found)} accounts moved to bad debt ({Money(total, currency)})", lines)
