"""Days in A/R: how many days of billing the receivables stand for (AR-145).

The figure a hospital's finance office watches: what is owed on a day (the aged trial
balance's total, :func:`core.ledger.aging.aged_trial_balance`) divided by the average
day's billing over the period before it (90 days unless asked). 50 days in A/R means
what is owed equals the last 50 days' billing: the lower, the faster the clinic is
paid. It is given in total and by financial class, patient type (inpatient,
outpatient) or location, each group's balance over that group's own billing, for any
day: a daily or month-end figure is the same report as of that day. A group that
billed nothing in the period has a balance but no figure. Billing is counted as
billed (charges, debit memos, finance charges, chargebacks): a later reversal does not
reduce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.invoice_view import BILLED
from core.errors import ValidationError
from core.ledger.aging import ACCOUNT_GROUPS, AtbQuery, GroupBy, aged_trial_balance
from core.ledger.tables import ar_item, customer_account, journal_entry
from core.money import Money

GROUPS = tuple(ACCOUNT_GROUPS)
"""What days in A/R can be grouped by: what an account is, not what an item is."""


@dataclass(frozen=True, slots=True)
class DsoLine:
    group: str | None
    """The group's value; None for the total."""
    balance: Money
    billed: Money
    """What was billed in the period."""
    days: Decimal | None
    """Days in A/R, to one decimal; None when nothing was billed in the period."""


@dataclass(frozen=True, slots=True)
class DaysInAr:
    as_of: date
    period_days: int
    total: DsoLine
    groups: tuple[DsoLine, ...]
    """By the grouping asked, the most days first; empty when not grouped."""


def _days(balance: int, billed: int, period_days: int) -> Decimal | None:
    if billed <= 0:
        return None
    exact = Decimal(balance) * period_days / Decimal(billed)
    return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


async def days_in_ar(
    conn: AsyncConnection,
    as_of: date,
    currency: str,
    *,
    period_days: int = 90,
    by: GroupBy | None = None,
    location: str | None = None,
) -> DaysInAr:
    """Days in A/R on ``as_of`` over the ``period_days`` days ending that day."""
    if not 1 <= period_days <= 3650:
        raise ValidationError(f"the period is {period_days} days; give 1 to 3650")
    if by is not None and by not in GROUPS:
        raise ValidationError(
            f"days in A/R is grouped by {', '.join(g.value for g in GROUPS)}, not {by.value}"
        )
    atb = await aged_trial_balance(
        conn, AtbQuery(as_of=as_of, currency=currency, group_by=by, location=location)
    )
    billed = await _billed(conn, as_of, currency, period_days, by, location)
    balances = {k: sum(b.amount_minor for b in v) for k, v in atb.groups.items()}

    def line(group: str | None, balance: int, billed_minor: int) -> DsoLine:
        days = _days(balance, billed_minor, period_days)
        return DsoLine(group, Money(balance, currency), Money(billed_minor, currency), days)

    named = sorted({*balances, *(g for g in billed if g is not None)})
    groups = [line(g, balances.get(g, 0), billed.get(g, 0)) for g in named] if by else []
    groups.sort(key=lambda d: (d.days is None, -(d.days or 0), d.group or ""))
    total = line(None, atb.total_minor, sum(billed.values()))
    return DaysInAr(as_of, period_days, total, tuple(groups))


async def _billed(
    conn: AsyncConnection,
    as_of: date,
    currency: str,
    period_days: int,
    by: GroupBy | None,
    location: str | None,
) -> dict[str | None, int]:
    """What was billed (charges, debit memos, finance charges, chargebacks) in the
    ``period_days`` days ending on ``as_of``, per group."""
    ca = customer_account
    grouped = [ACCOUNT_GROUPS[by]] if by is not None else []
    query = (
        select(*(g.label("grp") for g in grouped), func.sum(ar_item.c.amount_minor).label("sum"))
        .select_from(ar_item)
        .join(ca, ca.c.id == ar_item.c.account_id)
        .join(journal_entry, journal_entry.c.id == ar_item.c.entry_id)
        .where(
            journal_entry.c.kind.in_(sorted(k.value for k in BILLED)),
            ar_item.c.amount_minor > 0,
            ar_item.c.currency == currency,
            ar_item.c.effective_day > as_of - timedelta(days=period_days),
            ar_item.c.effective_day <= as_of,
        )
        .group_by(*grouped)
    )
    if location is not None:
        query = query.where(ca.c.location == location)
    rows = await conn.execute(query)
    return {(r.grp if grouped else None): int(r.sum or 0) for r in rows}
