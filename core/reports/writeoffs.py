"""The write-off audit listing (AR-061): each write-off with requester, approver, reason
and amount.

Every write-off and transfer to bad debt posted in a period, from the journal: who
asked for it and who approved it come from its approval request when it went through
one (:mod:`core.approvals`); a supervisor's own write-off was asked and approved by the
same person; a scheduled job's (small balances, AR-055; bad debt by rule, AR-060) was
asked by the job and approved by the office's rule. A write-off reversed since is
marked so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.approvals.tables import approval_request
from core.auth import Actor, Permission, require
from core.ledger.model import AR_CONTROL, Kind
from core.ledger.tables import customer_account, gl_account, journal_entry, journal_line
from core.money import Money

BY_RULE = "automatic (office rule)"


@dataclass(frozen=True, slots=True)
class WriteOffLine:
    entry_number: str
    day: date
    account_number: str
    kind: str  # write_off or bad_debt
    entry_type: str
    reason: str
    amount: Money
    requested_by: str
    approved_by: str
    memo: str
    reversed: bool


def _base_key(key: str) -> str:
    """A write-off of several items posts one entry per item: ``key``, ``key/item/7``..."""
    return key.split("/item/")[0]


async def write_off_listing(
    conn: AsyncConnection, actor: Actor, start: date, end: date
) -> list[WriteOffLine]:
    """Write-offs and bad-debt transfers effective from ``start`` to ``end``, in order."""
    require(actor, Permission.VIEW_REPORTS)
    je, reversal = journal_entry, journal_entry.alias("reversal")
    rows = (
        await conn.execute(
            select(
                je.c.id,
                je.c.idempotency_key,
                je.c.effective_day,
                je.c.kind,
                je.c.entry_type,
                je.c.reason_code,
                je.c.actor,
                je.c.memo,
                journal_line.c.amount_minor,
                journal_line.c.currency,
                customer_account.c.number,
                reversal.c.id.label("reversed_by"),
            )
            .join(journal_line, journal_line.c.entry_id == je.c.id)
            .join(gl_account, gl_account.c.id == journal_line.c.gl_account_id)
            .join(customer_account, customer_account.c.id == journal_line.c.customer_account_id)
            .outerjoin(reversal, reversal.c.reverses_id == je.c.id)
            .where(
                je.c.kind.in_([Kind.WRITE_OFF.value, Kind.BAD_DEBT.value]),
                je.c.effective_day.between(start, end),
                gl_account.c.code == AR_CONTROL,
            )
            .order_by(je.c.effective_day, je.c.id)
        )
    ).all()
    keys = {_base_key(r.idempotency_key) for r in rows}
    requests = (
        {
            r.entry_key: r
            for r in await conn.execute(
                select(
                    approval_request.c.entry_key,
                    approval_request.c.requester_name,
                    approval_request.c.decider_name,
                ).where(approval_request.c.entry_key.in_(sorted(keys)))
            )
        }
        if keys
        else {}
    )
    lines = []
    for r in rows:
        request = requests.get(_base_key(r.idempotency_key))
        if request is not None:
            asked, approved = request.requester_name, request.decider_name or ""
        elif r.actor.startswith("system:"):
            asked, approved = r.actor, BY_RULE
        else:
            asked = approved = r.actor
        lines.append(
            WriteOffLine(
                entry_number=f"T{r.id:08d}",
                day=r.effective_day,
                account_number=r.number,
                kind=r.kind,
                entry_type=r.entry_type,
                reason=r.reason_code or "",
                amount=Money(-int(r.amount_minor), r.currency),
                requested_by=asked,
                approved_by=approved,
                memo=r.memo,
                reversed=r.reversed_by is not None,
            )
        )
    return lines
