"""Use cases: what staff, patients, jobs and webhooks may ask of A/R.

Each use case is a plain async function over the database: it checks the actor's
permission, then does its work in one transaction through the ledger. Operations that
move money take an idempotency key; asking twice with the same key returns the first
result and writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database, Tx
from core.ledger.posting import DuplicateKey

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
