"""The dunning job on fixed dates: who gets what, when, in which language and through
which channel; quiet hours; opt-outs and payments since the morning; two schedulers
and a job killed mid-run sending each reminder exactly once (issue 6)."""

from __future__ import annotations

import asyncio
import re
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select

from core.clock import FixedClock
from core.customers import record_consent, status_of
from core.db import Database
from core.db.audit import audit_log
from core.dunning import set_location_hours
from core.dunning.tables import dunning_notice
from core.jobs import job_run, run_of
from core.patients.outbox import outbox
from core.patients.paylinks import open_pay_link
from core.services.payments import record_payment
from scheduler.dunning import send_due
from scheduler.runner import run_job
from tests.core.dunning_helpers import AS_OF, opt_in_sms, owes, patient
from tests.core.helpers import ADMIN, usd
from tests.scheduler.conftest import FakeMessenger, ports_for

LINK = re.compile(r"https://clinic\.example/pay/(\S+)")


async def count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_who_gets_what_in_which_language_and_channel(
    db: Database, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "45.00", 20)
    luis = await patient(db, "Luis", language="es")
    await owes(db, luis, "120.00", 61)
    sam = await patient(db, "Sam", telegram=False, phone="+15550001111")
    await opt_in_sms(db, "+15550001111")
    await owes(db, sam, "80.00", 16)
    unreachable = await patient(db, "Nobody", telegram=False, phone="+15550001112")
    await owes(db, unreachable, "900.00", 120)  # no opt-in for SMS, no chat: no message

    report = await run_job(db, db.clock, ports_for(db, messenger), "dunning", as_of=AS_OF)

    assert report is not None
    assert report.summary == ("3 reminders queued, 3 sent now, 0 accounts flagged for collections")
    by_channel = {(s.channel, s.address): s.text for s in messenger.sent}
    assert len(by_channel) == 3
    [ana_text] = [t for (ch, _), t in by_channel.items() if ana.number in t]
    assert ana_text.startswith(
        f"Reminder from the billing office: $45.00 on account {ana.number} has been due "
        "since Jun 10, 2026. Balance: $45.00."
    )
    [luis_text] = [t for t in by_channel.values() if luis.number in t]
    assert luis_text.startswith(
        f"Último aviso de la oficina de facturación: $120.00 de la cuenta {luis.number}"
    )
    sms = by_channel[("sms", "+15550001111")]
    # Not verified in chat: a balance exists, the link, STOP/HELP; no amount, no account.
    assert sms.startswith("You have a balance with the billing office.")
    assert "$" not in sms and sam.number not in sms and "STOP" in sms and "HELP" in sms
    assert all(LINK.search(text) for text in by_channel.values())
    token = LINK.search(ana_text).group(1)  # type: ignore[union-attr]
    order = await open_pay_link(db, token)
    assert (order.account_id, order.amount) == (ana.id, usd("45.00"))
    async with db.read() as conn:
        # Never told, so never flagged for collections, however old the debt.
        assert await status_of(conn, unreachable.id) == "active"
        sends = (await conn.execute(select(outbox.c.kind, outbox.c.status))).all()
    assert sorted(sends) == [
        ("dunning_final_notice", "sent"),
        ("dunning_reminder", "sent"),
        ("dunning_unverified", "sent"),
    ]
    # The day's run is claimed: the scheduler ticking again does nothing.
    assert await run_job(db, db.clock, ports_for(db, messenger), "dunning", as_of=AS_OF) is None
    assert len(messenger.sent) == 3


