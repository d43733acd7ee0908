"""The patient's documents as PDF files (AR-023 a receipt for each payment, AR-147 a
copy of the signed plan agreement): the link arrives in the chat, opening it gives the
PDF, written in the chat's language, and the file says what a receipt or an agreement
must. Served as ``arbot serve`` serves it: ``bot.web.make_app`` on a real port,
aiogram against the fake Bot API, the stripe SDK against the fake Stripe."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from bot.patient.documents import pdf_of
from bot.patient.texts import money_text
from core.db import Database
from core.errors import ValidationError
from core.links import issue_link_code
from core.patients.documents import DocumentKind, issue_document_link
from core.plans import PlanPolicy, enrol_plan, signed_agreement
from tests.bot.patient.test_conversation import ana_with_bills
from tests.bot.patient.test_end_to_end import Served, served
from tests.core.helpers import ADMIN, open_account, usd
from tests.fakes.stripe import FakeStripe, fake_stripe
from tests.fakes.telegram import fake_telegram

__all__ = ["fake_stripe", "fake_telegram", "served"]  # fixtures


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


async def verified(db: Database, served: Served, language: str = "en") -> int:
    account_id = await ana_with_bills(db, language)
    code = (await issue_link_code(db, ADMIN, account_id=account_id)).code
    await served.say(f"/start {code}")
    await served.say("1980-04-12")
    return account_id


async def pay_in_full(served: Served, fake_stripe: FakeStripe, account_id: int) -> str:
    """Pay the balance through the pay link; the receipt message's text."""
    await served.press("pay")
    await served.press(f"pay_balance:{account_id}")
    [link] = [b["url"] for b in served.last_buttons() if "url" in b]
    async with served.http.post(link, allow_redirects=False) as opened:
        assert opened.status == 303
    [session_id] = list(fake_stripe.sessions)
    await fake_stripe.deliver(fake_stripe.complete(session_id) * 2)
    [receipt] = [
        c
        for c in served.telegram.sent_to(4242)
        if any("/documents/" in b.get("url", "") for row in c.inline_keyboard for b in row)
    ]
    return str(receipt.params["text"])


def link_button(served: Served, text: str) -> str:
    buttons = [b for row in served.telegram.sent_to(4242)[-1].inline_keyboard for b in row]
    [url] = [b["url"] for b in buttons if b["text"] == text]
    return str(url)


async def fetch(served: Served, url: str) -> tuple[int, str, bytes]:
    async with served.http.get(url) as got:
        return got.status, got.headers["Content-Type"], await got.read()


async def test_a_payment_receipt_comes_with_its_pdf(
    db: Database, served: Served, fake_stripe: FakeStripe
) -> None:
    """AR-023: the receipt's chat message carries a link to the same receipt as a PDF."""
    account_id = await verified(db, served)
    message = await pay_in_full(served, fake_stripe, account_id)
    url = link_button(served, "Receipt (PDF)")
    assert url.startswith(f"{served.base}/documents/")

    status, kind, body = await fetch(served, url)
    assert (status, kind) == (200, "application/pdf")
    pdf = text_of(body)
    number = message.split("Receipt number: ")[1].split()[0]
    assert "Payment receipt" in pdf
    assert f"Receipt number: {number}" in pdf
    assert "Amount received: $200.50" in pdf
    assert "Office visit: $120.00" in pdf and "Lab work: $80.50" in pdf
    assert "Balance after this payment: $0.00" in pdf
    assert "4242" not in pdf  # nothing of the card or the chat
    assert text_of((await fetch(served, url))[2]) == pdf  # the link opens it again


async def test_a_spanish_patient_gets_a_spanish_receipt(
    db: Database, served: Served, fake_stripe: FakeStripe
) -> None:
    account_id = await verified(db, served, language="es")
    await pay_in_full(served, fake_stripe, account_id)
    _, _, body = await fetch(served, link_button(served, "Recibo (PDF)"))
    pdf = text_of(body)
    assert "Recibo de pago" in pdf and "Saldo después de este pago" in pdf
    assert f"Importe recibido: {money_text('es', usd('200.50'))}" in pdf  # es_US


async def test_the_plan_agreement_copy_is_the_text_accepted(db: Database, served: Served) -> None:
    """AR-147: the copy shows the exact agreement the patient accepted, when and where."""
    account_id = await verified(db, served)
    await served.say("plan")
    shown = await served.press(f"plan_offer:{account_id}:3")
    await served.press(f"agree:{account_id}:3")
    url = link_button(served, "Agreement (PDF)")

    status, kind, body = await fetch(served, url)
    assert (status, kind) == (200, "application/pdf")
    pdf = text_of(body)
    assert "Payment agreement: your copy" in pdf
    assert "Accepted in the chat (telegram)" in pdf
    for line in ("PAYMENT AGREEMENT", "$66.84", "$66.83", "without interest"):
        assert line in shown and line in pdf
    async with db.read() as conn:
        [plan_id] = [
            row[0] for row in (await conn.exec_driver_sql("SELECT id FROM payment_plan")).all()
        ]
        agreement = await signed_agreement(conn, plan_id)
    assert agreement is not None and agreement.text is not None
    assert agreement.text in shown  # stored exactly as shown
    assert agreement.digest in pdf.replace("\n", "")


@pytest.mark.parametrize("token", ["x" * 43, "short", "../../etc/passwd"])
async def test_an_unknown_document_link_shows_nothing(served: Served, token: str) -> None:
    status, kind, body = await fetch(served, f"{served.base}/documents/{token}")
    assert status == 404 and b"%PDF" not in body
    if "/" not in token:
        assert kind.startswith("text/html") and b"Document not available" in body


async def test_a_link_opens_only_its_own_account_s_document(
    db: Database, served: Served, fake_stripe: FakeStripe
) -> None:
    """A link naming another account's payment (a bug or a forged row) opens nothing."""
    account_id = await verified(db, served)
    await pay_in_full(served, fake_stripe, account_id)
    [payment_ref] = [p["id"] for p in fake_stripe.payment_intents.values()]
    other = await open_account(db, "Luis Pérez")
    token = await issue_document_link(
        db, kind=DocumentKind.RECEIPT, account_id=other.id, ref=payment_ref, language="en"
    )
    status, _, body = await fetch(served, f"{served.base}/documents/{token}")
    assert status == 404 and b"%PDF" not in body


def test_any_name_prints() -> None:
    """DejaVu Sans is embedded: names beyond Latin-1 print as written."""
    text = text_of(pdf_of("Payment receipt\nAccount: A1 (Łukasz Wójcik, Ōtani 翔平)"))
    assert "Łukasz Wójcik" in text and "Ōtani" in text


async def test_an_agreement_text_must_match_its_digest(db: Database) -> None:
    ana = await open_account(db)
    with pytest.raises(ValidationError, match="not the SHA-256 of its text"):
        await enrol_plan(
            db,
            ADMIN,
            account_id=ana.id,
            count=3,
            policy=PlanPolicy(),
            agreement_version="v1",
            agreement_digest="0" * 64,
            channel="sms",
            key="plan-1",
            first_due=date(2026, 7, 30),
            agreement_text="I agree.",
        )
