"""A migrated SQLite database of 100,000 patients who chat, for the patient benchmark.

Written straight into the tables with plain ``sqlite3`` ``executemany`` (registering
and linking 100,000 patients through the API would take an hour), then cached under
/tmp and reused; each benchmark run works on a fresh copy. Rows follow the ledger's
rules (checked with ``core.ledger.invariants`` after generating).

Shape (deterministic, seed fixed; days counted back from the day it was generated):

* 100,000 patient accounts with a first name, a date of birth, a phone on file and
  one verified Telegram chat each (chat id ``CHAT_BASE + account id``); 10% prefer
  Spanish; one in ten has a guarantor who is another patient (a guarantor sees the
  accounts they guarantee);
* 1 to 5 charges per patient (about 300,000) over the last 400 days, due 30 days
  after the bill date, with the statement descriptions a clinic uses; 30% of them
  paid by a payment of their own (60% in full, 40% partly), so about 90,000 payments
  and 180,000 allocation rows;
* the chat state of every verified chat (at the menu), 100,000 handled inbound events
  and 100,000 recorded sends in the outbox, so the tables a turn writes are not empty.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from core.db import Database
from core.db.metadata import from_day, to_day
from core.db.migrate import upgrade

VERSION = "v3"
PATIENTS = 100_000
CHAT_BASE = 6_000_000_000
"""Telegram chat id of patient ``n``: ``CHAT_BASE + n`` (private chat: also the user id)."""
SEED = 20261123
FIRST = ("Ana", "Luis", "Marta", "John", "Mary", "Wei", "Fatima", "Olga", "Pedro", "Sara")
LAST = ("López", "Smith", "García", "Chen", "Okafor", "Novak", "Silva", "Kim", "Brown", "Rossi")
SERVICES = ("Office visit", "Lab work", "X-ray", "Physical therapy", "Vaccination")
BORN = date(1980, 4, 12)
Rows = list[tuple[int, ...]]
MENU_OFFERED = '{"offered":["balance","pay","plan","statement","agent"]}'


def cache_path(today: date) -> Path:
    """The cache is per day: due dates and aging are relative to the day it was made."""
    return Path(f"/tmp/arbot-bench-patient-{VERSION}-{today:%Y%m%d}.db")


def birth_date(account_id: int) -> date:
    """Patient ``n``'s date of birth (the benchmark's chats are already verified)."""
    return BORN - timedelta(days=account_id % 20_000)


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


def _accounts(conn: sqlite3.Connection, rng: random.Random, created: str) -> None:
    rows = []
    for n in range(1, PATIENTS + 1):
        first, last = FIRST[n % 10], LAST[(n // 10) % 10]
        rows.append(
            (
                n,
                f"A{n:07d}",
                f"{first} {last} {n}",
                f"{last} {first} {n}".casefold(),
                created,
                f"M{n:08d}",
                last,
                first,
                to_day(birth_date(n)),
                "es" if rng.random() < 0.1 else "en",
            )
        )
    conn.executemany(
        "INSERT INTO customer_account (id, number, name, sort_name, customer_type, currency,"
        " financial_class, location, terms_code, created_at, mrn, last_name, first_name,"
        " date_of_birth, language) VALUES (?, ?, ?, ?, 'patient', 'USD', 'self_pay', 'main',"
        " 'NET30', ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO customer_contact (account_id, kind, value, normalized, is_primary,"
        " created_at) VALUES (?, 'phone', ?, ?, 1, ?)",
        ((n, f"+1555{n:07d}", f"+1555{n:07d}", created) for n in range(1, PATIENTS + 1)),
    )
    conn.executemany(
        "INSERT INTO chat_link (account_id, channel, address, linked_at, linked_by,"
        " verified_at) VALUES (?, 'telegram', ?, ?, 'bench', ?)",
        ((n, str(CHAT_BASE + n), created, created) for n in range(1, PATIENTS + 1)),
    )
    # A guarantor is an earlier patient (no loops), kept in the dated rows and in
    # customer_account.guarantor_id, as core.profile.relationships.relate keeps them.
    guaranteed = [(n, rng.randrange(1, n)) for n in range(2, PATIENTS + 1) if rng.random() < 0.1]
    conn.executemany(
        "INSERT INTO customer_relationship (account_id, related_account_id, kind,"
        " effective_from, at, actor) VALUES (?, ?, 'guarantor', ?, ?, 'bench')",
        ((n, g, to_day(date(2020, 1, 1)), created) for n, g in guaranteed),
    )
    conn.executemany(
        "UPDATE customer_account SET guarantor_id = ? WHERE id = ?",
        ((g, n) for n, g in guaranteed),
    )


def _chat_tables(conn: sqlite3.Connection, created: str) -> None:
    conn.executemany(
        "INSERT INTO chat_state (channel, address, step, data, locale, version, updated_at)"
        " VALUES ('telegram', ?, 'menu', ?, NULL, 3, ?)",
        (
            (
                str(CHAT_BASE + n),
                '{"offered":["balance","pay","plan","statement","agent"]}',
                created,
            )
            for n in range(1, PATIENTS + 1)
        ),
    )
    conn.executemany(
        "INSERT INTO inbound_event (source, event_id, claimed_at, finished_at)"
        " VALUES ('telegram', ?, ?, ?)",
        ((str(n), created, created) for n in range(1, PATIENTS + 1)),
    )
    conn.executemany(
        "INSERT INTO outbox (dedupe_key, channel, address, kind, created_at, status,"
        " provider_ref, finished_at) VALUES (?, 'telegram', ?, 'reply', ?, 'sent', ?, ?)",
        (
            (f"telegram:{n}:0", str(CHAT_BASE + n), created, str(n), created)
            for n in range(1, PATIENTS + 1)
        ),
    )


def _postings(rng: random.Random, today: int) -> tuple[Rows, Rows]:
    """Postings (day, order, kind, account, amount, service_day, ref) and applications
    (day, charge ref, account, applied), in posting order."""
    postings: Rows = []
    applications: Rows = []
    ref = 0
    for account in range(1, PATIENTS + 1):
        for _ in range(rng.randrange(1, 6)):
            day = today - rng.randrange(1, 400)
            amount = rng.randrange(2_000, 60_000)
            postings.append((day, ref, 0, account, amount, day - rng.randrange(5), ref))
            if rng.random() < 0.3 and day + 3 < today:
                pay_day = min(today - 1, day + rng.randrange(3, 60))
                applied = amount if rng.random() < 0.6 else rng.randrange(1, amount)
                postings.append((pay_day, 10_000_000 + ref, 1, account, applied, pay_day, ref))
                applications.append((pay_day, ref, account, applied))
            ref += 1
    postings.sort()
    applications.sort()
    return postings, applications


def _ledger(conn: sqlite3.Connection, rng: random.Random, today: int) -> None:
    postings, applications = _postings(rng, today)
    gl = dict(conn.execute("SELECT code, id FROM gl_account"))
    cash, control, revenue = gl["1000"], gl["1100"], gl["4000"]
    item_of = {(p[2], p[6]): eid for eid, p in enumerate(postings, 1)}
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
                _stamp(p[0]),
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
        " VALUES (?, ?, 1, ?, 'USD', ?, ?4, ?, ?, ?, ?, ?)",
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
                "" if kind else SERVICES[ref % len(SERVICES)],
            )
            for eid, (day, _order, kind, acct, amount, svc, ref) in enumerate(postings, 1)
        ),
    )
    conn.executemany(
        "INSERT INTO application (id, idempotency_key, account_id, method, effective_day,"
        " created_at, actor, source, entry_id)"
        " VALUES (?, ?, ?, 'oldest_first', ?, ?, 'bench', 'bench', ?)",
        (
            (aid, f"gen-app-{aid}", acct, day, _stamp(day), item_of[(1, ref)])
            for aid, (day, ref, acct, _applied) in enumerate(applications, 1)
        ),
    )
    # Allocation rows carry copies of their item's account, currency and dates.
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


def _fill(path: Path, today: date) -> dict[str, int]:
    rng = random.Random(SEED)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    created = _stamp(to_day(today) - 500)
    _accounts(conn, rng, created)
    _chat_tables(conn, created)
    _ledger(conn, rng, to_day(today))
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("ANALYZE")
    tables = ("customer_account", "chat_link", "ar_item", "allocation", "customer_relationship")
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
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


def generate(today: date, *, log: bool = True) -> Path:
    """The cached database for ``today``, built first if absent (under a minute)."""
    path = cache_path(today)
    if path.exists():
        return path
    started = time.perf_counter()
    partial = path.with_suffix(f".partial-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    _migrate(partial)
    counts = _fill(partial, today)
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
    from core.clock import SystemClock
    from core.clock import today as clock_today

    generate(clock_today(SystemClock()))
