"""A migrated SQLite ledger with 1,000,000 charges on 100,000 accounts, for the ATB benchmark.

Written straight into the tables with plain ``sqlite3`` ``executemany`` (posting a
million entries through the API would take far too long), then cached under /tmp and
reused. Rows follow the ledger's rules: every entry balances, every A/R line has its
item, allocations come in matches of two rows that net to zero, and no item is
over-applied; :func:`generate` checks that with ``core.ledger.invariants``.

Shape (deterministic, seed fixed):

* 100,000 patient accounts, ``NET30``, a few financial classes and locations;
* 1,000,000 charges, effective over the two years before the as-of date, service
  0-7 days before posting, due 30 days after the bill date;
* 30% of charges paid by one payment each: 60% in full, 40% partly; 5% of payments
  are overpaid (the rest stays unapplied credit); 10% are applied 1-30 days after the
  payment; payments and applications may fall after the as-of date (so both date
  filters of the ATB matter).

Entries and items are numbered in posting-date order, as a real ledger would be.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from core.db import Database
from core.db.metadata import from_day, to_day
from core.db.migrate import upgrade

VERSION = "v6"
CACHE = Path(f"/tmp/arbot-bench-atb-{VERSION}.db")
AS_OF = date(2026, 6, 30)
AS_DAY = to_day(AS_OF)
N_ACCOUNTS = 100_000
N_CHARGES = 1_000_000
PAID_SHARE = 0.30
SEED = 20260630

FINANCIAL_CLASSES = ("self_pay", "self_pay", "self_pay", "commercial", "medicare", "medicaid")
LOCATIONS = ("main", "main", "north", "south")
FIRST = ("Ana", "Luis", "Marta", "John", "Mary", "Wei", "Fatima", "Olga", "Pedro", "Sara")
LAST = ("López", "Smith", "García", "Chen", "Okafor", "Novak", "Silva", "Kim", "Brown", "Rossi")


def _stamp(day: int) -> str:
    """How SQLAlchemy stores a naive-UTC DateTime in SQLite."""
    return f"{from_day(day).isoformat()} 12:00:00.000000"


def _migrate(path: Path) -> None:
    async def run() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(run())


def _plan(rng: random.Random) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Postings (day, order, kind, account, amount, service_day, ref) and applications."""
    postings: list[tuple[int, ...]] = []
    applications: list[tuple[int, ...]] = []
    for n in range(N_CHARGES):
        account = rng.randrange(N_ACCOUNTS) + 1
        day = AS_DAY - rng.randrange(731)
        amount = rng.randrange(500, 50_000)
        postings.append((day, n, 0, account, amount, day - rng.randrange(8), n))
        if rng.random() < PAID_SHARE:
            pay_day = day + rng.randrange(3, 150)
            applied = amount if rng.random() < 0.6 else rng.randrange(1, amount)
            paid = applied + (rng.randrange(100, 5_000) if rng.random() < 0.05 else 0)
            apply_day = pay_day + (rng.randrange(1, 31) if rng.random() < 0.10 else 0)
            # kind 1 = payment; ref = the charge's plan index
            postings.append((pay_day, N_CHARGES + n, 1, account, paid, pay_day, n))
            applications.append((apply_day, n, account, applied))
    postings.sort()
    applications.sort()
    return postings, applications


