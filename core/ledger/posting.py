"""Posting: the one place journal entries, their lines and their A/R items are written.

A posting is idempotent: the entry's header, with its unique idempotency key, is the
transaction's first write; a second posting with the same key fails on that unique
index, the transaction rolls back, and the caller gets the original entry back
(``replayed=True``) with nothing written. A key reused for a different entry is an
:class:`~core.errors.IdempotencyConflict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database, Tx, inserted_id
from core.db.metadata import MAX_ID
from core.errors import IdempotencyConflict, NotFound, PeriodClosed, ValidationError
from core.ledger.model import AR_CONTROL, EntryDraft, Kind, PostedEntry, PostedLine, entry_number
from core.ledger.tables import (
    ar_item,
    customer_account,
    entry_type,
    gl_account,
    journal_entry,
    journal_line,
    reason_code,
)
from core.money import Money

# Built once: a statement made per call costs more than the INSERT it sends (benchmark).
_INSERT_ENTRY = journal_entry.insert()
_INSERT_LINE = journal_line.insert()
_INSERT_ITEM = ar_item.insert()
_INSERT_ITEMS = ar_item.insert().returning(ar_item.c.id, sort_by_parameter_order=True)

Row = dict[str, Any]
"""A row to INSERT, by column name."""


class DuplicateKey(Exception):
    """Raised inside a transaction when its idempotency key was already used."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True, slots=True)
class GlAccount:
    id: int
    code: str
    role: str
    category: str | None


async def _chart(
    conn: AsyncConnection, db: Database, codes: Iterable[str], *, reload: bool = False
) -> dict[str, GlAccount]:
    chart: dict[str, GlAccount] = db.cache.setdefault("chart", {})
    if reload or any(code not in chart for code in codes):
        rows = await conn.execute(
            select(gl_account.c.id, gl_account.c.code, gl_account.c.role, gl_account.c.category)
        )
        chart.update({r.code: GlAccount(r.id, r.code, r.role, r.category) for r in rows})
    return chart


async def revenue_code(conn: AsyncConnection, db: Database, category: str) -> str:
    """The revenue GL code for a service category (consultation, imaging, lab ...),
    from the cached chart; a category not seen yet reloads it once."""
    for reload in (False, True):
        chart = await _chart(conn, db, [], reload=reload or not db.cache.get("chart"))
        for account in chart.values():
            if account.role == "revenue" and account.category == category:
                return account.code
    raise NotFound(f"no revenue account is set up for the category {category!r}")


async def _kinds(conn: AsyncConnection, db: Database, codes: Iterable[str]) -> dict[str, Kind]:
    kinds: dict[str, Kind] = db.cache.setdefault("entry_types", {})
    if any(code not in kinds for code in codes):
        rows = await conn.execute(select(entry_type.c.code, entry_type.c.kind))
        kinds.update({r.code: Kind(r.kind) for r in rows})
    return kinds


async def entry_kind(conn: AsyncConnection, db: Database, code: str) -> Kind:
    kinds = await _kinds(conn, db, [code])
    if code not in kinds:
        raise ValidationError(f"{code!r} is not a defined entry type")
    return kinds[code]


async def _currencies(
    conn: AsyncConnection, db: Database, account_ids: set[int]
) -> dict[int, str]:
    """Currency of each account that exists; an account's currency never changes (cached)."""
    known: dict[int, str] = db.cache.setdefault("account_currency", {})
    missing = sorted(account_ids - known.keys())
    # In chunks: SQLite and asyncpg both cap the parameters of one statement.
    for start in range(0, len(missing), 500):
        rows = await conn.execute(
            select(customer_account.c.id, customer_account.c.currency).where(
                customer_account.c.id.in_(missing[start : start + 500])
            )
        )
        known.update({r.id: r.currency for r in rows})
    return known


