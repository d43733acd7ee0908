"""Collection analysis: what was collected in a period, from whom, and how fast
(AR-152; for self-pay, AR-157).

*Collected* is what payments (and prepayments used) paid of charges in the period, by
the day each was applied: the allocations on charges matched with a payment's item. A
payment reversed later (a cheque returned) takes back what it paid, in the period of
the reversal; write-offs, discounts and memos are not collections. *How fast* is the
days from a charge's bill date to the day it was paid, averaged weighted by the amount
paid, and the share of what was collected within 30, 60 and 90 days of the bill.
Grouped by payer (``self-pay`` for a person, else the insurer's or organisation's
name), financial class, patient type or location.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import day_number
from core.errors import ValidationError
from core.ledger.model import Kind
from core.ledger.tables import allocation, ar_item, customer_account, journal_entry
from core.money import Money
from core.reports.cash import PERSONS, SELF_PAY
from core.reports.days import check_period

GROUPS = ("payer", "financial_class", "patient_type", "location")
OWED = tuple(
    k.value
    for k in (
        Kind.CHARGE, Kind.DEBIT_MEMO, Kind.FINANCE_CHARGE, Kind.CHARGEBACK, Kind.TRANSFER,
        Kind.REINSTATEMENT,
    )
)  # fmt: skip
"""What was billed (or moved, or reinstated) and can be collected; not the debits a
returned cheque or a refund makes, which payments are matched with too."""
WITHIN = (30, 60, 90)


@dataclass(frozen=True, slots=True)
class CollectionLine:
    key: str
    collected: Money
    charges: int
    """Charges paid (in part or whole) in the period."""
    average_days: Decimal | None
    """Days from bill to payment, weighted by what was paid (None: nothing paid)."""
    within: tuple[Money, ...]
    """What was paid within each of :data:`WITHIN` days of the bill."""
    weighted: int = 0
    """Minor units paid times the days it took: the average's numerator."""
    applied: int = 0
    """Minor units paid, reversals left out: the average's denominator."""

    def share(self, n: int) -> Decimal | None:
        """The percentage of what was collected within ``WITHIN[n]`` days."""
        if self.collected.minor <= 0:
            return None
        ratio = Decimal(self.within[n].minor * 100) / self.collected.minor
        return ratio.quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Collections:
    start: date
    end: date
    currency: str
    by: str
    lines: tuple[CollectionLine, ...]
    total: CollectionLine


def _group(by: str) -> Any:
    ca = customer_account
    if by == "payer":
        return case((ca.c.customer_type.in_(PERSONS), literal(SELF_PAY)), else_=ca.c.name)
    if by == "patient_type":
        return func.coalesce(ca.c.patient_type, literal("not set"))
    return ca.c.financial_class if by == "financial_class" else ca.c.location


def _paid_by_a_payment() -> Any:
    """The allocation's match has a payment's (or prepayment's) item on its other side."""
    a, other = allocation, allocation.alias("other")
    item, entry = ar_item.alias("paid_by"), journal_entry.alias("paid_by_entry")
    return exists(
        select(other.c.id)
        .join(item, item.c.id == other.c.item_id)
        .join(entry, entry.c.id == item.c.entry_id)
        .where(
            other.c.application_id == a.c.application_id,
            other.c.match_no == a.c.match_no,
            other.c.item_id != a.c.item_id,
            entry.c.kind.in_([Kind.PAYMENT.value, Kind.PREPAYMENT.value]),
        )
    )


