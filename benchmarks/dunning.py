"""Dunning over 100,000 accounts: ``queue_dunning`` (decide every account's level and
channel, queue every message) against the same set-based SQL run through plain
``sqlite3``, then a second run the same day, which must queue nothing.

The raw side is the one ``INSERT ... SELECT`` arbot generates, compiled with its values
inlined and executed by ``sqlite3`` with nothing around it: no SQLAlchemy, no asyncio,
no audit record, no expiry of earlier notices (the same 32 MB page cache
``queue_dunning`` asks for). The ratio is what arbot's own layers add
to the database's work. Both sides start from a fresh copy of the cached database
(:mod:`benchmarks.dunning_data`) and must queue the very same rows.

Each measurement runs in its own process (``python -m benchmarks.dunning MODE PATH``)
so its peak RSS is its own: the kernel's high-water mark, reset just before the work.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.atb import _peak, _reset_peak, _rss
from benchmarks.dunning_data import AS_OF, CACHE, generate

NOW = datetime(2026, 6, 30, 14, 0, tzinfo=UTC)
SECONDS_TARGET = 5.0
MB_TARGET = 150
MB = 1024 * 1024
DIGEST_SQL = (
    "SELECT dedupe_key, account_id, recipient_id, level, anchor_day, template, channel,"
    " address, verified, locale, amount_minor, overdue_minor FROM dunning_notice"
    " ORDER BY dedupe_key"
)


def _digest(path: Path) -> tuple[int, str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(DIGEST_SQL).fetchall()
    finally:
        conn.close()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


async def _api(path: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from core.clock import FixedClock
    from core.db import Database
    from core.dunning import queue_dunning

    db = Database(f"sqlite+aiosqlite:///{path}", clock=FixedClock(NOW))
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
        rss_before, reset = _rss(), _reset_peak()
        began = time.perf_counter()
        first = await queue_dunning(db, AS_OF)
        seconds = time.perf_counter() - began
        peak = _peak()
        began = time.perf_counter()
        second = await queue_dunning(db, AS_OF)
        again = time.perf_counter() - began
    finally:
        await db.dispose()
    return {
        "seconds": seconds,
        "again_seconds": again,
        "queued": first.messages + first.collections,
        "by_channel": dict(first.by_channel),
        "again_queued": second.messages + second.collections,
        "rss_before": rss_before,
        "peak_reset": reset,
        "peak": peak,
    }


def raw_sql() -> str:
    from sqlalchemy.dialects import sqlite

    from core.dunning import DEFAULT_RULE, Limits, queue_statement

    statement = queue_statement(AS_OF, [DEFAULT_RULE], NOW, Limits(), postgres=False)
    return str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def _raw(path: Path) -> dict[str, Any]:
    from core.db import SQLITE_PRAGMAS
    from core.dunning.plan import SQLITE_CACHE_KIB

    sql = raw_sql()
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # as queue_dunning sets it
    conn.execute("SELECT 1").fetchall()
    rss_before, reset = _rss(), _reset_peak()
    began = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    queued = len(conn.execute(sql).fetchall())
    conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    peak = _peak()
    began = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    again_queued = len(conn.execute(sql).fetchall())
    conn.execute("COMMIT")
    again = time.perf_counter() - began
    conn.close()
    return {
        "seconds": seconds,
        "again_seconds": again,
        "queued": queued,
        "again_queued": again_queued,
        "rss_before": rss_before,
        "peak_reset": reset,
        "peak": peak,
    }


def child(mode: str, path: str) -> None:
    where = Path(path)
    result = asyncio.run(_api(where)) if mode == "api" else _raw(where)
    result["rows"], result["digest"] = _digest(where)
    print(json.dumps(result))


def _fresh_copy(side: str) -> Path:
    path = CACHE.with_name(f"{CACHE.stem}-{side}.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(CACHE, path)
    return path


def run_child(mode: str) -> dict[str, Any]:
    path = _fresh_copy(mode)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.dunning", mode, str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"dunning child ({mode}) failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass
class DunningResult:
    api: list[dict[str, Any]]
    raw: list[dict[str, Any]]

    @staticmethod
    def median(runs: list[dict[str, Any]], key: str = "seconds") -> float:
        return float(statistics.median(r[key] for r in runs))

    @property
    def ratio(self) -> float:
        return self.median(self.api) / self.median(self.raw)

    @property
    def api_peak_mb(self) -> float:
        return float(max(r["peak"] for r in self.api)) / MB

    @property
    def api_delta_mb(self) -> float:
        return float(max(r["peak"] - r["rss_before"] for r in self.api)) / MB

    @property
    def same(self) -> bool:
        everything = self.api + self.raw
        first = everything[0]
        return all(
            (r["rows"], r["digest"], r["queued"], r["again_queued"])
            == (first["rows"], first["digest"], first["queued"], 0)
            for r in everything
        )


def bench_dunning(runs: int) -> DunningResult:
    if not CACHE.exists():  # in a process of its own, so this one stays small
        subprocess.run([sys.executable, "-m", "benchmarks.dunning_data"], check=True)
    run_child("api")  # untimed: the OS page cache then holds the file
    result = DunningResult([], [])
    for r in range(runs):
        order = [("api", result.api), ("raw", result.raw)]
        for mode, into in order if r % 2 == 0 else reversed(order):
            into.append(run_child(mode))
    return result


def print_dunning(d: DunningResult) -> bool:
    times = " / ".join(f"{r['seconds']:.2f}" for r in d.api)
    first = d.api[0]
    channels = ", ".join(f"{n:,} by {ch}" for ch, n in sorted(first["by_channel"].items()))
    print(
        f"  api  queue_dunning: median {d.median(d.api):.2f} s   runs {times};"
        f" queued {first['queued']:,} ({channels})"
    )
    print(
        f"       peak RSS {d.api_peak_mb:.0f} MB (RSS before {first['rss_before'] / MB:.0f} MB,"
        f" so the run added {d.api_delta_mb:.0f} MB; VmHWM of the child"
        + (", reset just before the run)" if first["peak_reset"] else ", since exec)")
    )
    print(
        f"       second run the same day: median {d.median(d.api, 'again_seconds'):.2f} s,"
        f" queued {max(r['again_queued'] for r in d.api)}"
    )
    raw_times = " / ".join(f"{r['seconds']:.2f}" for r in d.raw)
    print(
        f"  raw  the same INSERT ... SELECT through sqlite3: median {d.median(d.raw):.2f} s"
        f"   runs {raw_times}; second run {d.median(d.raw, 'again_seconds'):.2f} s"
    )
    print(f"  ratio api/raw: {d.ratio:.2f}")
    print(
        f"  check: rows queued api {first['rows']:,} / raw {d.raw[0]['rows']:,}; every row"
        f" equal: {'yes' if first['digest'] == d.raw[0]['digest'] else 'NO'}; second runs"
        f" queued nothing: {'yes' if d.same else 'NO'}  => {'SAME' if d.same else 'MISMATCH'}"
    )
    return d.same


def summary_line(d: DunningResult, verdict: Callable[[bool], str]) -> str:
    t, x = d.median(d.api), d.api_peak_mb
    return (
        f"  dunning of 100,000 accounts: {t:.2f} s, peak RSS {x:.0f} MB; the same SQL alone"
        f" {d.median(d.raw):.2f} s (T < {SECONDS_TARGET:g} s: {verdict(t < SECONDS_TARGET)},"
        f" X < {MB_TARGET} MB: {verdict(x < MB_TARGET)}; a second run the same day queued"
        f" nothing: {verdict(d.same)})"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3:
        child(sys.argv[1], sys.argv[2])
    else:
        generate()
        outcome = bench_dunning(int(sys.argv[1]) if len(sys.argv) == 2 else 3)
        sys.exit(0 if print_dunning(outcome) else 1)