async def account_currencies(
    conn: AsyncConnection, db: Database, account_ids: Iterable[int]
) -> dict[int, str]:
    """Currency of each account; an account's currency never changes, so it is cached."""
    wanted = set(account_ids)
    known = await _currencies(conn, db, wanted)
    unknown = wanted - known.keys()
    if unknown:
        raise NotFound(f"there is no customer account with id {min(unknown)}")
    return {i: known[i] for i in wanted}


async def _reasons(conn: AsyncConnection, db: Database, codes: Iterable[str]) -> set[str]:
    known: set[str] = db.cache.setdefault("reason_codes", set())
    if any(code not in known for code in codes):
        known.update(r.code for r in await conn.execute(select(reason_code.c.code)))
    return known


@dataclass(frozen=True, slots=True)
class Refs:
    """What drafts are checked against, read once for any number of drafts: entry types,
    the chart, reason codes, and the currency of each customer account they name."""

    kinds: dict[str, Kind]
    chart: dict[str, GlAccount]
    reasons: set[str]
    currencies: dict[int, str]


async def load_refs(conn: AsyncConnection, db: Database, drafts: Iterable[EntryDraft]) -> Refs:
    """Everything :func:`check_draft` needs for ``drafts``; a query only for what the
    database's cache does not hold yet."""
    types, codes, reasons, accounts = set(), set(), set(), set()
    for draft in drafts:
        types.add(draft.entry_type)
        if draft.reason_code is not None:
            reasons.add(draft.reason_code)
        for line in draft.lines:
            codes.add(line.gl)
            if line.account_id is not None:
                accounts.add(line.account_id)
    return Refs(
        kinds=await _kinds(conn, db, types),
        chart=await _chart(conn, db, codes),
        reasons=await _reasons(conn, db, reasons),
        currencies=await _currencies(conn, db, accounts),
    )


def check_draft(draft: EntryDraft, refs: Refs) -> Kind:
    """Refuse a draft that names something undefined or mixes currencies; its kind."""
    kind = refs.kinds.get(draft.entry_type)
    if kind is None:
        raise ValidationError(f"{draft.entry_type!r} is not a defined entry type")
    for line in draft.lines:
        if line.gl not in refs.chart:
            raise NotFound(f"there is no GL account {line.gl} in the chart of accounts")
    for line in draft.lines:
        if line.account_id is None:
            continue
        currency = refs.currencies.get(line.account_id)
        if currency is None:
            raise NotFound(f"there is no customer account with id {line.account_id}")
        if currency != line.amount.currency:
            raise ValidationError(
                f"account {line.account_id} is kept in {currency}, not {line.amount.currency}"
            )
    if draft.reason_code is not None and draft.reason_code not in refs.reasons:
        raise ValidationError(f"{draft.reason_code!r} is not a defined reason code")
    for line in draft.lines:
        if line.gl == AR_CONTROL:
            bill = line.item.bill_date or draft.effective_date
            due = line.item.due_date or bill
            if due < bill:
                raise ValidationError(f"the due date {due} is before the bill date {bill}")
    return kind


def _translate(exc: DBAPIError, draft: EntryDraft) -> Exception:
    message = str(exc.orig) if exc.orig is not None else str(exc)
    if "idempotency_key" in message:
        return DuplicateKey(draft.idempotency_key)
    if "period_closed" in message:
        return closed_period(draft)
    if "reverses_id" in message:
        return ValidationError(f"entry {draft.reverses_id} has already been reversed")
    return exc


def closed_period(draft: EntryDraft) -> PeriodClosed:
    return PeriodClosed(
        f"{draft.effective_date.isoformat()} falls in a closed fiscal period; "
        "post a correction dated in an open period instead"
    )


def entry_row(draft: EntryDraft, kind: Kind, fingerprint: str, now: datetime) -> Row:
    """The ``journal_entry`` row of a checked draft."""
    return {
        "idempotency_key": draft.idempotency_key,
        "fingerprint": fingerprint,
        "entry_type": draft.entry_type,
        "kind": kind.value,
        "reason_code": draft.reason_code,
        "effective_day": draft.effective_date,
        "posted_at": now,
        "actor": draft.actor,
        "source": draft.source,
        "memo": draft.memo,
        "reference": draft.reference,
        "reverses_id": draft.reverses_id,
        "line_count": len(draft.lines),
    }


