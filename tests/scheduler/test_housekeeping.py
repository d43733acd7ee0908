"""Small-balance write-offs within each payer's tolerance (AR-055) and the month-end ATB
snapshot (AR-150) by the office's aging rule (AR-194), each run claimed once."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from core.approvals import Status, approve
from core.clock import FixedClock
from core.db import Database
from core.ledger.aging import AgingRule, AtbQuery, Basis, aged_trial_balance
from core.ledger.tables import journal_entry
from core.services.adjustments import dispute_item
from core.services.payments import record_payment
from core.snapshots import snapshot_of
from scheduler.housekeeping import month_end
from scheduler.runner import run_job
from tests.core.dunning_helpers import AS_OF, item_of, owes, patient
from tests.core.helpers import ADMIN, SUPERVISOR, balance_of, usd
from tests.core.test_approvals import ON, ask, load_request_of, owing
from tests.scheduler.conftest import FakeMessenger, ports_for


async def pay(db: Database, account_id: int, amount: str, key: str, on: date = AS_OF) -> None:
    await record_payment(
        db, ADMIN, account_id=account_id, amount=usd(amount), received_on=on, key=key,
        method="cash",
    )  # fmt: skip


async def test_small_balances_within_each_payers_tolerance_are_written_off_once(
    db: Database, messenger: FakeMessenger
) -> None:
    short_paid = await patient(db, "Short")
    await owes(db, short_paid, "50.00", 40)
    await pay(db, short_paid.id, "49.50", "p1")
    too_much_left = await patient(db, "TooMuch")
    await owes(db, too_much_left, "50.00", 40)
    await pay(db, too_much_left.id, "45.00", "p2")
    recent = await patient(db, "Recent")
    await owes(db, recent, "0.80", 10)
    insurer = await patient(db, "Insured")
    await owes(db, insurer, "3.00", 60, payer="acme")
    await owes(db, insurer, "2.00", 60, payer="zeta")  # no tolerance for zeta
    disputed = await patient(db, "Disputed")
    entry = await owes(db, disputed, "0.40", 60)
    await dispute_item(
        db, ADMIN, item_id=item_of(entry), disputed=True, on=AS_OF, reason="says paid"
    )
    with_credit = await patient(db, "Credit")
    await pay(db, with_credit.id, "20.00", "p3", AS_OF - timedelta(days=90))
    await owes(db, with_credit, "0.30", 40)
    ports = ports_for(db, messenger, small_balances={"self": 100, "acme": 500})

    dry = await run_job(db, db.clock, ports, "small-balances", as_of=AS_OF, dry_run=True)
    assert dry is not None and dry.summary == "dry run: 2 small balances would be written off"
    report = await run_job(db, db.clock, ports, "small-balances", as_of=AS_OF)

    assert report is not None
    assert report.summary == "2 small balances written off (2 entries)"
    assert [line.split() for line in report.lines] == [
        [short_paid.number, "self", "0.50"],
        [insurer.number, "acme", "3.00"],
    ]
    assert await balance_of(db, short_paid.id) == usd("0.00")
    assert await balance_of(db, insurer.id) == usd("2.00")  # zeta's 2.00 stays
    assert await balance_of(db, too_much_left.id) == usd("5.00")
    assert await balance_of(db, recent.id) == usd("0.80")
    assert await balance_of(db, disputed.id) == usd("0.40")
    async with db.read() as conn:
        kinds = (
            await conn.execute(
                select(journal_entry.c.entry_type, journal_entry.c.reason_code).where(
                    journal_entry.c.entry_type == "WO_SMALL"
                )
            )
        ).all()
    assert kinds == [("WO_SMALL", "SMALL_BALANCE")] * 2
    # The next day there is nothing left to write off; by hand again, nothing twice.
    tomorrow = AS_OF + timedelta(days=1)
    again = await run_job(db, db.clock, ports, "small-balances", as_of=tomorrow)
    assert again is not None and again.summary == "0 small balances written off (0 entries)"
    rerun = await run_job(db, db.clock, ports, "small-balances", as_of=AS_OF, rerun=True)
    assert rerun is not None and rerun.summary.startswith("0 small balances")


def test_the_snapshot_is_of_the_last_month_that_has_ended() -> None:
    """The job runs in the small hours: on the last day of a month that month has not
    ended yet (its postings are still to come), so it keeps the month before."""
    assert month_end(date(2026, 7, 15)) == date(2026, 6, 30)
    assert month_end(date(2026, 6, 30)) == date(2026, 5, 31)
    assert month_end(date(2026, 7, 1)) == date(2026, 6, 30)
    assert month_end(date(2026, 3, 1)) == date(2026, 2, 28)
    assert month_end(date(2026, 1, 31)) == date(2025, 12, 31)


async def test_the_month_end_atb_is_kept_once_as_it_was(
    db: Database, messenger: FakeMessenger
) -> None:
    north = await patient(db, "North", location="north")
    await owes(db, north, "100.00", 10)
    main = await patient(db, "Main", financial_class="commercial")
    await owes(db, main, "250.00", 70)
    ports = ports_for(db, messenger)
    mid_july = date(2026, 7, 15)

    report = await run_job(db, db.clock, ports, "atb-snapshot", as_of=mid_july)

    assert report is not None
    assert report.summary == "ATB as of 2026-06-30 kept: 350.00 on 2 accounts"
    async with db.read() as conn:
        kept = await snapshot_of(conn, AS_OF, "USD")
        live = await aged_trial_balance(conn, AtbQuery(AS_OF, "USD"))
    assert kept is not None
    assert [(b.label, b.amount_minor, b.accounts) for b in kept.buckets] == [
        (b.label, b.amount_minor, b.accounts) for b in live.buckets
    ]
    assert {key: sum(b.amount_minor for b in buckets) for key, buckets in kept.groups.items()} == {
        ("location", "main"): 25_000,
        ("location", "north"): 10_000,
        ("financial_class", "commercial"): 25_000,
        ("financial_class", "self_pay"): 10_000,
    }
    # A payment back-dated into June changes the live ATB, not what was kept.
    await pay(db, main.id, "250.00", "late", AS_OF - timedelta(days=1))
    assert await run_job(db, db.clock, ports, "atb-snapshot", as_of=mid_july) is None
    again = await run_job(db, db.clock, ports, "atb-snapshot", as_of=mid_july, rerun=True)
    assert again is not None and again.summary == report.summary
    async with db.read() as conn:
        live = await aged_trial_balance(conn, AtbQuery(AS_OF, "USD"))
    assert live.total_minor == 10_000 and kept.total_minor == 35_000


async def test_the_month_end_atb_ages_by_the_offices_rule(
    db: Database, messenger: FakeMessenger
) -> None:
    """AR-194: an office aging by due date in 0-30, 31-60, over 60, disputed items
    current, keeps its month-end ATB that way and says so with it."""
    north = await patient(db, "North", location="north")
    await owes(db, north, "100.00", 10)  # due 10 days before month-end, served 40
    main = await patient(db, "Main")
    entry = await owes(db, main, "250.00", 70)
    await dispute_item(db, ADMIN, item_id=item_of(entry), disputed=True, on=AS_OF,
                       reason="says paid")  # fmt: skip
    rule = AgingRule(Basis.DUE, (30, 60), disputed_current=True)
    ports = ports_for(db, messenger, aging=rule)

    await run_job(db, db.clock, ports, "atb-snapshot", as_of=date(2026, 7, 15))

    async with db.read() as conn:
        kept = await snapshot_of(conn, AS_OF, "USD", Basis.DUE)
        by_service = await aged_trial_balance(conn, AtbQuery(AS_OF, "USD", bounds=(30, 60)))
    assert kept is not None
    assert (kept.basis, kept.bounds, kept.disputed_current) == (Basis.DUE, (30, 60), True)
    assert [(b.label, b.amount_minor, b.accounts) for b in kept.buckets] == [
        ("0-30", 35_000, 2),
        ("31-60", 0, 0),
        ("over 60", 0, 0),
    ]
    assert [b.amount_minor for b in by_service.buckets] == [0, 10_000, 25_000]


async def test_requests_nobody_decided_expire_after_the_configured_days(
    db: Database, messenger: FakeMessenger, clock: FixedClock
) -> None:
    """``approvals-expiry`` (AR-088): a dry run lists, a run expires, younger requests
    and decided ones stay as they are; 0 days turns it off."""
    account = await owing(db, "100")
    old = await ask(db, account, "10", key="old")
    decided = await ask(db, account, "10", key="decided")
    await approve(db, SUPERVISOR, decided.id, on=ON)
    clock.advance(days=10)
    young = await ask(db, account, "10", key="young")
    clock.advance(days=5)
    ports = ports_for(db, messenger, approval_expiry_days=14)

    off = await run_job(db, clock, ports_for(db, messenger, approval_expiry_days=0),
                        "approvals-expiry", dry_run=True)  # fmt: skip
    assert off is not None and off.summary.startswith("requests never expire")
    dry = await run_job(db, clock, ports, "approvals-expiry", dry_run=True)
    assert dry is not None and dry.lines == (f"request {old.id}",)
    assert (await load_request_of(db, old.id)).status is Status.PENDING
    report = await run_job(db, clock, ports, "approvals-expiry")

    assert report is not None and report.summary == "1 requests pending over 14 days expired"
    assert (await load_request_of(db, old.id)).status is Status.EXPIRED
    assert (await load_request_of(db, young.id)).status is Status.PENDING
    assert (await load_request_of(db, decided.id)).status is Status.APPROVED
