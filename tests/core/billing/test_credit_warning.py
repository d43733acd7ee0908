"""A visit that takes an account past its credit limit still posts, with a warning
staff see at once (AR-035)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.auth import Actor
from core.billing.catalogue import NewService, define_service
from core.billing.charges import ChargeLine, post_charges
from core.db import Database
from core.errors import PermissionDenied
from core.ledger.items import load_items
from core.profile import set_credit_profile
from tests.core.billing.helpers import DAY
from tests.core.helpers import ADMIN, balance_of, open_account, usd


async def test_passing_the_credit_limit_warns_and_posts(db: Database) -> None:
    await define_service(db, ADMIN, NewService("CONS", "Consultation", "consultation", usd("80")))
    ana = await open_account(db, "Ana López")
    await set_credit_profile(
        db, ADMIN, account_id=ana.id, credit_limit=usd("100.00"), terms_code="NET30",
        risk_class="B", effective_from=DAY, reason="new patient",
    )  # fmt: skip
    first = await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                               lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    assert first.warnings == ()
    second = await post_charges(db, ADMIN, account_id=ana.id, key="v2", bill_date=DAY,
                                lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    assert second.warnings == (f"account {ana.number} goes 60.00 over its credit limit",)
    assert await balance_of(db, ana.id) == usd("160.00")


async def test_a_replayed_key_still_needs_the_permission(db: Database) -> None:
    """Review bug: a charge's key (``draft/<id>`` is easy to guess) gave its invoice back
    to anyone who asked with it; the permission is checked first."""
    await define_service(db, ADMIN, NewService("CONS", "Consultation", "consultation", usd("80")))
    ana = await open_account(db, "Ana López")
    await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                       lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    stranger = Actor("patient", "9", "Someone")
    with pytest.raises(PermissionDenied, match="post_charge"):
        await post_charges(db, stranger, account_id=ana.id, key="v1", bill_date=DAY,
                           lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip


async def test_payment_terms_follow_the_profile_in_force_on_the_bill_date(
    db: Database,
) -> None:
    """Review bug (AR-035): a credit profile's terms starting later never reached due
    dates; now each charge is due by the terms in force on its bill date."""
    await define_service(db, ADMIN, NewService("CONS", "Consultation", "consultation", usd("80")))
    ana = await open_account(db, "Ana López")
    later = date(2026, 7, 15)
    await set_credit_profile(
        db, ADMIN, account_id=ana.id, credit_limit=None, terms_code="NET60",
        risk_class=None, effective_from=later, reason="agreed longer terms",
    )  # fmt: skip
    before = await post_charges(db, ADMIN, account_id=ana.id, key="v1", bill_date=DAY,
                                lines=[ChargeLine("CONS", 1, DAY)])  # fmt: skip
    after = await post_charges(db, ADMIN, account_id=ana.id, key="v2", bill_date=later,
                               lines=[ChargeLine("CONS", 1, later)])  # fmt: skip
    async with db.read() as conn:
        items = await load_items(conn, account_id=ana.id)
    due = {i.entry_id: i.due_date for i in items}
    assert due[before.entry.id] == DAY + timedelta(days=30)
    assert due[after.entry.id] == later + timedelta(days=60)
