"""One trip to aiosqlite's thread per SQL statement.

aiosqlite runs each sqlite3 call in a worker thread of its own, and every call is a
round trip: the statement is queued, the thread wakes, the event loop is woken back.
SQLAlchemy's adapter makes three or four such trips per statement (open a cursor,
execute, fetch the rows, close the cursor), and on a chat turn those trips, not
SQLite, were most of the database's cost (make bench, patient bot). This cursor does
the four in one call in the worker thread, then serves the rows it brought back the
way SQLAlchemy's own buffered cursor does. Errors are sqlite3's, raised in the thread
and handled by SQLAlchemy's adapter as before; server-side cursors are unchanged.

A transaction's ``BEGIN`` (or ``BEGIN IMMEDIATE``) travels with its first statement
(:meth:`OneTripConnection.begin_with_next`): every statement still runs inside the
transaction, write transactions still take SQLite's write lock before their first
statement, and the BEGIN costs no trip of its own. A COMMIT or ROLLBACK with no
transaction open in SQLite (nothing was executed, or a read ran without BEGIN) is not
sent: the pool's reset ROLLBACK after a commit no longer costs a trip either.

A read without a transaction (``Database.read(snapshot=False)``, a chat turn's first
read) makes no trip at all: its statements run in the event loop's own thread
(:meth:`OneTripConnection.inline_until_reset`). In WAL mode such a read never waits for
a writer, and the turn's reads are lookups by key, shorter than the two thread
switches a trip costs (make bench, patient bot). Everything else, and every write,
still runs in the worker thread: a write may wait for another process's write lock,
and the event loop must not. The connection is opened usable from both threads; its
statements never overlap, since SQLAlchemy runs one at a time per connection.
"""

from __future__ import annotations

import collections
from typing import Any, cast

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any] | None, int, int | None]
"""What one trip brings back: description, rows (None without a result), rowcount
and lastrowid."""


def _run(conn: Any, begin: str | None, operation: str, parameters: Any, many: bool) -> _Outcome:
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def _here(conn: Any, operation: str, parameters: Any, many: bool) -> _Outcome:
    """:func:`_run` in the event loop's thread, as a coroutine: SQLAlchemy's async
    bridge wants every statement awaited, and awaiting this switches no thread."""
    return _run(conn, None, operation, parameters, many)


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement, rows and close are one worker-thread call."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no cursor opened: no trip
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing is left open in the thread: the rows are already here."""

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: str, parameters: Any, *, many: bool) -> None:
        aio, adapted = self._connection, cast("OneTripConnection", self._adapt_connection)
        begin, adapted._begin = adapted._begin, None
        try:
            if adapted._inline and begin is None:
                outcome: _Outcome = await_(_here(aio._conn, operation, parameters, many))
            else:
                outcome = await_(aio._execute(_run, aio._conn, begin, operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows is not None else collections.deque()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_begin", "_inline")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None
        self._inline = False

    def begin_with_next(self, sql: str) -> None:
        """Send ``sql`` (BEGIN ...) in the same trip as the next statement."""
        self._begin = sql

    def inline_until_reset(self) -> None:
        """Run the statements in the event loop's thread until the connection's next
        COMMIT or ROLLBACK (a read without a transaction: no BEGIN is sent)."""
        self._inline = True

    def _open(self) -> bool:
        """Whether SQLite has a transaction open on this connection (no trip: sqlite3
        reads its autocommit flag; no statement of this connection is running)."""
        aio = self._connection
        return aio._connection is not None and bool(aio.in_transaction)

    def commit(self) -> None:
        self._begin, self._inline = None, False
        if self._open():
            super().commit()

    def rollback(self) -> None:
        self._begin, self._inline = None, False
        if self._open():
            super().rollback()


def on_do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """SQLAlchemy's ``do_connect`` event: aiosqlite's connection, in the adapter above,
    usable from the event loop's thread too (for reads without a transaction)."""
    adapted = dialect.loaded_dbapi.connect(*cargs, **{**cparams, "check_same_thread": False})
    return OneTripConnection(adapted.dbapi, adapted._connection)
