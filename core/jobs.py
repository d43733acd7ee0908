"""Runs of scheduled jobs, claimed once, and the scheduler's leader lock (issue 6).

A *run* is one job for one period: dunning for 2026-11-23, the month-end ATB snapshot
for 2026-11. Before a job acts it claims its run in ``job_run``, whose (job, period) is
unique: of two scheduler processes, or a scheduler and an operator typing ``arbot jobs
run``, exactly one wins and the other does nothing. A run ends ``finished`` or
``failed``. A failed run, or one left ``running`` longer than :data:`STALE_AFTER` by a
process that died, may be claimed again by the scheduler; an operator may re-run any
run by hand (``rerun=True``). A re-run continues rather than repeats: every message a
job sends carries its own dedupe key and every posting its own idempotency key, so what
the first attempt did is not done again.

On PostgreSQL several scheduler processes may be started; the :class:`LeaderLock` (a
session advisory lock held on a connection of its own for the life of the process)
lets one of them run jobs while the others wait and take over when it dies. On SQLite
one scheduler process is assumed and the lock is always granted.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    CheckConstraint,
    Column,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.db.metadata import UtcDateTime, metadata
from core.errors import ValidationError

STALE_AFTER = timedelta(hours=2)
"""A run still ``running`` after this long was cut off (a killed process): the
scheduler may claim it again."""
RUN_STATUSES = ("running", "finished", "failed")
LEADER_LOCK_KEY = 0x0A8B0B
"""pg_advisory_lock key of the scheduler's leader (0x0A8B07.. are taken by others)."""

job_run = Table(
    "job_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", String(60), nullable=False),
    Column("period", String(40), nullable=False),
    Column("status", String(10), nullable=False),
    Column("owner", String(120), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("detail", String(500)),
    CheckConstraint("status IN ('running','finished','failed')", name="status"),
    UniqueConstraint("job", "period"),
)


@dataclass(frozen=True, slots=True)
class Run:
    job: str
    period: str
    status: str
    owner: str
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    detail: str | None


def process_owner() -> str:
    """Who claims: this host and process, so that a stuck run names its culprit."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


def _checked(job: str, period: str) -> None:
    if not job.strip() or len(job) > 60:
        raise ValidationError(f"{job!r} is not a job name (1 to 60 characters)")
    if not period.strip() or len(period) > 40:
        raise ValidationError(f"{period!r} is not a run period (1 to 40 characters)")


async def claim_run(
    db: Database, job: str, period: str, *, owner: str | None = None, rerun: bool = False
) -> bool:
    """Claim ``job`` for ``period``: True for exactly one claimant, False for the rest.

    A new run is made with ON CONFLICT DO NOTHING (a second claimant on PostgreSQL waits
    for the first one's commit, then does nothing). An existing run is taken over by a
    conditional UPDATE that only one transaction can win: when it failed, when it has
    been ``running`` longer than :data:`STALE_AFTER`, or, with ``rerun``, whatever its
    state (an operator re-running it by hand)."""
    _checked(job, period)
    who = (owner or process_owner())[:120]
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        insert = postgresql.insert if tx.is_postgres else sqlite.insert
        made = await tx.conn.execute(
            insert(job_run)
            .values(job=job, period=period, status="running", owner=who, started_at=now)
            .on_conflict_do_nothing()
        )
        if made.rowcount == 1:
            tx.audit(who, "scheduler", "job.claim", f"{job} {period}")
            return True
        again = job_run.update().where(job_run.c.job == job, job_run.c.period == period)
        if not rerun:
            again = again.where(
                or_(
                    job_run.c.status == "failed",
                    (job_run.c.status == "running") & (job_run.c.started_at <= now - STALE_AFTER),
                )
            )
        taken = await tx.conn.execute(
            again.values(
                status="running",
                owner=who,
                attempts=job_run.c.attempts + 1,
                started_at=now,
                finished_at=None,
            )
        )
        if taken.rowcount != 1:
            return False
        tx.audit(who, "scheduler", "job.reclaim", f"{job} {period}", rerun=rerun)
        return True


async def _end(db: Database, job: str, period: str, status: str, detail: str) -> None:
    async with db.transaction() as tx:
        await tx.conn.execute(
            job_run.update()
            .where(job_run.c.job == job, job_run.c.period == period)
            .values(status=status, finished_at=tx.db.clock.now(), detail=detail[:500])
        )


async def finish_run(db: Database, job: str, period: str, detail: str = "") -> None:
    """Mark the run done; ``detail`` is its one-line summary (``12 reminders sent``)."""
    await _end(db, job, period, "finished", detail)


async def fail_run(db: Database, job: str, period: str, error: str) -> None:
    """Mark the run failed with what went wrong; the scheduler may claim it again."""
    await _end(db, job, period, "failed", error)


def _run(row: object) -> Run:
    r = row._mapping  # type: ignore[attr-defined]
    return Run(
        r["job"],
        r["period"],
        r["status"],
        r["owner"],
        r["attempts"],
        r["started_at"],
        r["finished_at"],
        r["detail"],
    )


async def run_of(conn: AsyncConnection, job: str, period: str) -> Run | None:
    row = (
        await conn.execute(select(job_run).where(job_run.c.job == job, job_run.c.period == period))
    ).first()
    return None if row is None else _run(row)


async def last_runs(conn: AsyncConnection) -> dict[str, Run]:
    """Each job's most recent run (by the time it started), for ``arbot jobs list``."""
    latest = select(func.max(job_run.c.id)).group_by(job_run.c.job).scalar_subquery()
    rows = await conn.execute(select(job_run).where(job_run.c.id.in_(latest)))
    return {run.job: run for run in map(_run, rows)}


class LeaderLock:
    """One active scheduler among several processes (PostgreSQL advisory lock).

    :meth:`acquire` tries the session-level ``pg_try_advisory_lock`` on a connection
    kept open for as long as the lock is held: the lock lives exactly as long as that
    session, so when the leader's process dies, or its connection breaks, PostgreSQL
    releases it and the next follower to poll gets it. The connection is not left
    inside a transaction while it holds the lock. On SQLite the lock is always granted
    (one scheduler process is assumed)."""

    def __init__(self, db: Database, key: int = LEADER_LOCK_KEY) -> None:
        self.db = db
        self.key = key
        self._conn: AsyncConnection | None = None
        self._sqlite_held = False

    @property
    def held(self) -> bool:
        return self._conn is not None or self._sqlite_held

    async def acquire(self) -> bool:
        """True when this process is (or just became) the leader."""
        if not self.db.is_postgres:
            self._sqlite_held = True
            return True
        if self._conn is not None:
            return await self.check()
        conn = await self.db.engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def check(self) -> bool:
        """Whether the lock is still held: the leader asks before each run, and steps down
        (returns False) when its session was lost."""
        if not self.db.is_postgres:
            return self._sqlite_held
        if self._conn is None:
            return False
        try:
            held = (
                await self._conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND objid = :k AND granted"
                    ),
                    {"k": self.key},
                )
            ).scalar()
            await self._conn.commit()
        except Exception:  # the session is gone, and the lock with it
            await self._drop()
            return False
        if not held:
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        """Give up leadership (a clean shutdown); a follower takes over at its next poll."""
        self._sqlite_held = False
        if self._conn is None:
            return
        try:
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await self._conn.commit()
        finally:
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # closing a broken connection may fail too; it is gone
                await conn.invalidate()
