"""A first walk through billing: catalogue, rule, split, stock, prepayment, draft."""

from __future__ import annotations

from datetime import date

from core.billing.catalogue import NewRule, NewService, define_rule, define_service
from core.billing.charges import ChargeLine, post_charges
from core.billing.drafts import add_draft_line, finalise_draft, open_draft
from core.billing.invoice import Split
from core.billing.prepaid import prepay
from core.db import Database
from core.inventory import define_stock_item, on_hand, receive_stock
from tests.core.helpers import ADMIN, balance_of, open_account, usd

DAY = date(2026, 3, 2)


async def test_visit_posts_priced_split_and_stocked(db: Database) -> None:
    await define_stock_item(db, ADMIN, code="GAUZE", description="Gauze pad")
    await receive_stock(
        db, ADMIN, item_code="GAUZE", location="main", quantity=10, reason="receipt"
    )
    await define_service(
        db, ADMIN, NewService("CONS", "Consultation", "consultation", usd("100.00"))
    )
    await define_service(
        db, ADMIN, NewService("DRESS", "Dressing", "material", usd("5.00"), stock_item="GAUZE")
    )
    patient = await open_account(db, "Ana López")
    insurer = await open_account(db, "Acme Health", customer_type="insurer")
    await define_rule(
        db,
        ADMIN,
        NewRule(
            "Acme negotiated",
            "fixed",
            DAY,
            amount=usd("80.00"),
            service_code="CONS",
            payer_account_id=insurer.id,
        ),
    )
    invoice = await post_charges(
        db,
        ADMIN,
        account_id=patient.id,
        key="visit-1",
        bill_date=DAY,
        lines=[
            ChargeLine("CONS", 1, DAY, splits=(Split(insurer.id, percent_bp=8000),)),
            ChargeLine("dress", 2, DAY),
        ],
    )
    assert invoice.owed == {patient.id: usd("26.00"), insurer.id: usd("64.00")}
    assert await balance_of(db, patient.id) == usd("26.00")
    async with db.read() as conn:
        assert await on_hand(conn, "GAUZE", "main") == 8
    again = await post_charges(
        db,
        ADMIN,
        account_id=patient.id,
        key="visit-1",
        bill_date=DAY,
        lines=[ChargeLine("CONS", 1, DAY)],
    )
    assert again.entry.id == invoice.entry.id


async def test_prepaid_and_draft(db: Database) -> None:
    await define_service(
        db, ADMIN, NewService("PHYSIO", "Physiotherapy", "procedure", usd("80.00"))
    )
    patient = await open_account(db)
    await prepay(
        db,
        ADMIN,
        account_id=patient.id,
        amount=usd("120.00"),
        on=DAY,
        key="pp-1",
        method="card",
        service="PHYSIO",
    )
    draft = await open_draft(db, ADMIN, account_id=patient.id)
    await add_draft_line(db, ADMIN, draft, ChargeLine("PHYSIO", 1, DAY))
    first = await finalise_draft(db, ADMIN, draft)
    assert first.prepaid_used == usd("80.00")
    assert await balance_of(db, patient.id) == usd("0.00")
    second = await post_charges(
        db,
        ADMIN,
        account_id=patient.id,
        key="v2",
        bill_date=DAY,
        lines=[ChargeLine("PHYSIO", 1, DAY)],
    )
    assert second.prepaid_used == usd("40.00")
    assert await balance_of(db, patient.id) == usd("40.00")
