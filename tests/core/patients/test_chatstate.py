"""Conversation state lives in the database (issue 5): a restart or a second web
process carries on from the same step, and of two answers to the same step only one
is kept."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.errors import InvalidState, ValidationError
from core.patients.chatstate import ChatState, chat_state, load_state, save_state

PHONE = "+15551234567"


async def load(db: Database, channel: str = "sms", address: str = PHONE) -> ChatState:
    async with db.read() as conn:
        return await load_state(conn, channel, address)


async def test_a_new_chat_starts_at_the_start(db: Database) -> None:
    assert await load(db) == ChatState("start", {}, None, 0)


async def test_a_saved_state_is_loaded_back(db: Database) -> None:
    saved = await save_state(
        db, "sms", "+1 (555) 123-4567", ChatState("ask_birth_date", {"accounts": [3, 4]}, "es")
    )
    assert saved == ChatState("ask_birth_date", {"accounts": [3, 4]}, "es", 1)
    assert await load(db) == saved
    moved = await save_state(db, "sms", PHONE, ChatState("menu", {"n": "dos"}, "es", 1))
    assert moved.version == 2
    assert await load(db) == ChatState("menu", {"n": "dos"}, "es", 2)
    assert await load(db, "telegram", "4242") == ChatState()  # another chat, its own state


async def test_a_stale_save_loses_and_changes_nothing(db: Database) -> None:
    first = await save_state(db, "telegram", "4242", ChatState("menu"))
    await save_state(db, "telegram", "4242", ChatState("pay_amount", {"max": 1500}, None, 1))
    with pytest.raises(InvalidState, match="the conversation moved on"):
        await save_state(db, "telegram", "4242", ChatState("balance", {}, None, first.version))
    with pytest.raises(InvalidState, match="the conversation moved on"):
        await save_state(db, "telegram", "4242", ChatState("balance"))  # "new" again
    assert await load(db, "telegram", "4242") == ChatState("pay_amount", {"max": 1500}, None, 2)


async def test_two_answers_at_once_only_one_is_kept(db: Database) -> None:
    base = await save_state(db, "sms", PHONE, ChatState("menu"))
    other = Database(db.url, clock=db.clock)
    try:
        outcomes = await asyncio.gather(
            *(
                save_state(d, "sms", PHONE, ChatState(f"step{n}", {}, None, base.version))
                for n, d in enumerate((db, other, db, other))
            ),
            return_exceptions=True,
        )
        firsts = await asyncio.gather(
            *(
                save_state(d, "telegram", "99", ChatState(f"first{n}"))
                for n, d in enumerate((db, other, db, other))
            ),
            return_exceptions=True,
        )
    finally:
        await other.dispose()
    for results, channel, address in ((outcomes, "sms", PHONE), (firsts, "telegram", "99")):
        [kept] = [r for r in results if isinstance(r, ChatState)]
        assert all(isinstance(r, InvalidState) for r in results if r is not kept)
        assert await load(db, channel, address) == kept


async def test_a_second_process_continues_the_conversation(db: Database) -> None:
    """Two Database objects on one database: two web processes, or one restarted."""
    second = Database(db.url, clock=db.clock)
    try:
        state = await save_state(db, "sms", PHONE, ChatState("ask_birth_date", {"tries": 1}))
        async with second.read() as conn:
            there = await load_state(conn, "sms", PHONE)
        assert there == state
        after = await save_state(second, "sms", PHONE, ChatState("menu", {}, "en", there.version))
        assert await load(db) == after and after.version == 2
    finally:
        await second.dispose()


async def test_oversized_or_odd_state_is_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match="keep it under 4096"):
        await save_state(db, "sms", PHONE, ChatState("menu", {"lines": "x" * 4100}))
    with pytest.raises(ValidationError, match="cannot be kept"):
        await save_state(db, "sms", PHONE, ChatState("menu", {"on": date(2026, 1, 1)}))
    with pytest.raises(ValidationError, match="1 to 40 characters"):
        await save_state(db, "sms", PHONE, ChatState("s" * 41))
    with pytest.raises(ValidationError, match="not a Telegram chat id"):
        await save_state(db, "telegram", "@ana", ChatState("menu"))
    # Just under the limit is fine, counted in bytes (ñ is two).
    big = await save_state(db, "sms", PHONE, ChatState("menu", {"t": "ñ" * 2040}))
    assert big.version == 1
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(chat_state))).scalar() == 1
