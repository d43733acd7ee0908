"""Builders for the patient-payment tests: charges on the clinic's books, payments at
the desk, and how many rows a refused request must have left as they were."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from core.auth import Actor
from core.db import Database
from core.ledger.model import PostedEntry
from core.ledger.tables import allocation, ar_item, journal_entry
from core.patients.gateway_tables import gateway_payment, gateway_reversal
from core.patients.paylinks import pay_link
from core.plans.tables import payment_plan, plan_agreement, plan_instalment
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, usd

MAY = date(2026, 5, 1)
"""A visit whose bill (NET30) is overdue on the test clock's day, 30 June 2026."""
JUNE = date(2026, 6, 20)
"""A visit whose bill is not due yet on 30 June 2026."""
TODAY = date(2026, 6, 30)
PATIENT = Actor("patient", "chat", "patient in chat")


async def charge(
    db: Database, account_id: int, amount: str, on: date = MAY, key: str = ""
) -> PostedEntry:
    return await post_charge(
        db,
        ADMIN,
        account_id=account_id,
        amount=usd(amount),
        service_date=on,
        key=key or f"charge-{account_id}-{on}-{amount}",
        description="Office visit",
    )


async def desk_payment(db: Database, account_id: int, amount: str, key: str) -> None:
    await record_payment(
        db,
        ADMIN,
        account_id=account_id,
        amount=usd(amount),
        received_on=TODAY,
        key=key,
        method="cash",
    )


async def counts(db: Database) -> dict[str, int]:
    """Rows in every table these features write: a refused request leaves them as they were."""
    tables = (
        journal_entry,
        ar_item,
        allocation,
        pay_link,
        gateway_payment,
        gateway_reversal,
        payment_plan,
        plan_instalment,
        plan_agreement,
    )
    async with db.read() as conn:
        return {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for t in tables
        }
