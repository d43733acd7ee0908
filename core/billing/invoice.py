"""Turning a visit's priced lines into one journal entry: shares, revenue, discounts.

Pure functions, no database: :mod:`core.billing.charges` (one visit at a time) and
the charge import (200,000 lines at a time) build their entries here, so both post
exactly the same thing for the same lines.

Each line's price is split between its payers (BI-12): percent shares of the line,
fixed amounts, and the rest to the account the visit is charged to; largest-remainder
rounding makes the shares add up to the line exactly. The entry debits A/R once per
payer (one open item each, due by that payer's terms), credits each revenue account
with the list price of what was provided and debits discounts with what the pricing
rules or overrides took off, so the effect of every deal shows in the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from core.billing.pricing import Priced
from core.errors import ValidationError
from core.inventory import StockItem
from core.ledger.accounts import Account
from core.ledger.model import AR_CONTROL, EntryDraft, ItemTerms, Line
from core.money import Money, split_minor

DISCOUNTS_GL = "4900"


@dataclass(frozen=True, slots=True)
class Split:
    """Part of a line owed by another account (an insurer, an employer): a percentage
    of the line (``"80"``, ``"12.5"``) or a fixed amount, never both."""

    payer_account_id: int
    percent_bp: int | None = None
    amount: Money | None = None

    def __post_init__(self) -> None:
        if (self.percent_bp is None) == (self.amount is None):
            raise ValidationError("a payer's share is a percentage or an amount, not both")
        if self.percent_bp is not None and not 0 < self.percent_bp <= 10_000:
            raise ValidationError("a payer's percentage is above 0 and at most 100")
        if self.amount is not None and self.amount.minor <= 0:
            raise ValidationError("a payer's amount must be above zero")


def share_out(total: int, account_id: int, splits: Sequence[Split]) -> dict[int, int]:
    """``total`` divided between the payers of ``splits`` and ``account_id`` (the rest).

    Percentages are of the whole line, rounded by largest remainder together with the
    rest; fixed amounts then come out of the rest. The parts always sum to ``total``."""
    percents = [s for s in splits if s.percent_bp is not None]
    fixed = [s for s in splits if s.amount is not None]
    payers = [s.payer_account_id for s in splits]
    if len(set(payers)) != len(payers) or account_id in payers:
        raise ValidationError("each payer may appear once in a line's split")
    taken = sum(s.percent_bp or 0 for s in percents)
    if taken > 10_000:
        raise ValidationError("the payers' percentages add up to more than 100")
    parts = split_minor(total, [s.percent_bp or 0 for s in percents] + [10_000 - taken])
    shares = {s.payer_account_id: p for s, p in zip(percents, parts, strict=False)}
    rest = parts[-1]
    for s in fixed:
        assert s.amount is not None
        if s.amount.minor > rest:
            line = Money(total, s.amount.currency)
            raise ValidationError(f"the payers' shares add up to more than the line's {line}")
        shares[s.payer_account_id] = s.amount.minor
        rest -= s.amount.minor
    shares[account_id] = rest
    return shares


@dataclass(frozen=True, slots=True)
class PlannedLine:
    priced: Priced
    service_date: date
    doctor: str | None
    location: str
    revenue_gl: str
    shares: Mapping[int, int]


@dataclass(slots=True)
class InvoicePlan:
    """What posting a visit will write: the entry, the charge detail, the stock moves."""

    draft: EntryDraft
    lines: list[PlannedLine]
    payer_lines: dict[int, int] = field(default_factory=dict)
    """Payer account id -> the entry's line number of its A/R debit."""
    stock: dict[tuple[str, str], int] = field(default_factory=dict)

    def detail_rows(
        self, entry_id: int
    ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        """``charge_line`` and ``charge_share`` rows for the posted entry."""
        lines: list[dict[str, object]] = []
        shares: list[dict[str, object]] = []
        for seq, pl in enumerate(self.lines, start=1):
            p = pl.priced
            lines.append(
                {
                    "entry_id": entry_id,
                    "seq": seq,
                    "service_code": p.service.code,
                    "description": p.service.description,
                    "quantity": p.quantity,
                    "list_unit_minor": p.list_unit_minor,
                    "amount_minor": p.amount_minor,
                    "currency": p.service.currency,
                    "rule_id": p.rule.id if p.rule else None,
                    "override_reason": p.override_reason,
                    "service_day": pl.service_date,
                    "doctor": pl.doctor,
                    "location": pl.location,
                }
            )
            if len(pl.shares) > 1:  # a line owed by its own account alone needs no rows
                shares.extend(
                    {
                        "entry_id": entry_id,
                        "seq": seq,
                        "payer_account_id": payer,
                        "amount_minor": m,
                    }
                    for payer, m in sorted(pl.shares.items())
                )
        return lines, shares


def plan_invoice(
    account: Account,
    payers: Mapping[int, Account],
    lines: Sequence[PlannedLine],
    stock_items: Mapping[str, StockItem],
    *,
    bill_date: date,
    key: str,
    actor: str,
    source: str,
    reference: str | None = None,
    memo: str = "",
) -> InvoicePlan:
    """The entry for one visit of ``account``; ``payers`` holds every account in a split."""
    if not lines:
        raise ValidationError("a charge needs at least one line")
    currency = account.currency
    owed: dict[int, int] = {}
    revenue: dict[str, int] = {}
    discount = 0
    stock: dict[tuple[str, str], int] = {}
    for pl in lines:  # the import's hot loop: plain dicts, no temporaries
        p = pl.priced
        svc = p.service
        if svc.currency != currency:
            raise ValidationError(
                f"service {svc.code} is priced in {svc.currency}; "
                f"account {account.number} is kept in {currency}"
            )
        amount, listed = p.amount_minor, p.list_unit_minor * p.quantity
        gross = listed if listed > amount else amount
        revenue[pl.revenue_gl] = revenue.get(pl.revenue_gl, 0) + gross
        discount += gross - amount
        for payer_id, minor in pl.shares.items():
            owed[payer_id] = owed.get(payer_id, 0) + minor
        if svc.stock_item is not None:
            item = stock_items[svc.stock_item]
            store = (item.code, item.store(pl.location))
            stock[store] = stock.get(store, 0) - p.quantity
    described = [line_description(pl.priced.service.description, pl.priced.quantity)
                 for pl in lines]  # fmt: skip
    # An imported row is one line: no min() over a generator in the import's hot loop.
    first = lines[0].service_date if len(lines) == 1 else min(pl.service_date for pl in lines)
    what = described[0] if len(described) == 1 else ", ".join(described)
    if len(what) > 200:
        what = what[:199] + "…"
    entry_lines: list[Line] = []
    payer_lines: dict[int, int] = {}
    for payer_id in sorted(owed, key=lambda a: (a != account.id, a)) if len(owed) > 1 else owed:
        if owed[payer_id] == 0:
            continue
        payer = account if payer_id == account.id else payers[payer_id]
        terms = ItemTerms(
            service_date=first,
            bill_date=bill_date,
            due_date=bill_date + timedelta(days=payer.net_days),
            doctor=lines[0].doctor,
            payer=payer.financial_class,
            description=what,
        )
        entry_lines.append(Line(AR_CONTROL, Money(owed[payer_id], currency), payer_id, terms))
        payer_lines[payer_id] = len(entry_lines)
    if discount:
        entry_lines.append(Line(DISCOUNTS_GL, Money(discount, currency)))
    for gl in sorted(revenue) if len(revenue) > 1 else revenue:
        if revenue[gl]:
            entry_lines.append(Line(gl, Money(-revenue[gl], currency)))
    if len(entry_lines) < 2:
        raise ValidationError(f"nothing to charge: {what} is priced at zero")
    draft = EntryDraft(
        entry_type="CHARGE",
        effective_date=bill_date,
        idempotency_key=key,
        actor=actor,
        source=source,
        memo=memo or what,
        reference=reference,
        lines=tuple(entry_lines),
    )
    return InvoicePlan(draft, list(lines), payer_lines, stock)


def line_description(description: str, quantity: int) -> str:
    """A line as its item's description reads: the catalogue's words for the service
    ("as statements show it"), with the quantity when more than one."""
    return description if quantity == 1 else f"{description} x{quantity}"
