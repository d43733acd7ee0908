"""The catalogue staff keep: services, location prices and pricing rules are checked
before anything is written (BI-01, BI-09, BI-26)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from core.billing.catalogue import NewService, define_service, set_location_price
from core.db import Database
from core.errors import NotFound, PermissionDenied, ValidationError
from core.money import Money
from tests.core.billing.helpers import footprint, rule, service
from tests.core.helpers import ADMIN, CLERK, usd


async def test_codes_are_kept_upper_case_and_a_change_is_audited(db: Database) -> None:
    """BI-01: ``xr-chest`` and ``XR-CHEST`` are one service; redefining changes it."""
    assert await service(db, "xr-chest", "50.00", "imaging") == "XR-CHEST"
    before = await footprint(db)
    await service(db, "XR-CHEST", "55.00", "imaging", description="Xr-Chest")
    after = await footprint(db)
    assert after["service"] == before["service"] == 1
    assert after["audit_log"] == before["audit_log"] + 1  # type: ignore[operator]


@pytest.mark.parametrize(
    ("new", "error"),
    [
        (NewService("BAD CODE", "x", "lab", usd("1")), "is not a service code"),
        (NewService("LAB1", " ", "lab", usd("1")), "needs a description"),
        (NewService("LAB1", "Lab", "spa", usd("1")), "'spa' is not a category"),
        (NewService("LAB1", "Lab", "lab", usd("-1")), "cannot be negative"),
        (NewService("LAB1", "Lab", "lab", usd("1"), revenue_gl="9999"), "no GL account 9999"),
        (NewService("LAB1", "Lab", "lab", usd("1"), stock_item="NOPE"), "no stock item NOPE"),
    ],
)
async def test_a_malformed_service_is_refused(db: Database, new: NewService, error: str) -> None:
    before = await footprint(db)
    with pytest.raises(ValidationError, match=error):
        await define_service(db, ADMIN, new)
    assert await footprint(db) == before


async def test_only_catalogue_managers_change_it(db: Database) -> None:
    before = await footprint(db)
    with pytest.raises(PermissionDenied):
        await define_service(db, CLERK, NewService("LAB1", "Lab", "lab", usd("1")))
    assert await footprint(db) == before


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"price": usd("-1")}, "cannot be negative"),
        ({"valid_to": date(2026, 2, 1)}, "ends \\(2026-02-01\\) before it starts"),
        ({"price": Money(100, "EUR")}, "priced in USD, not EUR"),
        ({"code": "NOPE"}, "no service 'NOPE'"),
    ],
)
async def test_a_malformed_location_price_is_refused(
    db: Database, kwargs: dict[str, Any], error: str
) -> None:
    """BI-01: a location's price list."""
    await service(db, "CONS", "100.00")
    before = await footprint(db)
    args: dict[str, Any] = {"code": "CONS", "location": "north", "price": usd("90")}
    with pytest.raises((ValidationError, NotFound), match=error):
        await set_location_price(db, ADMIN, valid_from=date(2026, 3, 1), **(args | kwargs))
    assert await footprint(db) == before


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"kind": "percent", "percent": "10", "amount": usd("1.00")}, "percent rule takes"),
        ({"kind": "fixed"}, "amount and fixed rules take an amount"),
        ({"kind": "percent", "percent": "150"}, "at most 100, not 150"),
        ({"kind": "percent", "percent": "12.345"}, "is not a percentage"),
        ({"kind": "amount", "amount": usd("-1.00")}, "cannot be negative"),
        ({"kind": "package", "amount": usd("1.00")}, "not a kind of rule"),
        ({"kind": "fixed", "amount": usd("1.00"), "requires_prepayment": True}, "must name"),
        ({"kind": "percent", "percent": "5", "valid_to": date(2025, 1, 1)}, "ends"),
        ({"kind": "percent", "percent": "5", "category": "spa"}, "not a category"),
        ({"kind": "percent", "percent": "5", "service_code": "NOPE"}, "no service 'NOPE'"),
        ({"kind": "percent", "percent": "5", "account_id": 999}, "no account 999"),
    ],
)
async def test_a_malformed_rule_is_refused(
    db: Database, kwargs: dict[str, Any], error: str
) -> None:
    """BI-26, BI-27: rules and promotions."""
    await service(db, "CONS", "100.00")
    before = await footprint(db)
    with pytest.raises((ValidationError, NotFound), match=error):
        await rule(db, "Bad", **kwargs)
    assert await footprint(db) == before
