"""A receipt by SMS (AR-023): paid through the local test checkout (no Stripe keys, as in
the demo), the receipt text lists the menu with its usual numbers and the PDF's link
last, and the link opens the receipt as a PDF; a number typed after the receipt means
the receipt's option."""

from __future__ import annotations

from io import BytesIO

from pypdf import PdfReader

from core.db import Database
from tests.bot.patient.conftest import PUBLIC_URL, SmsPatient, StartServed
from tests.bot.patient.test_conversation import PHONE, ana_with_bills
from tests.bot.patient.test_transcripts_sms import MENU


async def test_an_sms_receipt_keeps_the_menu_numbers_and_links_its_pdf(
    db: Database, served: StartServed
) -> None:
    await ana_with_bills(db)
    app = await served()
    ana = SmsPatient(app, PHONE)
    await ana.send("Hi")
    await ana.send("04/12/1980")
    await ana.send("2")  # Pay
    await ana.send(ana.number_of("Whole balance"))
    pay = ana.options[ana.number_of("Open the secure payment page")].split(": ", 1)[1]

    opened = await app.http.post(pay.removeprefix(PUBLIC_URL), allow_redirects=False)
    checkout = opened.headers["Location"].removeprefix(PUBLIC_URL)
    assert checkout.startswith("/pay/test/")
    paid = await app.http.post(checkout, allow_redirects=False)
    assert paid.status == 303

    receipt = app.twilio.sent_to(PHONE)[-1].body
    assert "Payment received: $200.50" in receipt
    ana.last = [app.twilio.sent_to(PHONE)[-1]]
    assert {n: ana.options[n] for n in MENU} == MENU
    pdf_number = ana.number_of("Receipt (PDF)")
    assert pdf_number == str(len(MENU) + 1)
    url = ana.options[pdf_number].split(": ", 1)[1]
    assert url.startswith(f"{PUBLIC_URL}/documents/")

    document = await app.http.get(url.removeprefix(PUBLIC_URL))
    assert document.status == 200 and document.content_type == "application/pdf"
    text = PdfReader(BytesIO(await document.read())).pages[0].extract_text()
    assert "Payment receipt" in text and "Amount received: $200.50" in text

    # The receipt's numbers are what a number typed next means (they were the pay
    # link's: 1 opened the pay page again).
    assert "Office visit: $120.00, paid" in await ana.send("1")
