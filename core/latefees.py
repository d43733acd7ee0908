"""Late fees: finance-charge invoices where the law allows (AR-107, AR-151).

Off unless the office sets a :class:`LateFeePolicy` (``ARBOT_LATE_FEE``): whether a
clinic may charge for late payment, and how much, is a matter of local law and of the
patient agreement, so nothing is charged by default.

Once a month, from the policy's day of the month on, each person's account (patient,
guarantor, employee: the accounts dunning follows) is charged one fee when what it has
long overdue, net of its unapplied credit, comes to the policy's minimum. *Long
overdue* is an open charge whose due date was at least ``days_past_due`` days before
the month's assessment day, so a charge that turns 30 days late in mid-month waits for
the next month's day rather than making two fees a fortnight apart; what was paid up to
the day the fee is posted counts. Left out, as dunning leaves them out (AR-078, AR-162):

* a disputed charge, a charge whose dunning is paused, and a late fee itself (no fee is
  charged on a fee);
* an account paused as a whole, on an active payment plan (plans are interest-free), or
  whose status hands it to someone else (disputed, in collections, bad debt, inactive);
* accounts outside ``locations`` when the policy names some (where the law allows), and
  accounts in another currency than the office's (the policy's amounts are in it).

The fee is a percentage of that overdue amount (rounded half up to the cent) or a flat
amount, capped at ``max_minor`` when set. It is posted through
:func:`core.services.memos.post_memo` as a ``FINANCE_CHARGE`` item (income 4100, reason
``LATE_FEE``) due on the account's terms, under the key ``late-fee:<account>:<month>``:
a second run in the month, or a second scheduler, posts nothing. The patient learns of
it by a late-fee invoice in their chat (the ``late-fees`` job in :mod:`scheduler`), and
statements list it as a late fee in the patient's language. A supervisor waives one by
:func:`waive_fee` (``/ar waive``), which reverses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.billing.invoice_view import entry_accounts
from core.db import Database
from core.db.metadata import day_number, from_day, to_day
from core.dunning.owed import aged_column, open_per_account
from core.dunning.plan import DUNNED_TYPES
from core.dunning.reach import UNREACHABLE_STATUSES, on_plan, paused_accounts, status_on
from core.errors import InvalidState, ValidationError
from core.ledger.model import Kind, PostedEntry
from core.ledger.posting import load_entry, reversed_by
from core.ledger.tables import ar_item, customer_account, journal_entry
from core.money import Money
from core.services import prior_entry
from core.services.adjustments import reverse_entry
from core.services.memos import post_memo

ENTRY_TYPE = "FINANCE_CHARGE"
REASON = "LATE_FEE"
DESCRIPTION = "Late fee"
"""The fee item's description; what the patient reads (statements, balances, receipts)
shows it in their language (``templates/patient/_macros.txt.j2``, ``described``)."""
KEY_PREFIX = "late-fee:"
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
"""Digits with a decimal point: no sign, exponent, NaN or infinity."""
MAX_RATE = Decimal("25")
"""The highest percentage accepted: a typo (``15`` for ``1.5%``) stops at start."""


@dataclass(frozen=True, slots=True)
class LateFeePolicy:
    """How the office charges for late payment: ``rate_bp`` hundredths of a percent of
    the overdue amount (150: 1.5%) or ``flat_minor``, capped at ``max_minor``; on
    accounts owing at least ``min_overdue_minor`` that long overdue; from day
    ``day_of_month`` of each month; only at ``locations`` when it names any."""

    currency: str
    rate_bp: int = 0
    flat_minor: int = 0
    max_minor: int | None = None
    days_past_due: int = 30
    min_overdue_minor: int = 1000
    day_of_month: int = 1
    locations: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if (self.rate_bp > 0) == (self.flat_minor > 0) or min(self.rate_bp, self.flat_minor) < 0:
            raise ValidationError("a late fee is either a percentage or a flat amount above zero")
        if self.max_minor is not None and self.max_minor < 1:
            raise ValidationError("a late fee's cap must be above zero")
        if not 1 <= self.days_past_due <= 365:
            raise ValidationError("late fees need charges 1 to 365 days past due")
        if self.min_overdue_minor < 1:
            raise ValidationError("the least overdue amount for a late fee must be above zero")
        if not 1 <= self.day_of_month <= 28:
            raise ValidationError("late fees are assessed on a day of the month from 1 to 28")

    def fee(self, overdue: Money) -> Money:
        """The fee on ``overdue``: its percentage rounded half up, or the flat amount;
        never above the cap."""
        minor = self.flat_minor
        if self.rate_bp:
            minor = (overdue.minor * self.rate_bp + 5_000) // 10_000
        if self.max_minor is not None:
            minor = min(minor, self.max_minor)
        return Money(minor, overdue.currency)

    def describe(self) -> str:
        def shown(minor: int) -> str:
            return f"{self.currency} {Money(minor, self.currency)}"

        amount = (
            f"{Decimal(self.rate_bp) / 100:g}% of the overdue amount"
            if self.rate_bp
            else shown(self.flat_minor)
        )
        cap = f", at most {shown(self.max_minor)}" if self.max_minor else ""
        where = f", at {', '.join(sorted(self.locations))}" if self.locations else ""
        return (
            f"{amount}{cap}, on at least {shown(self.min_overdue_minor)} "
            f"{self.days_past_due}+ days past due, from day {self.day_of_month} of the "
            f"month{where}"
        )


def parse_fee(text: str, currency: str) -> tuple[int, int]:
    """``"1.5%"`` -> (150, 0); ``"10.00"`` -> (0, 1000): a percentage in hundredths of a
    percent, or a flat amount in minor units."""
    raw = text.strip()
    if raw.endswith("%"):
        number = raw[:-1].strip()
        rate = Decimal(number) if _DECIMAL.fullmatch(number) else Decimal(-1)
        if not 0 < rate <= MAX_RATE or (rate * 100) % 1:
            raise ValidationError(
                f"a late fee of {raw} is not a percentage above 0 and at most "
                f"{MAX_RATE}% with up to two decimals"
            )
        return int(rate * 100), 0
    if not _DECIMAL.fullmatch(raw.replace(",", "")):
        raise ValidationError(f"{raw!r} is neither a percentage (1.5%) nor an amount")
    flat = Money.from_decimal(raw.replace(",", ""), currency)
    if flat.minor <= 0:
        raise ValidationError(f"a late fee of {raw} is not above zero")
    return 0, flat.minor


def assessment_day(as_of: date, policy: LateFeePolicy) -> date | None:
    """The day of ``as_of``'s month fees are assessed on; None before it."""
    if as_of.day < policy.day_of_month:
        return None
    return as_of.replace(day=policy.day_of_month)


