"""Service use and revenue per service (BI-16): what was billed in a period, line by
line of the invoices, grouped by service, category, doctor or location.

For each group: how many invoice lines, how many units, the list value (the catalogue
price times the units), what was billed (after pricing rules and overrides) and so what
was given off the list. Charges reversed since are left out (a charge posted in error
is no service given); the period is the day the charge was billed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.tables import charge_line, service
from core.errors import ValidationError
from core.ledger.tables import journal_entry
from core.money import Money
from core.reports import cell
from core.reports.days import check_period

GROUPS = ("service", "category", "doctor", "location")


@dataclass(frozen=True, slots=True)
class ServiceLine:
    key: str
    description: str
    lines: int
    units: int
    listed: Money
    billed: Money

    @property
    def off_list(self) -> Money:
        return Money(self.listed.minor - self.billed.minor, self.billed.currency)


@dataclass(frozen=True, slots=True)
class ServiceUse:
    start: date
    end: date
    currency: str
    by: str
    lines: tuple[ServiceLine, ...]

    @property
    def billed(self) -> Money:
        return Money(sum(line.billed.minor for line in self.lines), self.currency)


def _group(by: str) -> tuple[Any, Any]:
    cl = charge_line
    if by == "service":
        return cl.c.service_code, func.max(cl.c.description)
    if by == "category":
        return service.c.category, literal("")
    column = func.coalesce(cl.c.doctor, "(none)") if by == "doctor" else cl.c.location
    return column, literal("")


async def service_use(
    conn: AsyncConnection,
    start: date,
    end: date,
    currency: str,
    *,
    by: str = "service",
    locations: Collection[str] | None = None,
) -> ServiceUse:
    """What was billed from ``start`` to ``end`` (both included) in ``currency``, by
    ``by``, at ``locations`` (None: everywhere), largest first."""
    if by not in GROUPS:
        raise ValidationError(f"{by!r} is not one of {', '.join(GROUPS)}")
    check_period(start, end, "a report")
    cl, je = charge_line, journal_entry
    undone = journal_entry.alias("undone")
    key, description = _group(by)
    billed = func.sum(cl.c.amount_minor)
    query = (
        select(
            key.label("key"),
            description.label("description"),
            func.count().label("lines"),
            func.sum(cl.c.quantity).label("units"),
            func.sum(cl.c.list_unit_minor * cl.c.quantity).label("listed"),
            billed.label("billed"),
        )
        .select_from(cl)
        .join(je, je.c.id == cl.c.entry_id)
        .join(service, service.c.code == cl.c.service_code)
        .outerjoin(undone, undone.c.reverses_id == je.c.id)
        .where(
            je.c.effective_day.between(start, end),
            cl.c.currency == currency,
            undone.c.id.is_(None),
        )
        .group_by(key)
        .order_by(billed.desc(), key)
    )
    if locations is not None:
        query = query.where(cl.c.location.in_(sorted(locations)))
    rows = await conn.execute(query)
    return ServiceUse(
        start,
        end,
        currency,
        by,
        tuple(
            ServiceLine(
                str(r.key),
                r.description or "",
                int(r.lines),
                int(r.units),
                Money(int(r.listed), currency),
                Money(int(r.billed), currency),
            )
            for r in rows
        ),
    )


CSV_COLUMNS = ("key", "description", "lines", "units", "listed", "billed", "off_list", "currency")


def service_csv(s: ServiceUse) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for ln in s.lines:
        writer.writerow(
            [cell(ln.key), cell(ln.description), ln.lines, ln.units, str(ln.listed),
             str(ln.billed), str(ln.off_list), s.currency]
        )  # fmt: skip
    return out.getvalue()


def service_json(s: ServiceUse) -> str:
    body = {
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "currency": s.currency,
        "by": s.by,
        "lines": [
            {
                "key": ln.key,
                "description": ln.description,
                "lines": ln.lines,
                "units": ln.units,
                "listed": str(ln.listed),
                "billed": str(ln.billed),
                "off_list": str(ln.off_list),
            }
            for ln in s.lines
        ],
        "billed": str(s.billed),
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def service_text(s: ServiceUse) -> str:
    out = [f"Services billed {s.start} to {s.end} ({s.currency}), by {s.by}", ""]
    out.append(f"  {'':<12} {'':<30} {'lines':>7} {'units':>7} {'billed':>14} {'off list':>12}")
    for ln in s.lines:
        out.append(
            f"  {ln.key[:12]:<12} {ln.description[:30]:<30} {ln.lines:>7} {ln.units:>7} "
            f"{ln.billed!s:>14} {ln.off_list!s:>12}"
        )
    out += ["", f"  Billed in all: {s.billed}", ""]
    return "\n".join(out)
