"""The audit trail: an append-only, hash-chained log of every posting, approval and change.

Each record carries the hash of the record before it, so editing or deleting any
record breaks every link after it; :func:`verify_chain` finds the first broken link
(AR-012, BI-17). Records are collected by the unit of work and appended in one go
just before COMMIT, after every other lock the transaction takes, so the chain's
single point of serialisation never takes part in a deadlock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import UtcDateTime, metadata

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x0A8B07  # pg_advisory_xact_lock key that serialises the chain on PostgreSQL

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("source", String(40), nullable=False),
    Column("action", String(60), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_audit_log_subject", "subject"),
)


_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_APPEND = audit_log.insert()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor: str
    source: str
    action: str
    subject: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChainReport:
    records: int
    broken_at: int | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _digest(seq: int, prev_hash: str, row: dict[str, Any]) -> str:
    canonical = json.dumps(
        [
            seq,
            prev_hash,
            row["at"],
            row["actor"],
            row["source"],
            row["action"],
            row["subject"],
            row["detail"],
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _at_text(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


async def append(conn: AsyncConnection, records: list[AuditRecord]) -> None:
    """Append ``records`` to the chain inside the caller's transaction."""
    if not records:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    head = (await conn.execute(_HEAD)).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = []
    for record in records:
        seq += 1
        detail = json.dumps(record.detail, sort_keys=True, default=str, ensure_ascii=False)
        row = {
            "at": record.at,
            "actor": record.actor,
            "source": record.source,
            "action": record.action,
            "subject": record.subject,
            "detail": detail,
        }
        digest = _digest(seq, prev, {**row, "at": _at_text(record.at)})
        rows.append({**row, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    await conn.execute(_APPEND, rows)


async def verify_chain(conn: AsyncConnection, batch: int = 5000) -> ChainReport:
    """Walk the whole chain; report the first record whose link or content is wrong."""
    prev, expected_seq, count, last = GENESIS, 1, 0, 0
    total = (await conn.execute(select(func.count()).select_from(audit_log))).scalar_one()
    while True:
        rows = (
            (
                await conn.execute(
                    select(audit_log)
                    .where(audit_log.c.seq > last)
                    .order_by(audit_log.c.seq)
                    .limit(batch)
                )
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        for row in rows:
            if row["seq"] != expected_seq:
                return ChainReport(count, expected_seq, f"record {expected_seq} is missing")
            if row["prev_hash"] != prev:
                return ChainReport(count, row["seq"], "its link to the previous record is broken")
            data = {**row, "at": _at_text(row["at"])}
            if _digest(row["seq"], prev, data) != row["hash"]:
                return ChainReport(count, row["seq"], "its content does not match its hash")
            prev, expected_seq, count, last = row["hash"], expected_seq + 1, count + 1, row["seq"]
    if count != total:
        return ChainReport(count, expected_seq, "records exist beyond a gap in the sequence")
    return ChainReport(count, None, "intact")
