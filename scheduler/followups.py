"""Follow-up reminders (job ``follow-ups``, AR-101): each collector hears what is due.

A follow-up flag puts an account in front of its collector on a review date
(``core.worklists``). Once a day the bot sends each staff user who owns flags due by that
day one direct message in Slack (a post whose channel is their Slack user id) listing
them, oldest first: the account, its review date, how many days overdue, the note and
what the account owes now; at most :data:`SHOWN`, then how many more, and ``/ar
worklist`` to work them. An owner without a Slack user cannot be reached and is counted;
a post Slack refuses is counted and the others still go. The run is claimed for the day
(``scheduler.jobs``), so later ticks send nothing; a flag still open is reminded again
the next day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.clock import Clock
from core.db import Database
from core.ports import StaffMessenger
from core.worklists import Collector, Flag, due_by_owner
from scheduler.ports import Ports, StaffRenderer, staff_post
from scheduler.report import JobReport

SHOWN = 15
"""Flags listed one by one in a reminder; the rest are counted."""


@dataclass(frozen=True, slots=True)
class DueLine:
    flag: Flag
    overdue: int
    """Days past the review date (0: due today)."""


@dataclass(frozen=True, slots=True)
class Reminder:
    """One collector's reminder (the template's ``view``)."""

    collector: Collector
    as_of: date
    due: tuple[DueLine, ...]
    count: int

    @property
    def more(self) -> int:
        return self.count - len(self.due)


def reminder(collector: Collector, flags: list[Flag], as_of: date) -> Reminder:
    lines = tuple(DueLine(f, (as_of - f.due).days) for f in flags[:SHOWN])
    return Reminder(collector, as_of, lines, len(flags))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _summary(reminded: list[Reminder], unreachable: int, failed: int, dry_run: bool) -> str:
    flags = sum(r.count for r in reminded)
    done = "would be reminded" if dry_run else "reminded"
    parts = [f"{_plural(len(reminded), 'collector')} {done} of {_plural(flags, 'follow-up')} due"]
    if unreachable:
        parts.append(f"{unreachable} without a Slack user")
    if failed:
        parts.append(f"{_plural(failed, 'reminder')} failed")
    return ("dry run: " if dry_run else "") + "; ".join(parts)


async def _send(
    staff: StaffMessenger, render: StaffRenderer, locale: str, reminders: list[Reminder]
) -> tuple[list[Reminder], list[str]]:
    """Each reminder to its collector's Slack user: those sent, and why others failed."""
    sent, failed = [], []
    for r in reminders:
        user = str(r.collector.slack_user_id)
        payload = render("followups_due", locale, view=r)
        post = staff_post(user, payload)
        try:
            await staff.post(post)
        except Exception as exc:  # one collector's failure must not stop the others
            # The last line says why (slack_sdk puts Slack's answer there, after the URL).
            why = (str(exc).splitlines() or [""])[-1][:200]
            failed.append(f"failed: {r.collector.name} ({user}): {type(exc).__name__}: {why}")
            continue
        sent.append(r)
    return sent, failed


async def follow_up_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Remind each collector, by a Slack direct message, of their follow-ups due by
    ``as_of`` (AR-101)."""
    async with db.read() as conn:
        owners = await due_by_owner(conn, as_of)
    reminders = [reminder(c, flags, as_of) for c, flags in owners.items()]
    if not reminders:
        return JobReport(f"no follow-ups due by {as_of.isoformat()}")
    reachable = [r for r in reminders if r.collector.slack_user_id]
    unreachable = [
        f"{r.collector.name}: {_plural(r.count, 'follow-up')} due, no Slack user to remind"
        for r in reminders
        if not r.collector.slack_user_id
    ]
    if dry_run:
        lines = [
            f"{r.collector.name} ({r.collector.slack_user_id}): "
            f"{_plural(r.count, 'follow-up')} due"
            for r in reachable
        ]
        summary = _summary(reachable, len(unreachable), 0, dry_run=True)
        return JobReport(summary, (*lines, *unreachable))
    if ports.staff is None:
        return JobReport("Slack is not configured (SLACK_BOT_TOKEN): no follow-up reminders")
    render = ports.staff_render
    if render is None:
        return JobReport("no staff message templates were given: no follow-up reminders")
    sent, failed = await _send(ports.staff, render, ports.digests.locale, reachable)
    lines = [f"reminded: {r.collector.name} ({_plural(r.count, 'follow-up')})" for r in sent]
    summary = _summary(sent, len(unreachable), len(failed), dry_run=False)
    return JobReport(summary, (*lines, *failed, *unreachable))
