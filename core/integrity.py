"""Control totals: the nightly proof that the books were only ever added to (AR-175).

The ledger's tables are append-only: a posted entry, its lines, the A/R items it made
and the allocations that paid them are never updated or deleted (AR-090, AR-053). Each
night :func:`record_controls` keeps, per table, the highest id, how many rows there are,
what their amounts add up to without their sign (a figure people can read) and a
fingerprint: a sum over the rows of a mix of each row's id and the columns that matter
(amounts with their sign, accounts, GL accounts, days). The next night the rows up to
the ids kept then must count the same and give the same fingerprint: a row deleted, an
amount changed or turned into a credit, a debt moved to another account, by anyone, on
the server or in the database, shows as a difference with the table and both figures.
Each night's figures also go into the audit trail, so rewriting ``control_total`` to
match breaks the hash chain. (More rows than counted is not compared: on PostgreSQL a
transaction takes its id before it commits, so one that committed just after the
control adds a row below the recorded id; that is why the job runs at night.)

The same check walks the audit trail's hash chain and checks the ledger's invariants
(every entry balances; the A/R subledger equals its control account), all in one
snapshot of the database, as ``arbot audit verify`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.db.audit import audit_log, verify_chain
from core.db.metadata import DayNumber, Minor, UtcDateTime, day_number, metadata
from core.ledger.invariants import check_invariants
from core.ledger.tables import allocation, ar_item, journal_entry, journal_line

P, Q = 32749, 32719
"""Two primes under 2**15: each row's mix stays below 2**47, so the fingerprint of
tens of millions of rows fits in a 64-bit integer on SQLite and PostgreSQL alike."""


def _mix(table: Table, *columns: Any) -> Any:
    """A row's share of its table's fingerprint: its columns, each taken modulo a prime
    and weighted differently, times its id (modulo a prime, plus one); amounts twice, by
    two primes, so that no amount and its negative mix alike."""
    terms = []
    for weight, column in enumerate(columns, start=1):
        value = cast(func.coalesce(column, 0), BigInteger)  # PostgreSQL's INTEGER is 32-bit
        terms.append((value % P) * (2 * weight + 1))
        terms.append((value % Q) * (2 * weight + 3))
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total * ((cast(table.c.id, BigInteger) % P) + 1)


CONTROLLED: dict[str, tuple[Table, Any, Any]] = {
    "journal_entry": (
        journal_entry,
        journal_entry.c.line_count,
        _mix(
            journal_entry,
            journal_entry.c.line_count,
            day_number(journal_entry.c.effective_day),
            journal_entry.c.reverses_id,
        ),
    ),
    "journal_line": (
        journal_line,
        func.abs(journal_line.c.amount_minor),
        _mix(
            journal_line,
            journal_line.c.entry_id,
            journal_line.c.line_no,
            journal_line.c.gl_account_id,
            journal_line.c.customer_account_id,
            journal_line.c.amount_minor,
        ),
    ),
    "ar_item": (
        ar_item,
        func.abs(ar_item.c.amount_minor),
        _mix(
            ar_item,
            ar_item.c.entry_id,
            ar_item.c.account_id,
            ar_item.c.amount_minor,
            day_number(ar_item.c.effective_day),
            day_number(ar_item.c.due_day),
            day_number(ar_item.c.bill_day),
        ),
    ),
    "allocation": (
        allocation,
        func.abs(allocation.c.amount_minor),
        _mix(
            allocation,
            allocation.c.application_id,
            allocation.c.item_id,
            allocation.c.account_id,
            allocation.c.amount_minor,
            day_number(allocation.c.effective_day),
        ),
    ),
}
"""Table -> (table, what is totalled for people, each row's share of the fingerprint)."""

control_total = Table(
    "control_total",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", DayNumber, nullable=False),
    Column("table_name", String(40), nullable=False),
    Column("max_id", Integer, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("total", Minor, nullable=False),
    Column("fingerprint", Minor, nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
    Index("ix_control_total_table", "table_name", "id"),
)

ACTOR = "system:integrity"


@dataclass(frozen=True, slots=True)
class Control:
    table: str
    max_id: int
    rows: int
    total: int
    fingerprint: int


@dataclass(frozen=True, slots=True)
class Integrity:
    """One night's check: the controls to keep, and every problem found (none: intact);
    ``changed`` are those the controls found, the rest the chain's and invariants'."""

    day: date
    controls: tuple[Control, ...]
    changed: tuple[str, ...]
    broken: tuple[str, ...]
    audit_records: int

    @property
    def problems(self) -> tuple[str, ...]:
        return self.changed + self.broken

    @property
    def ok(self) -> bool:
        return not self.problems


async def _figures(conn: AsyncConnection, name: str, up_to: int | None) -> Control:
    table, total, mix = CONTROLLED[name]
    query = select(
        func.coalesce(func.max(table.c.id), 0),
        func.count(),
        func.coalesce(func.sum(total), 0),
        func.coalesce(func.sum(mix), 0),
    )
    if up_to is not None:
        query = query.where(table.c.id <= up_to)
    top, rows, amount, fingerprint = (await conn.execute(query)).one()
    return Control(name, int(top), int(rows), int(amount), int(fingerprint))


async def last_controls(conn: AsyncConnection) -> dict[str, Control]:
    """The controls last recorded, per table."""
    latest = (
        select(func.max(control_total.c.id).label("id"))
        .group_by(control_total.c.table_name)
        .subquery("latest")
    )
    rows = await conn.execute(
        select(control_total).join(latest, latest.c.id == control_total.c.id)
    )
    return {
        r.table_name: Control(r.table_name, r.max_id, r.row_count, r.total, r.fingerprint)
        for r in rows
    }


def _compare(kept: Control, again: Control) -> str | None:
    # More rows than counted is a transaction that took its id before the control and
    # committed after it (PostgreSQL hands out ids before commit): not comparable.
    if again.rows > kept.rows:
        return None
    if (again.rows, again.fingerprint) == (kept.rows, kept.fingerprint):
        return None
    return (
        f"{kept.table}: the rows up to id {kept.max_id} were {kept.rows} totalling "
        f"{kept.total}; now {again.rows} totalling {again.total}"
        + (", their contents changed" if again.rows == kept.rows else "")
        + " (rows deleted or changed since the last control)"
    )


async def check_integrity(conn: AsyncConnection, day: date) -> Integrity:
    """Compare the books with the last controls, walk the audit chain, check the
    ledger's invariants; and the controls to keep now. ``conn`` should see one snapshot
    (``Database.read``): a posting committed midway would look like a gap."""
    before = await last_controls(conn)
    changed = []
    for name in CONTROLLED:
        kept = before.get(name)
        if kept is not None and (
            problem := _compare(kept, await _figures(conn, name, kept.max_id))
        ):
            changed.append(problem)
    chain = await verify_chain(conn)
    broken = (
        [] if chain.ok else [f"audit trail broken at record {chain.broken_at}: {chain.reason}"]
    )
    broken += [
        f"ledger ({v.source}) {v.entity}: {v.message}" for v in await check_invariants(conn)
    ]
    controls = tuple([await _figures(conn, name, None) for name in CONTROLLED])
    return Integrity(day, controls, tuple(changed), tuple(broken), chain.records)


async def record_controls(db: Database, found: Integrity) -> None:
    """Keep the controls of a check (also when something was wrong: once reported, a
    difference is not reported again), each night's figures in the audit trail too."""
    async with db.transaction() as tx:
        now = db.clock.now()
        for c in found.controls:
            await tx.conn.execute(
                control_total.insert().values(
                    day=found.day,
                    table_name=c.table,
                    max_id=c.max_id,
                    row_count=c.rows,
                    total=c.total,
                    fingerprint=c.fingerprint,
                    taken_at=now,
                )
            )
        tx.audit(
            ACTOR,
            "scheduler",
            "ledger.controls",
            found.day.isoformat(),
            problems=list(found.problems),
            **{c.table: f"{c.max_id}/{c.rows}/{c.total}/{c.fingerprint}" for c in found.controls},
        )


async def last_findings(conn: AsyncConnection) -> tuple[str, list[str]] | None:
    """The day of the last controls kept and the problems that check found (kept in the
    audit trail, where nobody can take them back); None before the first."""
    row = (
        await conn.execute(
            select(audit_log.c.subject, audit_log.c.detail)
            .where(audit_log.c.action == "ledger.controls")
            .order_by(audit_log.c.seq.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return row.subject, list(json.loads(row.detail).get("problems", []))
