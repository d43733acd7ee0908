"""The nightly integrity check (AR-175): control totals of the ledger's append-only
tables compared night to night, the audit chain and the invariants; intact it says so,
broken it names each problem and alerts Slack (through the real Slack messenger to the
fake Slack)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import date, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import FixedClock
from core.db import Database
from core.integrity import check_integrity, control_total, last_findings
from core.ledger.tables import journal_line
from core.services.payments import record_payment
from scheduler.ports import Ports
from scheduler.report import JobReport
from scheduler.runner import run_job
from tests.core.helpers import ADMIN, usd
from tests.fakes.slack import FakeSlack, fake_slack
from tests.scheduler.digest_helpers import at, charge, clinic, posted_to, slack_ports, text_of

__all__ = ["fake_slack"]

JUNE_30 = date(2026, 6, 30)
ALERTS = "C0CASH"


async def run_on(db: Database, clock: FixedClock, ports: Ports, day: date) -> JobReport | None:
    clock.moment = at(day, 3)
    return await run_job(db, clock, ports, "integrity", as_of=day)


GUARDS = {
    # table -> the triggers that refuse an UPDATE (SQLite names, PostgreSQL statement)
    "journal_line": (
        ("journal_line_no_update",),
        "CREATE TRIGGER journal_line_immutable BEFORE UPDATE OR DELETE ON journal_line "
        "FOR EACH ROW EXECUTE FUNCTION arbot_immutable()",
    ),
    "ar_item": (
        ("ar_item_no_update", "ar_item_open_is_derived"),
        "CREATE TRIGGER ar_item_immutable BEFORE UPDATE OF entry_id, line_no, account_id, "
        "currency, amount_minor, effective_day, service_day, bill_day, due_day OR DELETE "
        "ON ar_item FOR EACH ROW EXECUTE FUNCTION arbot_immutable()",
    ),
}


@asynccontextmanager
async def tampering(db: Database, *tables: str) -> AsyncIterator[AsyncConnection]:
    """What someone with database access does: drop the refusing triggers, change rows.
    On PostgreSQL (one database for the whole test session) the triggers are put back
    after the test; a SQLite database is this test's own copy."""
    async with db.transaction() as tx:
        for table in tables:
            if db.is_postgres:
                await tx.conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}"))
                if table == "ar_item":
                    await tx.conn.execute(
                        text("DROP TRIGGER IF EXISTS ar_item_open_is_derived ON ar_item")
                    )
            else:
                for trigger in GUARDS[table][0]:
                    await tx.conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        yield tx.conn


async def reguard(db: Database, *tables: str) -> None:
    if not db.is_postgres:
        return
    async with db.engine.begin() as conn:
        for table in tables:
            await conn.execute(text(GUARDS[table][1]))
            if table == "ar_item":
                await conn.execute(text(
                    "CREATE TRIGGER ar_item_open_is_derived BEFORE UPDATE OF open_minor ON "
                    "ar_item FOR EACH ROW EXECUTE FUNCTION arbot_open_is_derived()"
                ))  # fmt: skip


