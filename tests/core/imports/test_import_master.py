"""Importing patients and the service catalogue (AR-040, AR-031, AR-038, BI-01, BI-25):
every bad row explained and left out, guarantors in any order, reruns change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.auth import Actor
from core.billing.pricing import load_price_book
from core.customers import may_contact
from core.db import Database
from core.errors import ValidationError
from core.imports import BatchRefused, Control, rows_of
from core.imports.patients import import_patients
from core.imports.services import import_services
from core.inventory import on_hand
from core.ledger.accounts import load_account
from core.ledger.tables import contact_consent, customer_account, customer_contact

IMPORTER = Actor.system("import-test")


def patient(mrn: str, last: str = "Johnson", **extra: str) -> dict[str, str]:
    return {"mrn": mrn, "last_name": last, "first_name": "Ana", "date_of_birth": "1980-04-12",
            **extra}  # fmt: skip


async def count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_patients_with_guarantors_in_any_order(db: Database) -> None:
    header, rows = rows_of([
        patient("M1", account_number="P1", guarantor_account="G1", phone="+1 555 010 0001"),
        patient("M2", "Garcia", account_number="G1", patient_type="outpatient", language="es"),
        patient("M3", account_number="P3", guarantor_account="NOBODY"),
        patient("M4", date_of_birth="12.04.1980"),
        patient("M5", phone="555"),
        patient("M6", patient_type="daycase"),
        patient("M1", account_number="P9"),
        patient("M7", ""),
    ])  # fmt: skip
    report = await import_patients(db, IMPORTER, header, rows)
    assert report.written == 2
    assert {r.row: r.reason for r in report.rejects} == {
        3: "guarantor account NOBODY is not on file",
        4: "date_of_birth '12.04.1980' is not a date in the form YYYY-MM-DD",
        5: "'555' is not a phone number in international form (+15551234567)",
        6: "patient_type 'daycase' is neither inpatient nor outpatient",
        7: "mrn M1 is already on row 1",
        8: "last_name is empty",
    }
    async with db.read() as conn:
        p1 = await load_account(conn, number="P1")
        g1 = await load_account(conn, number="G1")
    assert p1.guarantor_id == g1.id and g1.patient_type == "OP"
    accounts, contacts = await count(db, customer_account), await count(db, customer_contact)
    again = await import_patients(db, IMPORTER, header, rows[:2])
    assert (again.written, again.already, again.rejects) == (0, 2, [])
    assert (await count(db, customer_account), await count(db, customer_contact)) == (
        accounts,
        contacts,
    )


async def test_sms_consent_at_registration_is_recorded(db: Database) -> None:
    """A patient who agreed to billing texts at registration can be reminded by SMS
    (dunning needs the opt-in); a refusal is kept too; nonsense refuses the row."""
    header, rows = rows_of([
        patient("M1", phone="+1 555 010 0001", sms_consent="yes"),
        patient("M2", phone="+1 555 010 0002", sms_consent="No"),
        patient("M3", phone="+1 555 010 0003", sms_consent=""),
        patient("M4", phone="+1 555 010 0004", sms_consent="maybe"),
        patient("M5", sms_consent="yes"),
    ])  # fmt: skip
    report = await import_patients(db, IMPORTER, header, rows)
    assert report.written == 3
    assert {r.row: r.reason for r in report.rejects} == {
        4: "sms_consent 'maybe' is neither yes nor no",
        5: "sms_consent is yes but the row has no phone",
    }
    async with db.read() as conn:
        allowed = [await may_contact(conn, "sms", f"+1555010000{n}") for n in (1, 2, 3)]
    assert allowed == [True, False, False]
    assert await count(db, contact_consent) == 2
    again = await import_patients(db, IMPORTER, header, rows[:1])
    assert again.already == 1 and await count(db, contact_consent) == 2


async def test_an_mrn_on_file_under_another_number_is_rejected(db: Database) -> None:
    header, rows = rows_of([patient("M1", account_number="P1")])
    await import_patients(db, IMPORTER, header, rows)
    header, rows = rows_of([patient("M1", account_number="P2")])
    report = await import_patients(db, IMPORTER, header, rows)
    assert [r.reason for r in report.rejects] == ["mrn M1 is on file under account P1"]


async def test_unknown_or_missing_columns_refuse_the_file(db: Database) -> None:
    with pytest.raises(ValidationError, match="lacks the column"):
        await import_patients(db, IMPORTER, ["mrn", "last_name"], [])
    with pytest.raises(ValidationError, match="does not know: shoe_size"):
        header, rows = rows_of([patient("M1", shoe_size="9")])
        await import_patients(db, IMPORTER, header, rows)
    assert await count(db, customer_account) == 0


def service(code: str, **extra: str) -> dict[str, str]:
    return {"code": code, "description": f"{code} service", "category": "lab",
            "price": "35.00", "currency": "USD", **extra}  # fmt: skip


async def test_services_with_stock_and_reruns(db: Database) -> None:
    header, rows = rows_of([
        service("LAB-CBC"),
        service("MED-AMOX", category="medication", price="18.50", inventory_item="AMOX",
                stock="40"),
        service("BAD", category="astrology"),
        service("CHEAP", price="-1.00"),
        service("ODD", price="1.234"),
        service("NOSTOCK", stock="5"),
    ])  # fmt: skip
    report = await import_services(db, IMPORTER, header, rows)
    assert report.written == 2
    reasons = {r.row: r.reason for r in report.rejects}
    assert set(reasons) == {3, 4, 5, 6}
    assert reasons[6] == "stock is given but inventory_item is empty"
    async with db.read() as conn:
        book = await load_price_book(conn, ["LAB-CBC", "MED-AMOX"])
        assert book.services["MED-AMOX"].price_minor == 1850
        assert await on_hand(conn, "AMOX", "central") == 40
    again = await import_services(db, IMPORTER, header, rows[:2])
    assert (again.written, again.already) == (0, 2)
    header, rows = rows_of([service("LAB-CBC", price="40.00")])
    changed = await import_services(db, IMPORTER, header, rows)
    assert changed.written == 1
    async with db.read() as conn:
        assert (await load_price_book(conn, ["LAB-CBC"])).services["LAB-CBC"].price_minor == 4000
        assert await on_hand(conn, "AMOX", "central") == 40


async def test_a_row_count_that_disagrees_refuses_the_batch(db: Database) -> None:
    """Review bug: control totals were silently ignored for patients and services
    (AR-172): a count that disagrees refuses the batch; an amount has nothing to
    control there and is refused as a mistake."""
    header, rows = rows_of([patient("M1"), patient("M2")])
    with pytest.raises(BatchRefused, match="the batch says 3 rows, arbot counted 2"):
        await import_patients(db, IMPORTER, header, rows, control=Control(3, None))
    with pytest.raises(BatchRefused, match="patients carry no amount"):
        await import_patients(db, IMPORTER, header, rows, control=Control(2, "10.00"))
    assert await count(db, customer_account) == 0
    header, rows = rows_of([service("LAB-CBC")])
    with pytest.raises(BatchRefused, match="the batch says 2 rows"):
        await import_services(db, IMPORTER, header, rows, control=Control(2, None))
    report = await import_patients(db, IMPORTER, *rows_of([patient("M1")]), control=Control(1))
    assert report.written == 1
