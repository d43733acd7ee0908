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
through the driver (see :class:`core.db.bulk.MultiRowInsert`), as is the key lookup.
Entry ids come back matched through the unique idempotency key, item ids through entry id and line
number: SQLite cannot return the ids of a multi-row INSERT in parameter order, so
SQLAlchemy's ``sort_by_parameter_order`` would fall back to one INSERT per row there.
Python's cyclic garbage collector is paused while a batch runs. At 200,000 charges
this is about two thirds of the rate of plain ``sqlite3`` writing the same rows
(``python -m benchmarks.run --only imports``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Tx
from core.db.bulk import MultiRowInsert, collector_paused, insert_columns, placeholders
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


@lru_cache(maxsize=16)
def _lookup_sql(dialect: Dialect, keys: int) -> str:
    return (
        "SELECT idempotency_key, fingerprint FROM journal_entry"
        f" WHERE idempotency_key IN ({placeholders(dialect, keys)})"
    )


_INSERT_ENTRIES = MultiRowInsert(
    journal_entry, insert_columns(journal_entry), ("id", "idempotency_key")
)
_INSERT_LINES = MultiRowInsert(journal_line, insert_columns(journal_line))
_INSERT_ITEMS = MultiRowInsert(ar_item, insert_columns(ar_item), ("id", "entry_id", "line_no"))


Written = tuple[EntryDraft, Kind, int, dict[int, int]]
"""A draft as written: with its kind, its entry id and line number -> item id."""


class BatchPosted:
    """What a batch wrote: its entries in the order of the drafts, with item ids per
    line; the keys skipped as already posted; and the debits posted per currency.

    An import of 200,000 charges needs only each entry's id, so the full
    :class:`PostedEntry` values are built when first asked for (benchmarks)."""

    def __init__(self, written: list[Written], replayed: Sequence[str], now: datetime) -> None:
        self._written = written
        self._now = now
        self.replayed = tuple(replayed)

    def __len__(self) -> int:
        return len(self._written)

    @cached_property
    def entries(self) -> tuple[PostedEntry, ...]:
        return tuple(posted_entry(d, i, k, self._now, items) for d, k, i, items in self._written)

    @cached_property
    def entry_ids(self) -> dict[str, int]:
        """Idempotency key -> id of the entry written under it."""
        return {draft.idempotency_key: entry_id for draft, _, entry_id, _ in self._written}

    def entry(self, key: str) -> PostedEntry:
        """The entry written under ``key``."""
        draft, kind, entry_id, items = self._written[self._positions[key]]
        return posted_entry(draft, entry_id, kind, self._now, items)

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {w[0].idempotency_key: n for n, w in enumerate(self._written)}

    @cached_property
    def totals(self) -> tuple[Money, ...]:
        """Sum of the debit lines per currency: what the batch moved (credits equal it)."""
        sums: dict[str, int] = {}
        for draft, _, _, _ in self._written:
            for line in draft.lines:
                if line.amount.minor > 0:
                    currency = line.amount.currency
                    sums[currency] = sums.get(currency, 0) + line.amount.minor
        return tuple(Money(minor, currency) for currency, minor in sorted(sums.items()))

    @property
    def first(self) -> str | None:
        """Number of the first entry the batch wrote; None if it wrote none."""
        return f"T{min(w[2] for w in self._written):08d}" if self._written else None

    @property
    def last(self) -> str | None:
        return f"T{max(w[2] for w in self._written):08d}" if self._written else None


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
    with collector_paused():
        return await _post_batch(tx, drafts, label)


async def _post_batch(tx: Tx, drafts: Sequence[EntryDraft], label: str) -> BatchPosted:
    _check_batch(drafts, label)
    conn = tx.conn
    refs = await load_refs(conn, tx.db, drafts)
    kinds = [check_draft(draft, refs) for draft in drafts]
    stored = await existing_keys(conn, [d.idempotency_key for d in drafts])
    todo, replayed = _sort_out(drafts, kinds, stored)
    await _refuse_closed_periods(conn, [draft for draft, _ in todo])
    keyed: list[tuple[str, str]] = []
    try:
        now = tx.db.clock.now()
        posted = await _write(conn, todo, refs.chart, now, keyed)
    except DBAPIError as exc:
        raise _translate(exc, label) from exc
    result = BatchPosted(posted, replayed, now)
    if posted:
        _audit(tx, result, label, keyed)
    return result


def _sort_out(
    drafts: Sequence[EntryDraft], kinds: list[Kind], stored: dict[str, str]
) -> tuple[list[tuple[EntryDraft, Kind]], list[str]]:
    """The drafts to write (with their kind) and the keys to report replayed; refuses a
    key already posted with other content. New drafts are fingerprinted as they are
    written (see :func:`_write`)."""
    todo: list[tuple[EntryDraft, Kind]] = []
    replayed: list[str] = []
    for draft, kind in zip(drafts, kinds, strict=True):
        key = draft.idempotency_key
        if key not in stored:
            todo.append((draft, kind))
        elif stored[key] == draft.fingerprint():
            replayed.append(key)
        else:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for a different entry"
            )
    return todo, replayed


