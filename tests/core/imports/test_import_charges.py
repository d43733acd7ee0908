"""Importing charges and payments: validation, reject report, control totals, reruns
(AR-002, AR-065, AR-098, AR-112, AR-172, AR-173)."""

from __future__ import annotations

from datetime import date

import pytest

from core.auth import Actor
from core.billing.catalogue import NewRule, NewService, define_rule, define_service
from core.billing.prepaid import held_prepayments, prepay
from core.db import Database
from core.imports import BatchRefused, Control, rows_of
from core.imports.charges import import_charges
from core.imports.payments import import_payments
from core.inventory import define_stock_item, on_hand, receive_stock
from core.money import Money
from tests.core.helpers import ADMIN, balance_of, open_account, usd

IMPORTER = Actor.system("import-test")
HEADER = ["external_id", "account_number", "service_code", "quantity", "service_date"]


async def catalogue(db: Database) -> None:
    await define_stock_item(db, ADMIN, code="SYR", description="Syringe")
    await receive_stock(db, ADMIN, item_code="SYR", location="main", quantity=3, reason="receipt")
    await define_service(db, ADMIN, NewService("CONS", "Consultation", "consultation", usd("100")))
    await define_service(
        db, ADMIN, NewService("INJ", "Injection", "material", usd("7.50"), stock_item="SYR")
    )


def charge(eid: str, number: str, code: str = "CONS", qty: str = "1", on: str = "2026-06-01"):
    return {
        "external_id": eid,
        "account_number": number,
        "service_code": code,
        "quantity": qty,
        "service_date": on,
    }


async def test_valid_rows_post_bad_rows_are_reported(db: Database) -> None:
    await catalogue(db)
    ana = await open_account(db, "Ana López", number="P1")
    header, rows = rows_of(
        [
            charge("c1", "P1"),
            charge("c2", "P1", "INJ", "2"),
            charge("c3", "NOPE"),
            charge("c4", "P1", "XRAY"),
            charge("c5", "P1", qty="two"),
            charge("c6", "P1", on="01/06/2026"),
            charge("c7", "P1", "INJ", "2"),
            charge("c1", "P1"),
        ]
    )
    report = await import_charges(db, IMPORTER, header, rows)
    assert report.written == 2
    reasons = {r.row: r.reason for r in report.rejects}
    assert reasons == {
        3: "there is no account NOPE",
        4: "there is no service 'XRAY' in the catalogue",
        5: "quantity 'two' is not a whole number of at least 1",
        6: "service_date '01/06/2026' is not a date in the form YYYY-MM-DD",
        7: "only 1 each of SYR left at main; 2 needed",
        8: "external_id c1 is already on row 1",
    }
    assert await balance_of(db, ana.id) == usd("115.00")
    async with db.read() as conn:
        assert await on_hand(conn, "SYR", "main") == 1
    again = await import_charges(db, IMPORTER, header, rows)
    assert (again.written, again.already) == (0, 2)
    assert await balance_of(db, ana.id) == usd("115.00")


async def test_control_totals_refuse_the_whole_batch(db: Database) -> None:
    await catalogue(db)
    ana = await open_account(db, "Ana López", number="P1")
    header, rows = rows_of([charge("c1", "P1"), charge("c2", "P1", "INJ", "2")])
    with pytest.raises(BatchRefused, match="the batch says 3 rows, arbot counted 2"):
        await import_charges(db, IMPORTER, header, rows, control=Control(3, "115.00"))
    with pytest.raises(BatchRefused, match=r"the batch says 100.00, arbot counted 115.00"):
        await import_charges(db, IMPORTER, header, rows, control=Control(2, "100.00"))
    assert await balance_of(db, ana.id) == usd("0")
    report = await import_charges(db, IMPORTER, header, rows, control=Control(2, "115.00"))
    assert report.written == 2


