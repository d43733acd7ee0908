"""The digests posted to staff Slack channels: the ATB digest and the daily cash digest.

The **ATB digest** (job ``atb-digest``, daily or on the first run of each ISO week as
``ARBOT_ATB_DIGEST`` says) shows each aging bucket's amount, share and number of
accounts, with the change since the previous digest (AR-192, AR-193), the largest
balances (AR-187) and a PNG chart of the buckets. Each location listed in
``ARBOT_ATB_DIGEST_CHANNELS`` gets its own in its channel; managers get the consolidated
one of every location, with a line per location, in ``ARBOT_ATB_DIGEST_CHANNEL``
(BI-20). Buttons under the table drill from a bucket to its accounts
(``bot.staff.digest``).

The **cash digest** (job ``cash-digest``, each morning, about the day before) lists the
day's receipts and adjustments by payer and method (AR-170), the messages to patients
that failed to deliver that day (AR-179) and the payments cash application left
unapplied (AR-139), in ``ARBOT_CASH_DIGEST_CHANNEL``.

Each digest is claimed in core (``core.digests``) before it is posted, so a rerun, a
second scheduler or a retry after a failure never posts one twice; a dry run renders
what would be posted and writes nothing. A digest that could not be posted fails the run
(:class:`DigestNotPosted`), and the scheduler's next tick posts what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency

from core.auth import Actor
from core.clock import Clock
from core.db import Database
from core.digests import (
    ALL,
    Digest,
    DigestDraft,
    claim_digest,
    digest_done,
    message_posted,
    previous_digest,
    release_digest,
)
from core.errors import ArbotError, ValidationError
from core.ledger.aging import Atb, AtbBucket, AtbRow, GroupBy, aged_trial_balance
from core.money import Money
from core.ports import StaffFile, StaffMessenger
from core.reports.atb import top_accounts
from scheduler.chart import bucket_chart
from scheduler.ports import DigestSettings, Ports, StaffRenderer, staff_post
from scheduler.report import JobReport

DIGESTS = Actor.system("digests")
ATB_MODES = ("daily", "weekly", "off")


class DigestNotPosted(ArbotError):
    """Slack refused or failed a digest; the run fails and is retried."""


def parse_channels(text: str) -> dict[str, str]:
    """``"main=C0123ABCD,north=C0456EFGH"`` -> {"main": "C0123ABCD", "north": ...}."""
    found: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        location, sep, channel = (s.strip() for s in part.partition("="))
        if not sep or not location or not channel or location in found:
            raise ValidationError(
                "ARBOT_ATB_DIGEST_CHANNELS lists each location once as location=channel, "
                f"separated by commas (main=C0123ABCD,north=C0456EFGH); {part!r} is not"
            )
        found[location] = channel
    return found


def digest_settings(
    *, atb: str, atb_channel: str, atb_channels: str, cash_channel: str
) -> DigestSettings:
    """The digests' settings from the environment's words (``ARBOT_ATB_DIGEST`` ...)."""
    mode = (atb or "daily").strip().lower()
    if mode not in ATB_MODES:
        raise ValidationError(f"ARBOT_ATB_DIGEST must be daily, weekly or off, not {atb!r}")
    return DigestSettings(
        atb=mode,
        atb_channel=atb_channel.strip(),
        atb_channels=parse_channels(atb_channels),
        cash_channel=cash_channel.strip(),
    )


def atb_period(mode: str, as_of: date) -> str:
    """The digest's period: its day, or its ISO week (``2026-W27``) when weekly."""
    if mode == "weekly":
        year, week, _ = as_of.isocalendar()
        return f"{year}-W{week:02d}"
    return as_of.isoformat()


@dataclass(frozen=True, slots=True)
class BucketLine:
    position: int
    bucket: AtbBucket
    amount: Money
    change: Money | None
    accounts_change: int | None


@dataclass(frozen=True, slots=True)
class LocationLine:
    location: str
    total: Money
    accounts: int
    change: Money | None


@dataclass(frozen=True, slots=True)
class AtbView:
    """What an ATB digest shows (the template's ``view``)."""

    scope: str
    as_of: date
    mode: str
    total: Money
    accounts: int
    buckets: tuple[BucketLine, ...]
    previous: date | None
    change: Money | None
    top: tuple[tuple[AtbRow, Money], ...]
    locations: tuple[LocationLine, ...]


