"""Posting rate: ``core.ledger.posting.post`` against plain ``sqlite3`` writing the same rows.

Both sides run on a freshly migrated SQLite file with the settings of
``core.db.Database`` (WAL, ``synchronous=FULL``, foreign keys on), one transaction per
posting (``BEGIN IMMEDIATE`` ... ``COMMIT``), one caller, a new idempotency key each.

Per posting the API writes one ``journal_entry``, two ``journal_line``, one ``ar_item``
and one ``audit_log`` row (the hash chain's head is read inside the transaction). The
raw side writes exactly those rows, with the same values: the same fingerprint and the
same audit detail and hash computation, so the two databases differ only in
timestamps and the hashes that cover them. :func:`compare` checks that, and
:func:`check_raw` runs core's audit-chain and ledger-invariant checks on the raw side.

A third side, for tuning only, runs the raw side's statements through ``aiosqlite``
(the API's driver) without SQLAlchemy: the API's gap splits into what the async
driver's worker thread costs and what the layers above it cost.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Generator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from core.db import SQLITE_PRAGMAS, Database
from core.db.audit import verify_chain
from core.db.metadata import to_day
from core.db.migrate import upgrade
from core.ledger.accounts import create_account
from core.ledger.invariants import check_invariants
from core.ledger.model import EntryDraft, ItemTerms, Line
from core.ledger.posting import post
from core.money import Money

EFFECTIVE = date(2026, 1, 15)
SERVICE = date(2026, 1, 14)
DUE = EFFECTIVE + timedelta(days=30)
GENESIS = "0" * 64


def amount_of(i: int) -> int:
    return 1_000 + (i * 37) % 90_000


def key_of(i: int) -> str:
    return f"bench-{i:07d}"


def draft_of(i: int, account_id: int) -> EntryDraft:
    amount = Money(amount_of(i), "USD")
    return EntryDraft(
        entry_type="CHARGE",
        effective_date=EFFECTIVE,
        lines=(
            Line("1100", amount, account_id, ItemTerms(service_date=SERVICE, due_date=DUE)),
            Line("4000", -amount),
        ),
        idempotency_key=key_of(i),
        actor="bench",
        source="bench",
    )


async def prepare(path: Path) -> int:
    """Migrate a fresh database at ``path`` and open the one account; returns its id."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(db)
        async with db.transaction() as tx:
            account = await create_account(
                tx, name="Bench Patient", currency="USD", actor="bench", source="bench"
            )
        return account.id
    finally:
        await db.dispose()


