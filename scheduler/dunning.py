"""The dunning jobs: decide the day's reminders once, then send them within quiet hours
at each channel's pace (AR-029, AR-108, AR-109, BI-21).

``dunning`` (once a day) queues what can still be sent today and sends what may go now;
``dunning-send`` (every few minutes) sends what is queued where sending hours are open,
so a location whose morning comes later still gets its reminders. Each message is
claimed before it goes and its outcome recorded after; just before it goes, the
person's consent and what the account owes are read again, so a STOP or a payment
made since the morning is honoured. A patient verified in chat reads amounts and
dates; one who is not reads only that there is a balance, the pay link and, by SMS,
STOP/HELP.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from core.clock import Clock
from core.customers import may_contact
from core.db import Database
from core.dunning import (
    DunningMessage,
    Limits,
    Notice,
    claim_notice,
    finish_notice,
    plan_dunning,
    queue_dunning,
    queued_notices,
    sending_hours,
)
from core.dunning.owed import owed_now
from core.patients.paylinks import PayChoice, issue_pay_link
from core.ports import OutboundMessage
from scheduler.pacing import Pace, capacity, open_now
from scheduler.ports import Ports
from scheduler.report import JobReport

BATCH = 200


async def dunning_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Decide ``as_of``'s notices (dry run: only show them), then send what may go now."""
    if dry_run:
        return await _dry_run(db, as_of)
    async with db.read() as conn:
        hours = await sending_hours(conn)
    room = capacity(hours, ports.hours, clock.now(), ports.rates)
    # Per-location caps matter only where some location keeps hours of its own.
    per_location = room.per_location if hours else None
    limits = Limits(room.per_channel, per_location, room.still_open)
    queued = await queue_dunning(db, as_of, limits=limits)
    sent = await send_due(db, clock, ports)
    by_channel = ", ".join(f"{n} by {ch}" for ch, n in sorted(queued.by_channel.items()))
    return JobReport(
        f"{queued.messages} reminders queued, {sent.total()} sent now, "
        f"{queued.collections} accounts flagged for collections",
        (
            f"queued: {by_channel or 'none'}",
            f"expired from earlier days (decided again today): {queued.expired}",
            *(f"{outcome}: {n}" for outcome, n in sorted(sent.items())),
        ),
    )


async def _dry_run(db: Database, as_of: date) -> JobReport:
    async with db.read() as conn:
        planned = await plan_dunning(conn, as_of, unreachable=True)
    lines = [_plan_line(m) for m in planned]
    reachable = [m for m in planned if m.channel or m.action != "message"]
    levels = Counter((m.level, m.template) for m in reachable)
    summary = "; ".join(f"level {lv} {t}: {n}" for (lv, t), n in sorted(levels.items()))
    return JobReport(
        f"dry run for {as_of.isoformat()}: {len(reachable)} planned ({summary or 'nothing'}), "
        f"{len(planned) - len(reachable)} more owe but cannot be reached (no chat linked, "
        "no SMS opt-in); nothing was sent or written",
        tuple(lines),
    )


def _plan_line(m: DunningMessage) -> str:
    if m.action != "message":
        how = "(no message)"
    elif m.channel is None:
        how = "UNREACHABLE"
    else:
        how = f"{m.channel} {'verified' if m.verified else 'unverified'}"
    return (
        f"{m.account_number:<12} level {m.level} {m.template:<14} {how:<19} "
        f"{m.amount_due!s:>12} due, {m.overdue!s:>12} overdue, {m.days_overdue} days"
    )


async def dunning_send_job(
    db: Database, clock: Clock, ports: Ports, as_of: date, dry_run: bool
) -> JobReport:
    """Send what is queued where sending hours are open now."""
    if dry_run:
        async with db.read() as conn:
            hours = await sending_hours(conn)
            waiting = await queued_notices(
                conn,
                open_now(hours, ports.hours, clock.now()),
                channels=ports.channels,
                limit=100_000,
            )
        return JobReport(f"dry run: {len(waiting)} queued reminders may go now", ())
    sent = await send_due(db, clock, ports)
    return JobReport(
        f"{sent.total()} reminders handled",
        tuple(f"{outcome}: {n}" for outcome, n in sorted(sent.items())),
    )


async def send_due(db: Database, clock: Clock, ports: Ports) -> Counter[str]:
    """Send queued notices while their location's hours are open, each channel at its
    rate; returns how they ended (``sent``, ``failed``, ``skipped``...)."""
    outcomes: Counter[str] = Counter()
    if ports.send is None or ports.render is None:
        return outcomes
    pace = Pace(dict(ports.rates))
    while True:
        async with db.read() as conn:
            hours = await sending_hours(conn)
            batch = await queued_notices(
                conn,
                open_now(hours, ports.hours, clock.now()),
                channels=ports.channels,
                limit=BATCH,
            )
        if not batch:
            return outcomes
        for notice in batch:
            await pace.wait(notice.channel)
            if not await claim_notice(db, notice.id):
                continue  # another sender has it
            status, failure = await _deliver(db, clock, ports, notice)
            await finish_notice(db, notice.id, status, failure)
            outcomes[status if failure is None else f"{status} ({failure})"] += 1


async def _deliver(
    db: Database, clock: Clock, ports: Ports, notice: Notice
) -> tuple[str, str | None]:
    assert ports.send is not None and ports.render is not None
    async with db.read() as conn:
        if not await may_contact(conn, notice.channel, notice.address):
            return "skipped", "opted_out"
        owed = await owed_now(
            conn, notice.account_id, notice.planned_day, notice.amount_due.currency
        )
    if owed.minor <= 0:
        return "skipped", "paid"
    link = ""
    if ports.pay_base_url:
        token = await issue_pay_link(
            db,
            account_id=notice.account_id,
            choice=PayChoice.OVERDUE if notice.overdue.minor > 0 else PayChoice.BALANCE,
            channel=notice.channel,
            address=notice.address,
        )
        link = f"{ports.pay_base_url.rstrip('/')}/pay/{token}"
    template = f"dunning_{notice.template}" if notice.verified else "dunning_unverified"
    text = ports.render(
        notice.locale,
        template,
        number=notice.account_number,
        amount=min(owed, notice.amount_due),
        overdue=min(owed, notice.overdue),
        due_date=notice.anchor_due,
        link=link,
        sms=notice.channel == "sms",
    )
    try:
        delivery = await ports.send(
            channel=notice.channel,
            address=notice.address,
            message=OutboundMessage(text),
            kind=template,
            account_id=notice.account_id,
            dedupe_key=notice.dedupe_key,
        )
    except Exception as exc:  # a sender that raised: record it, go on with the rest
        return "failed", f"error: {type(exc).__name__}"
    if delivery is None:
        return "skipped", "already_sent"
    if delivery.ok:
        return "sent", None
    return "failed", delivery.failure or "error"