def line_rows(draft: EntryDraft, entry_id: int, chart: dict[str, GlAccount]) -> list[Row]:
    """The ``journal_line`` rows of a checked draft, numbered from 1."""
    return [
        {
            "entry_id": entry_id,
            "line_no": line_no,
            "gl_account_id": chart[ln.gl].id,
            "customer_account_id": ln.account_id,
            "currency": ln.amount.currency,
            "amount_minor": ln.amount.minor,
        }
        for line_no, ln in enumerate(draft.lines, start=1)
    ]


def item_rows(draft: EntryDraft, entry_id: int) -> list[Row]:
    """One ``ar_item`` row per line on the control account of a checked draft."""
    day = draft.effective_date
    rows: list[Row] = []
    for line_no, line in enumerate(draft.lines, start=1):
        if line.gl != AR_CONTROL:
            continue
        terms = line.item
        bill = terms.bill_date or day
        rows.append(
            {
                "entry_id": entry_id,
                "line_no": line_no,
                "account_id": line.account_id,
                "currency": line.amount.currency,
                "amount_minor": line.amount.minor,
                "open_minor": line.amount.minor,  # a new item opens whole
                "effective_day": day,
                "service_day": terms.service_date or day,
                "bill_day": bill,
                "due_day": terms.due_date or bill,
                "doctor": terms.doctor,
                "payer": terms.payer,
                "ref_item_id": terms.ref_item_id,
                "description": terms.description[:200],
            }
        )
    return rows


def posted_entry(
    draft: EntryDraft, entry_id: int, kind: Kind, now: datetime, item_ids: dict[int, int]
) -> PostedEntry:
    """What a caller gets back for a draft written as ``entry_id``."""
    return PostedEntry(
        id=entry_id,
        idempotency_key=draft.idempotency_key,
        entry_type=draft.entry_type,
        kind=kind,
        effective_date=draft.effective_date,
        posted_at=now,
        actor=draft.actor,
        source=draft.source,
        memo=draft.memo,
        reason_code=draft.reason_code,
        reference=draft.reference,
        reverses_id=draft.reverses_id,
        lines=tuple(
            PostedLine(line_no, ln.gl, ln.amount, ln.account_id, item_ids.get(line_no))
            for line_no, ln in enumerate(draft.lines, start=1)
        ),
    )


async def post_entry(tx: Tx, draft: EntryDraft) -> PostedEntry:
    """Write ``draft`` inside ``tx``; raises :class:`DuplicateKey` if its key was used."""
    refs = await load_refs(tx.conn, tx.db, (draft,))
    kind = check_draft(draft, refs)
    now = tx.db.clock.now()
    try:
        entry_id = inserted_id(
            await tx.conn.execute(_INSERT_ENTRY, entry_row(draft, kind, draft.fingerprint(), now))
        )
    except (IntegrityError, DBAPIError) as exc:
        raise _translate(exc, draft) from exc
    await tx.conn.execute(_INSERT_LINE, line_rows(draft, entry_id, refs.chart))
    item_ids = await _insert_items(tx, item_rows(draft, entry_id))
    posted = posted_entry(draft, entry_id, kind, now, item_ids)
    tx.audit(
        draft.actor,
        draft.source,
        "ledger.post",
        posted.number,
        type=draft.entry_type,
        date=draft.effective_date.isoformat(),
        lines=[[ln.gl, ln.account_id, str(ln.amount), ln.amount.currency] for ln in draft.lines],
        reverses=draft.reverses_id,
        reason=draft.reason_code,
        key=draft.idempotency_key,
    )
    return posted


