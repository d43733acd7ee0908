"""The scheduler process: every job on a time-zone-aware trigger, run only while this
process leads; on PostgreSQL a second process waits and takes over (issue 6)."""

from __future__ import annotations

import asyncio

import pytest

from core.db import Database
from core.errors import ValidationError
from core.jobs import LeaderLock
from scheduler.jobs import JOBS, schedule_text
from scheduler.pacing import system_zone
from scheduler.runner import _scheduler, lead, run_job
from tests.scheduler.conftest import FakeMessenger, ports_for


async def test_every_job_is_scheduled_in_the_system_zone(
    db: Database, messenger: FakeMessenger
) -> None:
    lock = LeaderLock(db)
    await lock.acquire()
    scheduler = _scheduler(db, db.clock, ports_for(db, messenger), lock)
    scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == set(JOBS)
        assert {"dunning", "dunning-send", "small-balances", "atb-snapshot"} <= set(jobs)
        for job in jobs.values():
            assert str(job.trigger.timezone) == str(system_zone())
            assert job.next_run_time is not None and job.next_run_time.tzinfo is not None
    finally:
        scheduler.shutdown(wait=False)
        await lock.release()
    assert schedule_text(JOBS["dunning-send"]) == "cron minute=*/10"


async def test_an_unknown_job_is_named_with_the_ones_there_are(
    db: Database, messenger: FakeMessenger
) -> None:
    named = r"no job 'duning'; the jobs are (.+, )?atb-snapshot, "
    with pytest.raises(ValidationError, match=named):
        await run_job(db, db.clock, ports_for(db, messenger), "duning")


async def wait_for(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition did not come true in time")


async def test_the_leader_runs_jobs_and_a_follower_takes_over(
    db: Database, messenger: FakeMessenger, capsys: pytest.CaptureFixture[str]
) -> None:
    if not db.is_postgres:
        pytest.skip("on SQLite one scheduler process is assumed")
    other = Database(db.url, clock=db.clock)
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    ports = ports_for(db, messenger)
    out: list[str] = []

    def leads() -> int:
        out.append(capsys.readouterr().out)
        return "".join(out).count("leads with")

    first = asyncio.create_task(lead(db, db.clock, ports, first_stop, poll=0.05))
    await wait_for(lambda: leads() == 1)
    second = asyncio.create_task(lead(other, db.clock, ports, second_stop, poll=0.05))
    await asyncio.sleep(0.3)
    assert leads() == 1  # the second one follows
    first_stop.set()
    await first
    await wait_for(lambda: leads() == 2)  # and takes over
    second_stop.set()
    await second
    await other.dispose()


async def test_on_sqlite_the_only_process_leads(
    db: Database, messenger: FakeMessenger, capsys: pytest.CaptureFixture[str]
) -> None:
    if db.is_postgres:
        pytest.skip("covered by the leader test")
    stop = asyncio.Event()
    task = asyncio.create_task(lead(db, db.clock, ports_for(db, messenger), stop, poll=0.05))
    await asyncio.sleep(0.2)
    stop.set()
    await task
    assert f"arbot scheduler leads with {len(JOBS)} jobs" in capsys.readouterr().out