class ApiPoster:
    def __init__(self, path: Path, account_id: int) -> None:
        self.db = Database(f"sqlite+aiosqlite:///{path}")
        self.account_id = account_id

    async def run(self, start: int, n: int) -> float:
        db, account_id = self.db, self.account_id
        began = time.perf_counter()
        for i in range(start, start + n):
            await post(db, draft_of(i, account_id))
        return time.perf_counter() - began

    async def count_statements(self, start: int, n: int) -> Counter[str]:
        """Statements the driver executes for ``n`` postings (COMMIT is not a statement
        here: SQLAlchemy commits through the DB-API, so it is counted separately)."""
        seen: Counter[str] = Counter()

        def listen(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
            words = statement.split()
            label = " ".join(words[:3]) if words[0] in ("INSERT", "BEGIN") else words[0]
            if words[0] == "SELECT":
                label = "SELECT " + words[words.index("FROM") + 1] if "FROM" in words else label
            seen[label] += 1

        sync_engine = self.db.engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", listen)
        try:
            await self.run(start, n)
        finally:
            event.remove(sync_engine, "before_cursor_execute", listen)
        return seen

    async def count_hops(self, start: int, n: int) -> Counter[str] | None:
        """Calls aiosqlite hands to its worker thread for ``n`` postings, by what they do.

        Each is a round trip between the event loop and that thread. This patches a
        private method of aiosqlite for the duration; None if aiosqlite has changed."""
        try:
            import aiosqlite.core as aio

            original: Any = aio.Connection._execute
        except (ImportError, AttributeError):
            return None
        hops: Counter[str] = Counter()

        async def counted(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            hops[getattr(fn, "__name__", type(fn).__name__)] += 1
            return await original(conn, fn, *args, **kwargs)

        aio.Connection._execute = counted  # type: ignore[method-assign,assignment]
        try:
            await self.run(start, n)
        finally:
            aio.Connection._execute = original  # type: ignore[method-assign]
        return hops

    async def close(self) -> None:
        await self.db.dispose()


def _money_text(minor: int) -> str:
    sign, minor = ("-", -minor) if minor < 0 else ("", minor)
    return f"{sign}{minor // 100}.{minor % 100:02d}"


def _sqlite_stamp(moment: datetime) -> str:
    """SQLAlchemy's SQLite DateTime text for a UTC moment (stored naive)."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


Step = tuple[str, tuple[Any, ...]]


def posting_steps(
    i: int, account_id: int, control: int, revenue: int
) -> Generator[Step, Any, None]:
    """The statements of one posting, between BEGIN IMMEDIATE and COMMIT.

    A driver sends back each INSERT's ``lastrowid`` and the SELECT's ``fetchone()``,
    so the sync and the async raw sides run exactly the same statements."""
    amount, key = amount_of(i), key_of(i)
    day, service, due = to_day(EFFECTIVE), to_day(SERVICE), to_day(DUE)
    fingerprint = hashlib.sha256(
        json.dumps(
            [
                "CHARGE",
                EFFECTIVE.isoformat(),
                None,
                None,
                None,
                "",
                [
                    ["1100", amount, "USD", account_id, DUE.isoformat()],
                    ["4000", -amount, "USD", None, None],
                ],
            ],
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    entry_id = yield (
        "INSERT INTO journal_entry (idempotency_key, fingerprint, entry_type, kind,"
        " reason_code, effective_day, posted_at, actor, source, memo, reference,"
        " reverses_id, line_count) VALUES (?, ?, 'CHARGE', 'charge', NULL, ?, ?,"
        " 'bench', 'bench', '', NULL, NULL, 2)",
        (key, fingerprint, day, _sqlite_stamp(datetime.now(UTC))),
    )
    yield (
        "INSERT INTO journal_line (entry_id, line_no, gl_account_id, customer_account_id,"
        " currency, amount_minor) VALUES (?, 1, ?, ?, 'USD', ?)",
        (entry_id, control, account_id, amount),
    )
    yield (
        "INSERT INTO journal_line (entry_id, line_no, gl_account_id, customer_account_id,"
        " currency, amount_minor) VALUES (?, 2, ?, NULL, 'USD', ?)",
        (entry_id, revenue, -amount),
    )
    yield (
        "INSERT INTO ar_item (entry_id, line_no, account_id, currency, amount_minor, open_minor,"
        " effective_day, service_day, bill_day, due_day, doctor, payer, ref_item_id,"
        " description) VALUES (?, 1, ?, 'USD', ?, ?3, ?, ?, ?, ?, NULL, NULL, NULL, '')",
        (entry_id, account_id, amount, day, service, day, due),
    )
    head = yield ("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", ())
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = datetime.now(UTC)
    detail = json.dumps(
        {
            "type": "CHARGE",
            "date": EFFECTIVE.isoformat(),
            "lines": [
                ["1100", account_id, _money_text(amount), "USD"],
                ["4000", None, _money_text(-amount), "USD"],
            ],
            "reverses": None,
            "reason": None,
            "key": key,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    subject = f"T{entry_id:08d}"
    digest = hashlib.sha256(
        json.dumps(
            [
                seq,
                prev,
                at.isoformat(timespec="microseconds"),
                "bench",
                "bench",
                "ledger.post",
                subject,
                detail,
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    ).hexdigest()
    yield (
        "INSERT INTO audit_log (seq, prev_hash, hash, at, actor, source, action,"
        " subject, detail) VALUES (?, ?, ?, ?, 'bench', 'bench', 'ledger.post', ?, ?)",
        (seq, prev, digest, _sqlite_stamp(at), subject, detail),
    )


RAW_STATEMENTS = 8
"""BEGIN IMMEDIATE, the seven statements of :func:`posting_steps`, COMMIT."""


class RawPoster:
    """The same rows with the ``sqlite3`` module: no SQLAlchemy, no event loop."""

    def __init__(self, path: Path, account_id: int) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            self.conn.execute(pragma)
        gl = dict(self.conn.execute("SELECT code, id FROM gl_account"))
        self.control, self.revenue = gl["1100"], gl["4000"]
        self.account_id = account_id

    def post(self, i: int) -> None:
        steps = posting_steps(i, self.account_id, self.control, self.revenue)
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            sent = None
            while True:
                try:
                    sql, params = steps.send(sent)
                except StopIteration:
                    break
                cur.execute(sql, params)
                sent = cur.fetchone() if sql.startswith("SELECT") else cur.lastrowid
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def run(self, start: int, n: int) -> float:
        began = time.perf_counter()
        for i in range(start, start + n):
            self.post(i)
        return time.perf_counter() - began

    def close(self) -> None:
        self.conn.close()


class AioPoster:
    """The same statements through ``aiosqlite`` (the API's driver) without SQLAlchemy:
    shows how much of the gap is the async driver's thread and how much is above it."""

    def __init__(self, path: Path, account_id: int) -> None:
        self.path, self.account_id = path, account_id

    async def open(self) -> AioPoster:
        import aiosqlite

        self.conn = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            await self.conn.execute(pragma)
        rows = await self.conn.execute_fetchall("SELECT code, id FROM gl_account")
        gl = {code: gl_id for code, gl_id in rows}
        self.control, self.revenue = gl["1100"], gl["4000"]
        return self

    async def post(self, i: int) -> None:
        steps = posting_steps(i, self.account_id, self.control, self.revenue)
        conn = self.conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            sent = None
            while True:
                try:
                    sql, params = steps.send(sent)
                except StopIteration:
                    break
                cur = await conn.execute(sql, params)
                sent = await cur.fetchone() if sql.startswith("SELECT") else cur.lastrowid
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise

    async def run(self, start: int, n: int) -> float:
        began = time.perf_counter()
        for i in range(start, start + n):
            await self.post(i)
        return time.perf_counter() - began

    async def close(self) -> None:
        await self.conn.close()


# Columns that legitimately differ between the two databases.
_VARYING = {
    "customer_account": {"created_at"},
    "journal_entry": {"posted_at"},
    "audit_log": {"at", "hash", "prev_hash"},
}
_TABLES = (
    ("customer_account", "id"),
    ("journal_entry", "id"),
    ("journal_line", "id"),
    ("ar_item", "id"),
    ("application", "id"),
    ("allocation", "id"),
    ("audit_log", "seq"),
)


def _rows(conn: sqlite3.Connection, table: str, order: str) -> list[dict[str, Any]]:
    cur = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
    names = [d[0] for d in cur.description]
    skip = _VARYING.get(table, set())
    return [{k: v for k, v in zip(names, row, strict=True) if k not in skip} for row in cur]


def compare(api_path: Path, other_path: Path) -> str:
    """What differs between two databases' ledger rows ("" if nothing), ignoring
    timestamps and the hashes over them."""
    api, other = sqlite3.connect(api_path), sqlite3.connect(other_path)
    try:
        problems = []
        for table, order in _TABLES:
            a, o = _rows(api, table, order), _rows(other, table, order)
            if a != o:
                problems.append(f"{table} differs ({len(a)} vs {len(o)} rows)")
        return "; ".join(problems)
    finally:
        api.close()
        other.close()


async def check_raw(path: Path) -> str:
    """Core's own checks on the rows the raw side wrote."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.read() as conn:
            chain = await verify_chain(conn)
            problems = await check_invariants(conn)
        return (
            f"audit chain {chain.reason} ({chain.records} records), "
            f"{len(problems)} invariant violations"
        )
    finally:
        await db.dispose()