async def test_intact_books_are_reported_and_controls_kept_each_night(
    db: Database, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    people = await clinic(db)
    ports = slack_ports(fake_slack, cash_channel=ALERTS)

    first = await run_on(db, clock, ports, JUNE_30)
    await record_payment(db, ADMIN, account_id=people["ana"].id, amount=usd("80.00"),
                         received_on=JUNE_30, key="p1", method="cash")  # fmt: skip
    await charge(db, people["bea"], "10.00", JUNE_30)
    second = await run_on(db, clock, ports, JUNE_30 + timedelta(days=1))

    assert first is not None and second is not None
    for report in (first, second):
        assert report.summary.startswith("books intact: 4 tables controlled, audit trail of ")
        assert report.summary.endswith("records unbroken, every invariant holds")
    assert "journal_entry: 4 rows to id 4, total 8" in first.lines
    assert "journal_entry: 6 rows to id 6, total 12" in second.lines
    async with db.read() as conn:
        kept = (await conn.execute(select(control_total.c.day))).scalars().all()
    assert sorted(set(kept)) == [JUNE_30, JUNE_30 + timedelta(days=1)] and len(kept) == 8
    assert fake_slack.called("chat.postMessage") == []  # nothing to alert


async def test_a_changed_amount_is_found_named_and_alerted(
    db: Database, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    await clinic(db)
    ports = slack_ports(fake_slack, cash_channel=ALERTS)
    await run_on(db, clock, ports, JUNE_30)
    try:
        async with tampering(db, "journal_line") as conn:  # entry 1 doubled: it balances
            await conn.execute(
                journal_line.update()
                .where(journal_line.c.entry_id == 1)
                .values(amount_minor=journal_line.c.amount_minor * 2)
            )
        report = await run_on(db, clock, ports, JUNE_30 + timedelta(days=1))
        dry = await run_job(db, clock, ports, "integrity", as_of=JUNE_30 + timedelta(days=2),
                            dry_run=True)  # fmt: skip
        async with db.read() as conn:
            kept = await last_findings(conn)
        async with db.transaction() as tx:  # put it back, as the administrator would
            await tx.conn.execute(
                journal_line.update()
                .where(journal_line.c.entry_id == 1)
                .values(amount_minor=journal_line.c.amount_minor / 2)
            )
    finally:
        await reguard(db, "journal_line")

    assert report is not None
    assert "INTEGRITY PROBLEMS" in report.summary and report.summary.endswith(f"alerted {ALERTS}")
    changed = "journal_line: the rows up to id 8 were 8 totalling 66000; now 8 totalling 82000"
    said = changed + ", their contents changed (rows deleted or changed since the last control)"
    assert said in report.lines
    assert kept is not None and kept[0] == "2026-07-01" and said in kept[1]  # in the audit
    [alert] = posted_to(fake_slack, ALERTS)
    shown = text_of(alert)
    assert shown.startswith(":rotating_light: *The books failed their nightly integrity check*")
    assert changed in shown
    assert "ledger (subledger) account 1 USD: A/R control" in shown
    # The night after, the books compare equal with what was recorded then (the change
    # is reported once); the invariant still fails, and is still reported.
    assert dry is not None and dry.summary.startswith("dry run (nothing recorded): 1 INTEGRITY")


async def test_a_charge_turned_credit_or_moved_to_another_account_is_found(
    db: Database, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    """Review finding: counts and amounts without their sign missed a charge made a
    credit of the same size, and a debt moved to another account."""
    people = await clinic(db)
    ports = slack_ports(fake_slack, cash_channel=ALERTS)
    await run_on(db, clock, ports, JUNE_30)
    flip = (
        "UPDATE journal_line SET amount_minor = -amount_minor WHERE entry_id = 1",
        "UPDATE ar_item SET amount_minor = -amount_minor, open_minor = -open_minor "
        "WHERE entry_id = 1",
    )
    ana, bea = people["ana"].id, people["bea"].id
    move = (
        f"UPDATE journal_line SET customer_account_id = {bea} WHERE entry_id = 1 "
        f"AND customer_account_id = {ana}",
        f"UPDATE ar_item SET account_id = {bea} WHERE entry_id = 1",
    )
    found = []
    try:
        for change, undo, day in ((flip, flip, 1), (move, None, 2)):
            async with tampering(db, "journal_line", "ar_item") as conn:
                for statement in change:
                    await conn.execute(text(statement))
            async with db.read() as conn:
                found.append(await check_integrity(conn, JUNE_30 + timedelta(days=day)))
            if undo is not None:
                async with db.transaction() as tx:
                    for statement in undo:
                        await tx.conn.execute(text(statement))
            await reguard(db, "journal_line", "ar_item")
        async with tampering(db, "journal_line", "ar_item") as conn:  # move it back
            await conn.execute(
                text(
                    f"UPDATE journal_line SET customer_account_id = {ana} WHERE entry_id = 1 "
                    f"AND customer_account_id = {bea}"
                )
            )
            await conn.execute(text(f"UPDATE ar_item SET account_id = {ana} WHERE entry_id = 1"))
    finally:
        await reguard(db, "journal_line", "ar_item")

    flipped, moved = found
    assert [p.split(":")[0] for p in flipped.changed] == ["journal_line", "ar_item"]
    assert all("their contents changed" in p for p in flipped.changed)
    assert [p.split(":")[0] for p in moved.changed] == ["journal_line", "ar_item"]


async def test_a_refused_alert_is_tried_again_at_the_next_tick(
    db: Database, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    """Review finding: the controls were kept before the alert; Slack refusing it lost
    the finding, the next tick comparing with what was kept and finding nothing."""
    await clinic(db)
    ports = slack_ports(fake_slack, cash_channel=ALERTS)
    await run_on(db, clock, ports, JUNE_30)
    night = JUNE_30 + timedelta(days=1)
    try:
        async with tampering(db, "journal_line") as conn:
            await conn.execute(
                journal_line.update()
                .where(journal_line.c.entry_id == 1)
                .values(amount_minor=journal_line.c.amount_minor * 2)
            )
        fake_slack.fail_next("chat.postMessage")
        with suppress(Exception):
            await run_on(db, clock, ports, night)
        clock.moment = at(night, 4)
        again = await run_job(db, clock, ports, "integrity", as_of=night)
        async with db.transaction() as tx:
            await tx.conn.execute(
                journal_line.update()
                .where(journal_line.c.entry_id == 1)
                .values(amount_minor=journal_line.c.amount_minor / 2)
            )
    finally:
        await reguard(db, "journal_line")

    assert again is not None and "INTEGRITY PROBLEMS" in again.summary
    [alert] = posted_to(fake_slack, ALERTS)
    assert "journal_line: the rows up to id 8 were 8" in text_of(alert)