@dataclass(frozen=True, slots=True)
class Planned:
    """One digest ready to post: its claim, its message (given the digest's id, which
    its buttons carry) and its chart."""

    draft: DigestDraft
    message: Callable[[int], dict[str, Any]]
    chart: bytes | None = None
    filename: str = ""
    title: str = ""


def _scope(atb: Atb, scope: str) -> Atb:
    """One location's part of the ATB grouped by location (or all of it)."""
    if scope == ALL:
        return atb
    rows = [row for row in atb.rows if row.group == scope]
    empty = [AtbBucket(b.label, 0, Decimal("0.00"), 0) for b in atb.buckets]
    buckets = list(atb.groups.get(scope, empty))
    query = replace(atb.query, location=scope, group_by=None)
    return Atb(query, buckets, sum(b.amount_minor for b in buckets), rows)


def _view(atb: Atb, scope: str, mode: str, previous: Digest | None, top: int) -> AtbView:
    cur = atb.query.currency
    before = previous.figures.get(ALL, ()) if previous else ()
    comparable = (
        previous is not None
        and previous.rule == atb.query.rule
        and [b.label for b in before] == [b.label for b in atb.buckets]
    )
    lines = tuple(
        BucketLine(
            i,
            b,
            Money(b.amount_minor, cur),
            Money(b.amount_minor - before[i].amount_minor, cur) if comparable else None,
            b.accounts - before[i].accounts if comparable else None,
        )
        for i, b in enumerate(atb.buckets)
    )
    locations: tuple[LocationLine, ...] = ()
    if scope == ALL:
        locations = tuple(_location(atb, key, previous) for key in sorted(atb.groups))
    return AtbView(
        scope=scope,
        as_of=atb.query.as_of,
        mode=mode,
        total=Money(atb.total_minor, cur),
        accounts=len({row.account_id for row in atb.rows}),
        buckets=lines,
        previous=previous.as_of if previous else None,
        change=Money(atb.total_minor, cur) - previous.total if previous else None,
        top=tuple(top_accounts(atb, top)),
        locations=locations,
    )


def _location(atb: Atb, key: str, previous: Digest | None) -> LocationLine:
    cur = atb.query.currency
    total = sum(b.amount_minor for b in atb.groups[key])
    accounts = len({row.account_id for row in atb.rows if row.group == key})
    then = previous.figures.get(key) if previous else None
    change = Money(total - sum(b.amount_minor for b in then), cur) if then else None
    return LocationLine(key, Money(total, cur), accounts, change)


def _chart(view: AtbView, previous: Digest | None, locale: str) -> tuple[bytes, str]:
    where = view.scope or "all locations"
    day = format_date(view.as_of, format="medium", locale=locale)
    title = f"ATB {where}, {day}"
    before = None
    if previous and all(b.change is not None for b in view.buckets):
        before = [b.amount_minor for b in previous.figures.get(ALL, ())]
    then = format_date(view.previous, format="medium", locale=locale) if view.previous else ""
    png = bucket_chart(
        title,
        [b.bucket.label for b in view.buckets],
        [b.amount.minor for b in view.buckets],
        [_money(b.amount, locale) for b in view.buckets],
        before=before,
        legend=(day, then),
    )
    return png, title


def _money(value: Money, locale: str) -> str:
    return str(format_currency(value.to_decimal(), value.currency, locale=locale))


def _atb_targets(settings: DigestSettings) -> dict[str, str]:
    targets = dict(settings.atb_channels)
    if settings.atb_channel:
        targets[ALL] = settings.atb_channel
    return targets


async def plan_atb_digests(
    db: Database, ports: Ports, render: StaffRenderer, as_of: date
) -> list[Planned]:
    """The ATB digests of ``as_of``: one per configured location channel and the
    consolidated one, from one ATB grouped by location."""
    settings, currency = ports.digests, ports.currency
    targets = _atb_targets(settings)
    period = atb_period(settings.atb, as_of)
    async with db.read() as conn:
        query = ports.aging.query(as_of, currency, group_by=GroupBy.LOCATION)
        atb = await aged_trial_balance(conn, query)
        previous = {
            scope: await previous_digest(conn, "atb", scope, currency, before=as_of)
            for scope in targets
        }
    planned = []
    for scope, channel in sorted(targets.items()):
        part = _scope(atb, scope)
        view = _view(part, scope, settings.atb, previous[scope], settings.top)
        figures = {ALL: part.buckets, **(atb.groups if scope == ALL else {})}
        draft = DigestDraft(
            "atb",
            period,
            scope,
            as_of,
            currency,
            channel,
            part.total_minor,
            view.accounts,
            ports.aging,
            figures,
        )
        png, title = _chart(view, previous[scope], settings.locale)

        def message(digest_id: int, view: AtbView = view) -> dict[str, Any]:
            return render("digest_atb", settings.locale, view=view, digest_id=digest_id)

        name = f"atb-{scope or 'all'}-{as_of.isoformat()}.png"
        planned.append(Planned(draft, message, png, name, title))
    return planned