async def _insert_items(tx: Tx, rows: list[Row]) -> dict[int, int]:
    """Write one entry's A/R items; returns line number -> item id."""
    # One item (a charge, a payment) is the common case: a plain INSERT, no RETURNING.
    if len(rows) == 1:
        return {rows[0]["line_no"]: inserted_id(await tx.conn.execute(_INSERT_ITEM, rows[0]))}
    if not rows:
        return {}
    ids = (await tx.conn.execute(_INSERT_ITEMS, rows)).scalars().all()
    return {row["line_no"]: item_id for row, item_id in zip(rows, ids, strict=True)}


async def load_entry(
    conn: AsyncConnection, *, entry_id: int | None = None, key: str | None = None
) -> PostedEntry:
    """Read a posted entry back, by id or by idempotency key. An id past any id (typed or
    sent back by a button) is no entry: PostgreSQL's 32-bit INTEGER would refuse it."""
    query = select(journal_entry)
    query = query.where(
        journal_entry.c.id == entry_id if key is None else journal_entry.c.idempotency_key == key
    )
    in_range = key is not None or (entry_id is not None and 0 < entry_id <= MAX_ID)
    head = (await conn.execute(query)).mappings().first() if in_range else None
    if head is None:
        missing = entry_number(entry_id or 0) if key is None else f"with key {key!r}"
        raise NotFound(f"there is no entry {missing}")
    lines = (
        await conn.execute(
            select(
                journal_line.c.line_no,
                gl_account.c.code,
                journal_line.c.amount_minor,
                journal_line.c.currency,
                journal_line.c.customer_account_id,
                ar_item.c.id.label("item_id"),
            )
            .join(gl_account, gl_account.c.id == journal_line.c.gl_account_id)
            .outerjoin(
                ar_item,
                (ar_item.c.entry_id == journal_line.c.entry_id)
                & (ar_item.c.line_no == journal_line.c.line_no),
            )
            .where(journal_line.c.entry_id == head["id"])
            .order_by(journal_line.c.line_no)
        )
    ).all()
    return PostedEntry(
        id=head["id"],
        idempotency_key=head["idempotency_key"],
        entry_type=head["entry_type"],
        kind=Kind(head["kind"]),
        effective_date=head["effective_day"],
        posted_at=head["posted_at"],
        actor=head["actor"],
        source=head["source"],
        memo=head["memo"],
        reason_code=head["reason_code"],
        reference=head["reference"],
        reverses_id=head["reverses_id"],
        lines=tuple(
            PostedLine(
                r.line_no,
                r.code,
                Money(r.amount_minor, r.currency),
                r.customer_account_id,
                r.item_id,
            )
            for r in lines
        ),
        replayed=key is not None,
    )


async def replay(conn: AsyncConnection, key: str, fingerprint: str | None) -> PostedEntry:
    """The entry first posted under ``key``; refuses a key reused for other content."""
    entry = await load_entry(conn, key=key)
    if fingerprint is not None:
        stored = (
            await conn.execute(
                select(journal_entry.c.fingerprint).where(journal_entry.c.id == entry.id)
            )
        ).scalar_one()
        if stored != fingerprint:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for a different entry ({entry.number})"
            )
    return entry


async def post(db: Database, draft: EntryDraft) -> PostedEntry:
    """Post one entry in its own transaction; a replayed key returns the original."""
    try:
        async with db.transaction() as tx:
            return await post_entry(tx, draft)
    except DuplicateKey:
        async with db.read() as conn:
            return await replay(conn, draft.idempotency_key, draft.fingerprint())


async def reversed_by(conn: AsyncConnection, entry_id: int) -> str | None:
    """The number of the entry that reversed ``entry_id``, if one did."""
    found = await conn.execute(
        select(func.min(journal_entry.c.id)).where(journal_entry.c.reverses_id == entry_id)
    )
    reversal_id = found.scalar()
    return None if reversal_id is None else entry_number(reversal_id)
