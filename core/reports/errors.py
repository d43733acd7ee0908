"""What went wrong while A/R was updated (AR-174, AR-178): the rows the billing
interface rejected (the exceptions queue, :mod:`core.imports.rejects`) and the
scheduled runs that failed and have not succeeded since (``job_run``), as text and CSV.

Rejects CSV columns (a contract with spreadsheets): ``id, kind, batch, row, key,
reason, status, created_at, updated_at, resolved_by, note``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.imports.rejects import KeptReject, rejects
from core.jobs import job_run
from core.reports import cell

REJECT_COLUMNS = (
    "id", "kind", "batch", "row", "key", "reason", "status", "created_at", "updated_at",
    "resolved_by", "note",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FailedRun:
    job: str
    period: str
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    detail: str


@dataclass(frozen=True, slots=True)
class Errors:
    start: datetime
    end: datetime
    failed: tuple[FailedRun, ...]
    rejected: tuple[KeptReject, ...]
    """Rows rejected in the period, whatever became of them."""


async def errors(conn: AsyncConnection, start: datetime, end: datetime) -> Errors:
    """The failed runs started, and the rows rejected, from ``start`` up to ``end``."""
    runs = await conn.execute(
        select(job_run)
        .where(job_run.c.status == "failed", job_run.c.started_at >= start)
        .where(job_run.c.started_at < end)
        .order_by(job_run.c.started_at)
    )
    failed = tuple(
        FailedRun(r.job, r.period, r.attempts, r.started_at, r.finished_at, r.detail or "")
        for r in runs
    )
    found = await rejects(conn, status=None, between=(start, end))
    return Errors(start, end, failed, tuple(found))


def rejects_csv(found: Sequence[KeptReject]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REJECT_COLUMNS)
    for r in found:
        writer.writerow(
            [
                r.id, r.kind, cell(r.batch), r.row, cell(r.key), cell(r.reason), r.status,
                r.created_at.isoformat(timespec="seconds"),
                r.updated_at.isoformat(timespec="seconds"), cell(r.resolved_by or ""),
                cell(r.note),
            ]
        )  # fmt: skip
    return out.getvalue()


def rejects_text(found: Sequence[KeptReject], status: str | None) -> str:
    which = f"{status} " if status else ""
    out = [f"Rejected import rows: {len(found)} {which}".rstrip(), ""]
    for r in found:
        state = "" if status else f" [{r.status}]"
        out.append(f"  #{r.id} {r.kind:<10} {r.batch} row {r.row} ({r.key or '-'}){state}")
        out.append(f"      {r.reason}")
    return "\n".join([*out, ""])


def errors_text(e: Errors) -> str:
    span = f"{e.start.isoformat(timespec='minutes')} to {e.end.isoformat(timespec='minutes')}"
    out = [f"Errors during A/R updates, {span}", "", f"Failed runs: {len(e.failed)}"]
    out += [
        f"  {f.job:<16} {f.period:<14} {f.attempts} attempt{'s' if f.attempts != 1 else ''}"
        f"  {f.detail}"
        for f in e.failed
    ]
    out += ["", f"Import rows rejected: {len(e.rejected)}"]
    out += [
        f"  {r.kind:<10} {r.batch} row {r.row} ({r.key or '-'}) [{r.status}]: {r.reason}"
        for r in e.rejected
    ]
    return "\n".join([*out, ""])
