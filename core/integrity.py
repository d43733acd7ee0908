"""Control totals: the nightly proof that the books were only ever added to (AR-175).

The ledger's tables are append-only: a posted entry, its lines, the A/R items it made
and the allocations that paid them are never updated or deleted (AR-090, AR-053). Each
night :func:`take_controls` records, per table, the highest id, how many rows there are
and what their amounts add up to (:data:`CONTROLLED`). The next night the rows up to the
ids recorded then must still count and add up the same: a row deleted or an amount
changed since, by anyone, on the server or in the database, shows as a difference, with
the table and both figures. (More rows than counted is not a loss: on PostgreSQL a
transaction takes its id before it commits, so one that committed just after the control
adds a row below the recorded id; that is why the job runs at night.) The same run walks
the audit trail's hash chain and checks the ledger's invariants (every entry balances;
the A/R subledger equals its control account), as ``arbot audit verify`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Column, Index, Integer, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.db.audit import verify_chain
from core.db.metadata import DayNumber, Minor, UtcDateTime, metadata
from core.ledger.invariants import check_invariants
from core.ledger.tables import allocation, ar_item, journal_entry, journal_line

CONTROLLED = {
    "journal_entry": (journal_entry, journal_entry.c.line_count),
    "journal_line": (journal_line, func.abs(journal_line.c.amount_minor)),
    "ar_item": (ar_item, func.abs(ar_item.c.amount_minor)),
    "allocation": (allocation, func.abs(allocation.c.amount_minor)),
}
"""Table -> (table, what is totalled: an entry's lines, or amounts without their sign,
since a ledger's signed amounts add up to nothing whatever they are)."""

control_total = Table(
    "control_total",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", DayNumber, nullable=False),
    Column("table_name", String(40), nullable=False),
    Column("max_id", Integer, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("total", Minor, nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
    Index("ix_control_total_table", "table_name", "id"),
)


@dataclass(frozen=True, slots=True)
class Control:
    table: str
    max_id: int
    rows: int
    total: int


@dataclass(frozen=True, slots=True)
class Integrity:
    """One night's check: the controls taken, and every problem found (none: intact)."""

    day: date
    controls: tuple[Control, ...]
    problems: tuple[str, ...]
    audit_records: int

    @property
    def ok(self) -> bool:
        return not self.problems


async def _figures(conn: AsyncConnection, name: str, up_to: int | None) -> Control:
    table, column = CONTROLLED[name]
    query = select(
        func.coalesce(func.max(table.c.id), 0),
        func.count(),
        func.coalesce(func.sum(column), 0),
    )
    if up_to is not None:
        query = query.where(table.c.id <= up_to)
    top, rows, total = (await conn.execute(query)).one()
    return Control(name, int(top), int(rows), int(total))


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
    return {r.table_name: Control(r.table_name, r.max_id, r.row_count, r.total) for r in rows}


async def check_integrity(conn: AsyncConnection, day: date) -> Integrity:
    """Compare the books with the last controls, walk the audit chain, check the
    ledger's invariants; and the controls to record now."""
    problems: list[str] = []
    before = await last_controls(conn)
    for name in CONTROLLED:
        kept = before.get(name)
        if kept is None:
            continue
        again = await _figures(conn, name, kept.max_id)
        # More rows than counted is a transaction that took its id before the control
        # and committed after it (PostgreSQL hands out ids before commit): not a loss.
        if again.rows < kept.rows or (again.rows == kept.rows and again.total != kept.total):
            problems.append(
                f"{name}: the rows up to id {kept.max_id} were {kept.rows} totalling "
                f"{kept.total}; now {again.rows} totalling {again.total} "
                "(rows deleted or changed since the last control)"
            )
    chain = await verify_chain(conn)
    if not chain.ok:
        problems.append(f"audit trail broken at record {chain.broken_at}: {chain.reason}")
    problems += [
        f"ledger ({v.source}) {v.entity}: {v.message}" for v in await check_invariants(conn)
    ]
    controls = tuple([await _figures(conn, name, None) for name in CONTROLLED])
    return Integrity(day, controls, tuple(problems), chain.records)


async def take_controls(db: Database, day: date) -> Integrity:
    """Check, then record tonight's controls (also when something is wrong: the
    difference is reported once, and tomorrow compares with what is there now)."""
    async with db.read() as conn:
        found = await check_integrity(conn, day)
    async with db.transaction() as tx:
        now = db.clock.now()
        for c in found.controls:
            await tx.conn.execute(
                control_total.insert().values(
                    day=day,
                    table_name=c.table,
                    max_id=c.max_id,
                    row_count=c.rows,
                    total=c.total,
                    taken_at=now,
                )
            )
    return found
