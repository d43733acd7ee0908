"""Each payer's invoice behind a billed transaction (BI-05): what it asks of that payer,
the patient the visit was for, and what is refused."""

from __future__ import annotations

from datetime import date

import pytest

from core.billing.charges import ChargeLine, post_charges
from core.billing.invoice import Split
from core.billing.payer_invoice import payer_invoices
from core.db import Database
from core.errors import NotFound, ValidationError
from core.services.adjustments import reverse_entry
from core.services.payments import record_payment
from tests.core.billing.invoice_helpers import DAY, person, split_visit
from tests.core.helpers import ADMIN, usd

AS_OF = date(2026, 6, 30)


async def test_a_visit_the_insurer_pays_whole_names_the_patient_on_its_invoice(
    db: Database,
) -> None:
    """Ana owes nothing of it, so she gets no invoice; Acme's names her as the patient,
    though every line was split and she is on none of the A/R items."""
    visit = await split_visit(db)
    whole = await post_charges(db, ADMIN, account_id=visit.ana.id, key="whole", bill_date=DAY,
                               lines=[ChargeLine("XRAY", 1, DAY, splits=(
                                   Split(visit.acme.id, percent_bp=10_000),))])  # fmt: skip

    async with db.read() as conn:
        [acme] = await payer_invoices(conn, whole.entry.id, AS_OF)

    assert acme.bill_to.number == visit.acme.number
    assert acme.patient == (visit.ana.number, "Ana López")
    assert [(ln.description, ln.amount, ln.line_amount) for ln in acme.lines] == [
        ("Chest X-ray", usd("120.00"), usd("120.00"))
    ]
    assert (acme.total, acme.open, acme.split) == (usd("120.00"), usd("120.00"), False)


async def test_one_payers_invoice_and_what_is_paid_on_it(db: Database) -> None:
    visit = await split_visit(db)
    await record_payment(db, ADMIN, account_id=visit.acme.id, amount=usd("90.00"),
                         received_on=DAY, key="eft", method="eft")  # fmt: skip

    async with db.read() as conn:
        [acme] = await payer_invoices(conn, visit.entry_id, AS_OF, f" {visit.acme.number} ")
        [ana] = await payer_invoices(conn, visit.entry_id, AS_OF, visit.ana.number)

    assert (acme.total, acme.paid, acme.open) == (usd("96.00"), usd("90.00"), usd("6.00"))
    assert acme.bill_to.address is not None and acme.bill_to.address.line1 == "PO Box 900"
    assert (ana.total, ana.paid, ana.open) == (usd("184.00"), usd("50.00"), usd("134.00"))
    assert (ana.patient, ana.bill_to.mrn, ana.bill_to.is_person) == (None, "MRN-4471", True)
    assert [ln.amount for ln in ana.lines] == [usd("160.00"), usd("24.00")]


async def test_what_bills_nothing_or_nobody_asked_is_refused(db: Database) -> None:
    visit = await split_visit(db)
    eva = await person(db, "Ruiz", "Eva")
    payment = await record_payment(db, ADMIN, account_id=eva.id, amount=usd("10.00"),
                                   received_on=DAY, key="p", method="cash")  # fmt: skip

    async with db.read() as conn:
        with pytest.raises(ValidationError) as not_billed:
            await payer_invoices(conn, visit.entry_id, AS_OF, eva.number)
        with pytest.raises(ValidationError) as a_payment:
            await payer_invoices(conn, payment.entry.id, AS_OF)
        with pytest.raises(NotFound) as unknown:
            await payer_invoices(conn, 99_999, AS_OF)

    assert str(not_billed.value) == (
        f"{visit.number} billed nothing to {eva.number}; "
        f"it billed {visit.ana.number}, {visit.acme.number}"
    )
    assert str(a_payment.value).startswith(f"{payment.entry.number} is a payment, which bills")
    assert str(unknown.value) == "there is no entry T00099999"


async def test_a_reversed_charge_says_what_cancelled_it(db: Database) -> None:
    visit = await split_visit(db)
    reversal = await reverse_entry(
        db, ADMIN, entry_id=visit.entry_id, on=DAY, key="undo", reason="KEYING_ERROR"
    )

    async with db.read() as conn:
        invoices = await payer_invoices(conn, visit.entry_id, AS_OF)

    assert {i.reversed_by for i in invoices} == {reversal.number}
    assert {i.open for i in invoices} == {usd("0.00")}