def late_fee_key(account_id: int, as_of: date) -> str:
    """One fee per account and month (and one late-fee invoice under the same key)."""
    return f"{KEY_PREFIX}{account_id}:{as_of:%Y-%m}"


@dataclass(frozen=True, slots=True)
class LateFeeDue:
    account_id: int
    number: str
    location: str
    overdue: Money
    fee: Money


def fee_items() -> Any:
    """Every A/R item that is a late fee or part of one: the finance charges' items, and
    the items transfers made from them, however many times moved (a fee passed on to
    the guarantor is still a fee)."""
    je, moved_by = journal_entry.alias("fee_entry"), journal_entry.alias("moved_by")
    fees = (
        select(ar_item.c.id)
        .join(je, je.c.id == ar_item.c.entry_id)
        .where(je.c.kind == Kind.FINANCE_CHARGE.value)
        .cte("fee_items", recursive=True)
    )
    moved = ar_item.alias("moved")
    return fees.union_all(
        select(moved.c.id)
        .join(fees, moved.c.ref_item_id == fees.c.id)
        .join(moved_by, moved_by.c.id == moved.c.entry_id)
        .where(moved_by.c.kind == Kind.TRANSFER.value)
    )


async def late_fees_due(
    conn: AsyncConnection, as_of: date, policy: LateFeePolicy
) -> list[LateFeeDue]:
    """The fees ``policy`` charges on ``as_of``, in one query; none before the month's
    assessment day. Accounts already charged this month are listed too (posting them
    again does nothing)."""
    assess = assessment_day(as_of, policy)
    if assess is None:
        return []
    day = to_day(as_of)
    # Due at least days_past_due before the assessment day, counted as of today.
    threshold = (as_of - assess).days + policy.days_past_due
    late = open_per_account(as_of, [threshold], leave_out=fee_items())
    net = late.c[aged_column(threshold)] + late.c.credits
    paused, planned = paused_accounts(day), on_plan()
    latest, status = status_on(day)
    ca = customer_account
    where = [
        ca.c.customer_type.in_(DUNNED_TYPES),
        ca.c.currency == policy.currency,
        net >= policy.min_overdue_minor,
        paused.c.account_id.is_(None),
        planned.c.account_id.is_(None),
        or_(status.c.status.is_(None), status.c.status.not_in(UNREACHABLE_STATUSES)),
    ]
    if policy.locations:
        where.append(ca.c.location.in_(sorted(policy.locations)))
    rows = await conn.execute(
        select(ca.c.id, ca.c.number, ca.c.location, net.label("net"))
        .join(late, late.c.account_id == ca.c.id)
        .outerjoin(paused, paused.c.account_id == ca.c.id)
        .outerjoin(planned, planned.c.account_id == ca.c.id)
        .outerjoin(latest, latest.c.account_id == ca.c.id)
        .outerjoin(status, status.c.id == latest.c.id)
        .where(*where)
        .order_by(ca.c.id)
    )
    found = []
    for r in rows:
        overdue = Money(int(r.net), policy.currency)
        fee = policy.fee(overdue)
        if fee.minor > 0:
            found.append(LateFeeDue(r.id, r.number, r.location, overdue, fee))
    return found


