"""What the ledger posts: frozen entries made of balanced lines.

A journal entry moves money between accounts of the chart; its lines sum to zero in
every currency (debits positive, credits negative). A line on the A/R control account
names the customer account whose subledger it changes and becomes an A/R item.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from core.errors import UnbalancedEntry, ValidationError
from core.money import Money


class Kind(StrEnum):
    """What an entry does; user-defined entry types each map to one kind (AR-076)."""

    CHARGE = "charge"
    DEBIT_MEMO = "debit_memo"
    CREDIT_MEMO = "credit_memo"
    PAYMENT = "payment"
    PREPAYMENT = "prepayment"
    ADJUSTMENT = "adjustment"
    DISCOUNT = "discount"
    CONTRACTUAL = "contractual"
    WRITE_OFF = "write_off"
    BAD_DEBT = "bad_debt"
    REINSTATEMENT = "reinstatement"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    PAYMENT_REVERSAL = "payment_reversal"
    FINANCE_CHARGE = "finance_charge"
    TRANSFER = "transfer"
    REVERSAL = "reversal"


class Role(StrEnum):
    """The part a GL account plays in A/R; postings name accounts by code."""

    AR_CONTROL = "ar_control"
    CASH = "cash"
    REVENUE = "revenue"
    CONTRACTUAL_ALLOWANCE = "contractual_allowance"
    DISCOUNTS = "discounts"
    WRITE_OFF_EXPENSE = "write_off_expense"
    BAD_DEBT_EXPENSE = "bad_debt_expense"
    UNAPPLIED_CASH = "unapplied_cash"
    PATIENT_PREPAYMENTS = "patient_prepayments"
    REFUNDS_PAYABLE = "refunds_payable"
    FINANCE_CHARGE_INCOME = "finance_charge_income"


AR_CONTROL = "1100"
"""Code of the A/R control account, whose subledger is the customer accounts."""


SELF_PAYERS = ("self", "self_pay")
"""An item's payer when the patient pays it: an invoice names the payer account's
financial class (``self_pay``), a charge posted by hand names none (``self`` in the ATB)."""


@dataclass(frozen=True, slots=True)
class ItemTerms:
    """Dates and tags of the A/R item a control-account line creates."""

    service_date: date | None = None
    bill_date: date | None = None
    due_date: date | None = None
    doctor: str | None = None
    payer: str | None = None
    ref_item_id: int | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    gl: str
    amount: Money
    account_id: int | None = None
    item: ItemTerms = field(default_factory=ItemTerms)

    def __post_init__(self) -> None:
        if self.amount.minor == 0:
            raise ValidationError(f"a journal line on {self.gl} cannot be zero")
        if self.gl == AR_CONTROL and self.account_id is None:
            raise ValidationError("a line on the A/R control account needs a customer account")


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """An entry to post; refused here if it cannot balance."""

    entry_type: str
    effective_date: date
    lines: tuple[Line, ...]
    idempotency_key: str
    actor: str
    source: str
    memo: str = ""
    reason_code: str | None = None
    reference: str | None = None
    reverses_id: int | None = None

    def __post_init__(self) -> None:
        if not self.idempotency_key or len(self.idempotency_key) > 200:
            raise ValidationError("every posting needs an idempotency key of 1-200 characters")
        if len(self.lines) < 2:
            raise UnbalancedEntry("a journal entry needs at least two lines")
        totals: dict[str, int] = {}
        for line in self.lines:
            amount = line.amount
            totals[amount.currency] = totals.get(amount.currency, 0) + amount.minor
        off = {cur: total for cur, total in totals.items() if total}
        if off:
            detail = ", ".join(f"{Money(t, c)!s} {c}" for c, t in sorted(off.items()))
            raise UnbalancedEntry(f"the entry does not balance: off by {detail}")

    def fingerprint(self) -> str:
        """A hash of what the entry says, to tell a replay from a reused key."""
        body = [
            self.entry_type,
            self.effective_date.isoformat(),
            self.reason_code,
            self.reference,
            self.reverses_id,
            self.memo,
            [
                [
                    ln.gl,
                    ln.amount.minor,
                    ln.amount.currency,
                    ln.account_id,
                    ln.item.due_date.isoformat() if ln.item.due_date else None,
                ]
                for ln in self.lines
            ],
        ]
        return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


_ENTRY_NUMBER = re.compile(r"[Tt]([0-9]{1,12})")


def entry_number(entry_id: int) -> str:
    """The transaction number people quote for entry ``entry_id`` (AR-053): ``T00000012``."""
    return f"T{entry_id:08d}"


def entry_id_of(text: str) -> int | None:
    """The id in an entry number as typed (``T00000012``, ``t12``); None when ``text`` is
    not one. It may be past any id (:data:`core.db.metadata.MAX_ID`)."""
    found = _ENTRY_NUMBER.fullmatch(text)
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class PostedLine:
    line_no: int
    gl: str
    amount: Money
    account_id: int | None
    item_id: int | None


@dataclass(frozen=True, slots=True)
class PostedEntry:
    id: int
    idempotency_key: str
    entry_type: str
    kind: Kind
    effective_date: date
    posted_at: datetime
    actor: str
    source: str
    memo: str
    reason_code: str | None
    reference: str | None
    reverses_id: int | None
    lines: tuple[PostedLine, ...]
    replayed: bool = False

    @property
    def number(self) -> str:
        """The transaction number people quote (AR-053): never reused."""
        return entry_number(self.id)

    @property
    def item_ids(self) -> tuple[int, ...]:
        return tuple(ln.item_id for ln in self.lines if ln.item_id is not None)
