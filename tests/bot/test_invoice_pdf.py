"""A billed transaction's invoices as branded PDFs (BI-05), one for each payer it billed,
with the extra fields each payer's financial class asks for (BI-14).

Each test reads the PDF as its reader would: the text pypdf extracts, the images on
the page, the colours its content stream fills with."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PIL import Image

from bot.invoice_pdf import invoice_pdf
from core.billing.invoice_config import InvoiceSetup
from core.billing.payer_invoice import PayerInvoice, payer_invoices
from core.db import Database
from core.services.charges import post_charge
from core.settings import Settings, invoice_setup
from tests.bot.invoice_helpers import (
    filled_rectangles,
    images_of,
    lines_of,
    page_size,
    stroke_colours,
    text_of,
)
from tests.core.billing.invoice_helpers import DAY, Visit, person, split_visit
from tests.core.helpers import ADMIN, usd

STRIPE = (242, 244, 247)
"""Every other row of the table; the rest are white."""
WHITE = (255, 255, 255)
AS_OF = date(2026, 6, 30)
PRACTICE = {
    "ARBOT_PRACTICE_NAME": "Clínica del Sol",
    "ARBOT_PRACTICE_ADDRESS": "12 Sun Road|Suite 4|Austin, TX 78701",
    "ARBOT_PRACTICE_PHONE": "+1 512 555 0100",
    "ARBOT_PRACTICE_TAX_ID": "74-1234567",
}


def setup_of(**env: str) -> InvoiceSetup:
    return invoice_setup(Settings.from_env({**PRACTICE, **env}))


async def invoices_of(db: Database, visit: Visit) -> dict[str, PayerInvoice]:
    async with db.read() as conn:
        invoices = await payer_invoices(conn, visit.entry_id, AS_OF)
    return {i.bill_to.number: i for i in invoices}


async def test_each_payer_of_a_split_visit_gets_its_own_branded_invoice(
    db: Database, tmp_path: Path
) -> None:
    """BI-05: the practice at the top, the invoice's number and dates, whom it is billed
    to, the lines it asks for (the insurer only its 80% of the X-ray), what was paid and
    what is open; the patient is told how to pay, the insurer is not."""
    visit = await split_visit(db)
    logo = tmp_path / "logo.png"
    Image.new("RGB", (120, 48), (10, 127, 92)).save(logo, "PNG")
    setup = setup_of(ARBOT_INVOICE_LOGO=str(logo), ARBOT_INVOICE_COLOUR="#336699",
                     ARBOT_INVOICE_FIELDS="terms,patient_id")  # fmt: skip
    invoices = await invoices_of(db, visit)
    assert list(invoices) == [visit.ana.number, visit.acme.number]

    ana = invoice_pdf(invoices[visit.ana.number], setup)
    acme = invoice_pdf(invoices[visit.acme.number], setup)

    practice = ["Clínica del Sol", "12 Sun Road", "Suite 4", "Austin, TX 78701",
                "Phone: +1 512 555 0100", "Tax ID: 74-1234567"]  # fmt: skip
    for pdf in (ana, acme):
        assert lines_of(pdf)[:6] == practice
        assert f"Invoice number {visit.number}" in lines_of(pdf)
        assert "Bill date Jun 1, 2026" in lines_of(pdf)
        assert images_of(pdf) == [(120, 48)]  # the logo, as it was
        filled = filled_rectangles(pdf)
        assert filled[0] == ((0x33, 0x66, 0x99), 612)  # the band across the top
        assert filled.count(((0x33, 0x66, 0x99), 612)) == 1
        heading = [w for colour, w in filled[1:] if colour == (0x33, 0x66, 0x99)]
        assert len(heading) == 6  # the table's heading, a cell per column
        assert (0x33, 0x66, 0x99) in stroke_colours(pdf)  # the rules
        assert f"Invoice {visit.number}, page 1 of 1" in lines_of(pdf)
    assert lines_of(ana)[lines_of(ana).index("BILL TO") :][:6] == [
        "BILL TO",
        "Ana López",
        f"Account {visit.ana.number}",
        "4 Elm Street",
        "Apt 2",
        "Austin, TX 78702",
    ]
    assert "Due date Jul 1, 2026" in lines_of(ana)
    assert "Date Description Qty Unit price Amount Your part" in lines_of(ana)
    assert "Jun 1, 2026 Consultation 2 $80.00 $160.00 $160.00" in lines_of(ana)
    assert "Jun 1, 2026 Chest X-ray 1 $120.00 $120.00 $24.00" in lines_of(ana)
    assert [
        line for line in lines_of(ana) if line.startswith(("Total", "Paid", "Amount open"))
    ] == ["Total $184.00", "Paid or credited $50.00", "Amount open $134.00"]
    assert "Payment terms: Net 30 days" in lines_of(ana)
    assert "Medical record number: MRN-4471" in lines_of(ana)  # patient_id, hers: the MRN
    assert (
        "How to pay: by card on the secure payment page whose link we send you in the chat, "
        f"or by calling us at +1 512 555 0100. Please quote invoice {visit.number}."
    ) in " ".join(lines_of(ana))

    assert "Due date Jul 31, 2026" in lines_of(acme)  # net 60
    assert ["Acme Health", f"Account {visit.acme.number}", "PO Box 900"] == lines_of(acme)[
        lines_of(acme).index("BILL TO") + 1 :
    ][:3]
    assert "Jun 1, 2026 Chest X-ray 1 $120.00 $120.00 $96.00" in lines_of(acme)
    assert "Consultation" not in text_of(acme)
    assert "Total $96.00" in lines_of(acme)
    assert "Paid or credited $0.00" in lines_of(acme)
    assert "Amount open $96.00" in lines_of(acme)
    assert "Payment terms: Net 60 days" in lines_of(acme)
    assert f"Patient: {visit.ana.number} Ana López" in lines_of(acme)  # patient_id, a payer's
    assert "How to pay" not in text_of(acme)
    assert "MRN-4471" not in text_of(acme)


async def test_extra_fields_are_those_of_the_payers_class(db: Database) -> None:
    """BI-14: Medicare's invoice carries the patient, the service codes and the
    doctors; the self-pay patient's only the payment terms; a class not named gets
    what everyone gets."""
    visit = await split_visit(db)
    setup = setup_of(
        ARBOT_INVOICE_FIELDS="location;medicare=terms,patient_id,service_codes,doctor;self_pay=terms"
    )
    invoices = await invoices_of(db, visit)

    acme = lines_of(invoice_pdf(invoices[visit.acme.number], setup))
    ana = lines_of(invoice_pdf(invoices[visit.ana.number], setup))

    assert "Date Code Description Doctor Qty Unit price Amount Your part" in acme
    assert "Jun 1, 2026 XRAY Chest X-ray Dr Soto 1 $120.00 $120.00 $96.00" in acme
    assert "Payment terms: Net 60 days" in acme
    assert f"Patient: {visit.ana.number} Ana López" in acme
    assert "Date Description Qty Unit price Amount Your part" in ana
    assert "Jun 1, 2026 Consultation 2 $80.00 $160.00 $160.00" in ana
    assert "Payment terms: Net 30 days" in ana
    for absent in ("XRAY", "CONS", "Dr Ruiz", "Dr Soto", "Medical record number", "Location"):
        assert absent not in "\n".join(ana)

    other = await person(db, "Ruiz", "Eva", financial_class="commercial")
    entry = await post_charge(db, ADMIN, account_id=other.id, amount=usd("45.00"),
                              service_date=DAY, key="plain", description="Vaccine")  # fmt: skip
    async with db.read() as conn:
        [plain] = await payer_invoices(conn, entry.id, AS_OF)
    commercial = lines_of(invoice_pdf(plain, setup))
    assert "Date Description Location Qty Unit price Amount" in commercial
    assert "Jun 1, 2026 Vaccine 1 $45.00 $45.00" in commercial  # a charge posted as an amount
    assert "Payment terms" not in "\n".join(commercial)


async def test_without_a_logo_or_colour_the_invoice_is_plain_dark_blue(db: Database) -> None:
    visit = await split_visit(db)
    invoices = await invoices_of(db, visit)

    pdf = invoice_pdf(invoices[visit.ana.number], invoice_setup(Settings()))

    assert images_of(pdf) == []
    assert filled_rectangles(pdf)[0] == ((0x1F, 0x3A, 0x5F), 612)
    assert {colour for colour, _ in filled_rectangles(pdf)} <= {(0x1F, 0x3A, 0x5F), STRIPE, WHITE}
    assert stroke_colours(pdf) == {(0x1F, 0x3A, 0x5F)}
    assert lines_of(pdf)[0] == "Invoice"  # no practice set: nothing above the title
    for extra in ("Payment terms", "Medical record number", "Code", "Doctor"):
        assert extra not in text_of(pdf)
    assert page_size(pdf) == (612, 792)  # letter, upright


async def test_in_spanish_with_every_column_on_a_landscape_page(db: Database) -> None:
    """Labels from the catalogue, money and dates as babel writes them for es_US; five
    extra columns do not fit an upright page."""
    visit = await split_visit(db)
    setup = setup_of(ARBOT_INVOICE_FIELDS="terms,patient_id,service_codes,doctor,location")
    invoices = await invoices_of(db, visit)

    lines = lines_of(invoice_pdf(invoices[visit.ana.number], setup, "es"))

    assert "Factura" in lines
    assert f"Número de factura {visit.number}" in lines
    assert "Fecha de factura 1 jun 2026" in lines
    assert "Fecha de vencimiento 1 jul 2026" in lines
    assert "FACTURAR A" in lines
    assert "Estados Unidos" in lines
    assert "Teléfono: +1 512 555 0100" in lines
    assert "Número de historia clínica: MRN-4471" in lines
    assert "1 jun 2026 CONS Consultation Dr Ruiz main 2 $80.00 $160.00 $160.00" in lines
    assert "Importe pendiente $134.00" in lines
    assert "Pagado o abonado $50.00" in lines
    assert f"Factura {visit.number}, página 1 de 1" in lines
    assert "Invoice" not in "\n".join(lines)
    assert page_size(invoice_pdf(invoices[visit.ana.number], setup, "es")) == (792, 612)
