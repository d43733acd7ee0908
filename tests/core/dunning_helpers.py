"""Builders for the dunning tests: patients with reachable chats and charges a given
number of days past due (NET30: due 30 days after the bill date)."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

from core.customers import NewCustomer, record_consent, register_customer
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.model import PostedEntry
from core.profile.chats import link_chat
from core.services.charges import post_charge
from tests.core.helpers import ADMIN, usd

AS_OF = date(2026, 6, 30)
_keys = count(1)
_chats = count(100)


async def patient(
    db: Database,
    last: str = "López",
    *,
    telegram: bool = True,
    verified: bool = True,
    language: str = "en",
    phone: str | None = None,
    location: str = "main",
    financial_class: str = "self_pay",
    guarantor_id: int | None = None,
    customer_type: str = "patient",
) -> Account:
    """A patient; with ``telegram`` a chat of their own linked to the account."""
    account = await register_customer(
        db,
        ADMIN,
        NewCustomer(
            last_name=last,
            first_name="Ana",
            currency="USD",
            language=language,
            phone=phone,
            location=location,
            financial_class=financial_class,
            guarantor_id=guarantor_id,
            customer_type=customer_type,
        ),
    )
    if telegram:
        await link_chat(
            db,
            ADMIN,
            account_id=account.id,
            channel="telegram",
            address=str(next(_chats)),
            verified=verified,
        )
    return account


async def owes(
    db: Database,
    account: Account,
    amount: str,
    days_overdue: int,
    *,
    as_of: date = AS_OF,
    payer: str | None = None,
) -> PostedEntry:
    """A charge of ``amount`` whose due date was ``days_overdue`` days before ``as_of``."""
    billed = as_of - timedelta(days=30 + days_overdue)
    return await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd(amount),
        service_date=billed,
        key=f"dunning-test-charge-{next(_keys)}",
        payer=payer,
    )


async def opt_in_sms(db: Database, phone: str) -> None:
    await record_consent(db, ADMIN, channel="sms", address=phone, granted=True, source="form")


def item_of(entry: PostedEntry) -> int:
    [item] = [line.item_id for line in entry.lines if line.item_id is not None]
    return item
