"""A charge import killed with SIGKILL in the middle of writing leaves nothing, and
running it again posts every row exactly once (issue 3: crash-safe imports).

``arbot import charges`` runs as a real subprocess on a file large enough that its
write transaction takes a while; the test kills it once the transaction is seen
writing (SQLite: the write-ahead log grows; PostgreSQL: the batch's INSERT is
running), then checks the database and reruns the same command.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, make_url, select, text

from core.billing.catalogue import NewService, define_service
from core.clock import SystemClock, today
from core.db import Database
from core.db.audit import verify_chain
from core.db.migrate import upgrade
from core.ledger.invariants import check_invariants
from core.ledger.items import balance
from core.ledger.tables import journal_entry
from tests.conftest import PG_URL, _admin
from tests.core.helpers import ADMIN, open_account, usd

ROWS = 40_000
ACCOUNTS = 20


def write_charges(path: Path) -> int:
    served = today(SystemClock()) - timedelta(days=3)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["external_id", "account_number", "service_code", "quantity", "service_date"])
        for n in range(ROWS):
            out.writerow([f"k{n}", f"K{n % ACCOUNTS:03d}", "CONS", 1, served.isoformat()])
    return ROWS * 2_500


async def prepare(url: str) -> list[int]:
    db = Database(url)
    try:
        if db.is_postgres:
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(db)
        consultation = NewService("CONS", "Consultation", "consultation", usd("25.00"))
        await define_service(db, ADMIN, consultation)
        return [(await open_account(db, f"K {n}", number=f"K{n:03d}")).id for n in range(ACCOUNTS)]
    finally:
        await db.dispose()


async def state(url: str, accounts: list[int]) -> tuple[int, int, bool]:
    db = Database(url)
    try:
        async with db.read() as conn:
            posted = await conn.execute(
                select(func.count()).where(journal_entry.c.idempotency_key.like("import/charge/%"))
            )
            total = sum([await balance(conn, a) for a in accounts])
            sound = await check_invariants(conn) == [] and (await verify_chain(conn)).ok
            return int(posted.scalar_one()), total, sound
    finally:
        await db.dispose()


def run_import(url: str, path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "import", "charges", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_until(seen: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not seen():
        assert process.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.005)


def pg_writing(url: str) -> Callable[[], bool]:
    """True once another session's transaction has written and is inserting rows."""
    probe = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL AND query ILIKE 'INSERT%'"
    )

    async def check() -> bool:
        db = Database(url)
        try:
            async with db.read() as conn:
                return bool((await conn.execute(probe)).scalar_one())
        finally:
            await db.dispose()

    return lambda: asyncio.run(check())


def kill_then_rerun(url: str, tmp_path: Path, writing: Callable[[], bool]) -> None:
    accounts = asyncio.run(prepare(url))
    path = tmp_path / "charges.csv"
    expected = write_charges(path)
    process = run_import(url, path)
    wait_until(writing, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    posted, total, sound = asyncio.run(state(url, accounts))
    assert (posted, total, sound) == (0, 0, True), "a killed import left part of its batch"
    rerun = run_import(url, path)
    out, err = rerun.communicate(timeout=300)
    assert (rerun.returncode, err) == (0, b""), out.decode() + err.decode()
    assert f"written now:       {ROWS}" in out.decode()
    assert asyncio.run(state(url, accounts)) == (ROWS, expected, True)
    again = run_import(url, path)
    out, _ = again.communicate(timeout=300)
    assert f"already imported:  {ROWS}" in out.decode()
    assert asyncio.run(state(url, accounts)) == (ROWS, expected, True)


def test_sqlite_import_killed_mid_write_leaves_nothing_and_rerun_completes(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "kill.db"
    wal = Path(f"{db_path}-wal")
    baseline: list[int] = []

    def writing() -> bool:
        size = wal.stat().st_size if wal.exists() else 0
        if not baseline:
            baseline.append(size)
        return size > baseline[0] + 4_000_000

    kill_then_rerun(f"sqlite+aiosqlite:///{db_path}", tmp_path, writing)


@pytest.mark.postgres
def test_postgres_import_killed_mid_write_leaves_nothing_and_rerun_completes(
    tmp_path: Path,
) -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL tests need ARBOT_TEST_POSTGRES_URL (CI sets it)")
    name = f"arbot_kill_{os.getpid()}"
    _admin(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        kill_then_rerun(url, tmp_path, pg_writing(url))
    finally:
        _admin(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
