"""The charge import end to end: ``arbot import charges FILE.csv`` against plain
``sqlite3`` doing the same job, 200,000 charge lines (issue 3's target: at least half
the raw rate).

Both sides start from copies of one migrated SQLite file holding 1,000 accounts and a
small catalogue, with the settings of ``core.db.Database`` (WAL, ``synchronous=FULL``,
foreign keys on), and read the same CSV file.

- *raw*: the ``csv`` and ``sqlite3`` modules. It reads the file, looks each row's
  account and service up in dicts, computes each entry's fingerprint (the same hash),
  numbers the rows itself and sends ``executemany`` for ``journal_entry``,
  ``journal_line`` (two per charge), ``ar_item`` and ``charge_line``, then the
  batch's two audit records, in one ``BEGIN IMMEDIATE`` ... ``COMMIT``. It checks
  nothing: no dates, quantities, duplicates, closed periods or stock.
- *arbot*: ``bot.cli.main(["import", "charges", FILE])`` in this process (the
  interpreter's start-up is left out on both sides): every check of the import, the
  pricing rules, the key lookup, the bulk posting, the charge detail, the audit
  records and COMMIT.

Afterwards the two databases' ledger tables and charge lines are compared row by
row (timestamps aside) and core's audit-chain and invariant checks run on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.imports import _remove, core_checks, table_digests
from benchmarks.posting import GENESIS, _money_text, _sqlite_stamp
from core.auth import Actor
from core.billing.catalogue import NewService, define_service
from core.db import SQLITE_PRAGMAS, Database
from core.db.metadata import to_day
from core.db.migrate import upgrade
from core.ledger.accounts import create_account
from core.ledger.bulk import batch_digest
from core.money import Money

ACCOUNTS = 1_000
SERVICES = (
    ("CONS", "Consultation", "consultation", 12_000, "4000"),
    ("LAB-CBC", "Complete blood count", "lab", 3_500, "4020"),
    ("XR-CHEST", "Chest X-ray", "imaging", 18_000, "4010"),
    ("PROC-SUTURE", "Wound suture", "procedure", 35_000, "4030"),
)
SERVED = date(2026, 1, 14)
TARGET = 0.5
ACTOR = "system:import-charges"


async def prepare(path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(db)
        actor = Actor.system("bench")
        for code, description, category, price, _ in SERVICES:
            await define_service(
                db, actor, NewService(code, description, category, Money(price, "USD"))
            )
        async with db.transaction() as tx:
            for n in range(ACCOUNTS):
                await create_account(
                    tx, name=f"Patient {n}", currency="USD", actor="bench", source="bench",
                    number=f"K{n:05d}",
                )  # fmt: skip
    finally:
        await db.dispose()


def write_csv(path: Path, n: int) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["external_id", "account_number", "service_code", "quantity", "service_date"])
        for i in range(n):
            code = SERVICES[i % len(SERVICES)][0]
            quantity = 1 + i % 3 if code == "LAB-CBC" else 1
            served = SERVED - timedelta(days=i % 20)
            out.writerow([f"X{i:07d}", f"K{i % ACCOUNTS:05d}", code, quantity, served.isoformat()])


def _fingerprint(
    day: str, eid: str, memo: str, amount: int, account_id: int, due: str, revenue: str
) -> str:
    """What ``EntryDraft.fingerprint`` computes for the charge."""
    lines = [["1100", amount, "USD", account_id, due], [revenue, -amount, "USD", None, None]]
    body = ["CHARGE", day, None, eid, None, memo, lines]
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def run_raw(db_path: Path, csv_path: Path) -> float:
    conn = sqlite3.connect(db_path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    began = time.perf_counter()
    gl = dict(conn.execute("SELECT code, id FROM gl_account"))
    accounts = {
        number: (account_id, fclass)
        for number, account_id, fclass in conn.execute(
            "SELECT number, id, financial_class FROM customer_account"
        )
    }
    services = {code: (desc, price, rev) for code, desc, _, price, rev in SERVICES}
    conn.execute("BEGIN IMMEDIATE")
    entry_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal_entry").fetchone()[0]
    item_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM ar_item").fetchone()[0]
    stamp = _sqlite_stamp(datetime.now(UTC))
    entries, lines, items, details, keyed = [], [], [], [], []
    total = 0
    with csv_path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for eid, number, code, quantity_text, served_text in reader:
            account_id, fclass = accounts[number]
            description, price, revenue = services[code]
            quantity = int(quantity_text)
            amount = price * quantity
            served = date.fromisoformat(served_text)
            day, due = to_day(served), to_day(served + timedelta(days=30))
            memo = description if quantity == 1 else f"{description} x{quantity}"
            key = f"import/charge/{eid}"
            due_text = (served + timedelta(days=30)).isoformat()
            fingerprint = _fingerprint(
                served_text, eid, memo, amount, account_id, due_text, revenue
            )
            entry_id += 1
            item_id += 1
            entries.append((entry_id, key, fingerprint, day, stamp, memo, eid))
            lines.append((entry_id, 1, gl["1100"], account_id, amount))
            lines.append((entry_id, 2, gl[revenue], None, -amount))
            items.append((item_id, entry_id, account_id, amount, day, day, day, due, fclass, memo))
            details.append((entry_id, code, description, quantity, price, amount, day))
            keyed.append((key, fingerprint))
            total += amount
    conn.executemany(
        "INSERT INTO journal_entry (id, idempotency_key, fingerprint, entry_type, kind,"
        " reason_code, effective_day, posted_at, actor, source, memo, reference,"
        " reverses_id, line_count) VALUES (?, ?, ?, 'CHARGE', 'charge', NULL, ?, ?,"
        f" '{ACTOR}', 'import', ?, ?, NULL, 2)",
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
        " description) VALUES (?, ?, 1, ?, 'USD', ?, ?4, ?, ?, ?, ?, NULL, ?, NULL, ?)",
        items,
    )
    conn.executemany(
        "INSERT INTO charge_line (entry_id, seq, service_code, description, quantity,"
        " list_unit_minor, amount_minor, currency, rule_id, override_reason, service_day,"
        " doctor, location) VALUES (?, 1, ?, ?, ?, ?, ?, 'USD', NULL, NULL, ?, NULL, 'main')",
        details,
    )
    first, count = entry_id - len(entries) + 1, len(entries)
    _audit(conn, "ledger.post_batch", "batch charges.csv", {
        "count": count, "first": f"T{first:08d}", "last": f"T{entry_id:08d}",
        "totals": {"USD": _money_text(total)}, "replayed": 0, "digest": batch_digest(keyed),
    })  # fmt: skip
    _audit(conn, "import.charges", "batch charges.csv", {
        "rows": count, "written": count, "already": 0, "rejected": 0,
        "amount": _money_text(total),
    })  # fmt: skip
    conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    conn.close()
    return seconds


def _audit(conn: sqlite3.Connection, action: str, subject: str, detail: dict[str, object]) -> None:
    text = json.dumps(detail, sort_keys=True, ensure_ascii=False)
    head = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = datetime.now(UTC)
    canonical = [seq, prev, at.isoformat(timespec="microseconds"), ACTOR, "import", action,
                 subject, text]  # fmt: skip
    digest = hashlib.sha256(
        json.dumps(canonical, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    conn.execute(
        "INSERT INTO audit_log (seq, prev_hash, hash, at, actor, source, action, subject,"
        " detail) VALUES (?, ?, ?, ?, ?, 'import', ?, ?, ?)",
        (seq, prev, digest, _sqlite_stamp(at), ACTOR, action, subject, text),
    )


def run_arbot(db_path: Path, csv_path: Path) -> float:
    from bot.cli import main

    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = f"sqlite+aiosqlite:///{db_path}"
    try:
        began = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["import", "charges", str(csv_path)])
        seconds = time.perf_counter() - began
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
    if code != 0:
        raise RuntimeError(f"arbot import charges exited {code}")
    return seconds


@dataclass
class CliResult:
    n: int
    seconds: dict[str, list[float]]
    differs: str
    checks: dict[str, str]

    def rate(self, side: str) -> float:
        return self.n * len(self.seconds[side]) / sum(self.seconds[side])

    @property
    def ratio(self) -> float:
        return self.rate("arbot") / self.rate("raw")


TABLES = (
    ("journal_entry", "id"),
    ("journal_line", "id"),
    ("ar_item", "id"),
    ("charge_line", "id"),
)


def bench_import_cli(n: int, rounds: int = 2) -> CliResult:
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"arbot-bench-import-cli-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        template = work / "template.db"
        asyncio.run(prepare(template))
        csv_path = work / "charges.csv"
        write_csv(csv_path, n)
        seconds: dict[str, list[float]] = {"raw": [], "arbot": []}
        for r in range(rounds):
            for side in ("raw", "arbot") if r % 2 == 0 else ("arbot", "raw"):
                path = work / f"{side}.db"
                _remove(path)
                shutil.copy(template, path)
                run = run_raw if side == "raw" else run_arbot
                seconds[side].append(run(path, csv_path))
        raw = table_digests(work / "raw.db", TABLES)
        api = table_digests(work / "arbot.db", TABLES)
        differs = "; ".join(f"{t} differs ({api[t][0]} vs {raw[t][0]} rows)"
                            for t in api if api[t] != raw[t])  # fmt: skip
        checks = {s: asyncio.run(core_checks(work / f"{s}.db")) for s in ("raw", "arbot")}
        return CliResult(n, seconds, differs, checks)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_import_cli(p: CliResult) -> None:
    for side, label in (
        ("arbot", "arbot import charges FILE.csv (every check, pricing, bulk posting)"),
        ("raw", "raw   csv + sqlite3 executemany, same rows, no checks"),
    ):
        rounds = " / ".join(f"{p.n / t:,.0f}" for t in p.seconds[side])
        print(f"  {label}: {p.rate(side):8,.0f} charges/s   rounds {rounds}")
    print(f"  ratio arbot/raw: {p.ratio:.3f}   (target >= {TARGET})")
    print(f"  rows equal to the raw side's: {'NO: ' + p.differs if p.differs else 'yes'}")
    for side, checks in p.checks.items():
        print(f"  core's checks on the {side} database: {checks}")
