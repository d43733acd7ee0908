"""Customer search over 100,000 customers: p95 per kind of search (issue 3 target: under
20 ms), beside the same SQL run in plain ``sqlite3`` in the same run.

The customers are generated straight into a migrated SQLite file (cached under /tmp):
surnames follow a long-tailed distribution (a few very common, many rare, as in a
hospital's patient list), one in ten patients has a guarantor, every patient has an
MRN and a phone number, a charge and a payment by cheque with its reference (so that a
search by entry number or reference, AR-082, looks among 200,000 entries).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.dialects import sqlite as sqlite_dialect

CACHE = Path("/tmp/arbot-bench-search-v2.db")
CUSTOMERS = 100_000
QUERIES = 200
TARGET_MS = 20.0
COMMON = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Nguyen",
    "Chen",
    "Okafor",
]
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ser",
    "van",
    "dor",
    "ti",
    "ber",
    "no",
    "zu",
    "rel",
    "ash",
    "quin",
    "mont",
    "ha",
    "vel",
    "gor",
    "sti",
    "pel",
    "ran",
]
FIRST = ["Ana", "Luis", "Maria", "John", "Grace", "Omar", "Mei", "Ivan", "Fatima", "Peter"]


def _surnames(rng: random.Random) -> list[str]:
    rare = {
        (rng.choice(SYLLABLES) + rng.choice(SYLLABLES) + rng.choice(SYLLABLES)).title()
        for _ in range(20_000)
    }
    return [*COMMON, *sorted(rare)]


def generate(path: Path = CACHE) -> Path:
    """Migrate a fresh file and write the customers with plain sqlite3 (fast)."""
    import jellyfish

    from core.db import Database
    from core.db.migrate import upgrade

    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)

    async def migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{partial}")
        await upgrade(db)
        await db.dispose()

    asyncio.run(migrate())
    rng = random.Random(11)
    names = _surnames(rng)
    weights = [400 if i < len(COMMON) else 1 for i in range(len(names))]
    conn = sqlite3.connect(partial, isolation_level=None)
    conn.execute("BEGIN")
    rows, contacts = [], []
    for n in range(1, CUSTOMERS + 1):
        last = rng.choices(names, weights)[0]
        first = rng.choice(FIRST)
        guarantor = rng.randrange(1, n) if n > 1 and rng.random() < 0.1 else None
        rows.append(
            (
                n,
                f"A{n:07d}",
                f"{first} {last}",
                f"{last} {first}".casefold(),
                guarantor,
                f"M{n:08d}",
                last,
                first,
                jellyfish.metaphone(last),
            )
        )
        contacts.append((n, f"+1555{n:07d}", f"+1555{n:07d}"))
    conn.executemany(
        "INSERT INTO customer_account (id, number, name, sort_name, customer_type, currency,"
        " financial_class, location, guarantor_id, terms_code, created_at, mrn, last_name,"
        " first_name, name_key, language) VALUES (?, ?, ?, ?, 'patient', 'USD', 'self_pay',"
        " 'main', ?, 'NET30', '2026-01-01 00:00:00', ?, ?, ?, ?, 'en')",
        rows,
    )
    conn.executemany(
        "INSERT INTO customer_contact (account_id, kind, value, normalized, is_primary,"
        " created_at) VALUES (?, 'phone', ?, ?, 1, '2026-01-01 00:00:00')",
        contacts,
    )
    _postings(conn)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    partial.replace(path)
    return path


def _postings(conn: sqlite3.Connection) -> None:
    """Entry ``2n - 1`` charges customer ``n`` $100, entry ``2n`` is their cheque
    ``CHK<n>`` paying it; each entry balances and has its item."""
    from core.db.metadata import to_day

    gl = dict(conn.execute("SELECT code, id FROM gl_account"))
    stamp = "2026-06-01 12:00:00.000000"
    day = to_day(date(2026, 6, 1))
    entries: list[tuple[object, ...]] = []
    lines: list[tuple[object, ...]] = []
    items: list[tuple[int, ...]] = []
    for n in range(1, CUSTOMERS + 1):
        for eid, paid in ((2 * n - 1, False), (2 * n, True)):
            sign = -1 if paid else 1
            other = gl["1000"] if paid else gl["4000"]
            entries.append(
                (eid, f"gen-{eid}", f"{eid:064x}", "PAYMENT" if paid else "CHARGE",
                 "payment" if paid else "charge", day, stamp, f"CHK{n:07d}" if paid else None)
            )  # fmt: skip
            lines.append((eid, 1, gl["1100"], n, sign * 10_000))
            lines.append((eid, 2, other, None, -sign * 10_000))
            items.append((eid, eid, n, sign * 10_000, day, day, day, day + (0 if paid else 30)))
    conn.executemany(
        "INSERT INTO journal_entry (id, idempotency_key, fingerprint, entry_type, kind,"
        " effective_day, posted_at, actor, source, memo, reference, line_count)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'bench', 'bench', '', ?, 2)",
        entries,
    )
    conn.executemany(
        "INSERT INTO journal_line (entry_id, line_no, gl_account_id, customer_account_id,"
        " currency, amount_minor) VALUES (?, ?, ?, ?, 'USD', ?)",
        lines,
    )
    conn.executemany(
        "INSERT INTO ar_item (id, entry_id, line_no, account_id, currency, amount_minor,"
        " open_minor, effective_day, service_day, bill_day, due_day, description)"
        " VALUES (?, ?, 1, ?, 'USD', ?, ?4, ?, ?, ?, ?, '')",
        items,
    )


@dataclass
class Kind:
    name: str
    queries: list[str]
    api_ms: list[float]
    raw_ms: list[float]

    @staticmethod
    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1]


def _queries(rng: random.Random) -> dict[str, list[str]]:
    def pick() -> int:
        return rng.randrange(1, CUSTOMERS + 1)

    conn = sqlite3.connect(CACHE)
    lasts = [r[0] for r in conn.execute("SELECT last_name FROM customer_account")]
    guarantors = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT g.last_name FROM customer_account c"
            " JOIN customer_account g ON g.id = c.guarantor_id"
        )
    ]
    conn.close()

    def misspelt(name: str) -> str:
        return name.replace("h", "", 1) if "h" in name else name + "e"

    return {
        "account number": [f"A{pick():07d}" for _ in range(QUERIES)],
        "MRN": [f"M{pick():08d}" for _ in range(QUERIES)],
        "last name": [rng.choice(lasts)[:5] for _ in range(QUERIES)],
        "sounds like": [misspelt(rng.choice(lasts)) for _ in range(QUERIES)],
        "guarantor": [rng.choice(guarantors) for _ in range(QUERIES)],
        "phone": [f"+1555{pick():07d}" for _ in range(QUERIES)],
        "entry number": [f"T{rng.randrange(1, 2 * CUSTOMERS + 1):08d}" for _ in range(QUERIES)],
        "reference": [f"CHK{pick():07d}" for _ in range(QUERIES)],
    }


async def _api(queries: dict[str, list[str]]) -> dict[str, list[float]]:
    from core.db import Database
    from core.search import search

    db = Database(f"sqlite+aiosqlite:///{CACHE}")
    out: dict[str, list[float]] = {}
    try:
        async with db.read() as conn:
            await search(conn, "warm up")
            for kind, texts in queries.items():
                times = []
                for text in texts:
                    began = time.perf_counter()
                    await search(conn, text)
                    times.append((time.perf_counter() - began) * 1000)
                out[kind] = times
    finally:
        await db.dispose()
    return out


def _raw(queries: dict[str, list[str]]) -> dict[str, list[float]]:
    """The same SQL core sends, compiled once per query text, run in plain sqlite3."""
    from core.search import search_statement

    conn = sqlite3.connect(CACHE)
    dialect = sqlite_dialect.dialect()
    out: dict[str, list[float]] = {}
    for kind, texts in queries.items():
        times = []
        for text in texts:
            sql = str(
                search_statement(text, 20).compile(
                    dialect=dialect, compile_kwargs={"literal_binds": True}
                )
            )
            began = time.perf_counter()
            conn.execute(sql).fetchall()
            times.append((time.perf_counter() - began) * 1000)
        out[kind] = times
    conn.close()
    return out


def bench_search() -> list[Kind]:
    generate()
    queries = _queries(random.Random(5))
    api = asyncio.run(_api(queries))
    raw = _raw(queries)
    return [Kind(k, queries[k], api[k], raw[k]) for k in queries]


def print_search(kinds: list[Kind]) -> bool:
    ok = True
    for k in kinds:
        api, raw = Kind.p95(k.api_ms), Kind.p95(k.raw_ms)
        ok &= api < TARGET_MS
        print(
            f"  {k.name:15s} api p95 {api:6.2f} ms (p50 {statistics.median(k.api_ms):5.2f})"
            f"   raw sqlite3 p95 {raw:6.2f} ms   ratio {api / raw:5.2f}"
            f"   target p95 < {TARGET_MS:g} ms: {'PASS' if api < TARGET_MS else 'FAIL'}"
        )
    return ok
