"""Import posting rate: ``core.ledger.bulk.post_batch`` against plain ``sqlite3``
writing the same rows, N charges (200,000 unless told) in ONE transaction each.

Both sides start from copies of one freshly migrated SQLite file holding the
accounts, with the settings of ``core.db.Database`` (the pragmas of
``core.db.SQLITE_PRAGMAS``: WAL, ``synchronous=FULL``, foreign keys on) and
``BEGIN IMMEDIATE`` ... ``COMMIT``. Per charge each side writes one
``journal_entry`` (with its idempotency key and fingerprint), two ``journal_line``
and one ``ar_item``; per batch one ``audit_log`` record.

- *raw*: the ``sqlite3`` module, from plain tuples (row number, account, amount):
  it computes each fingerprint (the same hash, timed: whoever writes the rows has to),
  numbers the entries and items itself from ``MAX(id)`` (it holds the write lock),
  and sends three ``executemany`` and the audit record.
- *api*: ``post_batch`` on the same charges as ``EntryDraft`` values built
  beforehand (untimed: that is the import's parsing), in one ``db.transaction()``:
  validation, the lookup of every key already posted, the three INSERTs per round,
  the audit record and COMMIT.

Afterwards every row of both files is compared (timestamps and the hashes over them
aside), and core's audit-chain and invariant checks run on both.

The third row, the whole ``arbot import charges FILE.csv`` command, belongs to that
command: :func:`measure_cli` is its hook, not yet registered in ``benchmarks.run``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.posting import DUE, EFFECTIVE, GENESIS, SERVICE, _money_text, _sqlite_stamp
from core.db import SQLITE_PRAGMAS, Database
from core.db.audit import verify_chain
from core.db.metadata import to_day
from core.db.migrate import upgrade
from core.ledger.accounts import create_account
from core.ledger.bulk import batch_digest, post_batch
from core.ledger.invariants import check_invariants
from core.ledger.model import EntryDraft, ItemTerms, Line
from core.money import Money

DEFAULT_CHARGES = 200_000
ACCOUNTS = 1_000
LABEL = "charges.csv"
IMPORT_TARGET = 0.5


def charges_from_env() -> int:
    """N from ``ARBOT_BENCH_IMPORTS`` (a quick run: ``ARBOT_BENCH_IMPORTS=20000``)."""
    return int(os.environ.get("ARBOT_BENCH_IMPORTS", DEFAULT_CHARGES))


def amount_of(i: int) -> int:
    return 1_000 + (i * 37) % 90_000


def key_of(i: int) -> str:
    return f"import:{LABEL}:{i:07d}"


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
        actor="import",
        source="import",
    )


async def prepare(path: Path, accounts: int = ACCOUNTS) -> list[int]:
    """Migrate a fresh database at ``path`` with ``accounts`` accounts; their ids."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(db)
        async with db.transaction() as tx:
            return [
                (
                    await create_account(
                        tx, name=f"Patient {n}", currency="USD", actor="bench", source="bench"
                    )
                ).id
                for n in range(accounts)
            ]
    finally:
        await db.dispose()


