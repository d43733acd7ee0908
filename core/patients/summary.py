"""What a verified patient may see of their accounts: balances, items, payments.

A statement's worth and no more (DESIGN: channels): the account number, the patient's
first name, each item's service date, statement description, amount, what is still
open, its payment state (pending, partly paid, paid; BI-06) and due date, the overdue
part, the next payment due date (AR-165) and recent payments (AR-097). Items paid in
full stay in the list for a while so a patient can see their payment landed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ledger.items import Item, load_items
from core.ledger.model import Kind
from core.ledger.tables import ar_item, customer_account, journal_entry
from core.money import Money

RECENT = timedelta(days=90)
"""How long a paid item or a payment stays on the patient's balance and statement."""


@dataclass(frozen=True, slots=True)
class PatientItem:
    item_id: int
    service_date: date
    description: str
    amount: Money
    open: Money
    status: str  # pending, partly_paid, paid or disputed
    due_date: date

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
        item.id, item.service_date, item.description, item.amount, item.open, status, item.due_date
    )


async def patient_account(conn: AsyncConnection, account_id: int, as_of: date) -> PatientAccount:
    row = (
        await conn.execute(
            select(
                customer_account.c.number,
                customer_account.c.first_name,
                customer_account.c.name,
                customer_account.c.language,
                customer_account.c.location,
                customer_account.c.currency,
            ).where(customer_account.c.id == account_id)
        )
    ).one()
    items = await load_items(conn, account_id=account_id, as_of=as_of)
    debits = [i for i in items if i.is_debit and (i.open.minor or i.due_date >= as_of - RECENT)]
    cur = row.currency
    balance = sum(i.open.minor for i in items)
    overdue = sum(i.open.minor for i in debits if i.due_date < as_of and not i.disputed)
    dues = [i.due_date for i in debits if i.open.minor > 0 and not i.disputed]
    return PatientAccount(
        account_id=account_id,
        number=row.number,
        first_name=row.first_name or row.name.split(",")[-1].strip().split(" ")[0],
        language=row.language or "en",
        location=row.location,
        balance=Money(balance, cur),
        overdue=Money(max(0, min(overdue, balance)), cur),
        items=tuple(_item(i) for i in debits),
        payments=await _payments(conn, account_id, as_of, cur),
        next_due=min(dues) if dues else None,
    )


async def _payments(
    conn: AsyncConnection, account_id: int, as_of: date, currency: str
) -> tuple[PatientPayment, ...]:
    rows = await conn.execute(
        select(journal_entry.c.id, ar_item.c.effective_day, ar_item.c.amount_minor)
        .join(ar_item, ar_item.c.entry_id == journal_entry.c.id)
        .where(
            ar_item.c.account_id == account_id,
            ar_item.c.effective_day <= as_of,
            ar_item.c.effective_day >= as_of - RECENT,
            journal_entry.c.kind.in_([Kind.PAYMENT.value, Kind.PREPAYMENT.value]),
        )
        .order_by(ar_item.c.effective_day.desc(), journal_entry.c.id.desc())
        .limit(5)
    )
    return tuple(
        PatientPayment(r.effective_day, Money(-r.amount_minor, currency), f"T{r.id:08d}")
        for r in rows
    )


async def patient_accounts(
    conn: AsyncConnection, account_ids: Sequence[int], as_of: date
) -> list[PatientAccount]:
    return [await patient_account(conn, account_id, as_of) for account_id in account_ids]
