"""The nightly integrity check (AR-175): control totals of the ledger's append-only
tables compared night to night, the audit chain and the invariants; intact it says so,
broken it names each problem and alerts Slack (through the real Slack messenger to the
fake Slack)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import FixedClock
from core.db import Database
from core.integrity import control_total
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


async def unguard(conn: AsyncConnection, table: str) -> None:
    """What someone with database access does first: drop the refusing triggers."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"DROP TRIGGER {table}_immutable ON {table}"))
    else:
        for action in ("update", "delete"):
            await conn.execute(text(f"DROP TRIGGER {table}_no_{action}"))


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
    async with db.transaction() as tx:  # both sides of entry 1 changed: it still balances
        await unguard(tx.conn, "journal_line")
        await tx.conn.execute(
            journal_line.update()
            .where(journal_line.c.entry_id == 1)
            .values(amount_minor=journal_line.c.amount_minor * 2)
        )

    report = await run_on(db, clock, ports, JUNE_30 + timedelta(days=1))
    dry = await run_job(db, clock, ports, "integrity", as_of=JUNE_30 + timedelta(days=2),
                        dry_run=True)  # fmt: skip
    async with db.transaction() as tx:  # put it back, as the administrator would
        await tx.conn.execute(
            journal_line.update()
            .where(journal_line.c.entry_id == 1)
            .values(amount_minor=journal_line.c.amount_minor / 2)
        )

    assert report is not None
    assert "INTEGRITY PROBLEMS" in report.summary and report.summary.endswith(f"alerted {ALERTS}")
    changed = "journal_line: the rows up to id 8 were 8 totalling 66000; now 8 totalling 82000"
    assert changed + " (rows deleted or changed since the last control)" in report.lines
    [alert] = posted_to(fake_slack, ALERTS)
    shown = text_of(alert)
    assert shown.startswith(":rotating_light: *The books failed their nightly integrity check*")
    assert changed in shown
    assert "ledger (subledger) account 1 USD: A/R control" in shown
    # The night after, the books compare equal with what was recorded then (the change
    # is reported once); the invariant still fails, and is still reported.
    assert dry is not None and dry.summary.startswith("dry run (nothing recorded): 1 INTEGRITY")
