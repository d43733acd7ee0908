"""Account numbers from the configured format (AR-031, AR-038) and demographic edits
with before and after in the audit trail (AR-039)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from core.auth import Actor, StaffRole
from core.customers import NewCustomer, register_customer
from core.db import Database
from core.errors import NotFound, PermissionDenied, ValidationError
from core.ledger.tables import customer_account
from core.profile import update_customer
from core.search import search
from core.settings import Settings
from tests.core.helpers import ADMIN, CLERK, open_account
from tests.core.profile.common import counts, last_audit, person


async def test_assigned_numbers_follow_the_configured_format(db: Database) -> None:
    """AR-038: the number format is a setting; a hospital-issued number still wins."""
    settings = Settings.from_env({"ACCOUNT_NUMBER_FORMAT": "NW-{id:06d}"})
    assert Settings().account_number_format == "A{id:07d}"
    new = NewCustomer(last_name="Osei", first_name="Ama", currency="USD")
    first = await register_customer(db, ADMIN, new, number_format=settings.account_number_format)
    issued = await register_customer(
        db,
        ADMIN,
        NewCustomer(last_name="Osei", first_name="Kwame", currency="USD", number="H-4411"),
        number_format=settings.account_number_format,
    )
    plain = await register_customer(db, ADMIN, new)
    assert (first.number, issued.number, plain.number) == ("NW-000001", "H-4411", "A0000003")


@pytest.mark.parametrize(
    ("number_format", "message"),
    [
        ("A{name}", "use the account id, {id}, and no other field"),
        ("A{id.real}", "no other field"),
        ("ACCOUNT", "no other field"),
        ("A{id", "is not valid"),
        ("A{id:c}", "is not valid"),
        ("{id!s:.1}", "a different number of 1 to 40 characters"),
        ("X" * 39 + "{id}", "a different number of 1 to 40 characters"),
    ],
)
async def test_a_bad_number_format_is_refused_and_nothing_written(
    db: Database, number_format: str, message: str
) -> None:
    before = await counts(db)
    new = NewCustomer(last_name="Osei", first_name="Ama", currency="USD", number="H-1")
    with pytest.raises(ValidationError, match=f"account number format .*{message}"):
        await register_customer(db, ADMIN, new, number_format=number_format)
    assert await counts(db) == before


async def test_only_the_given_fields_change_and_the_audit_keeps_before_and_after(
    db: Database,
) -> None:
    account = await person(db, "Johnson", "Leo", date_of_birth=date(2015, 3, 2), mrn="M-1")
    changed = await update_customer(
        db, ADMIN, account.id, last_name=" Okafor ", language="es-mx", patient_type="op"
    )
    assert changed == ("last_name", "language", "patient_type")
    async with db.read() as conn:
        row = (
            await conn.execute(select(customer_account).where(customer_account.c.id == account.id))
        ).one()
        found = await search(conn, "okaf")
    assert (row.name, row.sort_name, row.last_name, row.first_name) == (
        "Leo Okafor",
        "okafor leo",
        "Okafor",
        "Leo",
    )
    assert (row.language, row.patient_type, row.date_of_birth) == ("es-MX", "OP", date(2015, 3, 2))
    assert [f.account_id for f in found] == [account.id]
    _, detail = await last_audit(db, "customer.update")
    assert detail == {
        "last_name": {"before": "Johnson", "after": "Okafor"},
        "language": {"before": "en", "after": "es-MX"},
        "patient_type": {"before": None, "after": "OP"},
    }


async def test_a_new_date_of_birth_is_audited_without_either_date(db: Database) -> None:
    account = await person(db, "Haddad", "Omar", date_of_birth=date(1980, 1, 2))
    assert await update_customer(db, ADMIN, account.id, date_of_birth=date(1980, 2, 1)) == (
        "date_of_birth",
    )
    raw, detail = await last_audit(db, "customer.update")
    assert detail == {"date_of_birth": "changed"}
    assert "1980" not in raw


async def test_giving_the_same_values_writes_nothing(db: Database) -> None:
    account = await person(db, "Silva", "Lucia", language="pt")
    before = await counts(db)
    assert await update_customer(db, ADMIN, account.id, last_name="Silva", language="pt") == ()
    assert await counts(db) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, "say what to change"),
        ({"last_name": "  "}, "last name needs 1 to 100 characters"),
        ({"first_name": "x" * 101}, "first name needs 1 to 100 characters"),
        ({"date_of_birth": date(2031, 1, 1)}, "not a plausible date of birth"),
        ({"language": "xx-QQ-zz"}, "not a language arbot knows"),
        ({"financial_class": "self pay!"}, "is not a financial class"),
        ({"location": "north,main"}, "is not a location"),
        ({"patient_type": "ER"}, "'ER' is not a patient type"),
    ],
)
async def test_bad_edits_are_refused_and_nothing_written(
    db: Database, change: dict[str, Any], message: str
) -> None:
    account = await person(db, "Rossi")
    before = await counts(db)
    with pytest.raises(ValidationError, match=message):
        await update_customer(db, ADMIN, account.id, **change)
    assert await counts(db) == before


async def test_edits_need_the_account_its_location_and_a_last_name(db: Database) -> None:
    north = await person(db, "Brown", location="north")
    with pytest.raises(NotFound):
        await update_customer(db, ADMIN, 999, last_name="Nobody")
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await update_customer(db, CLERK, north.id, first_name="Bo")
    biller = Actor("staff", "9", "Nia North", StaffRole.BILLER, locations=frozenset({"north"}))
    with pytest.raises(PermissionDenied, match="location 'main'"):
        await update_customer(db, biller, north.id, location="main")
    assert await update_customer(db, biller, north.id, financial_class="Medicaid") == (
        "financial_class",
    )
    bare = await open_account(db, "Acme Ltd")  # opened by the ledger: no names on file
    before = await counts(db)
    with pytest.raises(ValidationError, match="no last name on file"):
        await update_customer(db, ADMIN, bare.id, first_name="Acme")
    assert await counts(db) == before
