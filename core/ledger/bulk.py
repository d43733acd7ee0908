"""Bulk posting: many journal entries written at once, for imports.

An import (a clinic system's day of charges, a file of 200,000 lines) posts each line
as an ordinary journal entry, but one entry at a time is far too slow for it. A
*batch* posts a whole sequence of drafts inside the caller's transaction with a few
multi-row INSERTs per thousands of entries, and keeps every promise a single posting
makes:

- *All or nothing.* The batch writes inside the caller's transaction and never
  commits; an import runs its whole file in one transaction, so a crash leaves
  nothing, and running the file again completes it.
- *Once per key.* Each draft's idempotency key (for an import, made from the row's
  external id) is looked up first. A key already posted with the same content
  (fingerprint) is skipped and reported as *replayed*; a key posted with other
  content is an :class:`~core.errors.IdempotencyConflict`; a key twice in one batch
  is a :class:`~core.errors.ValidationError`. Nothing is written before every draft
  has passed these checks and the same validation as :func:`~core.ledger.posting.
  post_entry` (entry types, chart, currencies, reason codes, due dates), and none is
  dated in a closed fiscal period (the database's trigger still guards that).
- *One audit record per batch.* Instead of a record per entry, the batch appends one
  record, action ``ledger.post_batch``, subject ``batch <label>``, whose detail holds
  the count, the first and last entry number, the totals per currency, the number of
  replayed keys and a SHA-256 *digest* over the posted entries' keys and
  fingerprints in order (see :func:`batch_digest`). The hash chain therefore still
  commits to exactly which entries, with which content, the batch posted; each
  entry's own row says the rest.

A batch has one actor and one source (the audit record names them) and a label of
1-100 characters (an import's file name). Another transaction posting one of its
keys between the lookup and the INSERT makes the INSERT fail: the caller's
transaction is lost, and running the batch again finds that key replayed.

How it writes: per round of a few thousand entries, multi-row ``INSERT ...
RETURNING`` statements for the entries, then their lines, then their items, sent
through the driver (see ``_Insert``), as is the key lookup. Entry ids come back
matched through the unique idempotency key, item ids through entry id and line
number: SQLite cannot return the ids of a multi-row INSERT in parameter order, so
SQLAlchemy's ``sort_by_parameter_order`` would fall back to one INSERT per row there.
Python's cyclic garbage collector is paused while a batch runs. At 200,000 charges
this is about two thirds of the rate of plain ``sqlite3`` writing the same rows
(``python -m benchmarks.run --only imports``).
"""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Tx
from core.errors import IdempotencyConflict, PeriodClosed, ValidationError
from core.ledger.model import EntryDraft, Kind, PostedEntry
from core.ledger.posting import (
    DuplicateKey,
    GlAccount,
    Row,
    check_draft,
    closed_period,
    entry_row,
    item_rows,
    line_rows,
    load_refs,
    posted_entry,
)
from core.ledger.tables import ar_item, fiscal_period, journal_entry, journal_line
from core.money import Money

KEYS_PER_QUERY = 2_000
"""Keys per ``IN (...)``: well under SQLite's (32,766) and asyncpg's (32,767) caps on
parameters; four times fewer queries than 500 per IN, a third of the lookup's time."""

ENTRIES_PER_ROUND = 4_800
"""Entries written per round: bounds the rows held in memory; two full statements per
table (see below)."""

PARAMETERS_PER_STATEMENT = 32_000
"""Rows per multi-row INSERT times columns: just under SQLite's (32,766) and asyncpg's
(32,767) caps; fewer, bigger statements were faster (2,461 entries each)."""


@dataclass(frozen=True, slots=True)
class _Insert:
    """A multi-row ``INSERT ... VALUES (...), (...) RETURNING ...`` sent to the driver as
    it is. SQLAlchemy's per-row parameter handling cost more than SQLite's own work on
    the rows (benchmarks/imports.py), so rows go out as flat tuples; the column types'
    own bind processors still convert each value (dates to day numbers, moments to
    UTC), once per distinct value."""

    table: Table
    columns: tuple[str, ...]
    returning: tuple[str, ...] = ()

    async def run(self, conn: AsyncConnection, rows: list[Row]) -> list[Any]:
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
def _processors(insert: _Insert, dialect: Dialect) -> tuple[tuple[int, Any], ...]:
    columns = insert.table.c
    found = (
        (i, columns[name].type.bind_processor(dialect)) for i, name in enumerate(insert.columns)
    )
    return tuple((i, proc) for i, proc in found if proc is not None)


