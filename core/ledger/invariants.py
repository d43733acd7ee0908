"""The ledger's invariants, checked from the stored rows alone.

Tests call :func:`check_invariants` after every operation; ``arbot audit verify``
runs it too. Each problem comes back as a value a report can list, not an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ledger.model import AR_CONTROL
from core.ledger.tables import allocation, ar_item, gl_account, journal_entry, journal_line


@dataclass(frozen=True, slots=True)
class Violation:
    source: str
    message: str
    entity: str


async def check_invariants(conn: AsyncConnection) -> list[Violation]:
    problems: list[Violation] = []
    unbalanced = await conn.execute(
        select(
            journal_line.c.entry_id, journal_line.c.currency, func.sum(journal_line.c.amount_minor)
        )
        .group_by(journal_line.c.entry_id, journal_line.c.currency)
        .having(func.sum(journal_line.c.amount_minor) != 0)
    )
    problems += [
        Violation("journal", f"lines sum to {total} {cur}, not zero", f"entry {eid}")
        for eid, cur, total in unbalanced
    ]
    counts = (
        select(journal_line.c.entry_id, func.count().label("n"))
        .group_by(journal_line.c.entry_id)
        .subquery()
    )
    short = await conn.execute(
        select(journal_entry.c.id, journal_entry.c.line_count, counts.c.n)
        .outerjoin(counts, counts.c.entry_id == journal_entry.c.id)
        .where(func.coalesce(counts.c.n, 0) != journal_entry.c.line_count)
    )
    problems += [
        Violation("journal", f"has {n or 0} lines, header says {want}", f"entry {eid}")
        for eid, want, n in short
    ]
    matches = await conn.execute(
        select(allocation.c.application_id, allocation.c.match_no)
        .group_by(allocation.c.application_id, allocation.c.match_no)
        .having(func.sum(allocation.c.amount_minor) != 0)
    )
    problems += [
        Violation("allocation", "match does not net to zero", f"application {a} match {m}")
        for a, m in matches
    ]
    copies = await conn.execute(
        select(allocation.c.id)
        .join(ar_item, ar_item.c.id == allocation.c.item_id)
        .where(
            (allocation.c.account_id != ar_item.c.account_id)
            | (allocation.c.currency != ar_item.c.currency)
            | (allocation.c.service_day != ar_item.c.service_day)
            | (allocation.c.bill_day != ar_item.c.bill_day)
            | (allocation.c.due_day != ar_item.c.due_day)
            | (allocation.c.item_day != ar_item.c.effective_day)
        )
    )
    problems += [
        Violation("allocation", "its copy of the item's account or dates differs", f"row {a}")
        for (a,) in copies
    ]
    problems += await _subledger(conn)
    problems += await _item_bounds(conn)
    return problems


async def _subledger(conn: AsyncConnection) -> list[Violation]:
    problems = []
    control = await conn.execute(
        select(
            journal_line.c.customer_account_id,
            journal_line.c.currency,
            func.sum(journal_line.c.amount_minor),
            func.count(),
        )
        .join(gl_account, gl_account.c.id == journal_line.c.gl_account_id)
        .where(gl_account.c.code == AR_CONTROL)
        .group_by(journal_line.c.customer_account_id, journal_line.c.currency)
    )
    by_control = {(acct, cur): (total, n) for acct, cur, total, n in control}
    items = await conn.execute(
        select(
            ar_item.c.account_id,
            ar_item.c.currency,
            func.sum(ar_item.c.amount_minor),
            func.count(),
        ).group_by(ar_item.c.account_id, ar_item.c.currency)
    )
    by_items = {(acct, cur): (total, n) for acct, cur, total, n in items}
    for key in by_control.keys() | by_items.keys():
        if by_control.get(key) != by_items.get(key):
            problems.append(
                Violation(
                    "subledger",
                    f"A/R control {by_control.get(key)} != items {by_items.get(key)}",
                    f"account {key[0]} {key[1]}",
                )
            )
    return problems


async def _item_bounds(conn: AsyncConnection) -> list[Violation]:
    """Each item's kept open amount is its amount plus its allocations, and lies
    between 0 and its amount. The bounds are checked on the kept amount: where it
    differs from the allocations, the first check has said so already."""
    applied = (
        select(allocation.c.item_id, func.sum(allocation.c.amount_minor).label("applied"))
        .group_by(allocation.c.item_id)
        .subquery()
    )
    open_amount = ar_item.c.amount_minor + func.coalesce(applied.c.applied, 0)
    kept = await conn.execute(
        select(ar_item.c.id, ar_item.c.open_minor, open_amount)
        .outerjoin(applied, applied.c.item_id == ar_item.c.id)
        .where(ar_item.c.open_minor != open_amount)
    )
    problems = [
        Violation("item", f"open amount kept as {kept_as}, allocations say {left}", f"item {iid}")
        for iid, kept_as, left in kept
    ]
    left_open, amount = ar_item.c.open_minor, ar_item.c.amount_minor
    rows = await conn.execute(
        select(ar_item.c.id, amount, left_open).where(
            case(
                (amount > 0, (left_open < 0) | (left_open > amount)),
                else_=(left_open > 0) | (left_open < amount),
            )
        )
    )
    return problems + [
        Violation("item", f"open amount {left} outside 0..{amount}", f"item {iid}")
        for iid, amount, left in rows
    ]