def _fingerprint(amount: int, account_id: int) -> str:
    body = [
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
    ]
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def run_raw(path: Path, n: int, account_ids: list[int]) -> float:
    """The rows of ``n`` charges and their batch's audit record in one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    gl = dict(conn.execute("SELECT code, id FROM gl_account"))
    control, revenue = gl["1100"], gl["4000"]
    day, service, due = to_day(EFFECTIVE), to_day(SERVICE), to_day(DUE)
    began = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    entry_base = conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal_entry").fetchone()[0]
    item_base = conn.execute("SELECT COALESCE(MAX(id), 0) FROM ar_item").fetchone()[0]
    stamp = _sqlite_stamp(datetime.now(UTC))
    entries: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    items: list[tuple[Any, ...]] = []
    keyed: list[tuple[str, str]] = []
    total = 0
    accounts = len(account_ids)
    for i in range(n):
        entry_id, account_id, amount, key = (
            entry_base + i + 1,
            account_ids[i % accounts],
            amount_of(i),
            key_of(i),
        )
        fingerprint = _fingerprint(amount, account_id)
        entries.append((entry_id, key, fingerprint, day, stamp))
        lines.append((entry_id, 1, control, account_id, amount))
        lines.append((entry_id, 2, revenue, None, -amount))
        items.append((item_base + i + 1, entry_id, account_id, amount, day, service, day, due))
        keyed.append((key, fingerprint))
        total += amount
    conn.executemany(
        "INSERT INTO journal_entry (id, idempotency_key, fingerprint, entry_type, kind,"
        " reason_code, effective_day, posted_at, actor, source, memo, reference,"
        " reverses_id, line_count) VALUES (?, ?, ?, 'CHARGE', 'charge', NULL, ?, ?,"
        " 'import', 'import', '', NULL, NULL, 2)",
        entries,
    )
    conn.executemany(
        "INSERT INTO journal_line (entry_id, line_no, gl_account_id, customer_account_id,"
        " currency, amount_minor) VALUES (?, ?, ?, ?, 'USD', ?)",
        lines,
    )
    conn.executemany(
        "INSERT INTO ar_item (id, entry_id, line_no, account_id, currency, amount_minor,"
        " open_minor,"
        " effective_day, service_day, bill_day, due_day, doctor, payer, ref_item_id,"
        " description) VALUES (?, ?, 1, ?, 'USD', ?, ?4, ?, ?, ?, ?, NULL, NULL, NULL, '')",
        items,
    )
    detail = {
        "count": n,
        "first": f"T{entry_base + 1:08d}",
        "last": f"T{entry_base + n:08d}",
        "totals": {"USD": _money_text(total)},
        "replayed": 0,
        "digest": batch_digest(keyed),
    }
    _append_audit(conn, json.dumps(detail, sort_keys=True, ensure_ascii=False))
    conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    conn.close()
    return seconds


def _append_audit(conn: sqlite3.Connection, detail: str) -> None:
    head = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = datetime.now(UTC)
    subject = f"batch {LABEL}"
    canonical = [
        seq,
        prev,
        at.isoformat(timespec="microseconds"),
        "import",
        "import",
        "ledger.post_batch",
        subject,
        detail,
    ]
    digest = hashlib.sha256(
        json.dumps(canonical, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    conn.execute(
        "INSERT INTO audit_log (seq, prev_hash, hash, at, actor, source, action, subject,"
        " detail) VALUES (?, ?, ?, ?, 'import', 'import', 'ledger.post_batch', ?, ?)",
        (seq, prev, digest, _sqlite_stamp(at), subject, detail),
    )


async def run_api(path: Path, drafts: list[EntryDraft]) -> float:
    """``post_batch`` of every draft in one unit of work, COMMIT included."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        began = time.perf_counter()
        async with db.transaction() as tx:
            done = await post_batch(tx, drafts, label=LABEL)
        seconds = time.perf_counter() - began
    finally:
        await db.dispose()
    if len(done.entries) != len(drafts):
        raise RuntimeError(f"post_batch posted {len(done.entries)} of {len(drafts)}")
    return seconds


def measure_cli(csv_path: Path, db_path: Path) -> float:
    """Seconds ``arbot import charges CSV_PATH`` takes on the database at ``db_path``.

    The hook for the third row (the whole command: reading the file, building drafts,
    posting). Not registered in ``benchmarks.run`` until the command exists; its author
    writes the CSV of the same charges and prints this beside :func:`run_raw`."""
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}
    command = [sys.executable, "-m", "bot.cli", "import", "charges", str(csv_path)]
    began = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


# Columns that legitimately differ between the two databases.
_VARYING = {"journal_entry": {"posted_at"}, "audit_log": {"at", "hash", "prev_hash"}}
_TABLES = (
    ("customer_account", "id"),
    ("journal_entry", "id"),
    ("journal_line", "id"),
    ("ar_item", "id"),
    ("audit_log", "seq"),
)


