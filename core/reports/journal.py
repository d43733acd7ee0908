"""The journal of a period: every posting that touched customers, with totals (AR-113,
AR-114, AR-126, AR-128, AR-176).

One line per entry and customer account it names, in posting order: the entry number,
its effective date and when it was posted, its type, the account and its payer (``self-
pay`` for a person, else the insurer's or organisation's name), the payment method or
reference, the reason code, who posted it, its effect on what the account owes (A/R:
negative lowers it) and on what the account has paid ahead (prepayments are held outside
A/R until used). The net is A/R's change, the ATB's total over all time; what was
received counts a prepayment when it comes in, not again when it is used. ``only``
narrows it to ``charges``, ``receipts`` (payments, prepayments and payments reversed:
the cash journal) or ``adjustments`` (every other entry: the adjustment journal). The
summary totals each entry type and each payer (charges, receipts, adjustments), so the
detail (AR-113) and the summary per payer (AR-114) come from the same rows and always
agree.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import ValidationError
from core.ledger.model import AR_CONTROL, Kind, entry_number
from core.ledger.tables import (
    customer_account,
    entry_type,
    gl_account,
    journal_entry,
    journal_line,
)
from core.money import Money
from core.reports.cash import PERSONS, RECEIPT_KINDS, SELF_PAY
from core.reports.days import check_period

KINDS = ("charges", "receipts", "adjustments")


@dataclass(frozen=True, slots=True)
class JournalLine:
    entry_number: str
    effective_date: date
    posted_at: datetime
    entry_type: str
    group: str
    """``charges``, ``receipts`` or ``adjustments``."""
    account_number: str
    account_name: str
    payer: str
    method: str
    reference: str
    reason: str
    actor: str
    amount: Money
    """The effect on what the account owes (A/R): negative lowers it."""
    prepaid: Money
    """The change in what the account has paid ahead (prepayments held outside A/R):
    a prepayment received adds to it, one used against a bill takes from it."""

    @property
    def received(self) -> Money:
        """Cash this line brought in, for a receipt (a payment, or a prepayment: held
        first, then used without coming in again)."""
        return Money(self.prepaid.minor - self.amount.minor, self.amount.currency)


@dataclass(frozen=True, slots=True)
class Total:
    key: str
    description: str
    count: int
    amount: Money


@dataclass(frozen=True, slots=True)
class PayerTotal:
    payer: str
    charges: Money
    receipts: Money
    """Received (positive), as a cash journal shows it."""
    adjustments: Money


@dataclass(frozen=True, slots=True)
class Journal:
    start: date
    end: date
    currency: str
    only: str | None
    lines: tuple[JournalLine, ...]
    by_type: tuple[Total, ...]
    by_payer: tuple[PayerTotal, ...]
    types: tuple[str, ...] = ()
    """The entry types asked for (none: every type)."""

    @property
    def net(self) -> Money:
        """The period's net change in what customers owe."""
        return Money(sum(t.amount.minor for t in self.by_type), self.currency)


def effects() -> tuple[Any, Any]:
    """Summed over a customer's journal lines: the effect on A/R (``amount``: the lines
    on A/R control) and on what was paid ahead (``prepaid``: the rest, negated)."""
    jl, ar = journal_line, gl_account.c.code == AR_CONTROL
    return (
        func.sum(case((ar, jl.c.amount_minor), else_=0)).label("amount"),
        func.sum(case((ar, 0), else_=-jl.c.amount_minor)).label("prepaid"),
    )


def _group() -> Any:
    je = journal_entry
    return case(
        (je.c.kind == Kind.CHARGE.value, literal("charges")),
        (je.c.kind.in_(RECEIPT_KINDS), literal("receipts")),
        else_=literal("adjustments"),
    )


