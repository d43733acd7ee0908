"""The scheduler process (``arbot scheduler``, the Procfile's ``worker``) and runs by hand
(``arbot jobs run``).

:func:`run_job` claims a job's run for its period before it acts (issue 6 "Exactly
once") and records how it ended. :func:`run_forever` runs every job in
:data:`scheduler.jobs.JOBS` on APScheduler's AsyncIOScheduler, in the system's time
zone, while this process holds the leader lock: on PostgreSQL several scheduler
processes may be started, one leads, the others poll and take over when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import date

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.clock import Clock, SystemClock, today
from core.db import Database
from core.jobs import LeaderLock, claim_run, fail_run, finish_run, process_owner
from core.settings import Settings
from scheduler.jobs import JOBS, job_named
from scheduler.pacing import system_zone
from scheduler.ports import Ports
from scheduler.report import JobReport

log = logging.getLogger(__name__)

LEADER_POLL_SECONDS = 15.0


async def run_job(
    db: Database,
    clock: Clock,
    ports: Ports,
    name: str,
    *,
    as_of: date | None = None,
    dry_run: bool = False,
    rerun: bool = False,
    owner: str | None = None,
) -> JobReport | None:
    """Run ``name`` for ``as_of`` (today by default) once; None when its run for that
    period is already claimed. A dry run claims nothing and changes nothing. With
    ``rerun`` (an operator by hand) a run already claimed is taken over: it continues,
    because every message and posting it makes carries its own key."""
    job = job_named(name)
    day = as_of or today(clock)
    if dry_run:
        return await job.run(db, clock, ports, day, True)
    period = job.period(day, clock.now())
    if not await claim_run(db, name, period, owner=owner, rerun=rerun):
        return None
    try:
        report = await job.run(db, clock, ports, day, False)
    except Exception as exc:
        await fail_run(db, name, period, f"{type(exc).__name__}: {exc}")
        raise
    await finish_run(db, name, period, report.summary)
    return report


def _scheduler(db: Database, clock: Clock, ports: Ports, lock: LeaderLock) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=system_zone())
    owner = process_owner()

    def tick(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if not await lock.check():  # lost the lead since the last poll
                return
            try:
                report = await run_job(db, clock, ports, name, owner=owner)
            except Exception:
                log.exception("job %s failed", name)
                return
            if report is not None:
                log.info("job %s: %s", name, report.summary)

        return run

    for name, job in JOBS.items():
        scheduler.add_job(
            tick(name),
            id=name,
            name=name,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            **dict(job.trigger),
        )
    return scheduler


async def lead(
    db: Database,
    clock: Clock,
    ports: Ports,
    stop: asyncio.Event,
    *,
    poll: float = LEADER_POLL_SECONDS,
) -> None:
    """Run the jobs while this process leads; follow (poll) otherwise; until ``stop``."""
    lock = LeaderLock(db)
    scheduler: AsyncIOScheduler | None = None
    try:
        while not stop.is_set():
            leading = await lock.acquire()
            if leading and scheduler is None:
                scheduler = _scheduler(db, clock, ports, lock)
                scheduler.start()
                print(f"arbot scheduler leads with {len(JOBS)} jobs: {', '.join(JOBS)}")
            elif not leading and scheduler is not None:
                scheduler.shutdown(wait=False)
                scheduler = None
                print("arbot scheduler lost the lead; waiting to take over")
            elif not leading:
                log.debug("another scheduler leads; polling again in %s s", poll)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await lock.release()


async def run_forever(
    settings: Settings,
    until: Callable[[], Awaitable[None]],
    *,
    ports: Ports | None = None,
    clock: Clock | None = None,
    db: Database | None = None,
) -> None:
    """The scheduler process: lead or follow until ``until`` returns (SIGTERM).

    ``ports`` come from ``bot`` (the messengers it configured); without them jobs run
    but send nothing."""
    database = db or Database(settings.database_url)
    stop = asyncio.Event()

    async def stopper() -> None:
        await until()
        stop.set()

    waiter = asyncio.create_task(stopper())
    print("arbot scheduler started")
    try:
        chosen = ports or Ports(currency=settings.currency)
        await lead(database, clock or SystemClock(), chosen, stop)
    finally:
        waiter.cancel()
        if db is None:
            await database.dispose()
