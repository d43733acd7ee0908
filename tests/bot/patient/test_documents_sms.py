"""A receipt by SMS (AR-023): paid through the local test checkout (no Stripe keys, as in
the demo), the receipt text lists the menu with its usual numbers and the PDF's link
last, and the link opens the receipt as a PDF; a number typed after the receipt means
the receipt's option."""

from __future__ import annotations

from io import BytesIO

from pypdf import PdfReader
from sqlalchemy import select

from core.db import Database
from core.patients.chatstate import chat_state
from tests.bot.patient.conftest import PUBLIC_URL, Patients, SmsPatient, StartServed
from tests.bot.patient.test_conversation import PHONE, ana_with_bills
from tests.bot.patient.test_transcripts_sms import MENU


async def _at_the_test_checkout(
    db: Database, served: StartServed
) -> tuple[Patients, SmsPatient, str]:
    """Ana verified by SMS, her whole balance chosen, the pay link opened: the app, her
    chat, and the local test checkout's path (paying it sends the receipt)."""
    await ana_with_bills(db)
    app = await served()
    ana = SmsPatient(app, PHONE)
    await ana.send("Hi")
    await ana.send("04/12/1980")
    await ana.send("2")  # Pay
    await ana.send(ana.number_of("Whole balance"))
    assert ana.options["1"].startswith("Open the secure payment page")
    pay = ana.options[ana.number_of("Open the secure payment page")].split(": ", 1)[1]
    opened = await app.http.post(pay.removeprefix(PUBLIC_URL), allow_redirects=False)
    checkout = opened.headers["Location"].removeprefix(PUBLIC_URL)
    assert checkout.startswith("/pay/test/")
    return app, ana, checkout


async def test_an_sms_receipt_keeps_the_menu_numbers_and_links_its_pdf(
    db: Database, served: StartServed
) -> None:
    app, ana, checkout = await _at_the_test_checkout(db, served)

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
    # link's: 1 was its link).
    assert "Office visit: $120.00, paid" in await ana.send("1")


async def test_typing_the_receipts_pdf_number_says_to_open_the_link(
    db: Database, served: StartServed
) -> None:
    app, ana, checkout = await _at_the_test_checkout(db, served)
    await app.http.post(checkout, allow_redirects=False)
    ana.last = [app.twilio.sent_to(PHONE)[-1]]
    pdf_number = ana.number_of("Receipt (PDF)")
    url = ana.options[pdf_number].split(": ", 1)[1]

    typed = await ana.send(pdf_number)

    assert "That option is a link: open it in the message above." in typed
    async with db.read() as conn:  # the document's token is not kept in the chat
        stored = (await conn.execute(select(chat_state.c.data))).scalars().all()
    assert stored and not any(url.rsplit("/", 1)[1] in data for data in stored)


async def test_a_receipt_that_did_not_arrive_leaves_the_numbers_as_they_were(
    db: Database, served: StartServed
) -> None:
    """The patient never saw the receipt's options (Twilio refused the send): a number
    typed next still means what the last message they did get offered."""
    app, ana, checkout = await _at_the_test_checkout(db, served)
    app.twilio.fail_number(PHONE, 21211, times=1)

    paid = await app.http.post(checkout, allow_redirects=False)

    assert paid.status == 303
    assert not any("Payment received" in m.body for m in app.twilio.sent_to(PHONE))
    # 1 was the pay page's link there: not the receipt's 1, Balance.
    typed = await ana.send("1")
    assert "Office visit: $120.00, paid" not in typed
    assert "That option is a link: open it in the message above." in typed
