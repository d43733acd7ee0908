"""Database basics: one engine, units of work, and the audit chain.

A unit of work (:meth:`Database.transaction`) is one database transaction. Code inside
it never commits; the unit of work commits at the end, after appending the audit
records collected on the way. On SQLite every connection runs in WAL mode with
``synchronous=FULL`` (a payment that arbot acknowledged must survive a power cut,
because Stripe will not send it again) and foreign keys on; writers in one process
queue on a lock instead of colliding on SQLite's file lock, and so can share one
connection, kept from one write to the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CursorResult, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from core.clock import Clock, SystemClock
from core.db import audit, onetrip
from core.db.audit import AuditRecord

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    # Lets SQLite's sorter use a helper thread: the ATB's GROUP BY over a million rows
    # runs about 20% faster on two cores (make bench).
    "PRAGMA threads=2",
)


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Transactions are begun by _on_sqlite_begin, not by the driver's implicit BEGIN.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _on_sqlite_begin(conn: Any) -> None:
    # A write transaction takes SQLite's write lock at BEGIN, so a read inside it can
    # never be overtaken by another process's commit (SQLITE_BUSY_SNAPSHOT).
    options = conn.get_execution_options()
    raw = conn.connection.dbapi_connection
    if options.get("sqlite_autocommit", False):
        return  # Database.autocommit(): each statement commits itself
    if not options.get("sqlite_snapshot", True):
        # Database.read(snapshot=False): each statement reads on its own, in the event
        # loop's thread (no trip to aiosqlite's: see core.db.onetrip).
        if isinstance(raw, onetrip.OneTripConnection):
            raw.inline_until_reset()
        return
    sql = "BEGIN IMMEDIATE" if options.get("sqlite_immediate", False) else "BEGIN"
    if isinstance(raw, onetrip.OneTripConnection):
        raw.begin_with_next(sql)  # sent in one trip with the transaction's first statement
    else:
        conn.exec_driver_sql(sql)


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row a single-row INSERT just wrote."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every arbot table has an integer key
        raise RuntimeError("the INSERT returned no primary key")
    return int(key[0])


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.driver == "aiosqlite":
            event.listen(engine.sync_engine, "do_connect", onetrip.on_do_connect)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


@dataclass(slots=True)
class Tx:
    """One open transaction: a connection plus the audit records it will append."""

    conn: AsyncConnection
    db: Database
    pending_audit: list[AuditRecord] = field(default_factory=list)

    @property
    def is_postgres(self) -> bool:
        return self.db.is_postgres

    def audit(self, actor: str, source: str, action: str, subject: str, **detail: Any) -> None:
        self.pending_audit.append(
            AuditRecord(self.db.clock.now(), actor, source, action, subject, detail)
        )


class Database:
    """The engine and the way in: ``async with db.transaction() as tx: ...``."""

    def __init__(self, url: str, *, clock: Clock | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.clock: Clock = clock or SystemClock()
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # Built once: engines sharing this one's pool, with the options a write and a
        # read without snapshot begin with.
        self._writer = self.engine.execution_options(sqlite_immediate=True)
        self._latest = self.engine.execution_options(sqlite_snapshot=False)
        self._autocommit = (
            self.engine.execution_options(sqlite_autocommit=True)
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.cache: dict[Any, Any] = {}
        """Facts that never change once written (an account's currency, a GL code's id)."""
        self._kept: dict[str, AsyncConnection] = {}

    def _queued(self) -> AbstractAsyncContextManager[Any]:
        """Writers in this process queue on one lock on SQLite (not on its file lock)."""
        return self._write_lock if self._write_lock is not None else nullcontext()

    @asynccontextmanager
    async def _connection(self, kind: str, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        """A connection for one write. On SQLite, where writes queue on one lock and so
        never overlap, the connection of each ``kind`` is kept checked out from one write
        to the next: taking it from the pool and handing it back cost more than a short
        write's own statement (make bench, patient bot). One that was invalidated is
        replaced; :meth:`dispose` hands them back. PostgreSQL writes in parallel: each
        takes its own from the pool."""
        if self._write_lock is None:
            async with engine.connect() as pooled:
                yield pooled
            return
        conn = self._kept.get(kind)
        if conn is None or conn.closed or conn.invalidated:
            conn = await engine.connect()
            self._kept[kind] = conn
        try:
            yield conn
        finally:
            # Broken, or (which no caller does) left inside a transaction: not kept.
            if conn.invalidated or conn.in_transaction():
                del self._kept[kind]
                await conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A write transaction, committed when the block ends without an exception."""
        kept = self._connection("writer", self._writer)
        async with self._queued(), kept as conn, conn.begin():
            tx = Tx(conn, self)
            yield tx
            await audit.append(conn, tx.pending_audit)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose every statement is a transaction of its own, committed
        as it runs: for a write that is one statement and needs nothing else in its
        transaction (claiming an inbound event). On SQLite it is one trip to the
        worker thread instead of three (BEGIN with it, then COMMIT), and it queues on
        the same lock as :meth:`transaction`. Nothing is audited."""
        async with self._queued(), self._connection("autocommit", self._autocommit) as conn:
            try:
                yield conn
            finally:
                # SQLAlchemy's own transaction, begun by the first statement: SQLite has
                # none open (no BEGIN was sent), so ending it sends nothing.
                if conn.in_transaction():
                    await conn.rollback()

    @asynccontextmanager
    async def read(self, *, snapshot: bool = True) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (no audit, nothing committed). Its statements all see
        one snapshot of the database; with ``snapshot=False`` each statement sees what
        was committed when it ran, which on SQLite spares the BEGIN and the ROLLBACK:
        for reads whose statements need not agree with one another."""
        engine = self.engine if snapshot else self._latest
        async with engine.connect() as conn:
            if snapshot and self.is_postgres:
                # PostgreSQL's READ COMMITTED would let each statement see newer commits.
                await conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    async def dispose(self) -> None:
        kept, self._kept = list(self._kept.values()), {}
        for conn in kept:
            await conn.close()
        await self.engine.dispose()