def _flatten(
    rows: list[Row], columns: tuple[str, ...], processors: tuple[tuple[int, Any], ...]
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


def _parameters(dialect: Dialect, count: int, first: int = 1) -> str:
    """``count`` placeholders in the driver's own style, numbered from ``first``."""
    if dialect.paramstyle == "qmark":
        return ", ".join("?" * count)
    if dialect.paramstyle == "numeric_dollar":
        return ", ".join(f"${n}" for n in range(first, first + count))
    raise RuntimeError(  # pragma: no cover - arbot runs on aiosqlite and asyncpg
        f"no bulk statements for the {dialect.paramstyle} parameter style"
    )


@lru_cache(maxsize=64)
def _sql(insert: _Insert, dialect: Dialect, rows: int) -> str:
    quote = dialect.identifier_preparer.quote
    width = len(insert.columns)
    values = ", ".join(f"({_parameters(dialect, width, r * width + 1)})" for r in range(rows))
    sql = (
        f"INSERT INTO {quote(insert.table.name)} ({', '.join(map(quote, insert.columns))})"
        f" VALUES {values}"
    )
    if insert.returning:
        sql += f" RETURNING {', '.join(map(quote, insert.returning))}"
    return sql


@lru_cache(maxsize=16)
def _lookup_sql(dialect: Dialect, keys: int) -> str:
    return (
        "SELECT idempotency_key, fingerprint FROM journal_entry"
        f" WHERE idempotency_key IN ({_parameters(dialect, keys)})"
    )


def _columns(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if c.name != "id")


_INSERT_ENTRIES = _Insert(journal_entry, _columns(journal_entry), ("id", "idempotency_key"))
_INSERT_LINES = _Insert(journal_line, _columns(journal_line))
_INSERT_ITEMS = _Insert(ar_item, _columns(ar_item), ("id", "entry_id", "line_no"))


@dataclass(frozen=True, slots=True)
class BatchPosted:
    """What a batch wrote: its entries in the order of the drafts, with item ids per
    line; the keys skipped as already posted; and the debits posted per currency."""

    entries: tuple[PostedEntry, ...]
    replayed: tuple[str, ...]
    totals: tuple[Money, ...]

    @property
    def first(self) -> str | None:
        """Number of the first entry the batch wrote; None if it wrote none."""
        return min(self.entries, key=lambda e: e.id).number if self.entries else None

    @property
    def last(self) -> str | None:
        return max(self.entries, key=lambda e: e.id).number if self.entries else None


async def existing_keys(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, str]:
    """Idempotency key -> stored fingerprint, for those of ``keys`` already posted."""
    found: dict[str, str] = {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = tuple(keys[start : start + KEYS_PER_QUERY])
        rows: Sequence[Any] = (
            await conn.exec_driver_sql(_lookup_sql(conn.dialect, len(chunk)), chunk)
        ).all()
        found.update((key, fingerprint) for key, fingerprint in rows)
    return found


def batch_digest(posted: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over ``(key, fingerprint)`` pairs in order, each as
    ``<length of key>:<key><fingerprint>`` so that no two sequences read alike."""
    digest = hashlib.sha256()
    for key, fingerprint in posted:
        digest.update(f"{len(key)}:{key}{fingerprint}".encode())
    return digest.hexdigest()


def _check_batch(drafts: Sequence[EntryDraft], label: str) -> None:
    """Each key once, one actor from one source, a label that fits the audit record."""
    if not 0 < len(label) <= 100:
        raise ValidationError("a batch needs a label of 1-100 characters")
    twice = [key for key, n in Counter(d.idempotency_key for d in drafts).items() if n > 1]
    if twice:
        raise ValidationError(
            f"the idempotency key {twice[0]!r} appears more than once in the batch"
            + (f" (and {len(twice) - 1} more keys do too)" if len(twice) > 1 else "")
        )
    who = {(d.actor, d.source) for d in drafts}
    if len(who) > 1:
        raise ValidationError("a batch is posted by one actor from one source")


async def _refuse_closed_periods(conn: AsyncConnection, drafts: Sequence[EntryDraft]) -> None:
    """Name the first draft dated in a closed period; the database's trigger would only
    say that one of thousands is."""
    closed = (
        await conn.execute(
            select(fiscal_period.c.start_day, fiscal_period.c.end_day).where(
                fiscal_period.c.closed_at.is_not(None)
            )
        )
    ).all()
    if not closed:
        return
    days: set[date] = set()
    for draft in drafts:
        day = draft.effective_date
        if day not in days:
            days.add(day)
            if any(start <= day <= end for start, end in closed):
                raise closed_period(draft)


def _translate(exc: DBAPIError, label: str) -> Exception:
    """The database refused a write the checks let through (another transaction got
    there between the checks and the write)."""
    message = str(exc.orig) if exc.orig is not None else str(exc)
    if "idempotency_key" in message:
        return DuplicateKey(f"a key of batch {label}")
    if "period_closed" in message:
        return PeriodClosed(f"an entry of batch {label} falls in a closed fiscal period")
    if "reverses_id" in message:
        return ValidationError(f"batch {label} reverses an entry that is already reversed")
    return exc


async def post_batch(tx: Tx, drafts: Sequence[EntryDraft], *, label: str) -> BatchPosted:
    """Post every draft inside ``tx``, skipping keys already posted with the same
    content; appends one audit record for the batch (none if it posted nothing)."""
    with _collector_paused():
        return await _post_batch(tx, drafts, label)


@contextmanager
def _collector_paused() -> Iterator[None]:
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


async def _post_batch(tx: Tx, drafts: Sequence[EntryDraft], label: str) -> BatchPosted:
    _check_batch(drafts, label)
    conn = tx.conn
    refs = await load_refs(conn, tx.db, drafts)
    kinds = [check_draft(draft, refs) for draft in drafts]
    stored = await existing_keys(conn, [d.idempotency_key for d in drafts])
    todo, replayed = _sort_out(drafts, kinds, stored)
    await _refuse_closed_periods(conn, [draft for draft, _, _ in todo])
    now = tx.db.clock.now()
    posted: list[PostedEntry] = []
    try:
        for start in range(0, len(todo), ENTRIES_PER_ROUND):
            chunk = todo[start : start + ENTRIES_PER_ROUND]
            posted += await _write(conn, chunk, refs.chart, now)
    except DBAPIError as exc:
        raise _translate(exc, label) from exc
    result = BatchPosted(tuple(posted), tuple(replayed), _debits(posted))
    if posted:
        _audit(tx, result, label, [(d.idempotency_key, f) for d, _, f in todo])
    return result


def _sort_out(
    drafts: Sequence[EntryDraft], kinds: list[Kind], stored: dict[str, str]
) -> tuple[list[tuple[EntryDraft, Kind, str]], list[str]]:
    """The drafts to write (with kind and fingerprint) and the keys to report replayed;
    refuses a key already posted with other content."""
    todo: list[tuple[EntryDraft, Kind, str]] = []
    replayed: list[str] = []
    for draft, kind in zip(drafts, kinds, strict=True):
        key, fingerprint = draft.idempotency_key, draft.fingerprint()
        if key not in stored:
            todo.append((draft, kind, fingerprint))
        elif stored[key] == fingerprint:
            replayed.append(key)
        else:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for a different entry"
            )
    return todo, replayed


async def _write(
    conn: AsyncConnection,
    chunk: list[tuple[EntryDraft, Kind, str]],
    chart: dict[str, GlAccount],
    now: datetime,
) -> list[PostedEntry]:
    """One round: the entries' headers, then their lines, then their items."""
    heads = await _INSERT_ENTRIES.run(
        conn, [entry_row(draft, kind, fp, now) for draft, kind, fp in chunk]
    )
    entry_ids = {key: entry_id for entry_id, key in heads}
    lines: list[Row] = []
    items: list[Row] = []
    order = [entry_ids[draft.idempotency_key] for draft, _, _ in chunk]
    for (draft, _, _), entry_id in zip(chunk, order, strict=True):
        lines += line_rows(draft, entry_id, chart)
        items += item_rows(draft, entry_id)
    await _INSERT_LINES.run(conn, lines)
    item_ids: dict[int, dict[int, int]] = {}
    if items:
        for item_id, entry_id, line_no in await _INSERT_ITEMS.run(conn, items):
            item_ids.setdefault(entry_id, {})[line_no] = item_id
    return [
        posted_entry(draft, entry_id, kind, now, item_ids.get(entry_id, {}))
        for (draft, kind, _), entry_id in zip(chunk, order, strict=True)
    ]


def _debits(entries: Iterable[PostedEntry]) -> tuple[Money, ...]:
    """Sum of the debit lines per currency: what the batch moved (credits equal it)."""
    totals: dict[str, int] = {}
    for entry in entries:
        for line in entry.lines:
            if line.amount.minor > 0:
                currency = line.amount.currency
                totals[currency] = totals.get(currency, 0) + line.amount.minor
    return tuple(Money(minor, currency) for currency, minor in sorted(totals.items()))


def _audit(tx: Tx, result: BatchPosted, label: str, keyed: list[tuple[str, str]]) -> None:
    entry = result.entries[0]
    tx.audit(
        entry.actor,
        entry.source,
        "ledger.post_batch",
        f"batch {label}",
        count=len(result.entries),
        first=result.first,
        last=result.last,
        totals={money.currency: str(money) for money in result.totals},
        replayed=len(result.replayed),
        digest=batch_digest(keyed),
    )
