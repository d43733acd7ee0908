"""The invoice behind each item a patient is shown: its lines, from billing (AR-072).

A statement itemises each visit: the services billed (as the catalogue described them
when the visit was posted, never a diagnosis), their quantity and date, and what this
account owes for each. Where a line was split between payers (an insurer, a guarantor:
``charge_share``), the account's own part is shown beside the line's total; a line
with no split rows is owed wholly by the account the visit was posted to.

Lines are shown only when they add up to the item's amount, so a statement never
itemises something other than what is asked of the patient: an item that is no
billed visit (a payment, an adjustment, a charge posted as a plain amount) or whose
lines do not account for it shows no lines. A line the account owes nothing for is
left out, and so is the one line of a visit of one service that the item's own
description already says (the service, its quantity and amount, owed whole).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.invoice import line_description
from core.billing.tables import charge_line, charge_share
from core.money import Money
from core.patients.summary import PatientAccount, PatientItem, PatientLine


@dataclass(slots=True)
class _Line:
    seq: int
    service_date: date
    description: str
    quantity: int
    amount: int
    shares: dict[int, int]


async def with_invoice_lines(
    conn: AsyncConnection, accounts: Sequence[PatientAccount]
) -> list[PatientAccount]:
    """``accounts`` with each charge item's invoice lines, read in one query for them all."""
    entries = sorted({i.entry_id for a in accounts for i in a.items if i.amount.minor > 0})
    if not entries:
        return list(accounts)
    rows = await conn.execute(
        select(
            charge_line.c.entry_id,
            charge_line.c.seq,
            charge_line.c.service_day,
            charge_line.c.description,
            charge_line.c.quantity,
            charge_line.c.amount_minor,
            charge_share.c.payer_account_id,
            charge_share.c.amount_minor.label("share_minor"),
        )
        .select_from(
            charge_line.outerjoin(
                charge_share,
                and_(
                    charge_share.c.entry_id == charge_line.c.entry_id,
                    charge_share.c.seq == charge_line.c.seq,
                ),
            )
        )
        .where(charge_line.c.entry_id.in_(entries))
        .order_by(charge_line.c.entry_id, charge_line.c.seq)
    )
    by_entry: dict[int, dict[int, _Line]] = defaultdict(dict)
    for r in rows:
        line = by_entry[r.entry_id].get(r.seq)
        if line is None:
            line = _Line(r.seq, r.service_day, r.description, r.quantity, r.amount_minor, {})
            by_entry[r.entry_id][r.seq] = line
        if r.payer_account_id is not None:
            line.shares[r.payer_account_id] = r.share_minor
    return [
        replace(
            a,
            items=tuple(
                _itemised(i, a.account_id, list(by_entry.get(i.entry_id, {}).values()))
                for i in a.items
            ),
        )
        for a in accounts
    ]


def _itemised(item: PatientItem, account_id: int, lines: list[_Line]) -> PatientItem:
    """``item`` with the account's part of each of its visit's ``lines``, when those
    parts add up to the item's amount."""
    split = [(ln, ln.shares[account_id]) for ln in lines if account_id in ln.shares]
    whole = [(ln, ln.amount) for ln in lines if not ln.shares]
    owed = item.amount.minor
    if sum(m for _, m in split) + sum(m for _, m in whole) == owed:
        parts = sorted(split + whole, key=lambda part: part[0].seq)
    elif sum(m for _, m in split) == owed:  # a payer's share of someone else's visit
        parts = split
    else:
        return item
    currency = item.amount.currency
    if len(parts) == 1 and _said_already(item, parts[0][0], parts[0][1]):
        return item
    shown = tuple(
        PatientLine(
            ln.service_date,
            ln.description,
            ln.quantity,
            Money(m, currency),
            Money(ln.amount, currency),
        )
        for ln, m in parts
        if m > 0
    )
    return replace(item, lines=shown)


def _said_already(item: PatientItem, line: _Line, owed: int) -> bool:
    """A visit of one service, owed whole by the account, as its item already reads."""
    return (
        owed == line.amount
        and line.service_date == item.service_date
        and item.description == line_description(line.description, line.quantity)
    )
