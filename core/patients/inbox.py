"""Inbound events, each handled once: Telegram updates, Twilio messages, Stripe events.

The providers deliver at least once: Telegram re-sends an update its webhook did not
acknowledge, Twilio and Stripe retry on a timeout. Before a handler acts on an event it
claims the event's id here; a duplicate finds the claim and does nothing. A claim that
never finished and is older than :data:`STALE_AFTER` belonged to a handler that crashed
(or a process that was stopped mid-way): the next delivery takes it over, so a crash
does not lose the event for good. Ids are the provider's own: Telegram's ``update_id``,
Twilio's ``MessageSid``, Stripe's event id. Nothing of the message itself is kept.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Column, Integer, String, Table, UniqueConstraint, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from core.db import Database, Tx
from core.db.metadata import UtcDateTime, metadata
from core.errors import ValidationError

STALE_AFTER = timedelta(minutes=5)
"""An unfinished claim older than this is taken to be a crashed handler's."""

inbound_event = Table(
    "inbound_event",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(20), nullable=False),
    Column("event_id", String(120), nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    UniqueConstraint("source", "event_id"),
)


# Built once (a chat turn claims and finishes an event every time); the INSERT and
# the SET take their values from the parameters they are executed with.
_CLAIM = {
    pg: dialect.insert(inbound_event).on_conflict_do_nothing()
    for pg, dialect in ((True, postgresql), (False, sqlite))
}
_THIS_EVENT = (
    inbound_event.c.source == bindparam("b_source"),
    inbound_event.c.event_id == bindparam("b_event_id"),
    inbound_event.c.finished_at.is_(None),
)
_TAKE_OVER = inbound_event.update().where(
    *_THIS_EVENT, inbound_event.c.claimed_at <= bindparam("b_stale")
)
_FINISH = inbound_event.update().where(*_THIS_EVENT)


def _checked(source: str, event_id: str) -> tuple[str, str]:
    source, event_id = source.strip(), event_id.strip()
    if not source or len(source) > 20:
        raise ValidationError(f"{source!r} is not an event source (1 to 20 characters)")
    if not event_id or len(event_id) > 120:
        raise ValidationError(
            f"the {source} event id must have 1 to 120 characters, not {len(event_id)}"
        )
    return source, event_id


async def claim_event(db: Database, source: str, event_id: str) -> bool:
    """True the first time (source, event_id) is seen -- or when an earlier claim never
    finished and is older than 5 minutes (a crashed handler); False for a duplicate.

    Race-safe: of two simultaneous claims exactly one is True. The row is made with ON
    CONFLICT DO NOTHING (the loser's insert waits for the winner's commit on PostgreSQL,
    then does nothing), and a stale claim is taken over by a conditional UPDATE that only
    one transaction can win. Each of the two is a transaction of its own
    (:meth:`Database.autocommit`): one trip on SQLite, on every chat turn's path."""
    source, event_id = _checked(source, event_id)
    async with db.autocommit() as conn:
        now = db.clock.now()
        made = await conn.execute(
            _CLAIM[db.is_postgres], {"source": source, "event_id": event_id, "claimed_at": now}
        )
        if made.rowcount == 1:
            return True
        taken = await conn.execute(
            _TAKE_OVER,
            {
                "b_source": source,
                "b_event_id": event_id,
                "b_stale": now - STALE_AFTER,
                "claimed_at": now,
            },
        )
        return taken.rowcount == 1


async def finish_event(db: Database, source: str, event_id: str) -> None:
    """Mark a claimed event handled: from now on every delivery of it is a duplicate,
    however old. Finishing an event twice, or one never claimed, changes nothing."""
    async with db.transaction() as tx:
        await finish_event_in(tx, source, event_id)


async def finish_event_in(tx: Tx, source: str, event_id: str) -> None:
    """:func:`finish_event` inside the caller's transaction (a chat turn finishes its
    event with its last reply's outcome, one commit for both)."""
    source, event_id = _checked(source, event_id)
    await tx.conn.execute(
        _FINISH, {"b_source": source, "b_event_id": event_id, "finished_at": tx.db.clock.now()}
    )


async def release_event(db: Database, source: str, event_id: str) -> None:
    """Give up an unfinished claim because handling failed (the webhook answers with an
    error): the provider's next delivery is then claimed at once, without waiting for
    the claim to go stale. A finished event stays finished."""
    source, event_id = _checked(source, event_id)
    async with db.transaction() as tx:
        await tx.conn.execute(
            inbound_event.delete().where(
                inbound_event.c.source == source,
                inbound_event.c.event_id == event_id,
                inbound_event.c.finished_at.is_(None),
            )
        )
