"""Keeping settled accounts for the period the hospital sets (AR-204): the ``retention``
job flags for deletion (AR-203) only accounts that owe nothing, hold nothing, are on no
plan and have been idle for ``ARBOT_RETENTION_YEARS``; nothing is ever deleted."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.customers import set_status, status_of
from core.db import Database
from core.errors import InvalidState, ValidationError
from core.ledger.accounts import Account
from core.ledger.tables import customer_status, journal_entry
from core.services.charges import post_charge
from core.services.memos import receive_prepayment
from core.services.payments import record_payment
from core.settings import Settings
from scheduler.ports import Ports
from scheduler.runner import run_job
from scheduler.settings import plan_job_settings
from tests.core.helpers import ADMIN, open_account, usd

AS_OF = date(2026, 6, 30)


async def charged(db: Database, account: Account, amount: str, on: date, key: str) -> None:
    await post_charge(db, ADMIN, account_id=account.id, amount=usd(amount), service_date=on,
                      key=key)  # fmt: skip


async def paid(db: Database, account: Account, amount: str, on: date, key: str) -> None:
    await record_payment(db, ADMIN, account_id=account.id, amount=usd(amount), received_on=on,
                         key=key, method="cash")  # fmt: skip


@pytest.fixture
async def accounts(db: Database, clock: FixedClock) -> dict[str, Account]:
    """Seven years before 30 June 2026 is 30 June 2019; each posting is made on its own
    day (the clock is set back), as it would have been."""
    clock.moment = datetime(2018, 2, 1, 9, tzinfo=UTC)
    made = {
        name: await open_account(db, name=name)
        for name in ("settled", "owing", "lately", "prepaid", "never charged")
    }
    for name in ("settled", "owing", "lately", "prepaid"):
        await charged(db, made[name], "100.00", date(2018, 3, 1), f"{name}-c")
    await paid(db, made["settled"], "100.00", date(2018, 4, 1), "settled-p")
    await paid(db, made["prepaid"], "100.00", date(2018, 4, 1), "prepaid-p")
    await receive_prepayment(db, ADMIN, account_id=made["prepaid"].id, amount=usd("50.00"),
                             on=date(2018, 5, 1), key="prepaid-h", method="cash")  # fmt: skip
    clock.moment = datetime(2020, 1, 15, 9, tzinfo=UTC)
    await paid(db, made["lately"], "100.00", date(2020, 1, 15), "lately-p")
    clock.moment = datetime(2026, 6, 30, 9, tzinfo=UTC)
    made["new"] = await open_account(db, name="new")
    return made


async def entries(db: Database) -> int:
    async with db.read() as conn:
        return len((await conn.execute(select(journal_entry.c.id))).all())


async def test_only_settled_idle_accounts_are_flagged_and_only_once(
    db: Database, clock: FixedClock, accounts: dict[str, Account]
) -> None:
    ports = Ports(retention_years=7)
    before = await entries(db)

    dry = await run_job(db, clock, ports, "retention", as_of=AS_OF, dry_run=True)
    report = await run_job(db, clock, ports, "retention", as_of=AS_OF)

    assert dry is not None and dry.summary == (
        "dry run: 2 accounts settled with no activity since 2019-06-30 would be flagged "
        "for deletion; nothing was flagged"
    )
    assert report is not None
    assert report.summary == (
        "2 accounts settled with no activity since 2019-06-30 flagged for deletion "
        "(7-year retention)"
    )
    assert report.lines == (
        f"{accounts['never charged'].number:<12} last activity 2018-02-01",
        f"{accounts['settled'].number:<12} last activity 2018-04-01",
    )
    async with db.read() as conn:
        statuses = {name: await status_of(conn, a.id) for name, a in accounts.items()}
        [reason] = (
            await conn.execute(
                select(customer_status.c.reason).where(
                    customer_status.c.account_id == accounts["settled"].id
                )
            )
        ).scalars()
    flagged = {name for name, status in statuses.items() if status == "flagged_for_deletion"}
    assert flagged == {"settled", "never charged"}
    assert reason == (
        "settled, no activity since 2018-04-01: the 7-year retention period is over (AR-204)"
    )
    assert await entries(db) == before  # the history is kept: nothing is posted or deleted
    again = await run_job(db, clock, ports, "retention", as_of=AS_OF, rerun=True)
    assert again is not None and again.summary.startswith("0 accounts")
    with pytest.raises(InvalidState, match="flagged for deletion: charges are refused"):
        await charged(db, accounts["settled"], "10.00", AS_OF, "after")


async def test_with_no_period_set_nothing_is_flagged(
    db: Database, clock: FixedClock, accounts: dict[str, Account]
) -> None:
    report = await run_job(db, clock, Ports(), "retention", as_of=AS_OF)

    assert report is not None
    assert report.summary == "retention is off (ARBOT_RETENTION_YEARS is 0): every account is kept"
    async with db.read() as conn:
        assert await status_of(conn, accounts["settled"].id) == "active"


async def test_an_account_still_owing_cannot_be_flagged_by_hand(
    db: Database, accounts: dict[str, Account]
) -> None:
    with pytest.raises(InvalidState, match="has items still open: settle its balance"):
        await set_status(db, ADMIN, account_id=accounts["owing"].id,
                         status="flagged_for_deletion", reason="closing", on=AS_OF)  # fmt: skip


@pytest.mark.parametrize("years", ["-1", "101"])
def test_a_period_out_of_range_stops_the_scheduler(years: str) -> None:
    with pytest.raises(ValidationError, match="ARBOT_RETENTION_YEARS must be 0"):
        plan_job_settings(Settings.from_env({"ARBOT_RETENTION_YEARS": years}))


async def flagged(db: Database, account: Account) -> bool:
    async with db.read() as conn:
        return await status_of(conn, account.id) == "flagged_for_deletion"


async def test_an_account_reactivated_is_not_flagged_again_the_next_night(
    db: Database, clock: FixedClock
) -> None:
    """Review finding: a status changed by hand is activity; before, the next run
    flagged the account again at once."""
    clock.moment = datetime(2018, 2, 1, 9, tzinfo=UTC)
    back = await open_account(db, name="back")
    clock.moment = datetime(2026, 6, 30, 9, tzinfo=UTC)
    await run_job(db, clock, Ports(retention_years=7), "retention", as_of=AS_OF)
    assert await flagged(db, back)
    await set_status(db, ADMIN, account_id=back.id, status="active", reason="patient is back",
                     on=AS_OF)  # fmt: skip

    clock.moment = datetime(2026, 7, 1, 4, 5, tzinfo=UTC)
    await run_job(db, clock, Ports(retention_years=7), "retention", as_of=date(2026, 7, 1))

    assert not await flagged(db, back)


async def test_a_guarantor_of_an_account_still_kept_and_a_late_posting_are_kept(
    db: Database, clock: FixedClock
) -> None:
    """Review findings: a guarantor whose dependant owes was flagged (and is who the
    dependant's reminders go to); an entry posted yesterday with a 2018 date counted as
    2018 activity."""
    clock.moment = datetime(2018, 2, 1, 9, tzinfo=UTC)
    parent = await open_account(db, name="parent")
    late = await open_account(db, name="late posting")
    clock.moment = datetime(2026, 6, 1, 9, tzinfo=UTC)
    child = await open_account(db, name="child", guarantor_id=parent.id)
    await charged(db, child, "500.00", date(2026, 6, 1), "child-c")
    clock.moment = datetime(2026, 6, 29, 9, tzinfo=UTC)
    await charged(db, late, "80.00", date(2018, 3, 1), "late-c")
    await paid(db, late, "80.00", date(2018, 3, 1), "late-p")
    clock.moment = datetime(2026, 6, 30, 9, tzinfo=UTC)

    report = await run_job(db, clock, Ports(retention_years=7), "retention", as_of=AS_OF)

    assert report is not None and report.summary.startswith("0 accounts")
    assert not await flagged(db, parent) and not await flagged(db, late)


async def test_an_account_holding_a_prepayment_or_on_a_plan_is_not_flagged_by_hand(
    db: Database, accounts: dict[str, Account]
) -> None:
    """Review finding: the guard looked at open items only."""
    with pytest.raises(InvalidState, match="holds a prepayment"):
        await set_status(db, ADMIN, account_id=accounts["prepaid"].id,
                         status="flagged_for_deletion", reason="duplicate", on=AS_OF)  # fmt: skip
