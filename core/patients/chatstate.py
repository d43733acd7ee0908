"""Where a patient's conversation stands, kept in the database (issue 5).

The conversation is written once for every channel, so its state is keyed by channel
and address (a Telegram chat id, an SMS number), not by anything Telegram-shaped: a
restart, or the next message landing on a second web process, carries on from the
same step. The state is small: the step's name, a few JSON values (the options last
offered, an amount being typed) and the language the patient chose.

Two messages from one chat can be handled at the same moment (a double tap, two web
processes). Saving is optimistic: each save names the version it started from, and the
one that finds the row moved on loses with :class:`StateMovedOn` (an ``InvalidState``); the
caller reloads and answers the newer state instead of overwriting it.

Every turn reads the state and the chat's identity lock-out together
(:func:`load_chat`, one statement) and may save the state inside a transaction of its
own making (:func:`save_state_in`), so that the replies' outbox claims commit with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database, Tx
from core.db.metadata import UtcDateTime, metadata
from core.errors import InvalidState, ValidationError
from core.patients.identity import chat_identity, locked_until
from core.profile.chats import chat_address

MAX_DATA_BYTES = 4096
STEP_LENGTH = 40
LOCALE_LENGTH = 10

chat_state = Table(
    "chat_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("address", String(64), nullable=False),
    Column("step", String(STEP_LENGTH), nullable=False),
    Column("data", Text, nullable=False, server_default="{}"),
    Column("locale", String(LOCALE_LENGTH)),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "address"),
)


@dataclass(frozen=True, slots=True)
class ChatState:
    """One conversation's place: ``version`` 0 is a chat never saved."""

    step: str = "start"
    data: Mapping[str, Any] = field(default_factory=dict)
    """Small JSON-able values (at most 4 KB encoded)."""
    locale: str | None = None
    """The language the patient chose ("en", "es"); None: the account's language."""
    version: int = 0


# Built once: every turn reads the chat and saves its state.
_THIS_CHAT = (
    chat_state.c.channel == bindparam("b_channel"),
    chat_state.c.address == bindparam("b_address"),
)
_LOAD = (
    select(
        chat_state.c.step,
        chat_state.c.data,
        chat_state.c.locale,
        chat_state.c.version,
        chat_identity.c.locked_until,
    )
    .select_from(
        chat_state.outerjoin(
            chat_identity,
            (chat_identity.c.channel == chat_state.c.channel)
            & (chat_identity.c.address == chat_state.c.address),
        )
    )
    .where(*_THIS_CHAT)
)
_MOVE = chat_state.update().where(*_THIS_CHAT, chat_state.c.version == bindparam("b_version"))
"""The SET takes its values from the parameters it is executed with."""

LOST_RACE = (
    "the conversation moved on; another message from this chat was answered first. "
    "Reload the state and answer again"
)


class StateMovedOn(InvalidState):
    """A save lost to another turn of the same chat: reload the state and answer again."""

    def __init__(self) -> None:
        super().__init__(LOST_RACE)


async def load_state(conn: AsyncConnection, channel: str, address: str) -> ChatState:
    """The chat's saved state, or a fresh one (step ``start``, version 0)."""
    normal = chat_address(channel, address)
    row = (
        await conn.execute(
            select(chat_state).where(
                chat_state.c.channel == channel, chat_state.c.address == normal
            )
        )
    ).first()
    if row is None:
        return ChatState()
    return ChatState(row.step, json.loads(row.data), row.locale, int(row.version))


async def load_chat(
    conn: AsyncConnection, channel: str, address: str
) -> tuple[ChatState, datetime | None]:
    """The chat's saved state and the end of its last identity lock-out (None: never
    locked; it may have passed), read together with one statement once the chat has a
    state (a second one for a chat's first message)."""
    normal = chat_address(channel, address)
    row = (await conn.execute(_LOAD, {"b_channel": channel, "b_address": normal})).first()
    if row is None:
        return ChatState(), await locked_until(conn, channel, normal)
    state = ChatState(row.step, json.loads(row.data), row.locale, int(row.version))
    return state, row.locked_until


def _encoded(state: ChatState) -> str:
    if not state.step.strip() or len(state.step) > STEP_LENGTH:
        raise ValidationError(f"a conversation step needs 1 to {STEP_LENGTH} characters")
    if state.locale is not None and not 0 < len(state.locale) <= LOCALE_LENGTH:
        raise ValidationError(f"{state.locale!r} is not a language tag (en, es, es-MX ...)")
    try:
        data = json.dumps(dict(state.data), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"the conversation data cannot be kept: {exc}") from exc
    if len(data.encode()) > MAX_DATA_BYTES:
        raise ValidationError(
            f"the conversation data is {len(data.encode())} bytes; keep it under "
            f"{MAX_DATA_BYTES} (ids and short values, not lists of records)"
        )
    return data


async def save_state(db: Database, channel: str, address: str, state: ChatState) -> ChatState:
    """Optimistic: writes only if the stored version is still ``state.version``; returns
    the new state (version + 1); raises ``InvalidState('the conversation moved on; ...')``
    on a lost race."""
    async with db.transaction() as tx:
        return await save_state_in(tx, channel, address, state)


async def save_state_in(tx: Tx, channel: str, address: str, state: ChatState) -> ChatState:
    """:func:`save_state` inside the caller's transaction; a lost race raises, and the
    caller's transaction is rolled back with whatever else it wrote."""
    normal = chat_address(channel, address)
    data = _encoded(state)
    values: dict[str, Any] = {
        "step": state.step,
        "data": data,
        "locale": state.locale,
        "version": state.version + 1,
        "updated_at": tx.db.clock.now(),
    }
    if state.version == 0:
        try:
            await tx.conn.execute(
                chat_state.insert().values(channel=channel, address=normal, **values)
            )
        except IntegrityError as exc:  # another message saved the chat's first state
            raise StateMovedOn() from exc
    else:
        moved = await tx.conn.execute(
            _MOVE,
            {"b_channel": channel, "b_address": normal, "b_version": state.version, **values},
        )
        if moved.rowcount != 1:
            raise StateMovedOn()
    return ChatState(state.step, json.loads(data), state.locale, state.version + 1)