async def _write(
    conn: AsyncConnection,
    todo: list[tuple[EntryDraft, Kind]],
    chart: dict[str, GlAccount],
    now: datetime,
    keyed: list[tuple[str, str]],
) -> list[Written]:
    """Every round's headers, then its lines and items, ``ENTRIES_PER_ROUND`` entries a
    round. SQLite works on one round's INSERTs in the driver's thread while this one
    prepares the next round's headers and reads back the last round's entries: the two
    halves of the work overlap instead of taking turns (benchmarks/import_cli.py)."""
    rounds = [todo[i : i + ENTRIES_PER_ROUND] for i in range(0, len(todo), ENTRIES_PER_ROUND)]
    posted: list[Written] = []
    heads = _head_rows(rounds[0], now, keyed) if rounds else []
    for number, chunk in enumerate(rounds):
        ids = {key: entry_id for entry_id, key in await _INSERT_ENTRIES.run(conn, heads)}
        order = [ids[draft.idempotency_key] for draft, _ in chunk]
        lines: list[Row] = []
        items: list[Row] = []
        for (draft, _), entry_id in zip(chunk, order, strict=True):
            lines += line_rows(draft, entry_id, chart)
            items += item_rows(draft, entry_id)
        writing = asyncio.ensure_future(_lines_and_items(conn, lines, items))
        try:
            await asyncio.sleep(0)  # the INSERTs are in the driver's thread now
            later = rounds[number + 1] if number + 1 < len(rounds) else []
            heads = _head_rows(later, now, keyed)
        finally:
            item_ids = await writing
        posted += [
            (draft, kind, entry_id, item_ids.get(entry_id, {}))
            for (draft, kind), entry_id in zip(chunk, order, strict=True)
        ]
    return posted


def _head_rows(
    chunk: list[tuple[EntryDraft, Kind]], now: datetime, keyed: list[tuple[str, str]]
) -> list[Row]:
    rows = []
    for draft, kind in chunk:
        fingerprint = draft.fingerprint()
        keyed.append((draft.idempotency_key, fingerprint))
        rows.append(entry_row(draft, kind, fingerprint, now))
    return rows


async def _lines_and_items(
    conn: AsyncConnection, lines: list[Row], items: list[Row]
) -> dict[int, dict[int, int]]:
    """Write one round's lines and items; entry id -> line number -> item id."""
    await _INSERT_LINES.run(conn, lines)
    item_ids: dict[int, dict[int, int]] = {}
    if items:
        for item_id, entry_id, line_no in await _INSERT_ITEMS.run(conn, items):
            item_ids.setdefault(entry_id, {})[line_no] = item_id
    return item_ids


def _audit(tx: Tx, result: BatchPosted, label: str, keyed: list[tuple[str, str]]) -> None:
    draft = result._written[0][0]
    tx.audit(
        draft.actor,
        draft.source,
        "ledger.post_batch",
        f"batch {label}",
        count=len(result),
        first=result.first,
        last=result.last,
        totals={money.currency: str(money) for money in result.totals},
        replayed=len(result.replayed),
        digest=batch_digest(keyed),
    )
