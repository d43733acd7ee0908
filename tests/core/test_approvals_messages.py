"""The slot of an approval request's one channel message (AR-088): claimed before the
post so it goes out once; given back when the post fails or the poster died."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.approvals import (
    Claim,
    approve,
    claim_message,
    reject,
    release_message,
    set_message,
    unsent,
)
from core.clock import FixedClock
from core.db import Database
from tests.core.helpers import SUPERVISOR
from tests.core.test_approvals import ON, ask, load_request_of, owing


async def test_one_claim_of_many_at_once_wins(db: Database) -> None:
    request = await ask(db, await owing(db, "100"), "10")
    won = await asyncio.gather(*(claim_message(db, request.id, "C0A") for _ in range(4)))
    assert sorted(c is not None for c in won) == [False, False, False, True]
    found = await load_request_of(db, request.id)
    assert (found.message_state, found.message_channel) == ("posting", "C0A")
    assert await unsent(db) == []  # being posted: nobody else takes it


async def test_a_failed_post_gives_the_slot_back_for_its_channel(db: Database) -> None:
    request = await ask(db, await owing(db, "100"), "10")
    assert await claim_message(db, request.id, "C0A") == Claim(earlier=None)
    first_try = db.clock.now()
    await release_message(db, request.id)
    assert await unsent(db, before=request.requested_at) == []
    [left] = await unsent(db, before=request.requested_at + timedelta(seconds=1))
    assert (left.id, left.message_state, left.message_channel) == (request.id, "none", "C0A")
    # The failed post may have reached Slack all the same: the next poster is told when.
    assert await claim_message(db, request.id, "C0A") == Claim(earlier=first_try)
    await set_message(db, request.id, "C0A", "1719756000.000100")
    found = await load_request_of(db, request.id)
    assert (found.message_state, found.message_ts) == ("posted", "1719756000.000100")
    assert not await claim_message(db, request.id, "C0A")
    await release_message(db, request.id)  # too late: posted stays posted
    assert (await load_request_of(db, request.id)).message_state == "posted"
    assert await unsent(db) == []


async def test_a_claim_left_by_a_dead_poster_expires(db: Database, clock: FixedClock) -> None:
    request = await ask(db, await owing(db, "100"), "10")
    assert await claim_message(db, request.id, "C0A")
    dead = clock.now()
    clock.advance(seconds=119)
    assert not await claim_message(db, request.id, "C0A") and await unsent(db) == []
    clock.advance(seconds=2)
    assert [r.id for r in await unsent(db)] == [request.id]  # made before now
    assert await claim_message(db, request.id, "C0A") == Claim(earlier=dead)


async def test_decided_requests_are_not_posted(db: Database) -> None:
    account = await owing(db, "100")
    approved = await ask(db, account, "10", key="a")
    rejected = await ask(db, account, "10", key="b")
    await approve(db, SUPERVISOR, approved.id, on=ON)
    await reject(db, SUPERVISOR, rejected.id, reason="no")
    assert await unsent(db) == []
    assert not await claim_message(db, approved.id, "C0A")
    assert not await claim_message(db, rejected.id, "C0A")