async def journal(
    conn: AsyncConnection,
    start: date,
    end: date,
    currency: str,
    *,
    only: str | None = None,
    locations: Collection[str] | None = None,
    types: Collection[str] = (),
) -> Journal:
    """The journal from ``start`` to ``end`` (both included) in ``currency``, of the
    accounts at ``locations`` (None: every location), of the entry ``types`` when given
    (``CONTRACTUAL``: the contractual-allowance report, AR-171)."""
    check_period(start, end, "a journal")
    if only is not None and only not in KINDS:
        raise ValidationError(f"{only!r} is not one of {', '.join(KINDS)}")
    je, jl, ca = journal_entry, journal_line, customer_account
    group = _group()
    payer = case((ca.c.customer_type.in_(PERSONS), literal(SELF_PAY)), else_=ca.c.name)
    where = [je.c.effective_day.between(start, end), jl.c.currency == currency]
    if only is not None:
        where.append(group == only)
    chosen = tuple(sorted({t.strip().upper() for t in types if t.strip()}))
    if chosen:
        known = set((await conn.execute(select(entry_type.c.code))).scalars())
        if unknown := [t for t in chosen if t not in known]:
            raise ValidationError(
                f"{unknown[0]!r} is not an entry type (the types: {', '.join(sorted(known))})"
            )
        where.append(je.c.entry_type.in_(chosen))
    if locations is not None:
        where.append(ca.c.location.in_(sorted(locations)))
    rows = await conn.execute(
        select(
            je.c.id,
            je.c.effective_day,
            je.c.posted_at,
            je.c.entry_type,
            entry_type.c.description,
            group.label("grp"),
            je.c.memo,
            je.c.reference,
            je.c.reason_code,
            je.c.actor,
            ca.c.number,
            ca.c.name,
            payer.label("payer"),
            *effects(),
        )
        .select_from(jl)
        .join(gl_account, gl_account.c.id == jl.c.gl_account_id)
        .join(je, je.c.id == jl.c.entry_id)
        .join(ca, ca.c.id == jl.c.customer_account_id)
        .join(entry_type, entry_type.c.code == je.c.entry_type)
        .where(and_(*where))
        .group_by(
            je.c.id,
            je.c.effective_day,
            je.c.posted_at,
            je.c.entry_type,
            entry_type.c.description,
            group,
            je.c.memo,
            je.c.reference,
            je.c.reason_code,
            je.c.actor,
            ca.c.id,
            ca.c.number,
            ca.c.name,
            payer,
        )
        .order_by(je.c.effective_day, je.c.id, ca.c.number)
    )
    lines: list[JournalLine] = []
    per_type: dict[str, tuple[set[int], int]] = {}
    described: dict[str, str] = {}
    for r in rows:
        receipt = r.grp == "receipts"
        lines.append(
            JournalLine(
                entry_number(r.id),
                r.effective_day,
                r.posted_at,
                r.entry_type,
                r.grp,
                r.number,
                r.name,
                r.payer,
                (r.memo or "") if receipt else "",
                r.reference or "",
                r.reason_code or "",
                r.actor,
                Money(int(r.amount), currency),
                Money(int(r.prepaid), currency),
            )
        )
        count, amount = per_type.get(r.entry_type, (set(), 0))
        per_type[r.entry_type] = (count | {r.id}, amount + int(r.amount))
        described[r.entry_type] = r.description
    by_type = tuple(
        Total(code, described[code], len(ids), Money(amount, currency))
        for code, (ids, amount) in sorted(per_type.items())
    )
    return Journal(
        start, end, currency, only, tuple(lines), by_type, _by_payer(lines, currency), chosen
    )


def _by_payer(lines: list[JournalLine], currency: str) -> tuple[PayerTotal, ...]:
    sums: dict[str, dict[str, int]] = {}
    for line in lines:
        row = sums.setdefault(line.payer, dict.fromkeys(KINDS, 0))
        receipt = line.group == "receipts"
        row[line.group] += line.received.minor if receipt else line.amount.minor
    return tuple(
        PayerTotal(
            payer,
            Money(s["charges"], currency),
            Money(s["receipts"], currency),
            Money(s["adjustments"], currency),
        )
        for payer, s in sorted(sums.items(), key=lambda kv: (kv[0] != SELF_PAY, kv[0]))
    )
