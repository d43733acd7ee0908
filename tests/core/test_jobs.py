"""Runs of scheduled jobs are claimed once (issue 6 "Exactly once"), and on PostgreSQL one
scheduler process leads while the others wait and take over when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.db import Database
from core.db.audit import audit_log
from core.errors import ValidationError
from core.jobs import (
    STALE_AFTER,
    LeaderLock,
    claim_run,
    fail_run,
    finish_run,
    last_runs,
    run_of,
)

ROOT = Path(__file__).resolve().parents[2]


async def test_a_run_is_claimed_once(db: Database) -> None:
    assert await claim_run(db, "dunning", "2026-06-30", owner="host-a:1")
    assert not await claim_run(db, "dunning", "2026-06-30", owner="host-b:2")
    assert await claim_run(db, "dunning", "2026-07-01", owner="host-b:2")  # another period
    assert await claim_run(db, "atb-snapshot", "2026-06-30", owner="host-b:2")  # another job
    await finish_run(db, "dunning", "2026-06-30", "3 reminders sent")
    assert not await claim_run(db, "dunning", "2026-06-30", owner="host-b:2")
    async with db.read() as conn:
        run = await run_of(conn, "dunning", "2026-06-30")
        trail = (await conn.execute(select(audit_log.c.action))).scalars().all()
    assert run is not None
    assert (run.status, run.owner, run.attempts, run.detail) == (
        "finished",
        "host-a:1",
        1,
        "3 reminders sent",
    )
    assert trail.count("job.claim") == 3


async def test_a_failed_run_is_claimed_again_and_counts_its_attempts(db: Database) -> None:
    assert await claim_run(db, "dunning", "2026-06-30")
    await fail_run(db, "dunning", "2026-06-30", "the messenger was down")
    assert await claim_run(db, "dunning", "2026-06-30")
    assert not await claim_run(db, "dunning", "2026-06-30")  # running again now
    async with db.read() as conn:
        run = await run_of(conn, "dunning", "2026-06-30")
    assert run is not None and (run.status, run.attempts) == ("running", 2)
    assert run.finished_at is None


async def test_a_run_cut_off_mid_way_is_taken_over_only_when_stale(
    db: Database, clock: FixedClock
) -> None:
    assert await claim_run(db, "dunning", "2026-06-30", owner="killed:1")
    clock.advance(seconds=STALE_AFTER.total_seconds() - 60)
    assert not await claim_run(db, "dunning", "2026-06-30", owner="other:2")
    clock.advance(seconds=60)
    assert await claim_run(db, "dunning", "2026-06-30", owner="other:2")
    async with db.read() as conn:
        run = await run_of(conn, "dunning", "2026-06-30")
    assert run is not None and run.owner == "other:2" and run.attempts == 2


async def test_an_operator_reruns_any_run_by_hand(db: Database) -> None:
    assert await claim_run(db, "dunning", "2026-06-30")
    await finish_run(db, "dunning", "2026-06-30", "done")
    assert await claim_run(db, "dunning", "2026-06-30", owner="operator ops", rerun=True)
    async with db.read() as conn:
        runs = await last_runs(conn)
        reclaims = (
            await conn.execute(select(audit_log).where(audit_log.c.action == "job.reclaim"))
        ).all()
    assert runs["dunning"].status == "running" and runs["dunning"].attempts == 2
    assert len(reclaims) == 1


async def test_bad_names_are_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match="not a job name"):
        await claim_run(db, " ", "2026-06-30")
    with pytest.raises(ValidationError, match="not a run period"):
        await claim_run(db, "dunning", "x" * 41)


async def test_two_processes_claiming_at_once_get_one_winner(
    db: Database, clock: FixedClock
) -> None:
    other = Database(db.url, clock=clock)
    try:
        claims = [
            claim_run(d, "dunning", "2026-06-30", owner=f"p{i}")
            for i, d in enumerate([db, other] * 5)
        ]
        results = await asyncio.gather(*claims)
    finally:
        await other.dispose()
    assert results.count(True) == 1


async def test_on_sqlite_the_leader_lock_is_always_granted(db: Database) -> None:
    if db.is_postgres:
        pytest.skip("SQLite assumes one scheduler process")
    lock = LeaderLock(db)
    assert await lock.acquire() and await lock.check() and lock.held
    await lock.release()
    assert not lock.held


async def test_one_leader_and_a_follower_that_takes_over(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("the leader lock is a PostgreSQL advisory lock")
    other = Database(db.url, clock=db.clock)
    leader, follower = LeaderLock(db), LeaderLock(other)
    try:
        assert await leader.acquire()
        assert not await follower.acquire()
        assert await leader.check()
        await leader.release()
        assert await follower.acquire() and await follower.check()
        assert not await leader.acquire()
    finally:
        await follower.release()
        await other.dispose()


LEADER_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    from core.db import Database
    from core.jobs import LeaderLock

    async def main():
        lock = LeaderLock(Database(sys.argv[1]))
        print("leader" if await lock.acquire() else "follower", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


async def test_a_killed_leader_process_is_replaced(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("the leader lock is a PostgreSQL advisory lock")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LEADER_PROCESS,
        db.url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    follower = LeaderLock(db)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.decode().strip() == "leader"
        assert not await follower.acquire()
        process.send_signal(signal.SIGKILL)  # no clean shutdown: the session just dies
        await asyncio.wait_for(process.wait(), 10)
        for _ in range(50):
            if await follower.acquire():
                break
            await asyncio.sleep(0.1)
        assert follower.held
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await follower.release()