def table_digests(
    path: Path, tables: tuple[tuple[str, str], ...] = _TABLES
) -> dict[str, tuple[int, str]]:
    """Per table: its row count and a hash over its rows in key order."""
    conn = sqlite3.connect(path)
    try:
        found = {}
        for table, order in tables:
            cur = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
            keep = [
                k for k, d in enumerate(cur.description) if d[0] not in _VARYING.get(table, ())
            ]
            digest, count = hashlib.sha256(), 0
            for row in cur:
                digest.update(repr([row[k] for k in keep]).encode())
                count += 1
            found[table] = (count, digest.hexdigest())
        return found
    finally:
        conn.close()


async def core_checks(path: Path) -> str:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.read() as conn:
            chain = await verify_chain(conn)
            problems = await check_invariants(conn)
        return f"chain {chain.reason} ({chain.records} records), {len(problems)} violations"
    finally:
        await db.dispose()


@dataclass
class ImportResult:
    n: int
    seconds: dict[str, list[float]]  # side -> seconds per round
    differs: str  # "" when the api's rows equal the raw side's
    checks: dict[str, str]

    def rate(self, side: str) -> float:
        return self.n * len(self.seconds[side]) / sum(self.seconds[side])

    def rounds(self, side: str) -> str:
        return " / ".join(f"{self.n / t:,.0f}" for t in self.seconds[side])

    @property
    def ratio(self) -> float:
        return self.rate("api") / self.rate("raw")


async def bench_imports(n: int, rounds: int = 2, tmp: Path | None = None) -> ImportResult:
    """``rounds`` runs per side, alternating which goes first, each on a fresh copy."""
    work = tmp or Path(os.environ.get("TMPDIR", "/tmp")) / f"arbot-bench-import-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        template = work / "template.db"
        account_ids = await prepare(template)
        drafts = [draft_of(i, account_ids[i % len(account_ids)]) for i in range(n)]
        seconds: dict[str, list[float]] = {"raw": [], "api": []}
        for r in range(rounds):
            for side in ("raw", "api") if r % 2 == 0 else ("api", "raw"):
                path = work / f"{side}.db"
                _remove(path)
                shutil.copy(template, path)
                if side == "raw":
                    seconds[side].append(await asyncio.to_thread(run_raw, path, n, account_ids))
                else:
                    seconds[side].append(await run_api(path, drafts))
        raw, api = table_digests(work / "raw.db"), table_digests(work / "api.db")
        differs = "; ".join(
            f"{t} differs ({api[t][0]} vs {raw[t][0]} rows)" for t in api if api[t] != raw[t]
        )
        checks = {side: await core_checks(work / f"{side}.db") for side in ("raw", "api")}
        return ImportResult(n, seconds, differs, checks)
    finally:
        if tmp is None:
            shutil.rmtree(work, ignore_errors=True)


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def print_imports(p: ImportResult) -> None:
    for side, label in (
        ("api", "api  core.ledger.bulk.post_batch, one transaction"),
        ("raw", "raw  sqlite3 executemany, same rows, one transaction"),
    ):
        print(f"  {label}: {p.rate(side):8,.0f} postings/s   rounds {p.rounds(side)}")
    print(f"  ratio api/raw: {p.ratio:.3f}   (target >= {IMPORT_TARGET})")
    print(
        f"  api rows equal to the raw side's: {'NO: ' + p.differs if p.differs else 'yes'}"
        " (every row of every ledger table and the audit record; timestamps and the hashes"
        " over them excluded)"
    )
    for side, checks in p.checks.items():
        print(f"  core's checks on the {side} database: {checks}")


def _profile(n: int) -> None:  # pragma: no cover - a tuning aid: python -m benchmarks.imports
    import cProfile
    import pstats
    import tempfile

    async def go() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "api.db"
            account_ids = await prepare(path)
            drafts = [draft_of(i, account_ids[i % len(account_ids)]) for i in range(n)]
            profiler = cProfile.Profile()
            profiler.enable()
            print(f"{n / await run_api(path, drafts):,.0f} postings/s under the profiler")
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)

    asyncio.run(go())


if __name__ == "__main__":
    _profile(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
