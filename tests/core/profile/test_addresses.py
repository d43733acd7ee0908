"""Addresses of every kind, any number, each valid from a day; the bill-to address
(AR-032, AR-042)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from core.db import Database
from core.errors import NotFound, PermissionDenied, ValidationError
from core.profile import add_address, addresses_of, bill_to_address
from tests.core.helpers import ADMIN, CLERK
from tests.core.profile.common import counts, last_audit, person

JAN, JUN = date(2026, 1, 1), date(2026, 6, 1)
HOME: dict[str, Any] = {
    "kind": "home",
    "line1": "12 Elm St",
    "city": "Springfield",
    "country": "us",
}


async def test_a_new_primary_address_ends_the_one_it_replaces(db: Database) -> None:
    """The patient moved on 1 June: the old home address applied until 31 May."""
    account = await person(db, "Lindqvist")
    old = await add_address(db, ADMIN, account_id=account.id, valid_from=JAN, **HOME)
    billing = await add_address(
        db,
        ADMIN,
        account_id=account.id,
        kind="billing",
        line1="PO Box 77",
        line2="  Attn:   accounts ",
        city="Springfield",
        region="IL",
        postal_code="62701",
        country="US",
        valid_from=JAN,
    )
    summer = await add_address(
        db,
        ADMIN,
        account_id=account.id,
        kind="home",
        line1="Summer house",
        city="Oslo",
        country="NO",
        valid_from=JAN,
        is_primary=False,
    )
    new = await add_address(
        db, ADMIN, account_id=account.id, valid_from=JUN, **HOME | {"line1": "3 Oak Ave"}
    )
    async with db.read() as conn:
        may = await addresses_of(conn, account.id, date(2026, 5, 31))
        june = await addresses_of(conn, account.id, JUN)
        bill_to = await bill_to_address(conn, account.id, JUN)
    assert [a.id for a in may] == [billing, old, summer]
    assert [a.id for a in june] == [billing, new, summer]
    assert may[1].valid_to == date(2026, 5, 31) and may[1].country == "US"
    assert (may[0].line2, may[0].postal_code) == ("Attn: accounts", "62701")
    assert bill_to is not None and bill_to.id == billing
    _, detail = await last_audit(db, "customer.address")
    assert detail == {
        "address_id": new,
        "kind": "home",
        "primary": True,
        "valid_from": "2026-06-01",
    }
    assert "Oak" not in str(detail)


async def test_without_a_billing_address_bills_go_home(db: Database) -> None:
    account = await person(db, "Dubois")
    async with db.read() as conn:
        assert await bill_to_address(conn, account.id, JUN) is None
    home = await add_address(db, ADMIN, account_id=account.id, valid_from=JAN, **HOME)
    async with db.read() as conn:
        found = await bill_to_address(conn, account.id, JUN)
    assert found is not None and found.id == home


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "mailing"}, "'mailing' is not a kind of address"),
        ({"country": "USA"}, "'USA' is not an ISO 3166 country code"),
        ({"country": "EU"}, "'EU' is not an ISO 3166 country code"),
        ({"country": "ZZ"}, "'ZZ' is not an ISO 3166 country code"),
        ({"line1": "  "}, "needs a first line"),
        ({"city": ""}, "needs a city"),
        ({"postal_code": "1" * 21}, "postal code is longer than 20"),
        ({"valid_from": JAN}, "current primary home address applies from 2026-01-01"),
    ],
)
async def test_bad_addresses_are_refused_and_nothing_written(
    db: Database, change: dict[str, Any], message: str
) -> None:
    account = await person(db, "Moreau")
    await add_address(db, ADMIN, account_id=account.id, valid_from=JAN, **HOME)
    before = await counts(db)
    with pytest.raises(ValidationError, match=message):
        await add_address(
            db, ADMIN, account_id=account.id, **({"valid_from": JUN} | HOME | change)
        )
    assert await counts(db) == before
    async with db.read() as conn:
        assert [a.valid_to for a in await addresses_of(conn, account.id, JUN)] == [None]


async def test_addresses_need_an_account_and_the_permission(db: Database) -> None:
    north = await person(db, "Berg", location="north")
    with pytest.raises(NotFound):
        await add_address(db, ADMIN, account_id=999, valid_from=JAN, **HOME)
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await add_address(db, CLERK, account_id=north.id, valid_from=JAN, **HOME)
