"""ATB over 1,000,000 charges: ``aged_trial_balance`` against one hand-written SQL query.

Each measurement runs in its own subprocess (``python -m benchmarks.run --child ...``),
so the peak RSS it reports belongs to that one ATB: the kernel's high-water mark
(VmHWM), reset just before the query, read just after. Both sides read the cached
database exactly as migrated: its covering indexes are what the hand-written query
would ask for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.atb_data import AS_OF, CACHE
from core.db import SQLITE_PRAGMAS
from core.db.metadata import to_day
from core.ledger.aging import DEFAULT_BOUNDS


def hand_sql(as_of: date, currency: str, bounds: tuple[int, ...] = DEFAULT_BOUNDS) -> str:
    """The ATB by hand: per account, open amounts by service-date age bucket.

    An item's open amount as of the date is what it has open today (``open_minor``,
    kept by the database) plus what was applied to it after the date. So the query
    sums two halves: today's open items (the partial index of open items) and the
    allocations dated after the as-of date on items posted by then, negated (their
    rows carry their item's account and dates, so no item is looked up). Both sums are
    *cumulative* buckets ``age <= bound`` written as ``service_day >= day - bound`` so
    the age is never computed; the per-bucket figures are differences of neighbours,
    each a ``FILTER``ed sum. Each account's open items get what was applied after the
    date added (a join, not a second grouping), then come the accounts whose items
    then open are all settled since. Sorted by balance in SQL.
    """
    day = to_day(as_of)
    n = len(bounds)
    if not (currency.isalpha() and len(currency) == 3):
        raise ValueError(f"not a currency code: {currency!r}")

    def cumulative(service_day: str, amount: str) -> str:
        parts = [
            f"coalesce(sum({amount}) FILTER (WHERE {service_day} >= {day - b}), 0) AS c{k}"
            for k, b in enumerate(bounds)
        ]
        return ", ".join([*parts, f"sum({amount}) AS c{n}"])

    buckets = ", ".join(["p.c0"] + [f"p.c{k} - p.c{k - 1}" for k in range(1, n + 1)])
    nonzero = " OR ".join(["p.c0 <> 0"] + [f"p.c{k} <> p.c{k - 1}" for k in range(1, n + 1)])
    added = ", ".join(f"i.c{k} + coalesce(l.c{k}, 0) AS c{k}" for k in range(n + 1))
    return f"""
WITH items AS (
  SELECT account_id, {cumulative("service_day", "open_minor")}
  FROM ar_item
  WHERE currency = '{currency}' AND effective_day <= {day} AND open_minor <> 0
  GROUP BY account_id
), late AS (
  SELECT account_id, {cumulative("service_day", "-amount_minor")}
  FROM allocation
  WHERE currency = '{currency}' AND effective_day > {day} AND item_day <= {day}
  GROUP BY account_id
), p AS (
  SELECT i.account_id, {added}
  FROM items i LEFT JOIN late l ON l.account_id = i.account_id
  UNION ALL
  SELECT * FROM late l WHERE NOT EXISTS (
    SELECT 1 FROM ar_item x WHERE x.currency = '{currency}' AND x.account_id = l.account_id
    AND x.effective_day <= {day} AND x.open_minor <> 0)
)
SELECT p.account_id, ca.number, ca.name, NULL AS grp, {buckets}
FROM p JOIN customer_account ca ON ca.id = p.account_id
WHERE {nonzero}
ORDER BY p.c{n} DESC, ca.id
""".strip()


def ensure_hand_copy() -> Path:
    """The database the hand-written query reads: the same file as arbot's, since the
    schema's own covering indexes are what the hand-written query wants too."""
    return CACHE


def copy_with_index(index_sql: str) -> Path:
    """A fresh copy of the cached database with ``index_sql`` applied (for --try-index)."""
    path = CACHE.with_name(CACHE.stem + "-try.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(CACHE, path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(index_sql)
    conn.close()
    return path


def core_sql(as_of: date, currency: str) -> str:
    from sqlalchemy.dialects import sqlite

    from core.ledger.aging import AtbQuery, atb_statement

    statement = atb_statement(AtbQuery(as_of=as_of, currency=currency))
    return str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def query_plan(path: Path, sql: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    finally:
        conn.close()


# --- the measured step, run inside a child process -------------------------------------


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _reset_peak() -> bool:
    """Start the kernel's RSS high-water mark afresh (Linux; False where unsupported)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak() -> int:
    """Peak RSS of this process: VmHWM on Linux. Not ``ru_maxrss``: Linux carries that
    over from the parent across fork and exec, so a child of a big parent reports the
    parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _summary(rows: list[tuple[int, str, str, tuple[int, ...]]]) -> dict[str, Any]:
    width = len(DEFAULT_BOUNDS) + 1
    buckets = [sum(r[3][i] for r in rows) for i in range(width)]
    return {
        "accounts": len(rows),
        "total": sum(buckets),
        "buckets": buckets,
        "digest": hashlib.sha256(repr(rows).encode()).hexdigest()[:16],
    }


async def _api(path: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from core.db import Database
    from core.ledger.aging import AtbQuery, aged_trial_balance

    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
            rss_before, reset = _rss(), _reset_peak()
            began = time.perf_counter()
            atb = await aged_trial_balance(conn, AtbQuery(as_of=AS_OF, currency="USD"))
            seconds = time.perf_counter() - began
            peak = _peak()
        rows = [(r.account_id, r.number, r.name, r.amounts) for r in atb.rows]
        result = _summary(rows)
        if result["total"] != atb.total_minor:  # core's own summary agrees with its rows
            raise RuntimeError("ATB total disagrees with its rows")
    finally:
        await db.dispose()
    return {
        **result,
        "seconds": seconds,
        "rss_before": rss_before,
        "peak_reset": reset,
        "peak": peak,
    }


def _hand(path: Path) -> dict[str, Any]:
    sql = hand_sql(AS_OF, "USD")
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    conn.execute("SELECT 1").fetchall()
    rss_before, reset = _rss(), _reset_peak()
    began = time.perf_counter()
    fetched = conn.execute(sql).fetchall()
    seconds = time.perf_counter() - began
    peak = _peak()
    conn.close()
    rows = [(r[0], r[1], r[2], tuple(r[4:])) for r in fetched]
    return {
        **_summary(rows),
        "seconds": seconds,
        "rss_before": rss_before,
        "peak_reset": reset,
        "peak": peak,
    }


def child(mode: str, path: str) -> None:
    result = asyncio.run(_api(Path(path))) if mode == "api" else _hand(Path(path))
    print(json.dumps(result))


def run_child(mode: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--child", mode, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ATB child ({mode}) failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
