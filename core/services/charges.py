"""Posting charges to a patient's account (AR-002, AR-064, AR-077)."""

from __future__ import annotations

from datetime import date, timedelta

from core.auth import Actor, Permission, require
from core.customers import refuse_charges, status_of
from core.db import Database
from core.ledger.accounts import load_account
from core.ledger.model import AR_CONTROL, EntryDraft, ItemTerms, Line, PostedEntry
from core.ledger.posting import revenue_code
from core.money import Money, require_positive
from core.services import post_once


async def post_charge(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    amount: Money,
    service_date: date,
    key: str,
    category: str = "consultation",
    bill_date: date | None = None,
    doctor: str | None = None,
    payer: str | None = None,
    description: str = "",
    entry_type: str = "CHARGE",
    source: str = "staff",
    reference: str | None = None,
) -> PostedEntry:
    """Debit the account, credit revenue; the item is due per the account's terms."""
    require_positive(amount, "charge")
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        status = await status_of(conn, account_id)
        revenue = await revenue_code(conn, db, category)
    require(actor, Permission.POST_CHARGE, account.location)
    refuse_charges(account.number, status)
    billed = bill_date or service_date
    terms = ItemTerms(
        service_date=service_date,
        bill_date=billed,
        due_date=billed + timedelta(days=account.net_days),
        doctor=doctor,
        payer=payer,
        description=description,
    )
    draft = EntryDraft(
        entry_type=entry_type,
        effective_date=billed,
        idempotency_key=key,
        actor=actor.label,
        source=source,
        memo=description,
        reference=reference,
        lines=(Line(AR_CONTROL, amount, account_id, terms), Line(revenue, -amount)),
    )

    return await post_once(db, draft)
