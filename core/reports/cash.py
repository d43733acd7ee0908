"""A day's cash receipts and adjustments, by payer and method (AR-170): the daily cash
digest's figures.

*Receipts* are the payments and prepayments dated that day, less payments reversed that
day, grouped by who paid and how (``card``, ``cash``, ``check``: the method the payment
was recorded with). *Adjustments* are every other entry of the day that changed what
customers owe, except charges (new receivables are another report, AR-166): write-offs,
discounts, contractual allowances, memos, refunds, reinstatements, reversals, grouped by
entry type and payer, with their effect on A/R (negative lowers what is owed).

The *payer* is the customer account the money or adjustment is on: a person (patient,
guarantor, employee) counts as ``self-pay``; an insurer, employer or institution is
named. Amounts are read from the journal lines that name a customer account, so a
prepayment, which is held outside A/R until used, counts as received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import String, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ledger.model import Kind
from core.ledger.tables import customer_account, entry_type, journal_entry, journal_line
from core.money import Money

PERSONS = ("patient", "guarantor", "employee")
SELF_PAY = "self-pay"
RECEIPT_KINDS = (Kind.PAYMENT.value, Kind.PREPAYMENT.value, Kind.PAYMENT_REVERSAL.value)


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    payer: str
    method: str
    count: int
    """Entries (payments, or payments reversed)."""
    amount: Money
    """Received: positive; a reversal takes money back (negative)."""


@dataclass(frozen=True, slots=True)
class AdjustmentLine:
    entry_type: str
    description: str
    payer: str
    count: int
    amount: Money
    """The effect on A/R: negative lowers what is owed."""


@dataclass(frozen=True, slots=True)
class CashDay:
    day: date
    currency: str
    receipts: tuple[ReceiptLine, ...]
    adjustments: tuple[AdjustmentLine, ...]
    paying_accounts: int

    @property
    def received(self) -> Money:
        return Money(sum(r.amount.minor for r in self.receipts), self.currency)

    @property
    def adjusted(self) -> Money:
        return Money(sum(a.amount.minor for a in self.adjustments), self.currency)


async def cash_day(conn: AsyncConnection, day: date, currency: str) -> CashDay:
    """Receipts and adjustments dated ``day`` in ``currency`` (AR-170)."""
    je, jl, ca = journal_entry, journal_line, customer_account
    receipt = je.c.kind.in_(RECEIPT_KINDS)
    payer = case((ca.c.customer_type.in_(PERSONS), literal(SELF_PAY)), else_=ca.c.name)
    method = case(
        (je.c.kind == Kind.PAYMENT_REVERSAL.value, literal("reversal")),
        (receipt, func.coalesce(func.nullif(je.c.memo, ""), "unspecified")),
        else_=cast(literal(""), String),
    )
    query = (
        select(
            receipt.label("receipt"),
            je.c.entry_type,
            entry_type.c.description,
            payer.label("payer"),
            method.label("method"),
            func.count(je.c.id.distinct()).label("entries"),
            func.sum(jl.c.amount_minor).label("amount"),
        )
        .select_from(jl)
        .join(je, je.c.id == jl.c.entry_id)
        .join(ca, ca.c.id == jl.c.customer_account_id)
        .join(entry_type, entry_type.c.code == je.c.entry_type)
        .where(je.c.effective_day == day, jl.c.currency == currency)
        .where(je.c.kind != Kind.CHARGE.value)
        .group_by(receipt, je.c.entry_type, entry_type.c.description, payer, method)
    )
    receipts, adjustments = [], []
    for r in await conn.execute(query):
        if r.receipt:
            # The customer's line is a credit: what was received is its negative.
            amount = Money(-int(r.amount), currency)
            receipts.append(ReceiptLine(r.payer, r.method, r.entries, amount))
        else:
            amount = Money(int(r.amount), currency)
            adjustments.append(
                AdjustmentLine(r.entry_type, r.description, r.payer, r.entries, amount)
            )
    paying = (
        await conn.execute(
            select(func.count(jl.c.customer_account_id.distinct()))
            .join(je, je.c.id == jl.c.entry_id)
            .where(je.c.effective_day == day, jl.c.currency == currency, receipt)
        )
    ).scalar_one()
    return CashDay(
        day,
        currency,
        tuple(sorted(receipts, key=lambda r: (r.payer != SELF_PAY, r.payer, r.method))),
        tuple(sorted(adjustments, key=lambda a: (a.entry_type, a.payer != SELF_PAY, a.payer))),
        int(paying),
    )
