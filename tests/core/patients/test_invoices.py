"""The invoice lines behind a patient's items (AR-072): each account sees its own part
of each line of a visit, and only lines that account for the item's amount."""

from __future__ import annotations

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