async def test_quiet_hours_hold_messages_until_the_location_opens(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    await set_location_hours(
        db, ADMIN, location="west", zone="America/Los_Angeles", start=time(9), end=time(20)
    )
    east = await patient(db, "East")
    await owes(db, east, "45.00", 20)
    west = await patient(db, "West", location="west")
    await owes(db, west, "45.00", 20)
    clock.moment = clock.moment.replace(hour=12, minute=30)  # 08:30 New York, 05:30 LA
    ports = ports_for(db, messenger)

    report = await run_job(db, clock, ports, "dunning", as_of=AS_OF)

    assert report is not None and report.summary.startswith("2 reminders queued, 1 sent now")
    assert [s.text.split(": ")[1].split(" on account ")[1][:8] for s in messenger.sent] == [
        east.number
    ]
    clock.advance(hours=3, minutes=30)  # 09:00 in Los Angeles
    assert await run_job(db, clock, ports, "dunning-send", as_of=AS_OF) is not None
    assert len(messenger.sent) == 2 and west.number in messenger.sent[1].text


async def test_after_the_window_nothing_is_queued_and_it_goes_tomorrow(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    account = await patient(db)
    await owes(db, account, "45.00", 20)
    clock.moment = clock.moment.replace(day=30, hour=1, minute=30) + timedelta(days=1)
    # 21:30 in New York on 30 June: the day's window is closed.
    report = await run_job(db, clock, ports_for(db, messenger), "dunning", as_of=AS_OF)
    assert report is not None and report.summary.startswith("0 reminders queued, 0 sent")
    assert await count(db, dunning_notice) == 0

    clock.advance(hours=12)  # 09:30 on 1 July
    tomorrow = AS_OF + timedelta(days=1)
    report = await run_job(db, clock, ports_for(db, messenger), "dunning", as_of=tomorrow)
    assert report is not None and report.summary.startswith("1 reminders queued, 1 sent")


async def test_no_more_is_queued_than_the_channel_can_send_before_closing(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    for i in range(5):
        account = await patient(db, f"P{i}", telegram=False, phone=f"+1555000200{i}")
        await opt_in_sms(db, f"+1555000200{i}")
        await owes(db, account, "45.00", 20 + i)
    # Three seconds before 21:00 in New York, at one SMS a second: room for three.
    clock.moment = clock.moment.replace(hour=0, minute=59, second=57) + timedelta(days=1)
    ports = ports_for(db, messenger, rates={"sms": 1.0, "telegram": 30.0})

    report = await run_job(db, clock, ports, "dunning", as_of=AS_OF)

    assert report is not None and report.summary.startswith("3 reminders queued, 3 sent")
    async with db.read() as conn:
        levels = (await conn.execute(select(dunning_notice.c.level))).scalars().all()
    assert sorted(levels) == [2, 2, 2]
    assert len(messenger.sent) == 3


async def test_a_stop_or_a_payment_since_it_was_queued_is_honoured(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    stopped = await patient(db, "Stopped", telegram=False, phone="+15550003000")
    await opt_in_sms(db, "+15550003000")
    await owes(db, stopped, "45.00", 20)
    paid = await patient(db, "Paid")
    await owes(db, paid, "45.00", 20)
    failing = await patient(db, "Blocked")
    await owes(db, failing, "45.00", 20)
    clock.moment = clock.moment.replace(hour=10)  # 06:00 in New York: queue, send later
    ports = ports_for(db, messenger)
    await run_job(db, clock, ports, "dunning", as_of=AS_OF)
    await record_consent(
        db, ADMIN, channel="sms", address="+15550003000", granted=False, source="sms keyword"
    )
    await record_payment(
        db, ADMIN, account_id=paid.id, amount=usd("45.00"), received_on=AS_OF,
        key="paid-at-desk", method="cash",
    )  # fmt: skip
    async with db.read() as conn:
        blocked_address = (
            await conn.execute(
                select(dunning_notice.c.address).where(dunning_notice.c.account_id == failing.id)
            )
        ).scalar_one()
    messenger.fail[blocked_address] = "blocked"

    clock.advance(hours=3)
    report = await run_job(db, clock, ports, "dunning-send", as_of=AS_OF)

    assert messenger.sent == []
    assert report is not None
    assert set(report.lines) == {
        "failed (blocked): 1",
        "skipped (opted_out): 1",
        "skipped (paid): 1",
    }


async def test_dry_run_prints_the_plan_and_changes_nothing(
    db: Database, messenger: FakeMessenger
) -> None:
    account = await patient(db, "Dry")
    await owes(db, account, "45.00", 31)
    before = {t.name: await count(db, t) for t in (dunning_notice, job_run, outbox, audit_log)}

    report = await run_job(
        db, db.clock, ports_for(db, messenger), "dunning", as_of=AS_OF, dry_run=True
    )

    assert report is not None
    assert report.summary.startswith("dry run for 2026-06-30: 1 planned (level 3 reminder: 1)")
    [line] = report.lines
    assert line.split() == [
        account.number, "level", "3", "reminder", "telegram", "verified", "45.00", "due,",
        "45.00", "overdue,", "31", "days",
    ]  # fmt: skip
    after = {t.name: await count(db, t) for t in (dunning_notice, job_run, outbox, audit_log)}
    assert after == before and messenger.sent == []


async def test_two_schedulers_send_each_reminder_once(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    for i in range(6):
        account = await patient(db, f"P{i}")
        await owes(db, account, "45.00", 20 + i)
    clock.moment = clock.moment.replace(hour=10)  # before hours: queue only
    await run_job(db, clock, ports_for(db, messenger), "dunning", as_of=AS_OF)
    clock.advance(hours=3)
    other = Database(db.url, clock=clock)
    try:
        await asyncio.gather(
            send_due(db, clock, ports_for(db, messenger)),
            send_due(other, clock, ports_for(other, messenger)),
        )
    finally:
        await other.dispose()
    addresses = [s.address for s in messenger.sent]
    assert len(addresses) == 6 and len(set(addresses)) == 6


async def test_a_run_killed_mid_way_is_rerun_by_hand_and_continues(
    db: Database, messenger: FakeMessenger
) -> None:
    for i in range(5):
        account = await patient(db, f"P{i}")
        await owes(db, account, "45.00", 20 + i)
    messenger.crash_after = 2
    with pytest.raises(SystemExit):
        await run_job(db, db.clock, ports_for(db, messenger), "dunning", as_of=AS_OF)
    async with db.read() as conn:
        run = await run_of(conn, "dunning", "2026-06-30")
    assert run is not None and run.status == "running"  # the process died with it
    assert len(messenger.sent) == 2

    messenger.crash_after = None
    scheduler_tick = await run_job(db, db.clock, ports_for(db, messenger), "dunning", as_of=AS_OF)
    assert scheduler_tick is None  # claimed by the dead run: the scheduler waits
    report = await run_job(
        db, db.clock, ports_for(db, messenger), "dunning", as_of=AS_OF, rerun=True
    )

    assert report is not None and report.summary.startswith("0 reminders queued, 2 sent now")
    texts = [s.address for s in messenger.sent]
    assert len(texts) == 4 and len(set(texts)) == 4  # nothing twice
    async with db.read() as conn:
        statuses = (await conn.execute(select(dunning_notice.c.status))).scalars().all()
        run = await run_of(conn, "dunning", "2026-06-30")
    # The one cut off while sending is not sent again: at most once, and it shows.
    assert sorted(statuses) == ["sending", "sent", "sent", "sent", "sent"]
    assert run is not None and (run.status, run.attempts) == ("finished", 2)
