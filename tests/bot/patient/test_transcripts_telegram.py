"""The conversation's transcripts through the real Telegram channel (issue 5, Tests:
"transcript tests ... once through each real channel").

``bot.web.make_app`` serves as ``arbot serve`` does; each update is POSTed to
``/telegram/webhook`` with the secret token, aiogram's real ``Bot`` answers through the
fake Bot API, and the test reads what a patient would see there: the message texts,
the inline keyboards, the link button that carries the pay link. A button is pressed
by its label, as a ``callback_query`` with the button's own data.
"""

from __future__ import annotations

from sqlalchemy import select

from core.db import Database
from core.ledger.tables import chat_link
from core.links import issue_link_code
from core.patients.paylinks import open_pay_link
from tests.bot.patient.conftest import PUBLIC_URL, StartServed, TelegramPatient
from tests.bot.patient.test_conversation import ana_with_bills
from tests.core.helpers import ADMIN, usd

CHAT = 61_000_001
MENU = ["Balance", "Pay", "Payment plan", "Statement", "Talk to a person"]


async def test_link_code_birth_date_balance_and_a_pay_link_button(
    db: Database, served: StartServed
) -> None:
    account_id = await ana_with_bills(db)
    code = (await issue_link_code(db, ADMIN, account_id=account_id)).code
    ana = TelegramPatient(await served(), CHAT)

    asked = await ana.send(f"/start {code}")
    assert "date of birth" in asked
    assert "$" not in asked and "Ana" not in asked and "A0" not in asked  # nothing disclosed

    verified = await ana.send("April 12, 1980")
    assert "Thank you, Ana. You are verified." in verified
    assert "balance $200.50" in verified
    assert ana.labels == MENU
    assert all(b["callback_data"].startswith("c|") for b in ana.buttons)

    balance = await ana.press("Balance")
    assert "Office visit: $120.00, pending; $120.00 open, due" in balance
    assert "Lab work: $80.50, pending" in balance
    assert "Overdue: $120.00" in balance
    # The pressed message loses its answer buttons, so it cannot be answered twice.
    edit = ana.app.telegram.called("editMessageReplyMarkup")[-1]
    assert "reply_markup" not in edit.params

    options = await ana.press("Pay")
    assert "balance $200.50. How much would you like to pay?" in options
    assert ana.labels == [
        "Whole balance ($200.50)",
        "Overdue part ($120.00)",
        "Another amount",
        "Menu",
    ]

    link = await ana.press("Whole balance ($200.50)")
    assert "secure payment link" in link
    [pay] = [b for b in ana.buttons if "url" in b]
    assert pay["text"] == "Open the secure payment page"
    assert pay["url"].startswith(f"{PUBLIC_URL}/pay/")
    assert pay["url"] not in link  # a button, not a bare address in the text
    order = await open_pay_link(db, pay["url"].rsplit("/", 1)[1])
    assert order.account_id == account_id and order.amount == usd("200.50")
    # No preview: Telegram fetching the link would open a payment on its own.
    assert ana.last[-1].params["link_preview_options"] == {"is_disabled": True}

    async with db.read() as conn:
        [link_row] = (await conn.execute(select(chat_link))).all()
    assert (link_row.channel, link_row.address) == ("telegram", str(CHAT))
    assert link_row.verified_at is not None


async def test_a_wrong_code_or_birth_date_discloses_nothing(
    db: Database, served: StartServed
) -> None:
    account_id = await ana_with_bills(db)
    code = (await issue_link_code(db, ADMIN, account_id=account_id)).code
    stranger = TelegramPatient(await served(), CHAT + 1)

    unknown = await stranger.send("/start NOTACODE")
    assert "$" not in unknown and "Ana" not in unknown
    assert "date of birth" in await stranger.send(f"/start {code}")
    wrong = await stranger.send("1990-01-01")
    assert "4 tries left" in wrong and "$" not in wrong
    assert "$" not in await stranger.send("balance")
    assert all("$" not in c.params["text"] for c in stranger.app.telegram.called("sendMessage"))


async def test_a_spanish_patient_reads_spanish_buttons_and_links(
    db: Database, served: StartServed
) -> None:
    account_id = await ana_with_bills(db, language="es")
    code = (await issue_link_code(db, ADMIN, account_id=account_id)).code
    ana = TelegramPatient(await served(), CHAT + 2)

    assert "fecha de nacimiento" in await ana.send(f"/start {code}")
    verified = await ana.send("12/04/1980")  # day first in Spanish
    assert "Gracias, Ana. Su identidad está verificada." in verified
    assert ana.labels == [
        "Saldo",
        "Pagar",
        "Plan de pagos",
        "Estado de cuenta",
        "Hablar con una persona",
    ]
    saldo = await ana.press("Saldo")
    assert "pendiente" in saldo and "Vencido: $120.00" in saldo
    await ana.press("Pagar")
    assert "Saldo total ($200.50)" in ana.labels
    link = await ana.press("Saldo total ($200.50)")
    assert "enlace de pago seguro" in link
    [pay] = [b for b in ana.buttons if "url" in b]
    assert pay["text"] == "Abrir la página de pago seguro"
    assert pay["url"].startswith(f"{PUBLIC_URL}/pay/")
