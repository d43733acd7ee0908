"""Bulk writing: many rows in few statements, for imports and batches.

SQLAlchemy's per-row parameter handling costs more than SQLite's own work on the rows
of a big batch (benchmarks/imports.py), so :class:`MultiRowInsert` sends multi-row
``INSERT ... VALUES (...), (...)`` statements to the driver as flat tuples, still
converting each value with its column type's own bind processor. Batches also pause
Python's cyclic garbage collector while they run (:func:`collector_paused`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Row = Mapping[str, Any]

PARAMETERS_PER_STATEMENT = 32_000
"""Rows per multi-row INSERT times columns: just under SQLite's (32,766) and asyncpg's
(32,767) caps; fewer, bigger statements were faster (2,461 entries each)."""


@dataclass(frozen=True, slots=True)
class MultiRowInsert:
    """A multi-row ``INSERT ... VALUES (...), (...) RETURNING ...`` sent to the driver as
    it is. SQLAlchemy's per-row parameter handling cost more than SQLite's own work on
    the rows (benchmarks/imports.py), so rows go out as flat tuples; the column types'
    own bind processors still convert each value (dates to day numbers, moments to
    UTC), once per distinct value."""

    table: Table
    columns: tuple[str, ...]
    returning: tuple[str, ...] = ()

    async def run(self, conn: AsyncConnection, rows: Sequence[Row]) -> list[Any]:
        dialect = conn.dialect
        width = len(self.columns)
        flat = _flatten(rows, self.columns, _processors(self, dialect))
        per = max(1, PARAMETERS_PER_STATEMENT // width)
        out: list[Any] = []
        for start in range(0, len(rows), per):
            chunk = flat[start * width : (start + per) * width]
            result = await conn.exec_driver_sql(
                _sql(self, dialect, len(chunk) // width), tuple(chunk)
            )
            if self.returning:
                out += result.all()
        return out


@lru_cache(maxsize=32)
def _processors(insert: MultiRowInsert, dialect: Dialect) -> tuple[tuple[int, Any], ...]:
    columns = insert.table.c
    found = (
        (i, columns[name].type.bind_processor(dialect)) for i, name in enumerate(insert.columns)
    )
    return tuple((i, proc) for i, proc in found if proc is not None)


def _flatten(
    rows: Sequence[Row], columns: tuple[str, ...], processors: tuple[tuple[int, Any], ...]
) -> list[Any]:
    pick = itemgetter(*columns)
    flat: list[Any] = []
    for row in rows:
        flat += pick(row)
    width = len(columns)
    for offset, process in processors:
        seen: dict[Any, Any] = {}
        for i in range(offset, len(flat), width):
            value = flat[i]
            if value not in seen:
                seen[value] = process(value)
            flat[i] = seen[value]
    return flat


def placeholders(dialect: Dialect, count: int, first: int = 1) -> str:
    """``count`` placeholders in the driver's own style, numbered from ``first``."""
    if dialect.paramstyle == "qmark":
        return ", ".join("?" * count)
    if dialect.paramstyle == "numeric_dollar":
        return ", ".join(f"${n}" for n in range(first, first + count))
    raise RuntimeError(  # pragma: no cover - arbot runs on aiosqlite and asyncpg
        f"no bulk statements for the {dialect.paramstyle} parameter style"
    )


@lru_cache(maxsize=64)
def _sql(insert: MultiRowInsert, dialect: Dialect, rows: int) -> str:
    quote = dialect.identifier_preparer.quote
    width = len(insert.columns)
    values = ", ".join(f"({placeholders(dialect, width, r * width + 1)})" for r in range(rows))
    sql = (
        f"INSERT INTO {quote(insert.table.name)} ({', '.join(map(quote, insert.columns))})"
        f" VALUES {values}"
    )
    if insert.returning:
        sql += f" RETURNING {', '.join(map(quote, insert.returning))}"
    return sql


def insert_columns(table: Table) -> tuple[str, ...]:
    """Every column of ``table`` but its generated ``id``."""
    return tuple(c.name for c in table.columns if c.name != "id")


@contextmanager
def collector_paused() -> Iterator[None]:
    """A batch makes millions of objects that all live until it ends, and Python's
    cyclic collector would walk them again and again as they pile up: about 1 s of 9
    at 200,000 charges (benchmarks/imports.py). Reference counting still frees
    everything else meanwhile; the collector is back on when the batch returns."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
