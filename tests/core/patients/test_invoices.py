"""The invoice lines behind a patient's items (AR-072): each account sees its own part
of each line of a visit, and only lines that account for the item's amount."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from core.billing.charges import ChargeLine
from core.billing.invoice import Split
from core.db import Database
from core.patients.invoices import with_invoice_lines
from core.patients.summary import PatientAccount, PatientLine, patient_account
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.billing.helpers import DAY, charge, service
from tests.core.helpers import ADMIN, open_account, usd


async def shown(db: Database, *account_ids: int) -> list[PatientAccount]:
    async with db.read() as conn:
        accounts = [await patient_account(conn, a, DAY + timedelta(days=5)) for a in account_ids]
        return await with_invoice_lines(conn, accounts)


def lines_of(account: PatientAccount) -> list[tuple[PatientLine, ...]]:
    return [i.lines for i in account.items]


async def test_a_split_visit_shows_each_payer_its_part_of_each_line(db: Database) -> None:
    await service(db, "CONS", "100.00", description="Consultation")
    await service(db, "XRAY", "60.00", "imaging", description="Chest X-ray")
    patient = await open_account(db)
    insurer = await open_account(db, "Acme Health", customer_type="insurer")
    await charge(
        db,
        patient.id,
        ChargeLine("CONS", service_date=DAY - timedelta(days=1)),
        ChargeLine("XRAY", 2, splits=(Split(insurer.id, percent_bp=7_500),)),
    )

    mine, theirs = await shown(db, patient.id, insurer.id)

    assert [i.amount for i in mine.items] == [usd("130.00")]  # 100 + 25% of 120
    assert lines_of(mine) == [
        (
            PatientLine(DAY - timedelta(days=1), "Consultation", 1, usd("100.00"), usd("100.00")),
            PatientLine(DAY, "Chest X-ray", 2, usd("30.00"), usd("120.00")),
        )
    ]
    assert lines_of(theirs) == [(PatientLine(DAY, "Chest X-ray", 2, usd("90.00"), usd("120.00")),)]


async def test_what_is_no_billed_visit_shows_no_lines(db: Database) -> None:
    """A charge posted as a plain amount and a payment have no invoice lines; a visit
    keeps its lines once paid, and a line the account owes nothing for is left out."""
    await service(db, "CONS", "100.00", description="Consultation")
    patient = await open_account(db)
    insurer = await open_account(db, "Acme Health", customer_type="insurer")
    await post_charge(
        db, ADMIN, account_id=patient.id, amount=usd("45.00"), service_date=DAY, key="plain"
    )
    await charge(
        db,
        patient.id,
        ChargeLine("CONS"),
        ChargeLine("CONS", splits=(Split(insurer.id, percent_bp=10_000),)),
        key="visit",
    )
    await record_payment(
        db,
        ADMIN,
        account_id=patient.id,
        amount=usd("145.00"),
        received_on=DAY,
        key="p",
        method="cash",
    )

    [account] = await shown(db, patient.id)

    by_amount = {i.amount: i for i in account.items}
    assert set(by_amount) == {usd("45.00"), usd("100.00")}
    assert by_amount[usd("45.00")].lines == ()
    paid_visit = by_amount[usd("100.00")]
    assert paid_visit.status == "paid"
    assert paid_visit.lines == (PatientLine(DAY, "Consultation", 1, usd("100.00"), usd("100.00")),)


async def test_a_visit_of_one_service_owed_whole_is_not_listed_twice(db: Database) -> None:
    """Its item already reads "Consultation x2: $200.00"; a line the insurer shares,
    or a visit posted before items were described in the catalogue's words, still
    shows its line."""
    await service(db, "CONS", "100.00", description="Consultation")
    patient = await open_account(db)
    insurer = await open_account(db, "Acme Health", customer_type="insurer")
    await charge(db, patient.id, ChargeLine("CONS", 2), key="whole")
    await charge(
        db,
        patient.id,
        ChargeLine("CONS", splits=(Split(insurer.id, percent_bp=5_000),)),
        key="half",
    )

    [account] = await shown(db, patient.id)

    whole, half = sorted(account.items, key=lambda i: -i.amount.minor)
    assert (whole.description, whole.amount, whole.lines) == ("Consultation x2", usd("200.00"), ())
    assert half.description == "Consultation"
    assert half.lines == (PatientLine(DAY, "Consultation", 1, usd("50.00"), usd("100.00")),)
    described_by_code = replace(whole, description="CONS x2", lines=())
    [again] = await _itemised_again(db, replace(account, items=(described_by_code,)))
    assert again.items[0].lines == (
        PatientLine(DAY, "Consultation", 2, usd("200.00"), usd("200.00")),
    )


async def _itemised_again(db: Database, account: PatientAccount) -> list[PatientAccount]:
    async with db.read() as conn:
        return await with_invoice_lines(conn, [account])