async def test_payments_apply_oldest_first(db: Database) -> None:
    await catalogue(db)
    ana = await open_account(db, "Ana López", number="P1")
    header, rows = rows_of([charge("c1", "P1", on="2026-05-01"), charge("c2", "P1")])
    await import_charges(db, IMPORTER, header, rows)
    pay = [
        {
            "external_id": "p1",
            "account_number": "P1",
            "amount": "150.00",
            "currency": "USD",
            "method": "cheque",
            "reference": "123",
            "received_date": "2026-06-10",
        }
    ]
    header, rows = rows_of(pay)
    with pytest.raises(BatchRefused, match="control totals"):
        await import_payments(db, IMPORTER, header, rows, control=None)
    report = await import_payments(db, IMPORTER, header, rows, control=Control(1, "150.00"))
    assert report.written == 1
    assert await balance_of(db, ana.id) == usd("50.00")
    again = await import_payments(db, IMPORTER, header, rows, control=Control(1, "150.00"))
    assert (again.written, again.already) == (0, 1)


async def test_imported_charges_use_up_prepayments(db: Database) -> None:
    """AR-087, BI-07: a prepayment held for a service pays the imported charge."""
    await catalogue(db)
    ana = await open_account(db, "Ana López", number="P1")
    await prepay(db, ADMIN, account_id=ana.id, amount=usd("150.00"), on=date(2026, 5, 1),
                 key="pp", method="card", service="CONS")  # fmt: skip
    header, rows = rows_of([charge("c1", "P1"), charge("c2", "P1")])
    report = await import_charges(db, IMPORTER, header, rows)
    assert report.written == 2
    assert await balance_of(db, ana.id) == usd("50.00")
    async with db.read() as conn:
        assert await held_prepayments(conn, [ana.id]) == {}


async def test_a_rejected_row_takes_no_stock(db: Database) -> None:
    """Review bug: a row rejected after its stock was counted used up the last syringe,
    and the next, valid row was refused for want of it."""
    await catalogue(db)
    await define_service(db, ADMIN, NewService("INJ-EU", "Injection", "material",
                                               Money(900, "EUR"), stock_item="SYR"))  # fmt: skip
    await open_account(db, "Ana López", number="P1")
    header, rows = rows_of([charge("c1", "P1", "INJ-EU", "3"), charge("c2", "P1", "INJ", "3")])
    report = await import_charges(db, IMPORTER, header, rows)
    assert [r.row for r in report.rejects] == [1] and report.written == 1


async def test_the_control_amount_is_the_files_whatever_is_rejected(db: Database) -> None:
    """Review bug: rows rejected early were left out of the counted amount and rows
    rejected late were not, so a sender's correct total could be refused."""
    await catalogue(db)
    await open_account(db, "Ana López", number="P1")
    header, rows = rows_of([charge("c1", "P1"), charge("c2", "NOPE")])
    report = await import_charges(db, IMPORTER, header, rows, control=Control(2, "200.00"))
    assert (report.written, [r.row for r in report.rejects]) == (1, [2])


async def test_a_prepaid_bundle_rate_lasts_as_long_as_the_prepayment(db: Database) -> None:
    """Review bug: the import gave the bundle rate to every row of an account holding a
    prepayment, not only to the sessions the prepayment pays for (BI-27, AR-087)."""
    await define_service(db, ADMIN, NewService("PHYSIO", "Physiotherapy", "procedure",
                                               usd("80.00")))  # fmt: skip
    await define_rule(db, ADMIN, NewRule("Bundle", "fixed", date(2026, 1, 1),
                                         amount=usd("60.00"), service_code="PHYSIO",
                                         requires_prepayment=True))  # fmt: skip
    ana = await open_account(db, "Ana López", number="P1")
    await prepay(db, ADMIN, account_id=ana.id, amount=usd("60.00"), on=date(2026, 5, 1),
                 key="pp", method="card", service="PHYSIO")  # fmt: skip
    header, rows = rows_of([charge(f"s{n}", "P1", "PHYSIO") for n in range(4)])
    await import_charges(db, IMPORTER, header, rows)
    assert await balance_of(db, ana.id) == usd("240.00")
