"""The dunning history: each level is decided once, a second run plans nothing, what
cannot be sent today is decided again tomorrow, and each notice is sent once (issue 6
"Exactly once"; AR-029, AR-108)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from core.customers import status_of
from core.db import Database
from core.dunning import (
    DunningLevel,
    DunningRule,
    Limits,
    OpenLocations,
    claim_notice,
    finish_notice,
    notice_counts,
    plan_dunning,
    queue_dunning,
)
from core.dunning.tables import dunning_notice
from core.services.payments import record_payment
from tests.core.dunning_helpers import AS_OF, owes, patient
from tests.core.helpers import ADMIN, usd

EVERYWHERE = OpenLocations(frozenset(), frozenset(), default_open=True)


async def notices(db: Database) -> list:  # type: ignore[type-arg]
    async with db.read() as conn:
        return list(
            (await conn.execute(select(dunning_notice).order_by(dunning_notice.c.id))).all()
        )


async def planned(db: Database, day=AS_OF) -> list[str]:  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return [m.account_number for m in await plan_dunning(conn, day)]


async def test_a_day_is_queued_once_and_a_second_run_plans_nothing(db: Database) -> None:
    reminded = await patient(db, "Reminded")
    await owes(db, reminded, "45.00", 20)
    flagged = await patient(db, "Flagged")
    await owes(db, flagged, "900.00", 100)

    first = await queue_dunning(db, AS_OF)

    # Seen first at 100 days: a final notice, not yet collections (no notice went out).
    assert (first.by_channel, first.collections, first.expired) == ({"telegram": 2}, 0, 0)
    assert await planned(db) == []
    again = await queue_dunning(db, AS_OF)
    assert (again.messages, again.collections) == (0, 0)
    rows = sorted(await notices(db), key=lambda r: -r.level)
    assert [(r.account_id, r.level, r.status) for r in rows] == [
        (flagged.id, 5, "queued"),
        (reminded.id, 2, "queued"),
    ]
    message = rows[1]
    assert message.dedupe_key == f"dunning:{reminded.id}:default:2:2026-06-30"
    assert (message.channel, message.verified, message.amount_minor) == ("telegram", True, 4500)
    async with db.read() as conn:
        assert await status_of(conn, flagged.id) == "active"
    # The next days: the same level for the same oldest item is not decided again.
    assert await planned(db, AS_OF + timedelta(days=1)) == []


async def test_the_next_level_waits_for_its_day_and_the_gap(db: Database) -> None:
    rule = DunningRule(
        "r",
        "Weekly",
        (DunningLevel(1, 29, "reminder"), DunningLevel(2, 31, "reminder")),
        min_gap_days=7,
    )
    account = await patient(db)
    await owes(db, account, "45.00", 29)
    assert (await queue_dunning(db, AS_OF, rules=[rule])).messages == 1

    async with db.read() as conn:
        two_days_on = await plan_dunning(conn, AS_OF + timedelta(days=2), [rule])
        six_days_on = await plan_dunning(conn, AS_OF + timedelta(days=6), [rule])
        a_week_on = await plan_dunning(conn, AS_OF + timedelta(days=7), [rule])
    assert two_days_on == [] and six_days_on == []  # level 2 is due, but within 7 days
    assert [(m.account_id, m.level) for m in a_week_on] == [(account.id, 2)]


async def test_a_new_debt_after_the_old_one_is_paid_starts_again(db: Database) -> None:
    account = await patient(db)
    await owes(db, account, "45.00", 20)
    await queue_dunning(db, AS_OF)
    later = AS_OF + timedelta(days=60)
    await record_payment(
        db, ADMIN, account_id=account.id, amount=usd("45.00"), received_on=AS_OF,
        key="paid-off", method="cash",
    )  # fmt: skip
    await owes(db, account, "30.00", 16, as_of=later)

    async with db.read() as conn:
        [message] = await plan_dunning(conn, later)
    assert (message.level, message.amount_due) == (2, usd("30.00"))
    assert message.anchor_due == later - timedelta(days=16)


async def test_no_more_is_queued_than_can_be_sent_and_the_rest_goes_tomorrow(
    db: Database,
) -> None:
    accounts = [await patient(db, f"P{i}") for i in range(3)]
    for days, account in zip((20, 50, 35), accounts, strict=True):
        await owes(db, account, "45.00", days)
    elsewhere = await patient(db, "Elsewhere", location="west")
    await owes(db, elsewhere, "45.00", 20)
    west_closed = OpenLocations(frozenset(), frozenset({"west"}), default_open=True)

    limits = Limits(caps={"telegram": 2}, open_at=west_closed)
    today = await queue_dunning(db, AS_OF, limits=limits)

    assert today.messages == 2
    assert sorted((r.account_id, r.level) for r in await notices(db)) == [
        (accounts[1].id, 4),  # the highest levels go first
        (accounts[2].id, 3),
    ]
    tomorrow = AS_OF + timedelta(days=1)
    async with db.read() as conn:
        left = {m.account_id for m in await plan_dunning(conn, tomorrow)}
    assert left == {accounts[0].id, elsewhere.id}

    # Unsent by the end of the day: expired, and decided afresh the next day.
    next_day = await queue_dunning(db, tomorrow, limits=Limits(open_at=EVERYWHERE))
    assert (next_day.expired, next_day.messages) == (2, 4)
    async with db.read() as conn:
        assert await notice_counts(conn, AS_OF) == {"expired": 2}
        assert await notice_counts(conn, tomorrow) == {"queued": 4}
    keys = {r.dedupe_key for r in await notices(db) if r.status == "queued"}
    assert f"dunning:{accounts[1].id}:default:4:2026-07-01" in keys


async def test_per_location_caps(db: Database) -> None:
    north = [await patient(db, f"N{i}", location="north") for i in range(2)]
    south = await patient(db, "S", location="south")
    for account in (*north, south):
        await owes(db, account, "45.00", 20)

    caps = {("north", "telegram"): 1, ("south", "telegram"): 5}
    done = await queue_dunning(db, AS_OF, limits=Limits(location_caps=caps))

    assert done.messages == 2
    assert {r.location for r in await notices(db)} == {"north", "south"}


async def test_each_notice_is_claimed_by_one_sender(db: Database) -> None:
    account = await patient(db)
    await owes(db, account, "45.00", 20)
    await queue_dunning(db, AS_OF)
    [notice] = await notices(db)
    other = Database(db.url, clock=db.clock)
    try:
        claims = await asyncio.gather(*(claim_notice(d, notice.id) for d in [db, other] * 3))
    finally:
        await other.dispose()
    assert claims.count(True) == 1
    await finish_notice(db, notice.id, "sent")
    assert not await claim_notice(db, notice.id)
    [row] = await notices(db)
    assert (row.status, row.finished_at) == ("sent", db.clock.now())


async def test_two_processes_queueing_the_same_day_decide_each_level_once(
    db: Database,
) -> None:
    for i in range(4):
        account = await patient(db, f"P{i}")
        await owes(db, account, "45.00", 20 + 10 * i)
    other = Database(db.url, clock=db.clock)
    try:
        results = await asyncio.gather(queue_dunning(db, AS_OF), queue_dunning(other, AS_OF))
    finally:
        await other.dispose()
    assert sum(r.messages for r in results) == 4
    assert len(await notices(db)) == 4