async def post_digest(db: Database, staff: StaffMessenger, plan: Planned) -> bool:
    """Post ``plan`` once: False when it was posted already (or is being posted). What
    went out before a failure (the message, say) is not posted again."""
    digest = await claim_digest(db, plan.draft, DIGESTS.label)
    if digest is None:
        return False
    channel = plan.draft.channel
    try:
        if digest.message_ts is None:
            ts = await staff.post(staff_post(channel, plan.message(digest.id)))
            await message_posted(db, digest.id, ts)
        file_id = digest.file_id
        if plan.chart is not None and file_id is None:
            chart = StaffFile(channel, plan.filename, plan.chart, plan.title, plan.title)
            file_id = await staff.upload(chart)
    except BaseException:
        await release_digest(db, digest.id)
        raise
    await digest_done(db, digest.id, DIGESTS.label, file_id=file_id)
    return True


def payload_lines(payload: Mapping[str, Any]) -> list[str]:
    """What a person reads in a Slack payload, line by line (for a dry run)."""
    lines: list[str] = []
    for block in payload.get("blocks", ()):
        texts = [block.get("text", {}).get("text", "")]
        texts += [
            e.get("text", "") for e in block.get("elements", ()) if block["type"] == "context"
        ]
        buttons = [
            e["text"]["text"] for e in block.get("elements", ()) if e.get("type") == "button"
        ]
        if buttons:
            texts.append("[" + "] [".join(buttons) + "]")
        for text in texts:
            if isinstance(text, str) and text:
                lines.extend(text.splitlines())
    return lines or [str(payload.get("text", ""))]


async def post_all(
    db: Database, ports: Ports, planned: Iterable[Planned], what: str, dry_run: bool
) -> JobReport:
    """Post every planned digest once (or, in a dry run, show them)."""
    planned = list(planned)
    if dry_run:
        lines = []
        for plan in planned:
            where = plan.draft.scope or "all locations"
            lines.append(f"--- {what} for {where} to channel {plan.draft.channel}:")
            lines.extend(payload_lines(plan.message(0)))
            if plan.chart is not None:
                lines.append(f"(chart {plan.filename}: PNG, {len(plan.chart)} bytes)")
        many = f"{len(planned)} {what}{'s' if len(planned) != 1 else ''}"
        return JobReport(f"dry run: {many} would be posted", tuple(lines))
    if ports.staff is None:
        return JobReport(f"Slack is not configured (SLACK_BOT_TOKEN): no {what} posted")
    posted, failed = [], []
    for plan in planned:
        where = f"{plan.draft.scope or 'all locations'} ({plan.draft.channel})"
        try:
            if await post_digest(db, ports.staff, plan):
                posted.append(f"posted: {where}")
            else:
                posted.append(f"already posted: {where}")
        except Exception as exc:  # one channel's failure must not stop the others
            failed.append(f"{where}: {type(exc).__name__}: {exc}"[:200])
    if failed:
        raise DigestNotPosted(
            f"{len(failed)} of {len(planned)} {what}s could not be posted ({'; '.join(failed)}); "
            "the next run posts what is missing"
        )
    count = sum(line.startswith("posted") for line in posted)
    return JobReport(f"{count} {what}{'s' if count != 1 else ''} posted", tuple(posted))


async def atb_digest_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Post the ATB digests of ``as_of`` once per period (daily, or weekly)."""
    settings = ports.digests
    if settings.atb == "off":
        return JobReport("the ATB digest is off (ARBOT_ATB_DIGEST=off)")
    if not _atb_targets(settings):
        return JobReport(
            "no channel for the ATB digest: set ARBOT_ATB_DIGEST_CHANNEL (all locations) "
            "or ARBOT_ATB_DIGEST_CHANNELS (location=channel,...)"
        )
    if ports.staff_render is None:
        return JobReport("no staff message templates were given: no ATB digest")
    planned = await plan_atb_digests(db, ports, ports.staff_render, as_of)
    return await post_all(db, ports, planned, "ATB digest", dry_run)
