"""A migrated SQLite ledger of 100,000 patients for the dunning benchmark, cached in /tmp.

Written straight into the tables with plain ``sqlite3`` (as :mod:`benchmarks.atb_data`
does), deterministic, and checked with ``core.ledger.invariants`` once built. Shape:

* 100,000 patient accounts, NET30, four locations, one in five speaking Spanish, 5%
  with a guarantor (the account before theirs);
* 1 to 5 charges each (about 300,000), billed 0-150 days before the as-of date, so due
  dates run from 30 days ahead to 120 days past;
* 30% of charges paid by one payment each (60% in full, 40% in part);
* 1% of charges disputed, 1% of accounts paused (a promise to pay);
* 60% of accounts with a Telegram chat (70% of those verified), the rest with a phone
  on file of which 60% opted in to SMS: about 15% cannot be reached.
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

VERSION = "v2"
CACHE = Path(f"/tmp/arbot-bench-dunning-{VERSION}.db")
AS_OF = date(2026, 6, 30)
AS_DAY = to_day(AS_OF)
N_ACCOUNTS = 100_000
SEED = 20261123
LOCATIONS = ("main", "main", "north", "south")


def _stamp(day: int) -> str:
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
    """Postings (day, order, kind, account, amount, ref) and applications."""
    postings: list[tuple[int, ...]] = []
    applications: list[tuple[int, ...]] = []
    n = 0
    for account in range(1, N_ACCOUNTS + 1):
        for _ in range(rng.randint(1, 5)):
            day = AS_DAY - rng.randrange(151)
            amount = rng.randrange(2_000, 50_000)
            postings.append((day, n, 0, account, amount, n))
            if rng.random() < 0.30:
                pay_day = min(AS_DAY, day + rng.randrange(1, 60))
                applied = amount if rng.random() < 0.6 else rng.randrange(100, amount)
                postings.append((pay_day, 10_000_000 + n, 1, account, applied, n))
                applications.append((pay_day, n, account, applied))
            n += 1
    postings.sort()
    applications.sort()
    return postings, applications


def _accounts(conn: sqlite3.Connection, rng: random.Random) -> None:
    created = _stamp(AS_DAY - 400)
    conn.executemany(
        "INSERT INTO customer_account (id, number, name, sort_name, customer_type, currency,"
        " financial_class, location, terms_code, created_at, language, guarantor_id)"
        " VALUES (?, ?, ?, ?, 'patient', 'USD', 'self_pay', ?, 'NET30', ?, ?, ?)",
        (
            (
                i,
                f"A{i:07d}",
                f"Patient {i}",
                f"patient {i}",
                LOCATIONS[i % 4],
                created,
                "es" if i % 5 == 0 else "en",
                i - 1 if i > 1 and rng.random() < 0.05 else None,
            )
            for i in range(1, N_ACCOUNTS + 1)
        ),
    )


def _reach(conn: sqlite3.Connection, rng: random.Random) -> None:
    stamp = _stamp(AS_DAY - 200)
    links, contacts, consents = [], [], []
    for i in range(1, N_ACCOUNTS + 1):
        phone = f"+1555{i:07d}"
        contacts.append((i, phone, stamp))
        if rng.random() < 0.60:
            verified = stamp if rng.random() < 0.7 else None
            links.append((i, str(700_000_000 + i), stamp, verified))
        elif rng.random() < 0.60:
            consents.append((phone, stamp))
    conn.executemany(
        "INSERT INTO customer_contact (account_id, kind, value, normalized, is_primary,"
        " created_at) VALUES (?, 'phone', ?2, ?2, 1, ?3)",
        contacts,
    )
    conn.executemany(
        "INSERT INTO chat_link (account_id, channel, address, linked_at, linked_by,"
        " verified_at) VALUES (?, 'telegram', ?, ?, 'bench', ?)",
        links,
    )
    conn.executemany(
        "INSERT INTO contact_consent (channel, address, granted, at, source, actor)"
        " VALUES ('sms', ?, 1, ?, 'form', 'bench')",
        consents,
    )


def _ledger(conn: sqlite3.Connection, rng: random.Random) -> None:
    postings, applications = _plan(rng)
    gl = dict(conn.execute("SELECT code, id FROM gl_account"))
    cash, control, revenue = gl["1000"], gl["1100"], gl["4000"]
    stamps = {d: _stamp(d) for d in range(AS_DAY - 200, AS_DAY + 1)}
    item_of = {(p[2], p[5]): eid for eid, p in enumerate(postings, 1)}
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
        for eid, (_day, _order, kind, acct, amount, _ref) in enumerate(postings, 1):
            sign = -1 if kind else 1
            yield (2 * eid - 1, eid, 1, control, acct, "USD", sign * amount)
            yield (2 * eid, eid, 2, cash if kind else revenue, None, "USD", -sign * amount)

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
            (eid, eid, acct, -amount if kind else amount, day, day, day, day if kind else day + 30)
            for eid, (day, _order, kind, acct, amount, _ref) in enumerate(postings, 1)
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
    conn.execute(
        "CREATE TEMP TABLE alloc_in (id, application_id, match_no, item_id, amount_minor,"
        " effective_day)"
    )
    conn.executemany(
        "INSERT INTO alloc_in VALUES (?, ?, ?, ?, ?, ?)",
        (
            row
            for aid, (day, ref, _acct, applied) in enumerate(applications, 1)
            for row in (
                (2 * aid - 1, aid, 1, item_of[(0, ref)], -applied, day),
                (2 * aid, aid, 1, item_of[(1, ref)], applied, day),
            )
        ),
    )
    conn.execute(
        "INSERT INTO allocation (id, application_id, match_no, item_id, amount_minor,"
        " effective_day, account_id, currency, service_day, bill_day, due_day, item_day)"
        " SELECT a.id, a.application_id, a.match_no, a.item_id, a.amount_minor,"
        " a.effective_day, i.account_id, i.currency, i.service_day, i.bill_day, i.due_day,"
        " i.effective_day"
        " FROM alloc_in a JOIN ar_item i ON i.id = a.item_id ORDER BY a.id"
    )
    charges = [eid for eid, p in enumerate(postings, 1) if p[2] == 0]
    disputed = rng.sample(charges, len(charges) // 100)
    conn.executemany(
        "INSERT INTO item_dispute (item_id, disputed, effective_day, at, actor, reason)"
        " VALUES (?, 1, ?, ?, 'bench', 'bench')",
        ((item, AS_DAY - 1, stamps[AS_DAY - 1]) for item in sorted(disputed)),
    )
    paused = rng.sample(range(1, N_ACCOUNTS + 1), N_ACCOUNTS // 100)
    conn.executemany(
        "INSERT INTO dunning_pause (account_id, reason, note, from_day, until_day, created_at,"
        " actor) VALUES (?, 'promise_to_pay', '', ?, ?, ?, 'bench')",
        ((a, AS_DAY - 3, AS_DAY + 10, stamps[AS_DAY - 3]) for a in sorted(paused)),
    )


def _fill(path: Path) -> dict[str, int]:
    rng = random.Random(SEED)
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("BEGIN")
    _accounts(conn, rng)
    _reach(conn, rng)
    _ledger(conn, rng)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("ANALYZE")
    counts = {
        t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("customer_account", "ar_item", "allocation", "chat_link", "contact_consent")
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


def generate(path: Path = CACHE) -> Path:
    """The cached database, built first if absent (under a minute)."""
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
    print(
        f"  generated {path} in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + "; ledger invariants hold",
        flush=True,
    )
    return path


if __name__ == "__main__":
    generate()
