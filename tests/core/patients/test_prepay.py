"""Prepayment offers (BI-07, AR-087): the catalogue's prepaid-bundle promotions open to
every patient, valid today at the patient's location, priced as the charge will be."""

from __future__ import annotations

from datetime import date

import pytest

from core.billing.catalogue import NewService, define_service, end_rule, set_location_price
from core.db import Database
from core.patients.prepay import PrepayOffer, prepay_offers
from tests.core.billing.helpers import SEASON, rule, service
from tests.core.helpers import ADMIN, open_account, usd
from tests.core.patients.paying import TODAY

BUNDLE = {"requires_prepayment": True}


async def offers(db: Database, location: str = "main", on: date = TODAY) -> list[PrepayOffer]:
    async with db.read() as conn:
        return await prepay_offers(conn, location=location, on=on)


@pytest.fixture
async def clinic(db: Database) -> Database:
    await service(db, "PHYSIO", "80.00", "procedure", description="Physiotherapy session")
    await service(db, "MASSAGE", "50.00", "procedure", description="Therapeutic massage")
    await service(db, "CONS", "100.00", description="Consultation")
    return db


async def test_bundle_rules_are_the_offers(clinic: Database) -> None:
    """A fixed prepaid price and a percent off when prepaid are offers; a plain
    discount that needs no prepayment is not."""
    await rule(
        clinic, "Physio 5-pack", "fixed", amount=usd("60.00"), service_code="PHYSIO", **BUNDLE
    )
    await rule(
        clinic, "Massage prepaid", "percent", percent="20", service_code="MASSAGE", **BUNDLE
    )
    await rule(clinic, "Spring consults", "percent", percent="10", service_code="CONS")
    assert await offers(clinic) == [
        PrepayOffer("MASSAGE", "Therapeutic massage", usd("40.00")),
        PrepayOffer("PHYSIO", "Physiotherapy session", usd("60.00")),
    ]


async def test_only_deals_open_to_everyone_are_offered(clinic: Database) -> None:
    patient = await open_account(clinic)
    await rule(
        clinic,
        "Ana's deal",
        "fixed",
        amount=usd("1.00"),
        service_code="PHYSIO",
        account_id=patient.id,
        **BUNDLE,
    )
    await rule(
        clinic,
        "Staff rate",
        "fixed",
        amount=usd("2.00"),
        service_code="PHYSIO",
        financial_class="employee",
        **BUNDLE,
    )
    assert await offers(clinic) == []


async def test_offers_follow_the_location_and_the_dates(clinic: Database) -> None:
    """The north clinic's bundle is not offered in main; the location's list price is
    the base of a percent bundle there; an ended rule and a later one are not offered."""
    await set_location_price(
        clinic, ADMIN, code="MASSAGE", location="north", price=usd("70.00"), valid_from=SEASON
    )
    await rule(
        clinic,
        "North massage",
        "percent",
        percent="10",
        service_code="MASSAGE",
        location="north",
        **BUNDLE,
    )
    physio = await rule(
        clinic, "Physio", "fixed", amount=usd("60.00"), service_code="PHYSIO", **BUNDLE
    )
    await rule(
        clinic,
        "Autumn consult",
        "fixed",
        amount=usd("90.00"),
        service_code="CONS",
        valid_from=date(2026, 9, 1),
        **BUNDLE,
    )
    assert [o.service_code for o in await offers(clinic)] == ["PHYSIO"]
    assert await offers(clinic, "north") == [
        PrepayOffer("MASSAGE", "Therapeutic massage", usd("63.00")),
        PrepayOffer("PHYSIO", "Physiotherapy session", usd("60.00")),
    ]
    assert [o.service_code for o in await offers(clinic, on=date(2026, 9, 1))] == [
        "CONS",
        "PHYSIO",
    ]
    await end_rule(clinic, ADMIN, physio, last_day=date(2026, 6, 29))
    assert await offers(clinic) == []


async def test_the_most_specific_bundle_wins(clinic: Database) -> None:
    await rule(clinic, "Physio", "fixed", amount=usd("60.00"), service_code="PHYSIO", **BUNDLE)
    await rule(
        clinic,
        "Physio main",
        "fixed",
        amount=usd("55.00"),
        service_code="PHYSIO",
        location="main",
        **BUNDLE,
    )
    assert await offers(clinic) == [PrepayOffer("PHYSIO", "Physiotherapy session", usd("55.00"))]


async def test_a_service_no_longer_offered_has_no_bundle(clinic: Database) -> None:
    await rule(clinic, "Physio", "fixed", amount=usd("60.00"), service_code="PHYSIO", **BUNDLE)
    await define_service(
        clinic,
        ADMIN,
        NewService("PHYSIO", "Physiotherapy session", "procedure", usd("80.00"), active=False),
    )
    assert await offers(clinic) == []
