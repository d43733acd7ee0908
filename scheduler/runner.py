"""The scheduler process (``arbot scheduler``, the Procfile's ``worker``).

It runs APScheduler's AsyncIOScheduler with every job in :data:`JOBS`. The job set is
built by the scheduler issue; until then the process starts, says so, and idles, so
that a Procfile deployment is already shaped the way it will run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.settings import Settings

log = logging.getLogger(__name__)

JOBS: dict[str, tuple[Callable[[], Awaitable[None]], dict[str, object]]] = {}
"""Job name -> (coroutine function, APScheduler trigger arguments)."""


async def run_forever(settings: Settings, until: Callable[[], Awaitable[None]]) -> None:
    scheduler = AsyncIOScheduler()
    for name, (job, trigger) in JOBS.items():
        scheduler.add_job(job, id=name, name=name, replace_existing=True, **trigger)
    scheduler.start()
    print(f"arbot scheduler running with {len(JOBS)} job(s)")
    try:
        await until()
    finally:
        scheduler.shutdown(wait=False)