def _fill(path: Path) -> dict[str, int]:
    rng = random.Random(SEED)
    postings, applications = _plan(rng)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    gl = dict(conn.execute("SELECT code, id FROM gl_account"))
    cash, control, revenue = gl["1000"], gl["1100"], gl["4000"]
    conn.execute("BEGIN")
    created = _stamp(AS_DAY - 800)
    conn.executemany(
        "INSERT INTO customer_account (id, number, name, sort_name, customer_type, currency,"
        " financial_class, location, terms_code, created_at)"
        " VALUES (?, ?, ?, ?, 'patient', 'USD', ?, ?, 'NET30', ?)",
        (
            (
                i,
                f"A{i:07d}",
                f"{FIRST[i % 10]} {LAST[(i // 10) % 10]} {i}",
                f"{LAST[(i // 10) % 10]} {FIRST[i % 10]} {i}".casefold(),
                FINANCIAL_CLASSES[i % len(FINANCIAL_CLASSES)],
                LOCATIONS[(i // 7) % len(LOCATIONS)],
                created,
            )
            for i in range(1, N_ACCOUNTS + 1)
        ),
    )
    stamps = {d: _stamp(d) for d in range(AS_DAY - 800, AS_DAY + 400)}
    # Entry, line and item ids follow posting order; item id == entry id.
    item_of: dict[tuple[int, int], int] = {}  # (kind, plan index) -> item id
    for entry_id, (_day, _order, kind, _acct, _amount, _svc, ref) in enumerate(postings, 1):
        item_of[(kind, ref)] = entry_id
    conn.executemany(
        "INSERT INTO journal_entry (id, idempotency_key, fingerprint, entry_type, kind,"
        " effective_day, posted_at, actor, source, memo, line_count)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'bench', 'bench', '', 2)",
        (
            (
                eid,
                f"gen-{eid}",
                f"{eid:064x}",
                "PAYMENT" if p[2] else "CHARGE",
                "payment" if p[2] else "charge",
                p[0],
                stamps[p[0]],
            )
            for eid, p in enumerate(postings, 1)
        ),
    )

    def lines() -> Iterator[tuple[Any, ...]]:
        for eid, (_day, _order, kind, acct, amount, _svc, _ref) in enumerate(postings, 1):
            if kind == 0:  # charge: Dr A/R (customer), Cr revenue
                yield (2 * eid - 1, eid, 1, control, acct, "USD", amount)
                yield (2 * eid, eid, 2, revenue, None, "USD", -amount)
            else:  # payment: Dr cash, Cr A/R (customer)
                yield (2 * eid - 1, eid, 1, control, acct, "USD", -amount)
                yield (2 * eid, eid, 2, cash, None, "USD", amount)

    conn.executemany(
        "INSERT INTO journal_line (id, entry_id, line_no, gl_account_id, customer_account_id,"
        " currency, amount_minor) VALUES (?, ?, ?, ?, ?, ?, ?)",
        lines(),
    )
    conn.executemany(
        "INSERT INTO ar_item (id, entry_id, line_no, account_id, currency, amount_minor,"
        " open_minor,"
        " effective_day, service_day, bill_day, due_day, description)"
        " VALUES (?, ?, 1, ?, 'USD', ?, ?4, ?, ?, ?, ?, '')",
        (
            (
                eid,
                eid,
                acct,
                -amount if kind else amount,
                day,
                svc,
                day,
                day if kind else day + 30,
            )
            for eid, (day, _order, kind, acct, amount, svc, _ref) in enumerate(postings, 1)
        ),
    )
    conn.executemany(
        "INSERT INTO application (id, idempotency_key, account_id, method, effective_day,"
        " created_at, actor, source, entry_id)"
        " VALUES (?, ?, ?, 'oldest_first', ?, ?, 'bench', 'bench', ?)",
        (
            (aid, f"gen-app-{aid}", acct, day, stamps[day], item_of[(1, ref)])
            for aid, (day, ref, acct, _applied) in enumerate(applications, 1)
        ),
    )

    def allocations() -> Iterator[tuple[int, ...]]:
        for aid, (day, ref, _acct, applied) in enumerate(applications, 1):
            yield (2 * aid - 1, aid, 1, item_of[(0, ref)], -applied, day)
            yield (2 * aid, aid, 1, item_of[(1, ref)], applied, day)

    # Allocation rows carry copies of their item's account, currency and dates.
    conn.execute(
        "CREATE TEMP TABLE alloc_in (id, application_id, match_no, item_id, amount_minor,"
        " effective_day)"
    )
    conn.executemany("INSERT INTO alloc_in VALUES (?, ?, ?, ?, ?, ?)", allocations())
    conn.execute(
        "INSERT INTO allocation (id, application_id, match_no, item_id, amount_minor,"
        " effective_day, account_id, currency, service_day, bill_day, due_day, item_day)"
        " SELECT a.id, a.application_id, a.match_no, a.item_id, a.amount_minor,"
        " a.effective_day, i.account_id, i.currency, i.service_day, i.bill_day, i.due_day,"
        " i.effective_day"
        " FROM alloc_in a JOIN ar_item i ON i.id = a.item_id ORDER BY a.id"
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    counts = {
        t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("customer_account", "journal_entry", "ar_item", "allocation")
    }
    conn.close()
    return counts


async def _check(path: Path) -> list[str]:
    from core.ledger.invariants import check_invariants

    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.read() as conn:
            return [f"{v.source}: {v.entity}: {v.message}" for v in await check_invariants(conn)]
    finally:
        await db.dispose()


def generate(path: Path = CACHE, *, log: bool = True) -> Path:
    """The cached database, built first if absent (about a minute)."""
    if path.exists():
        return path
    started = time.perf_counter()
    partial = path.with_suffix(f".partial-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    _migrate(partial)
    counts = _fill(partial)
    problems = asyncio.run(_check(partial))
    if problems:
        raise RuntimeError(f"generated ledger breaks invariants: {problems[:5]}")
    os.replace(partial, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    if log:
        print(
            f"  generated {path} in {time.perf_counter() - started:.0f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items())
            + "; ledger invariants hold",
            flush=True,
        )
    return path


if __name__ == "__main__":
    generate()
