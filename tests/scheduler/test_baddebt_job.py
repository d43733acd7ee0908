"""Bad debt by rule (AR-060, AR-062) and the write-off audit listing (AR-061): only an
account old enough, owing enough, with dunning finished (in collections long enough)
and nothing disputed is written off to bad debt, once, and marked so; the listing shows
it beside staff write-offs with who asked, who approved, the reason and the amount."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.approvals import approve, request_write_off
from core.auth import Actor, StaffRole
from core.baddebt import BadDebtRule
from core.clock import FixedClock
from core.customers import set_status, status_of
from core.db import Database
from core.errors import PermissionDenied
from core.ledger.accounts import Account
from core.ledger.items import balance
from core.reports.writeoffs import BY_RULE, write_off_listing
from core.services.adjustments import dispute_item
from core.services.writeoffs import write_off
from scheduler.baddebt import bad_debt_job
from scheduler.runner import run_job
from tests.core.dunning_helpers import AS_OF, item_of, owes, patient
from tests.core.helpers import ADMIN, CLERK, SUPERVISOR, usd
from tests.scheduler.conftest import FakeMessenger, ports_for
from tests.scheduler.plan_helpers import entry_count, run_on

RULE = BadDebtRule(days_past_due=180, min_balance_minor=1000, after_collections_days=30)
BILLER = Actor("staff", "10", "Bea Biller", StaffRole.BILLER)


async def in_collections(db: Database, account: Account, days_ago: int) -> None:
    await set_status(
        db,
        ADMIN,
        account_id=account.id,
        status="in_collections",
        reason="dunning: collections",
        on=AS_OF - timedelta(days=days_ago),
    )


async def test_only_accounts_meeting_the_rule_go_to_bad_debt_once(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")  # meets the rule
    await owes(db, ana, "250.00", 200)
    await in_collections(db, ana, 40)
    ben = await patient(db, "Ben")  # never went to collections: dunning not finished
    await owes(db, ben, "250.00", 200)
    cleo = await patient(db, "Cleo")  # in collections only 10 days
    await owes(db, cleo, "250.00", 200)
    await in_collections(db, cleo, 10)
    dan = await patient(db, "Dan")  # one of his charges is disputed
    await owes(db, dan, "100.00", 200)
    disputed = await owes(db, dan, "150.00", 190)
    await dispute_item(
        db, ADMIN, item_id=item_of(disputed), disputed=True, on=AS_OF, reason="not mine"
    )
    await in_collections(db, dan, 40)
    eve = await patient(db, "Eve")  # owes less than the rule's 10.00
    await owes(db, eve, "5.00", 200)
    await in_collections(db, eve, 40)
    fay = await patient(db, "Fay")  # not old enough
    await owes(db, fay, "250.00", 100)
    await in_collections(db, fay, 40)
    ports = ports_for(db, messenger, bad_debt=RULE)
    before = await entry_count(db, "bad_debt")

    dry = await bad_debt_job(db, clock, ports, AS_OF, True)
    assert dry.summary.startswith("dry run for 2026-06-30: 1 accounts would go to bad debt")
    assert [line.split()[0] for line in dry.lines] == [ana.number]
    assert await entry_count(db, "bad_debt") == before

    report = await run_on(db, clock, ports, "bad-debt", AS_OF)

    assert report is not None and report.summary == "1 accounts moved to bad debt (250.00)"
    async with db.read() as conn:
        assert await balance(conn, ana.id) == 0
        assert await status_of(conn, ana.id) == "bad_debt"  # marked in A/R views (AR-062)
        for other in (ben, cleo, dan, eve, fay):
            assert await balance(conn, other.id) > 0
    assert await entry_count(db, "bad_debt") == before + 1
    # A re-run by hand, and the next day's run, post nothing more.
    await run_job(db, clock, ports, "bad-debt", as_of=AS_OF, rerun=True)
    await run_on(db, clock, ports, "bad-debt", AS_OF + timedelta(days=1))
    assert await entry_count(db, "bad_debt") == before + 1


async def test_without_the_collections_condition_age_and_amount_decide(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "250.00", 200)
    rule = BadDebtRule(days_past_due=180, min_balance_minor=1000, after_collections_days=None)

    report = await run_on(db, clock, ports_for(db, messenger, bad_debt=rule), "bad-debt", AS_OF)

    assert report is not None and report.summary.startswith("1 accounts moved")
    off = await bad_debt_job(db, clock, ports_for(db, messenger), AS_OF, False)
    assert off.summary == "bad debt by rule is off (ARBOT_BAD_DEBT_DAYS is not set)"


async def test_the_write_off_listing_shows_who_asked_who_approved_why_and_how_much(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "250.00", 200)
    await in_collections(db, ana, 40)
    ben = await patient(db, "Ben")
    await owes(db, ben, "30.00", 10)
    cleo = await patient(db, "Cleo")
    await owes(db, cleo, "20.00", 10)
    await write_off(
        db,
        SUPERVISOR,
        account_id=ben.id,
        key="wo-ben",
        on=AS_OF,
        reason="ADMIN",
        note="goodwill",
        amount=usd("10.00"),
    )
    request = await request_write_off(
        db,
        BILLER,
        account_id=cleo.id,
        amount=usd("20.00"),
        reason="CHARITY",
        note="hardship form",
        key="wo-cleo",
    )
    await approve(db, SUPERVISOR, request.id, on=AS_OF)
    await run_on(db, clock, ports_for(db, messenger, bad_debt=RULE), "bad-debt", AS_OF)

    async with db.read() as conn:
        lines = await write_off_listing(conn, ADMIN, AS_OF, AS_OF)
        with pytest.raises(PermissionDenied):
            await write_off_listing(conn, CLERK, AS_OF, AS_OF)

    shown = {
        (w.account_number, w.kind, w.reason, str(w.amount), w.requested_by, w.approved_by)
        for w in lines
    }
    assert shown == {
        (ben.number, "write_off", "ADMIN", "10.00", SUPERVISOR.label, SUPERVISOR.label),
        (cleo.number, "write_off", "CHARITY", "20.00", BILLER.name, SUPERVISOR.name),
        (ana.number, "bad_debt", "UNCOLLECTIBLE", "250.00", "system:bad-debt", BY_RULE),
    }
    assert all(not w.reversed for w in lines)
    [transfer] = [w for w in lines if w.kind == "bad_debt"]
    assert transfer.entry_type == "WO_BAD_DEBT" and "AR-060" in transfer.memo
