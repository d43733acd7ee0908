"""Use cases: what staff, patients, jobs and webhooks may ask of A/R.

Each use case is a plain async function over the database: it checks the actor's
permission, then does its work in one transaction through the ledger. Operations that
move money take an idempotency key; asking twice with the same key returns the first
result and writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.db import Database, Tx
from core.errors import NotFound
from core.ledger.accounts import Account, load_account
from core.ledger.items import Match, allocate
from core.ledger.model import EntryDraft, PostedEntry
from core.ledger.posting import DuplicateKey, load_entry, post_entry, replay
from core.ledger.tables import application, journal_entry

T = TypeVar("T")


async def run_once(
    db: Database,
    work: Callable[[Tx], Awaitable[T]],
    replay: Callable[[AsyncConnection], Awaitable[T]],
) -> T:
    """Run ``work`` in one transaction; if its idempotency key was used, ``replay`` instead."""
    try:
        async with db.transaction() as tx:
            return await work(tx)
    except DuplicateKey:
        async with db.read() as conn:
            return await replay(conn)


async def account_for(
    db: Database, actor: Actor, account_id: int, permission: Permission
) -> Account:
    """The account, once ``actor`` is known to hold ``permission`` at its location."""
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
    require(actor, permission, account.location)
    return account


FollowUp = Callable[[Tx, PostedEntry], Awaitable[object]]


async def post_once(db: Database, draft: EntryDraft, then: FollowUp | None = None) -> PostedEntry:
    """Post ``draft`` (and run ``then`` in the same transaction) once per idempotency key;
    a replay returns the original entry, a key reused for other content is refused."""

    async def work(tx: Tx) -> PostedEntry:
        entry = await post_entry(tx, draft)
        if then is not None:
            await then(tx, entry)
        return entry

    async def again(conn: AsyncConnection) -> PostedEntry:
        return await replay(conn, draft.idempotency_key, draft.fingerprint())

    return await run_once(db, work, again)


async def match_credit(
    tx: Tx, entry: PostedEntry, item_id: int, amount_minor: int, method: str
) -> int:
    """Match the credit item ``entry`` just created to the open charge ``item_id``."""
    credit = next(ln for ln in entry.lines if ln.item_id is not None and ln.amount.minor < 0)
    assert credit.item_id is not None and credit.account_id is not None
    return await allocate(
        tx,
        account_id=credit.account_id,
        matches=[Match(item_id, credit.item_id, amount_minor)],
        key=f"{entry.idempotency_key}/apply",
        method=method,
        effective_date=entry.effective_date,
        actor=entry.actor,
        source=entry.source,
        entry_id=entry.id,
    )


async def prior_entry(db: Database, key: str) -> PostedEntry | None:
    """The entry already posted under ``key``, if any.

    Services whose checks read the account's current state (what is open, what is
    unapplied) look here first: once the first request has been carried out those
    checks would fail, yet a replay must return the first result, not an error."""
    async with db.read() as conn:
        try:
            return await load_entry(conn, key=key)
        except NotFound:
            return None


async def entries_under(conn: AsyncConnection, prefix: str) -> list[PostedEntry]:
    """Entries whose idempotency key starts with ``prefix``, in posting order: the
    follow-ups one request posted under sub-keys of its own key."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(journal_entry.c.idempotency_key)
        .where(journal_entry.c.idempotency_key.like(f"{escaped}%", escape="\\"))
        .order_by(journal_entry.c.id)
    )
    keys = (await conn.execute(query)).scalars().all()
    return [await load_entry(conn, key=k) for k in keys]


async def prior_application(db: Database, key: str) -> int | None:
    """The application already written under ``key``, if any (see :func:`prior_entry`)."""
    async with db.read() as conn:
        found = await conn.execute(
            select(application.c.id).where(application.c.idempotency_key == key)
        )
        application_id: int | None = found.scalar()
        return application_id
