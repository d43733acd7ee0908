"""On SQLite, writes queue on one lock, so core.db keeps the writer's connection checked
out between transactions instead of taking it from the pool and handing it back each
time: what a user of ``Database.transaction`` and ``Database.autocommit`` can see of
that is only that it is no different (commits, rollbacks, failures, closing), and
that the pool is not visited per write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError

from core.db import Database
from tests.core.db.conftest import thing


def checkouts(db: Database) -> list[int]:
    """How many times a connection was taken from the pool (one-element list, live)."""
    taken = [0]

    def on_checkout(*_: Any) -> None:
        taken[0] += 1

    event.listen(db.engine.sync_engine, "checkout", on_checkout)
    return taken


async def names(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(select(thing.c.name).order_by(thing.c.id))).scalars())


async def test_writes_take_a_connection_from_the_pool_once(db: Database) -> None:
    taken = checkouts(db)
    for n in range(5):
        async with db.transaction() as tx:
            await tx.conn.execute(insert(thing).values(name=f"t{n}"))
    for n in range(3):
        async with db.autocommit() as conn:
            await conn.execute(insert(thing).values(name=f"a{n}"))

    assert taken[0] == 2  # one for transactions, one for self-committing statements
    assert await names(db) == ["t0", "t1", "t2", "t3", "t4", "a0", "a1", "a2"]


async def test_a_failed_transaction_leaves_nothing_and_the_next_one_works(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.conn.execute(insert(thing).values(name="kept"))
    with pytest.raises(IntegrityError):
        async with db.transaction() as tx:
            await tx.conn.execute(insert(thing).values(name="lost"))
            await tx.conn.execute(insert(thing).values(name="kept"))  # unique: fails
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.conn.execute(insert(thing).values(name="also lost"))
            raise RuntimeError("the caller gave up")

    async with db.transaction() as tx:
        await tx.conn.execute(insert(thing).values(name="next"))

    assert await names(db) == ["kept", "next"]


async def test_a_failed_self_committing_statement_leaves_the_others(db: Database) -> None:
    async with db.autocommit() as conn:
        await conn.execute(insert(thing).values(name="one"))
    with pytest.raises(IntegrityError):
        async with db.autocommit() as conn:
            await conn.execute(insert(thing).values(name="one"))
    async with db.autocommit() as conn:
        await conn.execute(insert(thing).values(name="two"))
    async with db.transaction() as tx:  # no transaction left open on the way
        await tx.conn.execute(insert(thing).values(name="three"))

    assert await names(db) == ["one", "two", "three"]


async def test_an_invalidated_connection_is_replaced(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.conn.execute(insert(thing).values(name="before"))
        first = tx.conn
    await first.invalidate()

    async with db.transaction() as tx:
        await tx.conn.execute(insert(thing).values(name="after"))
        assert tx.conn is not first

    assert await names(db) == ["before", "after"]


async def test_dispose_hands_every_connection_back(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.conn.execute(insert(thing).values(name="x"))
    async with db.autocommit() as conn:
        await conn.execute(select(func.count()).select_from(thing))
    pool: Any = db.engine.sync_engine.pool
    assert pool.checkedout() == 2

    await db.dispose()

    assert pool.checkedout() == 0
    async with db.transaction() as tx:  # usable again, as after any dispose
        await tx.conn.execute(insert(thing).values(name="y"))
    assert await names(db) == ["x", "y"]


async def test_a_cancelled_write_leaves_nothing_and_the_next_one_works(db: Database) -> None:
    """A turn cancelled inside its transaction (a client gone, a shutdown): its writes are
    rolled back and the kept connection serves the next write."""
    started = asyncio.Event()

    async def slow_write() -> None:
        async with db.transaction() as tx:
            await tx.conn.execute(insert(thing).values(name="cancelled"))
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow_write())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with db.transaction() as tx:
        await tx.conn.execute(insert(thing).values(name="next"))
    assert await names(db) == ["next"]
