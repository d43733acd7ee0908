"""SQLite statements through core.db's one-trip cursor: the same answers as SQLAlchemy's
own aiosqlite cursor (rows, row counts, keys, errors), one worker-thread trip each."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from core.db import Database, inserted_id
from core.db.onetrip import OneTripConnection
from tests.core.db.conftest import thing


@contextmanager
def trips() -> Iterator[Counter[str]]:
    """Calls handed to aiosqlite's worker thread, by function name."""
    counted: Counter[str] = Counter()
    original = aiosqlite.core.Connection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[getattr(fn, "__name__", type(fn).__name__)] += 1
        return await original(self, fn, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aiosqlite.core.Connection, "_execute", counting)
        yield counted


async def test_the_engine_uses_the_one_trip_connection(db: Database) -> None:
    async with db.read() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneTripConnection)


async def test_rows_keys_and_counts_come_back(db: Database) -> None:
    async with db.transaction() as tx:
        first = inserted_id(await tx.conn.execute(insert(thing).values(name="a")))
        second = inserted_id(await tx.conn.execute(insert(thing).values(name="b")))
        await tx.conn.execute(insert(thing), [{"name": "c"}, {"name": "d"}])
        renamed = await tx.conn.execute(
            update(thing).where(thing.c.id > first).values(name=thing.c.name + "!")
        )
    assert second == first + 1
    assert renamed.rowcount == 3
    async with db.read() as conn:
        rows = (await conn.execute(select(thing.c.id, thing.c.name).order_by(thing.c.id))).all()
        result = await conn.execute(select(thing.c.name).order_by(thing.c.id))
        assert list(result.keys()) == ["name"]
        assert result.fetchmany(2) == [("a",), ("b!",)]
        assert result.fetchone() == ("c!",)
        assert result.fetchall() == [("d!",)]
        nothing = (await conn.execute(select(thing).where(thing.c.id < 0))).all()
    assert rows == [(first, "a"), (second, "b!"), (first + 2, "c!"), (first + 3, "d!")]
    assert nothing == []


async def test_errors_are_sqlalchemys(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.conn.execute(insert(thing).values(name="a"))
    with pytest.raises(IntegrityError):
        async with db.transaction() as tx:
            await tx.conn.execute(insert(thing).values(name="a"))
    with pytest.raises(OperationalError):
        async with db.read() as conn:
            await conn.execute(text("SELECT nothing FROM nowhere"))
    async with db.read() as conn:  # the failed transaction wrote nothing; the pool works
        assert (await conn.execute(select(thing.c.name))).scalars().all() == ["a"]


async def test_a_statement_is_one_trip(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.conn.execute(insert(thing).values(name="a"))
    async with db.read() as conn:
        await conn.execute(select(thing))  # the connection is open and its BEGIN sent
        with trips() as counted:
            for _ in range(3):
                (await conn.execute(select(thing.c.name))).all()
    assert sum(counted.values()) == 3


def _other(db: Database) -> sqlite3.Connection:
    """A second, plain sqlite3 connection to the same file (another process's view)."""
    conn = sqlite3.connect(db.engine.url.database or "", isolation_level=None, timeout=0)
    conn.execute("PRAGMA busy_timeout=0")
    return conn


async def test_a_write_holds_the_write_lock_from_its_first_statement(db: Database) -> None:
    other = _other(db)
    with trips() as counted:
        async with db.transaction() as tx:
            await tx.conn.execute(select(thing.c.id))  # BEGIN IMMEDIATE went with it
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            await tx.conn.execute(insert(thing).values(name="a"))
    other.execute("BEGIN IMMEDIATE")  # released at COMMIT
    other.execute("ROLLBACK")
    other.close()
    # two statements and the COMMIT: no trip of their own for BEGIN or a reset ROLLBACK
    assert sum(counted.values()) == 3


async def test_a_read_sees_one_snapshot(db: Database) -> None:
    other = _other(db)
    async with db.read() as conn:
        before = (await conn.execute(select(thing.c.name))).scalars().all()
        other.execute("INSERT INTO thing (name) VALUES ('late')")
        after = (await conn.execute(select(thing.c.name))).scalars().all()
    other.close()
    assert before == after == []


async def test_a_read_without_snapshot_sees_each_commit_in_the_loops_own_thread(
    db: Database,
) -> None:
    """No BEGIN, and no trip to the worker thread: the statements run where the event
    loop runs (a read without a transaction never waits for a writer in WAL mode)."""
    other = _other(db)
    with trips() as counted:
        async with db.read(snapshot=False) as conn:
            before = (await conn.execute(select(thing.c.name))).scalars().all()
            other.execute("INSERT INTO thing (name) VALUES ('late')")
            after = (await conn.execute(select(thing.c.name))).scalars().all()
    other.execute("BEGIN IMMEDIATE")  # the read held nothing open
    other.execute("ROLLBACK")
    other.close()
    assert (before, after) == ([], ["late"])
    assert sum(counted.values()) == 0


async def test_reads_in_the_loops_thread_and_writes_in_the_worker_share_connections(
    db: Database,
) -> None:
    """Connections serve both kinds of use (the writes' kept connection is taken from
    the pool the reads use, after a read had it): each write still goes through the
    worker thread, and every read sees it."""
    for n in range(12):
        async with db.read(snapshot=False) as conn:
            seen = (await conn.execute(select(thing.c.name))).scalars().all()
        assert seen == [f"n{i}" for i in range(n)]
        with trips() as counted:
            async with db.transaction() as tx:
                await tx.conn.execute(insert(thing).values(name=f"n{n}"))
        assert sum(counted.values()) == 2  # the INSERT (with its BEGIN) and the COMMIT


async def test_an_error_in_the_loops_thread_is_sqlalchemys(db: Database) -> None:
    async with db.read(snapshot=False) as conn:
        with pytest.raises(OperationalError, match="no such table"):
            await conn.execute(text("SELECT * FROM nothing_here"))
        assert (await conn.execute(select(thing.c.id))).all() == []


async def test_a_failed_write_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.conn.execute(insert(thing).values(name="a"))
            raise RuntimeError("stop")
    async with db.transaction() as tx:  # the lock and the connection are free again
        await tx.conn.execute(insert(thing).values(name="b"))
    async with db.read() as conn:
        assert (await conn.execute(select(thing.c.name))).scalars().all() == ["b"]


async def test_an_autocommit_statement_is_one_trip_and_committed_as_it_runs(
    db: Database,
) -> None:
    """``Database.autocommit()``: no BEGIN, no COMMIT, each statement its own
    transaction, made in the worker thread (a write may wait for another process)."""
    other = _other(db)
    with trips() as counted:
        async with db.autocommit() as conn:
            await conn.execute(insert(thing).values(name="a"))
            seen = other.execute("SELECT name FROM thing").fetchall()
            await conn.execute(insert(thing).values(name="b"))
    other.close()
    assert seen == [("a",)]
    assert counted == {"_run": 2}
    async with db.read() as conn:
        assert (await conn.execute(select(thing.c.name))).scalars().all() == ["a", "b"]
