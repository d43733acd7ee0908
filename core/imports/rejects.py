"""The exceptions queue: rows the billing interface rejected, kept until someone fixes
or dismisses them (AR-067, AR-174).

Every import's rejected rows are kept in ``import_reject`` with the batch they came in,
their row number, key, reason and values: the same rows the reject report beside the
file lists, now where staff can work them. A reject is ``open`` until someone fixes it
(its row, edited, goes through the same import again and is taken: ``fixed``) or
dismisses it with a note (``dismissed``: the row was wrong and will not come). Running
the same batch again keeps one reject per row, with the latest reason; a row that goes
in on the rerun closes its reject. Nothing here bypasses an import's checks: a fixed row
is checked like any other, with the permissions of whoever fixes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.db import Database
from core.db.metadata import UtcDateTime, metadata
from core.errors import InvalidState, NotFound, ValidationError
from core.imports import BatchRefused, Control, Reject, Report, Row

KINDS = ("patients", "services", "charges", "payments", "remittance")
STATUSES = ("open", "fixed", "dismissed")
FIXABLE = ("patients", "services", "charges", "payments")
"""Kinds whose row can be edited and sent again; a remittance's claim is fixed in the
ledger, then its file is run again."""

DOING = {
    "patients": Permission.MANAGE_ACCOUNTS,
    "services": Permission.MANAGE_CATALOGUE,
    "charges": Permission.POST_CHARGE,
    "payments": Permission.RECORD_PAYMENT,
    "remittance": Permission.RECORD_PAYMENT,
}
"""What one must be allowed to do to fix or dismiss a reject of each kind."""

import_reject = Table(
    "import_reject",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("batch", String(200), nullable=False),
    Column("row", Integer, nullable=False),
    Column("row_key", String(200), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("row_values", Text, nullable=False),
    Column("status", String(10), nullable=False, server_default="open"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("resolved_by", String(120)),
    Column("note", String(300), nullable=False, server_default=""),
    CheckConstraint(f"kind IN {KINDS!r}", name="kind"),
    CheckConstraint(f"status IN {STATUSES!r}", name="status"),
    UniqueConstraint("kind", "batch", "row"),
    Index("ix_import_reject_status", "status", "kind", "id"),
)


@dataclass(frozen=True, slots=True)
class KeptReject:
    id: int
    kind: str
    batch: str
    row: int
    key: str
    reason: str
    values: dict[str, str]
    status: str
    created_at: datetime
    updated_at: datetime
    resolved_by: str | None
    note: str


def _kept(r: object) -> KeptReject:
    m = r._mapping  # type: ignore[attr-defined]
    return KeptReject(
        m["id"], m["kind"], m["batch"], m["row"], m["row_key"], m["reason"],
        json.loads(m["row_values"]), m["status"], m["created_at"], m["updated_at"],
        m["resolved_by"], m["note"],
    )  # fmt: skip


def columns_of(found: KeptReject) -> list[str]:
    """The columns a fix shows: the row's own (named), then those its kind's import
    takes that the row lacked (a short CSV line, a JSON record without a key)."""
    from core.imports import charges, patients, payments, services

    known = {"patients": patients, "services": services, "charges": charges}
    module = known.get(found.kind, payments)
    own = [c for c in found.values if c.strip()]
    return own + [c for c in (*module.REQUIRED, *module.OPTIONAL) if c not in own]


async def keep_rejects(
    db: Database, kind: str, batch: str, rows: Sequence[Row], report: Report
) -> int:
    """Keep ``report``'s rejects in the queue (and close those of ``batch`` whose rows
    went in this time). How many are open for the batch now."""
    by_number = {r.number: r for r in rows}
    rejected = {r.row for r in report.rejects}
    batch = batch[:200]
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        insert = postgresql.insert if tx.is_postgres else sqlite.insert
        for r in report.rejects:
            values = dict(by_number[r.row].values) if r.row in by_number else {}
            row = {
                "row_key": r.key[:200],
                "reason": r.reason[:500],
                "row_values": json.dumps(values, ensure_ascii=False),
                "updated_at": now,
            }
            statement = insert(import_reject).values(
                kind=kind, batch=batch, row=r.row, created_at=now, **row
            )
            await tx.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["kind", "batch", "row"],
                    set_=row,
                    where=import_reject.c.status == "open",
                )
            )
        # The batch's open rejects (few) whose rows went in this time: closed. Never
        # the batch's row numbers as parameters: a batch may hold 100,000 rows.
        kept = await tx.conn.execute(
            select(import_reject.c.id, import_reject.c.row).where(
                import_reject.c.kind == kind,
                import_reject.c.batch == batch,
                import_reject.c.status == "open",
            )
        )
        taken = [r.id for r in kept if r.row in by_number and r.row not in rejected]
        for start in range(0, len(taken) if not report.refused else 0, 1000):
            await tx.conn.execute(
                update(import_reject)
                .where(import_reject.c.id.in_(taken[start : start + 1000]))
                .values(status="fixed", resolved_by="the batch run again", updated_at=now)
            )
        count = await tx.conn.execute(
            select(func.count()).where(
                import_reject.c.kind == kind,
                import_reject.c.batch == batch,
                import_reject.c.status == "open",
            )
        )
        return int(count.scalar_one())


async def rejects(
    conn: AsyncConnection,
    *,
    status: str | None = "open",
    kind: str | None = None,
    between: tuple[datetime, datetime] | None = None,
) -> list[KeptReject]:
    """The queue, oldest first (``status`` None: every reject; ``between``: those first
    rejected from one moment up to the other)."""
    query = select(import_reject).order_by(import_reject.c.id)
    if between is not None:
        query = query.where(import_reject.c.created_at >= between[0])
        query = query.where(import_reject.c.created_at < between[1])
    if status is not None:
        query = query.where(import_reject.c.status == status)
    if kind is not None:
        query = query.where(import_reject.c.kind == kind)
    return [_kept(r) for r in await conn.execute(query)]


async def load_reject(conn: AsyncConnection, reject_id: int) -> KeptReject:
    query = select(import_reject).where(import_reject.c.id == reject_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"there is no rejected row {reject_id}")
    return _kept(row)


async def close_reject(
    db: Database, actor: Actor, reject_id: int, status: str, note: str = ""
) -> KeptReject:
    """Mark an open reject ``fixed`` or ``dismissed`` (a dismissal needs a note)."""
    if status not in ("fixed", "dismissed"):
        raise ValidationError(f"a reject is closed as fixed or dismissed, not {status!r}")
    if status == "dismissed" and not note.strip():
        raise ValidationError("say why the row is dismissed")
    async with db.transaction() as tx:
        found = await load_reject(tx.conn, reject_id)
        require(actor, DOING[found.kind])
        if found.status != "open":
            raise InvalidState(f"rejected row {reject_id} is {found.status} already")
        await tx.conn.execute(
            update(import_reject)
            .where(import_reject.c.id == reject_id)
            .values(
                status=status,
                resolved_by=actor.label,
                note=note.strip()[:300],
                updated_at=tx.db.clock.now(),
            )
        )
        tx.audit(
            actor.label,
            "staff",
            f"import.reject.{status}",
            f"{found.kind} {found.batch} row {found.row}",
            key=found.key,
            note=note.strip(),
        )
        return await load_reject(tx.conn, reject_id)


async def resubmit(
    db: Database,
    actor: Actor,
    reject_id: int,
    values: dict[str, str],
    *,
    currency: str,
    number_format: str,
) -> Report:
    """Send the rejected row again, as edited (``values``), through its kind's import
    with ``actor``'s permissions. Taken (or found in already): the reject is fixed.
    Rejected again: the reject keeps the new values and reason, and the reason is raised."""
    async with db.read() as conn:
        found = await load_reject(conn, reject_id)
    if found.status != "open":
        raise InvalidState(f"rejected row {reject_id} is {found.status} already")
    if found.kind not in FIXABLE:
        raise ValidationError(
            f"a {found.kind} row is not sent again: fix what it names in the ledger, then "
            "run its file again"
        )
    clean = {k.strip().lower(): v.strip() for k, v in values.items() if k.strip()}
    row = Row(found.row, clean)
    try:
        report = await _run(db, actor, found.kind, list(clean), row, currency, number_format)
    except BatchRefused as exc:  # the one-row batch refused whole: the edit is kept too
        report = Report(found.kind, 1, rejects=[Reject(found.row, found.key, str(exc))])
    if report.rejects:
        reason = report.rejects[0].reason
        async with db.transaction() as tx:
            await tx.conn.execute(
                update(import_reject)
                .where(import_reject.c.id == reject_id)
                .values(
                    reason=reason[:500],
                    row_values=json.dumps(clean, ensure_ascii=False),
                    updated_at=tx.db.clock.now(),
                )
            )
        raise ValidationError(reason)
    await close_reject(db, actor, reject_id, "fixed", "sent again")
    return report


async def _run(
    db: Database,
    actor: Actor,
    kind: str,
    header: list[str],
    row: Row,
    currency: str,
    number_format: str,
) -> Report:
    label = f"fix of a rejected {kind} row"
    if kind == "payments":
        from core.imports.payments import import_payments

        control = Control(1, row.get("amount") or "0")
        return await import_payments(db, actor, header, [row], control=control, label=label)
    if kind == "charges":
        from core.imports.charges import import_charges

        return await import_charges(db, actor, header, [row], label=label)
    if kind == "services":
        from core.imports.services import import_services

        return await import_services(db, actor, header, [row])
    from core.imports.patients import import_patients

    return await import_patients(
        db, actor, header, [row], currency=currency, number_format=number_format
    )
