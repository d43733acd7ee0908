"""What a verified patient may see of their accounts: balances, items, payments.

A statement's worth and no more (DESIGN: channels): the account number, the patient's
first name, each item's service date, statement description, amount, what is still
open, its payment state (pending, partly paid, paid; BI-06) and due date, the overdue
part, the next payment due date (AR-165) and recent payments (AR-097). Items paid in
full stay in the list for a while so a patient can see their payment landed.

This is read on nearly every turn of a verified patient's chat: one statement per
account, reading the account's items by the account's index and each item's
allocations and latest dispute record by the item's, never by grouping a whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Integer, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import DayNumber
from core.errors import NotFound
from core.ledger.items import ITEM_ORDER, Item, item_of, item_state
from core.ledger.model import Kind
from core.ledger.tables import ar_item, customer_account, journal_entry
from core.money import Money

RECENT = timedelta(days=90)
"""How long a paid item or a payment stays on the patient's balance and statement."""


@dataclass(frozen=True, slots=True)
class PatientLine:
    """One line of the invoice behind an item (AR-072, :mod:`core.patients.invoices`)."""

    service_date: date
    description: str
    quantity: int
    amount: Money
    """What this account owes for the line."""
    total: Money
    """The line's whole amount, every payer's part together."""


@dataclass(frozen=True, slots=True)
class PatientItem:
    item_id: int
    service_date: date
    description: str
    amount: Money
    open: Money
    status: str  # pending, partly_paid, paid or disputed
    due_date: date
    entry_id: int
    lines: tuple[PatientLine, ...] = ()
    """The invoice's lines, where they were read (statements only)."""

    @property
    def paid(self) -> Money:
        return self.amount - self.open


@dataclass(frozen=True, slots=True)
class PatientPayment:
    day: date
    amount: Money
    number: str


@dataclass(frozen=True, slots=True)
class PatientAccount:
    account_id: int
    number: str
    first_name: str
    language: str
    location: str
    balance: Money
    overdue: Money
    items: tuple[PatientItem, ...]
    payments: tuple[PatientPayment, ...]
    next_due: date | None
    """The earliest due date of what is still open (AR-165); a plan's next instalment
    replaces it where the account has a plan."""

    @property
    def open_items(self) -> tuple[PatientItem, ...]:
        return tuple(i for i in self.items if i.open.minor > 0)


def _item(item: Item) -> PatientItem:
    status = "disputed" if item.disputed and item.open.minor else item.status.value
    return PatientItem(
        item.id,
        item.service_date,
        item.description,
        item.amount,
        item.open,
        status,
        item.due_date,
        item.entry_id,
    )


AS_OF = bindparam("as_of", type_=DayNumber())
ACCOUNT = bindparam("account_id", type_=Integer())


# Built once: a chat turn runs it on every balance, and building a statement with its
# subqueries costs more than SQLite takes to run it.
SUMMARY = (
    select(
        customer_account.c.number.label("account_number"),
        customer_account.c.first_name.label("account_first_name"),
        customer_account.c.name.label("account_name"),
        customer_account.c.language.label("account_language"),
        customer_account.c.location.label("account_location"),
        customer_account.c.currency.label("account_currency"),
        ar_item,
        *item_state(AS_OF),
        journal_entry.c.kind.label("entry_kind"),
    )
    .select_from(
        customer_account.outerjoin(
            ar_item,
            and_(ar_item.c.account_id == customer_account.c.id, ar_item.c.effective_day <= AS_OF),
        ).outerjoin(journal_entry, journal_entry.c.id == ar_item.c.entry_id)
    )
    .where(customer_account.c.id == ACCOUNT)
    .order_by(*ITEM_ORDER)
)
"""One account and its items with their entries' kinds (payments among them)."""


async def patient_account(conn: AsyncConnection, account_id: int, as_of: date) -> PatientAccount:
    """One account as the patient sees it on ``as_of``, read in one statement: the
    account's row joined to each of its items (and the item's entry, whose kind tells a
    payment), so a chat turn costs one round trip per account."""
    rows = (await conn.execute(SUMMARY, {"account_id": account_id, "as_of": as_of})).all()
    if not rows:
        raise NotFound(f"there is no customer account with id {account_id}")
    head, cur = rows[0], rows[0].account_currency
    found = [(item_of(r), r.entry_kind) for r in rows if r.id is not None]
    items = [item for item, _ in found]
    debits = [i for i in items if i.is_debit and (i.open.minor or i.due_date >= as_of - RECENT)]
    balance = sum(i.open.minor for i in items)
    overdue = sum(i.open.minor for i in debits if i.due_date < as_of and not i.disputed)
    dues = [i.due_date for i in debits if i.open.minor > 0 and not i.disputed]
    return PatientAccount(
        account_id=account_id,
        number=head.account_number,
        first_name=head.account_first_name
        or head.account_name.split(",")[-1].strip().split(" ")[0],
        language=head.account_language or "en",
        location=head.account_location,
        balance=Money(balance, cur),
        overdue=Money(max(0, min(overdue, balance)), cur),
        items=tuple(_item(i) for i in debits),
        payments=_payments(found, as_of, cur),
        next_due=min(dues) if dues else None,
    )


def _payments(
    found: list[tuple[Item, str]], as_of: date, currency: str
) -> tuple[PatientPayment, ...]:
    """The five latest payments (and prepayments) of the last 90 days, newest first."""
    kinds = (Kind.PAYMENT.value, Kind.PREPAYMENT.value)
    recent = [
        item
        for item, kind in found
        if kind in kinds and as_of - RECENT <= item.effective_date <= as_of
    ]
    recent.sort(key=lambda i: (i.effective_date, i.entry_id), reverse=True)
    return tuple(
        PatientPayment(i.effective_date, Money(-i.amount.minor, currency), f"T{i.entry_id:08d}")
        for i in recent[:5]
    )


async def patient_accounts(
    conn: AsyncConnection, account_ids: Sequence[int], as_of: date
) -> list[PatientAccount]:
    return [await patient_account(conn, account_id, as_of) for account_id in account_ids]
