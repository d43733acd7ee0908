"""The conversation's transcripts through the real SMS channel (issue 5, Tests:
"transcript tests ... once through each real channel").

``bot.web.make_app`` serves as ``arbot serve`` does; each text is a form POSTed to
``/sms/inbound`` signed as Twilio signs it (against PUBLIC_BASE_URL), and the answers
are what the fake Twilio was asked to send to the patient's phone: text, then the
options as numbered lines, a link's option with its address. The patient answers by
typing an option's number.
"""

from __future__ import annotations

from core.db import Database
from core.patients.paylinks import open_pay_link
from tests.bot.patient.conftest import PUBLIC_URL, SmsPatient, StartServed
from tests.bot.patient.test_conversation import PHONE, ana_with_bills
from tests.core.helpers import usd
from tests.fakes.twilio import FROM_NUMBER

MENU = {"1": "Balance", "2": "Pay", "3": "Payment plan", "4": "Statement", "5": "Talk to a person"}


async def test_phone_on_file_birth_date_balance_and_a_pay_link_line(
    db: Database, served: StartServed
) -> None:
    account_id = await ana_with_bills(db)
    ana = SmsPatient(await served(), PHONE)

    asked = await ana.send("Hi")
    assert "date of birth" in asked
    assert "$" not in asked and "Ana" not in asked  # nothing before the date of birth

    verified = await ana.send("04/12/1980")  # month first in the US
    assert "Thank you, Ana. You are verified." in verified
    assert "balance $200.50" in verified
    assert ana.options == MENU
    assert {m.from_ for m in ana.last} == {FROM_NUMBER}

    balance = await ana.send("1")
    assert "Office visit: $120.00, pending; $120.00 open, due" in balance
    assert "Lab work: $80.50, pending" in balance
    assert "Overdue: $120.00" in balance
    assert ana.options == MENU  # the menu again after every answer

    options = await ana.send("2")
    assert "balance $200.50. How much would you like to pay?" in options
    assert ana.options == {
        "1": "Whole balance ($200.50)",
        "2": "Overdue part ($120.00)",
        "3": "Another amount",
        "4": "Menu",
    }

    link = await ana.send("2")  # the overdue part
    assert "secure payment link" in link
    shown = ana.options["1"]
    assert shown.startswith(f"Open the secure payment page: {PUBLIC_URL}/pay/")
    url = shown.split(": ", 1)[1]
    order = await open_pay_link(db, url.rsplit("/", 1)[1])
    assert order.account_id == account_id and order.amount == usd("120.00")
    assert ana.options["2"] == "Menu"


async def test_an_unknown_number_learns_nothing(db: Database, served: StartServed) -> None:
    await ana_with_bills(db)
    stranger = SmsPatient(await served(), "+15550009999")

    said = await stranger.send("balance")
    assert "could not find this phone number" in said
    assert "$" not in said and "Ana" not in said
    assert "$" not in await stranger.send("1980-04-12")


async def test_a_spanish_patient_texts_in_spanish(db: Database, served: StartServed) -> None:
    account_id = await ana_with_bills(db, language="es")
    ana = SmsPatient(await served(), PHONE)

    await ana.send("Hola")
    verified = await ana.send("12/04/1980")  # day first in Spanish
    assert "Gracias, Ana. Su identidad está verificada." in verified
    assert ana.options == {
        "1": "Saldo",
        "2": "Pagar",
        "3": "Plan de pagos",
        "4": "Estado de cuenta",
        "5": "Hablar con una persona",
    }
    saldo = await ana.send("SALDO")
    assert "pendiente" in saldo and "Vencido: $120.00" in saldo
    await ana.send(ana.number_of("Pagar"))
    link = await ana.send(ana.number_of("Saldo total ($200.50)"))
    assert "enlace de pago seguro" in link
    shown = ana.options[ana.number_of("Abrir la página de pago seguro")]
    url = shown.split(": ", 1)[1]
    assert url.startswith(f"{PUBLIC_URL}/pay/")
    order = await open_pay_link(db, url.rsplit("/", 1)[1])
    assert order.account_id == account_id and order.amount == usd("200.50")


async def test_stop_is_honoured_at_once_and_start_turns_it_back_on(
    db: Database, served: StartServed
) -> None:
    await ana_with_bills(db)
    ana = SmsPatient(await served(), PHONE)

    assert "Reply START" in await ana.send("Stop")
    assert "on again" in await ana.send("START")
    assert "date of birth" in await ana.send("hello")
