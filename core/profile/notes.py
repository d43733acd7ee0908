"""Free-text notes on an account (AR-037): append-only, newest first.

The database refuses to change or delete a note; the audit record names the note,
never what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.db import Database, inserted_id
from core.errors import NotFound, ValidationError
from core.ledger.tables import customer_account, customer_note
from core.profile.common import account_to_change, source_of

NOTE_LIMIT = 4000


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    account_id: int
    at: datetime
    actor: str
    text: str


async def add_note(db: Database, actor: Actor, *, account_id: int, text: str) -> int:
    """Add a free-text note to an account (AR-037). Notes are never edited or deleted;
    the audit record names the note, not what it says."""
    cleaned = text.strip()
    if not cleaned:
        raise ValidationError("a note cannot be blank")
    if len(cleaned) > NOTE_LIMIT:
        raise ValidationError(
            f"a note holds at most {NOTE_LIMIT} characters; this one has {len(cleaned)}"
        )
    async with db.transaction() as tx:
        account = await account_to_change(tx, actor, account_id)
        note_id = inserted_id(
            await tx.conn.execute(
                customer_note.insert().values(
                    account_id=account_id, at=tx.db.clock.now(), actor=actor.label, text=cleaned
                )
            )
        )
        tx.audit(
            actor.label,
            source_of(actor),
            "customer.note",
            f"account {account.number}",
            note_id=note_id,
            length=len(cleaned),
        )
    return note_id


async def notes_of(conn: AsyncConnection, account_id: int, limit: int = 20) -> list[Note]:
    """The account's newest notes first."""
    if not 1 <= limit <= 500:
        raise ValidationError("ask for 1 to 500 notes")
    exists = select(customer_account.c.id).where(customer_account.c.id == account_id)
    if (await conn.execute(exists)).first() is None:
        raise NotFound(f"there is no account {account_id}")
    cn = customer_note
    rows = await conn.execute(
        select(cn).where(cn.c.account_id == account_id).order_by(cn.c.id.desc()).limit(limit)
    )
    return [Note(r.id, r.account_id, r.at, r.actor, r.text) for r in rows]
