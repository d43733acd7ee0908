"""``/ar atb``: the aged trial balance in Slack (AR-156, AR-187, AR-191, AR-192), and
``/ar baddebt``: what was sent to bad debt and what came back (AR-137, AR-149), and
``/ar dso``: days in A/R, in total and by financial class, patient type or location
(AR-145).

The reply is the summary: each bucket's amount, share of the total and number of
accounts, the total, and the largest balances. ``--csv`` also sends the full detail,
one row per account, as a CSV file in the person's direct messages with arbot,
not in the channel the command was typed in.

Staff limited to some locations see only theirs: one location is used by itself,
several need ``--location``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from bot.staff.parse import Atb, BadDebt, Dso
from bot.staff.render import message
from bot.staff.turn import Turn
from core.auth import Actor, Permission, require
from core.clock import today
from core.errors import ValidationError
from core.ledger.aging import Atb as AtbReport
from core.ledger.aging import aged_trial_balance
from core.money import Money
from core.reports.atb import atb_csv, top_accounts
from core.reports.atb_detail import AtbDetail, atb_detail
from core.reports.baddebt import bad_debt_history
from core.reports.dso import days_in_ar

TOP = 5
GROUPS = 20


@dataclass(frozen=True, slots=True)
class GroupLine:
    key: str
    total: Money
    accounts: int


def location_for(staff: Actor, asked: str | None) -> str | None:
    if asked is not None or staff.locations is None:
        return asked
    if len(staff.locations) == 1:
        return next(iter(staff.locations))
    raise ValidationError(
        f"say which location with --location ({', '.join(sorted(staff.locations))})"
    )


def group_lines(report: AtbReport) -> list[GroupLine]:
    currency = report.query.currency
    lines = []
    for key, buckets in report.groups.items():
        accounts = {r.account_id for r in report.rows if (r.group or "(none)") == key}
        total = Money(sum(b.amount_minor for b in buckets), currency)
        lines.append(GroupLine(key, total, len(accounts)))
    return sorted(lines, key=lambda g: (-g.total.minor, g.key))


async def atb(turn: Turn, staff: Actor, cmd: Atb) -> None:
    location = location_for(staff, cmd.location)
    require(staff, Permission.VIEW_REPORTS, location)
    office = turn.services.aging
    rule = replace(office, basis=cmd.basis or office.basis, bounds=cmd.buckets or office.bounds)
    query = rule.query(
        cmd.as_of or today(turn.services.clock),
        turn.services.settings.currency,
        group_by=cmd.by,
        over_days=cmd.over,
        location=location,
    )
    async with turn.db.read() as conn:
        report = await aged_trial_balance(conn, query)
        detail = await atb_detail(conn, report) if cmd.detail else None
    if cmd.csv:
        await send_csv(turn, report, detail)
    groups = group_lines(report)
    await turn.reply(
        "atb",
        q=query,
        buckets=[(b, Money(b.amount_minor, query.currency)) for b in report.buckets],
        total=Money(report.total_minor, query.currency),
        accounts=len({r.account_id for r in report.rows}),
        top=top_accounts(report, TOP),
        groups=groups[:GROUPS],
        more_groups=max(0, len(groups) - GROUPS),
        csv=cmd.csv,
    )


async def send_csv(turn: Turn, report: AtbReport, detail: AtbDetail | None = None) -> None:
    """The full ATB as a CSV file in the person's direct messages with arbot (with
    ``detail``, its AR-184 columns too)."""
    as_of = report.query.as_of.isoformat()
    comment = message("atb_file", turn.locale, q=report.query, rows=len(report.rows))
    content = atb_csv(report, detail)
    await upload_csv(turn, content, f"atb-{as_of}.csv", f"ATB {as_of}", comment["text"])


async def upload_csv(turn: Turn, content: str, filename: str, title: str, comment: str) -> None:
    """Upload a CSV file (files.getUploadURLExternal, the upload, then
    files.completeUploadExternal) into the person's direct messages with arbot."""
    opened = await turn.client.conversations_open(users=turn.slack_user)
    await turn.client.files_upload_v2(
        channel=opened["channel"]["id"],
        content=content,
        filename=filename,
        title=title,
        initial_comment=comment,
    )


async def bad_debt(turn: Turn, staff: Actor, cmd: BadDebt) -> None:
    """Since ``--since``, or else the first of the month a year ago."""
    require(staff, Permission.VIEW_ACCOUNTS)
    now = today(turn.db.clock)
    since = cmd.since or date(now.year - 1, now.month, 1)
    async with turn.db.read() as conn:
        history = await bad_debt_history(conn, since=since, locations=staff.locations)
    await turn.reply("baddebt", history=history)


async def dso(turn: Turn, staff: Actor, cmd: Dso) -> None:
    location = location_for(staff, cmd.location)
    require(staff, Permission.VIEW_REPORTS, location)
    as_of = cmd.as_of or today(turn.services.clock)
    async with turn.db.read() as conn:
        report = await days_in_ar(conn, as_of, turn.services.settings.currency,
                                  period_days=cmd.days, by=cmd.by, location=location)  # fmt: skip
    await turn.reply("dso", r=report, by=cmd.by, location=location)
