"""Inbound events are handled once: a redelivered Telegram update, Twilio message or
Stripe event finds the first claim; a crashed handler's claim is taken over after five
minutes (issue 5, "Each inbound event is handled once")."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from core.clock import FixedClock
from core.db import Database
from core.errors import ValidationError
from core.patients.inbox import (
    claim_event,
    finish_event,
    inbound_event,
    release_event,
)


async def rows(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(inbound_event))).scalar())


async def test_an_event_is_claimed_once(db: Database, clock: FixedClock) -> None:
    assert await claim_event(db, "telegram", "1001") is True
    assert await claim_event(db, "telegram", "1001") is False
    await finish_event(db, "telegram", "1001")
    clock.advance(days=2)  # a finished event stays handled, however late the retry
    assert await claim_event(db, "telegram", "1001") is False
    assert await rows(db) == 1


async def test_sources_do_not_share_ids(db: Database) -> None:
    assert await claim_event(db, "telegram", "evt_1")
    assert await claim_event(db, "stripe", "evt_1")
    assert await claim_event(db, "sms", "evt_1")
    assert not await claim_event(db, "stripe", "evt_1")


async def test_a_crashed_handlers_claim_is_taken_over_after_five_minutes(
    db: Database, clock: FixedClock
) -> None:
    assert await claim_event(db, "sms", "SM123")
    clock.advance(minutes=4, seconds=59)
    assert not await claim_event(db, "sms", "SM123")  # the first handler may still be at it
    clock.advance(seconds=1)
    assert await claim_event(db, "sms", "SM123")
    # The takeover is a fresh claim: the next retry waits another five minutes.
    clock.advance(minutes=4)
    assert not await claim_event(db, "sms", "SM123")
    await finish_event(db, "sms", "SM123")
    clock.advance(minutes=10)
    assert not await claim_event(db, "sms", "SM123")


async def test_simultaneous_claims_one_wins(db: Database) -> None:
    results = await asyncio.gather(*(claim_event(db, "stripe", "evt_race") for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await rows(db) == 1


async def test_simultaneous_takeovers_of_a_stale_claim_one_wins(
    db: Database, clock: FixedClock
) -> None:
    assert await claim_event(db, "telegram", "77")
    clock.advance(minutes=6)
    other = Database(db.url, clock=clock)  # a second web process on the same database
    try:
        results = await asyncio.gather(
            *(claim_event(d, "telegram", "77") for d in (db, other, db, other, db, other))
        )
    finally:
        await other.dispose()
    assert results.count(True) == 1


async def test_two_processes_claim_the_same_new_event_once(
    db: Database, clock: FixedClock
) -> None:
    other = Database(db.url, clock=clock)
    try:
        results = await asyncio.gather(
            *(claim_event(d, "sms", f"SM{n % 3}") for n in range(12) for d in (db, other))
        )
    finally:
        await other.dispose()
    assert results.count(True) == 3
    assert await rows(db) == 3


async def test_a_released_claim_is_claimed_again_at_once(db: Database) -> None:
    assert await claim_event(db, "stripe", "evt_fail")
    await release_event(db, "stripe", "evt_fail")  # the handler failed; Stripe will retry
    assert await claim_event(db, "stripe", "evt_fail")
    await finish_event(db, "stripe", "evt_fail")
    await release_event(db, "stripe", "evt_fail")  # too late: it was handled
    assert not await claim_event(db, "stripe", "evt_fail")


async def test_bad_ids_are_refused_and_nothing_is_written(db: Database) -> None:
    with pytest.raises(ValidationError, match="1 to 120 characters, not 0"):
        await claim_event(db, "telegram", "  ")
    with pytest.raises(ValidationError, match="1 to 120 characters, not 121"):
        await claim_event(db, "stripe", "e" * 121)
    with pytest.raises(ValidationError, match="not an event source"):
        await claim_event(db, "", "1")
    with pytest.raises(ValidationError, match="not an event source"):
        await finish_event(db, "x" * 21, "1")
    assert await rows(db) == 0