async def charge_late_fee(
    db: Database, actor: Actor, due: LateFeeDue, as_of: date, policy: LateFeePolicy
) -> PostedEntry:
    """Post ``due``'s fee once for the month (a replay returns the first entry)."""
    return await post_memo(
        db,
        actor,
        memo_type=ENTRY_TYPE,
        account_id=due.account_id,
        amount=due.fee,
        on=as_of,
        key=late_fee_key(due.account_id, as_of),
        reason=REASON,
        note=f"late fee on {due.overdue} overdue ({policy.describe()}) (AR-107)",
        description=DESCRIPTION,
        source="scheduler",
    )


@dataclass(frozen=True, slots=True)
class PostedFee:
    """A late fee on the books, for its invoice to the patient."""

    account_id: int
    location: str
    key: str
    fee: Money
    due_date: date


async def fees_posted(conn: AsyncConnection, since: date, as_of: date) -> list[PostedFee]:
    """The late fees posted by the policy from ``since`` to ``as_of`` and not waived
    since (a waived fee is never invoiced), oldest first."""
    i, je, ca = ar_item, journal_entry, customer_account
    waived = journal_entry.alias("waived")
    rows = await conn.execute(
        select(i.c.account_id, ca.c.location, je.c.idempotency_key, i.c.amount_minor)
        .add_columns(i.c.currency, day_number(i.c.due_day).label("due"))
        .join(je, je.c.id == i.c.entry_id)
        .join(ca, ca.c.id == i.c.account_id)
        .outerjoin(waived, waived.c.reverses_id == je.c.id)
        .where(
            waived.c.id.is_(None),
            je.c.kind == Kind.FINANCE_CHARGE.value,
            je.c.idempotency_key.startswith(KEY_PREFIX, autoescape=True),
            je.c.effective_day.between(since, as_of),
        )
        .order_by(i.c.id)
    )
    return [
        PostedFee(
            r.account_id,
            r.location,
            r.idempotency_key,
            Money(r.amount_minor, r.currency),
            from_day(int(r.due)),
        )
        for r in rows
    ]


async def waive_fee(
    db: Database, actor: Actor, *, entry_id: int, on: date, key: str, reason: str, note: str
) -> PostedEntry:
    """Waive a late fee (or a finance charge posted by hand): reverse its entry, dated
    ``on``, so that it no longer stands (what was paid on it becomes unapplied cash on
    the account). Needs ``reverse_entry`` at the account's location, checked before
    anything about the entry is said; once per fee (a replay returns the reversal)."""
    require(actor, Permission.REVERSE_ENTRY)  # before saying whether the entry exists
    if (done := await prior_entry(db, key)) is not None:
        return done
    async with db.read() as conn:
        entry = await load_entry(conn, entry_id=entry_id)
        for account in await entry_accounts(conn, entry) or [None]:
            require(actor, Permission.REVERSE_ENTRY, account.location if account else None)
        if entry.kind is not Kind.FINANCE_CHARGE:
            raise ValidationError(
                f"{entry.number} is a {entry.entry_type.lower().replace('_', ' ')}, not a "
                "late fee: only late fees and finance charges are waived"
            )
        if (reversal := await reversed_by(conn, entry_id)) is not None:
            raise InvalidState(f"{entry.number} was already waived or reversed, by {reversal}")
    return await reverse_entry(
        db,
        actor,
        entry_id=entry_id,
        on=on,
        key=key,
        reason=reason,
        memo=f"late fee waived: {note}" if note else "late fee waived",
    )
