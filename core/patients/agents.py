"""Talk to a person: which staff thread a patient's chat is talking in.

A patient who asks for a person writes a message; it goes to the staff channel as a
new thread, and what the patient writes next goes into the same thread. A staff reply
in that thread goes back to the patient's chat. This table maps the two ways; it keeps
the chat address (needed to answer) but never the messages themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Column, Index, Integer, String, Table, select

from core.db import Database
from core.db.metadata import UtcDateTime, metadata
from core.profile.chats import chat_address

THREAD_LIFE = timedelta(days=7)
"""After a week of silence a new message starts a new thread."""

agent_thread = Table(
    "agent_thread",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("address", String(64), nullable=False),
    Column("staff_channel", String(40), nullable=False),
    Column("thread_ts", String(40), nullable=False, unique=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    Index("ix_agent_thread_chat", "channel", "address"),
)


@dataclass(frozen=True, slots=True)
class Thread:
    channel: str
    address: str
    staff_channel: str
    thread_ts: str


async def current_thread(db: Database, channel: str, address: str) -> Thread | None:
    """The chat's open thread, if it spoke in the last week."""
    normal = chat_address(channel, address)
    since = db.clock.now() - THREAD_LIFE
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(agent_thread)
                .where(
                    agent_thread.c.channel == channel,
                    agent_thread.c.address == normal,
                    agent_thread.c.last_at >= since,
                )
                .order_by(agent_thread.c.id.desc())
                .limit(1)
            )
        ).first()
    return None if row is None else Thread(channel, normal, row.staff_channel, row.thread_ts)


async def remember_thread(
    db: Database, channel: str, address: str, staff_channel: str, thread_ts: str
) -> None:
    """Record a new thread, or note that an existing one was used again."""
    normal = chat_address(channel, address)
    now = db.clock.now()
    async with db.transaction() as tx:
        touched = await tx.conn.execute(
            agent_thread.update().where(agent_thread.c.thread_ts == thread_ts).values(last_at=now)
        )
        if touched.rowcount == 0:
            await tx.conn.execute(
                agent_thread.insert().values(
                    channel=channel,
                    address=normal,
                    staff_channel=staff_channel,
                    thread_ts=thread_ts,
                    opened_at=now,
                    last_at=now,
                )
            )


async def chat_of_thread(db: Database, thread_ts: str) -> Thread | None:
    """Where a staff reply in ``thread_ts`` should go, if it is a patient's thread."""
    async with db.read() as conn:
        row = (
            await conn.execute(select(agent_thread).where(agent_thread.c.thread_ts == thread_ts))
        ).first()
    return None if row is None else Thread(row.channel, row.address, row.staff_channel, thread_ts)
