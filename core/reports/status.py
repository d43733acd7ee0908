"""The A/R status report: where every account that owes or is owed stands, on one page
(AR-160, AR-009).

Each account that owes or is owed on the day (its open items do not net to nothing) is
counted once, in the first of these that fits it: in credit (the clinic owes it), in
collections, in bad debt (what is left or reinstated after the write-off), on an active
payment plan, else active A/R, split into inpatient, outpatient and not set (AR-185's
patient type). The lines add up to the ATB's total on the day. Beside them: what is
disputed (counted in the lines above), and what is entered but not billed yet (charges
dated after the day, AR-116: not in A/R until their bill date, so not in the total).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import day_number, to_day
from core.dunning.reach import status_on
from core.ledger.items import open_on_day
from core.ledger.tables import ar_item, customer_account
from core.money import Money
from core.plans.tables import payment_plan

LINES = (
    ("active_ip", "Active A/R, inpatient"),
    ("active_op", "Active A/R, outpatient"),
    ("active", "Active A/R, patient type not set"),
    ("plan", "On a payment plan"),
    ("collections", "In collections"),
    ("bad_debt", "Bad debt (left or reinstated)"),
    ("credit", "Credit balances (owed to patients and payers)"),
)


@dataclass(frozen=True, slots=True)
class StatusLine:
    key: str
    label: str
    accounts: int
    amount: Money


@dataclass(frozen=True, slots=True)
class ArStatus:
    as_of: date
    currency: str
    lines: tuple[StatusLine, ...]
    unbilled: StatusLine
    disputed: StatusLine

    @property
    def total(self) -> Money:
        return Money(sum(line.amount.minor for line in self.lines), self.currency)

    @property
    def accounts(self) -> int:
        return sum(line.accounts for line in self.lines)


def plans_on(as_of: date) -> Any:
    """Accounts with a payment plan in force on ``as_of``: enrolled by the end of that
    day and not in default by then (a plan's completion is not dated: one paid off
    counts until it leaves the active plans)."""
    end_of_day = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)
    p = payment_plan
    in_force = or_(
        p.c.status == "active",
        and_(p.c.defaulted_on.is_not(None), day_number(p.c.defaulted_on) > to_day(as_of)),
    )
    return (
        select(p.c.account_id)
        .where(p.c.enrolled_at < end_of_day, in_force)
        .distinct()
        .subquery("plans_on")
    )


def _where(status: str | None, on_a_plan: bool, owed: int, patient_type: str | None) -> str:
    if owed < 0:
        return "credit"
    if status in ("in_collections", "bad_debt"):
        return "collections" if status == "in_collections" else "bad_debt"
    if on_a_plan:
        return "plan"
    return {"IP": "active_ip", "OP": "active_op"}.get(patient_type or "", "active")


async def ar_status(
    conn: AsyncConnection,
    as_of: date,
    currency: str,
    locations: Collection[str] | None = None,
) -> ArStatus:
    """Every account's standing on ``as_of`` in ``currency``, at ``locations`` (None:
    everywhere), in one query."""
    day = to_day(as_of)
    on = open_on_day(day)
    i, ca = ar_item, customer_account
    debit = i.c.amount_minor > 0
    per_account = (
        select(
            i.c.account_id,
            func.sum(case((on.posted, on.open_minor), else_=0)).label("owed"),
            func.sum(case((and_(debit, ~on.posted), i.c.amount_minor), else_=0)).label("unbilled"),
            func.sum(case((and_(debit, on.posted, on.disputed), on.open_minor), else_=0)).label(
                "disputed"
            ),
        )
        .select_from(on.items)
        .where(on.open_minor != 0, i.c.currency == currency)
        .group_by(i.c.account_id)
        .subquery("per_account")
    )
    latest, status = status_on(day)
    planned = plans_on(as_of)
    query = (
        select(
            per_account.c.owed,
            per_account.c.unbilled,
            per_account.c.disputed,
            status.c.status,
            planned.c.account_id.is_not(None).label("on_plan"),
            ca.c.patient_type,
        )
        .join(ca, ca.c.id == per_account.c.account_id)
        .outerjoin(latest, latest.c.account_id == ca.c.id)
        .outerjoin(status, status.c.id == latest.c.id)
        .outerjoin(planned, planned.c.account_id == ca.c.id)
    )
    if locations is not None:
        query = query.where(ca.c.location.in_(sorted(locations)))
    counts = {key: [0, 0] for key, _ in LINES}
    unbilled, disputed = [0, 0], [0, 0]
    for r in await conn.execute(query):
        if int(r.owed):
            line = counts[_where(r.status, bool(r.on_plan), int(r.owed), r.patient_type)]
            line[0] += 1
            line[1] += int(r.owed)
        for kept, amount in ((unbilled, int(r.unbilled)), (disputed, int(r.disputed))):
            if amount:
                kept[0] += 1
                kept[1] += amount
    return ArStatus(
        as_of,
        currency,
        tuple(
            StatusLine(key, label, counts[key][0], Money(counts[key][1], currency))
            for key, label in LINES
        ),
        StatusLine("unbilled", "Entered, billed later", unbilled[0], Money(unbilled[1], currency)),
        StatusLine("disputed", "Disputed", disputed[0], Money(disputed[1], currency)),
    )


def status_text(s: ArStatus, where: str | None = None) -> str:
    at = f" at {where}" if where else ""
    out = [f"A/R status on {s.as_of.isoformat()} ({s.currency}){at}", ""]
    out += [f"  {ln.label:<48} {ln.accounts:>7} {ln.amount!s:>14}" for ln in s.lines]
    out.append(f"  {'Total (the ATB)':<48} {s.accounts:>7} {s.total!s:>14}")
    out.append("")
    for extra in (s.disputed, s.unbilled):
        out.append(f"  {extra.label:<48} {extra.accounts:>7} {extra.amount!s:>14}")
    return "\n".join([*out, ""])


def status_json(s: ArStatus) -> str:
    def line(ln: StatusLine) -> dict[str, Any]:
        return {
            "key": ln.key,
            "label": ln.label,
            "accounts": ln.accounts,
            "amount": str(ln.amount),
        }

    body = {
        "as_of": s.as_of.isoformat(),
        "currency": s.currency,
        "lines": [line(ln) for ln in s.lines],
        "total": str(s.total),
        "accounts": s.accounts,
        "disputed": line(s.disputed),
        "unbilled": line(s.unbilled),
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