async def collection_analysis(
    conn: AsyncConnection,
    start: date,
    end: date,
    currency: str,
    *,
    by: str = "payer",
    locations: Collection[str] | None = None,
) -> Collections:
    """Collections from ``start`` to ``end`` (both included) in ``currency``, grouped
    ``by``, at ``locations`` (None: everywhere)."""
    if by not in GROUPS:
        raise ValidationError(f"{by!r} is not one of {', '.join(GROUPS)}")
    check_period(start, end, "an analysis")
    a, ca = allocation, customer_account
    paid = -a.c.amount_minor  # a charge's allocation from a payment is negative
    days = day_number(a.c.effective_day) - day_number(a.c.bill_day)
    applied = a.c.amount_minor < 0
    group = _group(by).label("grp")
    where = [
        a.c.effective_day.between(start, end),
        a.c.currency == currency,
        ar_item.c.amount_minor > 0,
        journal_entry.c.kind.in_(OWED),
        _paid_by_a_payment(),
    ]
    if locations is not None:
        where.append(ca.c.location.in_(sorted(locations)))
    rows = await conn.execute(
        select(
            group,
            func.sum(paid).label("collected"),
            func.count(a.c.item_id.distinct()).label("charges"),
            func.sum(case((applied, paid * days), else_=0)).label("weighted"),
            func.sum(case((applied, paid), else_=0)).label("applied"),
            *(
                func.sum(case((and_(applied, days <= n), paid), else_=0)).label(f"w{n}")
                for n in WITHIN
            ),
        )
        .select_from(a)
        .join(ar_item, ar_item.c.id == a.c.item_id)
        .join(journal_entry, journal_entry.c.id == ar_item.c.entry_id)
        .join(ca, ca.c.id == a.c.account_id)
        .where(*where)
        .group_by(group)
    )
    lines = sorted(
        (_line(r.grp, r, currency) for r in rows), key=lambda ln: (-ln.collected.minor, ln.key)
    )
    total = _total(lines, currency)
    return Collections(start, end, currency, by, tuple(lines), total)


def _average(weighted: int, applied: int) -> Decimal | None:
    if applied <= 0:
        return None
    return (Decimal(weighted) / applied).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _line(key: str, r: Any, currency: str) -> CollectionLine:
    weighted, applied = int(r.weighted), int(r.applied)
    return CollectionLine(
        str(key),
        Money(int(r.collected), currency),
        int(r.charges),
        _average(weighted, applied),
        tuple(Money(int(getattr(r, f"w{n}")), currency) for n in WITHIN),
        weighted,
        applied,
    )


def _total(lines: list[CollectionLine], currency: str) -> CollectionLine:
    """All groups together."""
    weighted = sum(ln.weighted for ln in lines)
    applied = sum(ln.applied for ln in lines)
    return CollectionLine(
        "total",
        Money(sum(ln.collected.minor for ln in lines), currency),
        sum(ln.charges for ln in lines),
        _average(weighted, applied),
        tuple(
            Money(sum(ln.within[n].minor for ln in lines), currency) for n in range(len(WITHIN))
        ),
        weighted,
        applied,
    )


def _shares(line: CollectionLine) -> list[str | None]:
    return [
        str(share) if (share := line.share(n)) is not None else None for n in range(len(WITHIN))
    ]


def collections_text(c: Collections) -> str:
    head = f"Collections {c.start} to {c.end} ({c.currency}), by {c.by.replace('_', ' ')}"
    columns = "".join(f"{'<=' + str(n) + 'd %':>9}" for n in WITHIN)
    out = [head, "", f"  {'':<28} {'collected':>14} {'charges':>8} {'days':>7}{columns}"]
    for line in (*c.lines, c.total):
        days = str(line.average_days) if line.average_days is not None else "-"
        shares = "".join(f"{s or '-':>9}" for s in _shares(line))
        out.append(
            f"  {line.key[:28]:<28} {line.collected!s:>14} {line.charges:>8} {days:>7}{shares}"
        )
    return "\n".join([*out, ""])


def collections_json(c: Collections) -> str:
    def line(ln: CollectionLine) -> dict[str, Any]:
        return {
            "key": ln.key,
            "collected": str(ln.collected),
            "charges": ln.charges,
            "average_days": str(ln.average_days) if ln.average_days is not None else None,
            "within": {str(n): str(m) for n, m in zip(WITHIN, ln.within, strict=True)},
        }

    body = {
        "start": c.start.isoformat(),
        "end": c.end.isoformat(),
        "currency": c.currency,
        "by": c.by,
        "lines": [line(ln) for ln in c.lines],
        "total": line(c.total),
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
