"""The patient conversation, turn by turn (issue 5), as the console drives it.

Nothing is disclosed before the date of birth; wrong answers lock; balances, statements
and pay links follow; STOP/START/HELP are honoured at once; Spanish is complete; card
numbers never reach storage."""

from __future__ import annotations

__all__ = ["conversation", "staff"]  # fixtures

import json
from datetime import date, timedelta

from babel.dates import format_date
from sqlalchemy import select

from bot.patient.context import PatientContext
from bot.patient.conversation import Conversation
from core.billing.charges import ChargeLine, post_charges
from core.billing.invoice import Split
from core.customers import may_contact
from core.db import Database
from core.links import issue_link_code
from core.patients.chatstate import chat_state
from core.patients.paylinks import open_pay_link
from core.plans import plan_of
from core.services.charges import post_charge
from tests.bot.patient.chat import SETTINGS, Chat, StaffChannel, conversation, staff
from tests.core.billing.helpers import rule, service
from tests.core.helpers import ADMIN, balance_of, usd
from tests.core.profile.common import on_day, person

PHONE = "+15551234567"
BORN = date(1980, 4, 12)


async def ana_with_bills(db: Database, language: str = "en") -> int:
    ana = await person(db, "López", phone=PHONE, date_of_birth=BORN, language=language)
    today = on_day(db)
    for n, (amount, days_ago) in enumerate((("120.00", 75), ("80.50", 10))):
        await post_charge(
            db,
            ADMIN,
            account_id=ana.id,
            amount=usd(amount),
            service_date=today - timedelta(days=days_ago),
            key=f"charge-{n}",
            description="Office visit" if n == 0 else "Lab work",
        )
    return ana.id


async def verified_sms(conversation: Conversation) -> Chat:
    chat = Chat(conversation, "sms", PHONE)
    await chat.send("hi")
    await chat.send("1980-04-12")
    return chat


async def test_an_unknown_number_learns_nothing(db: Database, conversation: Conversation) -> None:
    await ana_with_bills(db)
    chat = Chat(conversation, "sms", "+15550001111")
    said = await chat.send("balance")
    assert "could not find this phone number" in said
    assert "$" not in said and "A0" not in said


async def test_sms_verify_then_balance_statement_and_pay(
    db: Database, conversation: Conversation
) -> None:
    account_id = await ana_with_bills(db)
    chat = Chat(conversation, "sms", PHONE)
    asked = await chat.send("Hello")
    assert "date of birth" in asked and "$" not in asked
    assert "four-digit year" in await chat.send("4/12/80")  # not an attempt
    assert "3 tries left" not in await chat.send("12/04/1980")  # US order: 12 April? no: Dec 4
    said = await chat.send("04/12/1980")
    assert "Thank you, Ana. You are verified." in said
    assert "balance $200.50" in said
    balance = await chat.press("balance")
    assert "Office visit: $120.00, pending; $120.00 open, due" in balance
    assert "Lab work: $80.50, pending" in balance
    assert "Overdue: $120.00" in balance
    statement = await chat.send("STATEMENT")
    assert "Statement for account" in statement and "Office visit" in statement
    await chat.send("pay")
    assert chat.choice_ids[:3] == [
        f"pay_balance:{account_id}",
        f"pay_overdue:{account_id}",
        f"pay_amount:{account_id}",
    ]
    link = await chat.send("2")  # SMS answers by number: the overdue part
    assert "secure payment link" in link
    [url] = chat.urls
    assert url.startswith("https://pay.example.org/pay/")
    order = await open_pay_link(db, url.rsplit("/", 1)[1])
    assert order.amount == usd("120.00") and order.account_id == account_id


async def test_typing_the_number_of_a_link_says_to_open_the_link(
    db: Database, conversation: Conversation
) -> None:
    """The link is not sent again: its token is shown once and never stored (only its
    hash is), so the chat's state cannot hold it either."""
    await ana_with_bills(db)
    chat = await verified_sms(conversation)
    await chat.send("pay")
    await chat.send("1")  # the whole balance: "1) Open the secure payment page: https://..."
    [url] = chat.urls
    assert chat.choice_ids == ["pay_now", "menu"]

    typed = await chat.send("1")  # an SMS cannot tap: the patient typed the link's number

    assert "did not understand" not in typed
    assert "That option is a link: open it in the message above." in typed
    assert chat.choice_ids == ["menu"] and chat.urls == []
    async with db.read() as conn:
        stored = (await conn.execute(select(chat_state.c.data))).scalar_one()
    assert url.rsplit("/", 1)[1] not in stored
    assert "I can show your balance" in await chat.send("1")  # Menu


async def test_wrong_dates_of_birth_lock_the_chat_and_tell_staff(
    db: Database, conversation: Conversation, staff: StaffChannel
) -> None:
    await ana_with_bills(db)
    chat = Chat(conversation, "sms", PHONE)
    await chat.send("hi")
    for left in (4, 3, 2):
        assert f"{left} tries left" in await chat.send("1981-01-01")
    assert "1 try left" in await chat.send("1981-01-01")
    assert "locked for 30 minutes" in await chat.send("1981-01-01")
    assert "locked for 30 minutes" in await chat.send("1980-04-12")  # even the right one
    [post] = staff.posts
    assert post.channel == "C0PATIENT" and "sms chat was locked" in post.text
    assert PHONE not in post.text and "1981" not in post.text


async def test_telegram_start_code_then_birth_date(
    db: Database, conversation: Conversation
) -> None:
    account_id = await ana_with_bills(db)
    issued = await issue_link_code(db, ADMIN, account_id=account_id)
    chat = Chat(conversation, "telegram", "424242")
    welcome = await chat.send("/start")
    assert "share your phone number" in welcome and chat.replies[0].ask_contact
    assert "date of birth" in await chat.send(f"/start {issued.code}")
    assert "You are verified" in await chat.send("April 12, 1980")
    assert "$200.50" in await chat.send("/balance")


async def test_a_shared_contact_must_be_the_senders_own(
    db: Database, conversation: Conversation
) -> None:
    await ana_with_bills(db)
    chat = Chat(conversation, "telegram", "777")
    assert "your own phone number" in await chat.send(contact_not_own=True)
    assert "date of birth" in await chat.send(contact_phone=PHONE)
    assert "You are verified" in await chat.send("1980-04-12")


async def test_spanish_patient_reads_spanish_and_can_switch(
    db: Database, conversation: Conversation
) -> None:
    await ana_with_bills(db, language="es")
    chat = await verified_sms(conversation)
    assert "Gracias, Ana. Su identidad está verificada." in chat.text
    saldo = await chat.send("SALDO")
    assert "Cuenta" in saldo and "pendiente" in saldo and "Vencido: $120.00" in saldo
    assert "Saldo" in [c.label for r in chat.replies for c in r.choices]
    assert "Type BALANCE, PAY" in await chat.send("english")
    assert "Account" in await chat.send("balance")
    assert "Escriba SALDO, PAGAR" in await chat.send("Español")
    assert "Cuenta" in await chat.send("balance")


async def test_the_statement_itemises_each_visit_with_the_patients_part(
    db: Database, conversation: Conversation
) -> None:
    """AR-072, AR-164: each service of a billed visit under its item, with the
    patient's part of a line the insurer shares; the balance stays one line an item."""
    ana = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    insurer = await person(db, "Acme Health", customer_type="insurer")
    await service(db, "CONS", "100.00", description="Consultation")
    await service(db, "XRAY", "60.00", "imaging", description="Chest X-ray")
    seen, again = on_day(db) - timedelta(days=3), on_day(db) - timedelta(days=2)
    await post_charges(
        db,
        ADMIN,
        account_id=ana.id,
        lines=(
            ChargeLine("CONS", service_date=seen),
            ChargeLine(
                "XRAY", 2, service_date=again, splits=(Split(insurer.id, percent_bp=7_500),)
            ),
        ),
        key="visit",
    )
    chat = await verified_sms(conversation)
    day = format_date(again, "medium", locale="en_US")  # as every date the bot shows

    statement = await chat.send("statement")

    # The visit's first day is the item's; a line on another day says which.
    assert "\n    Consultation x1: $100.00\n" in statement
    assert f"\n    {day} Chest X-ray x2: $30.00 of $120.00\n" in statement
    assert "$130.00" in statement and "$90.00" not in statement  # the insurer's part
    # The item reads as the catalogue words its services, as does the balance.
    assert "- Jun 27, 2026 Consultation, Chest X-ray x2: $130.00, pending" in statement
    balance = await chat.send("balance")
    assert "Consultation, Chest X-ray x2: $130.00, pending" in balance
    assert "of $120.00" not in balance  # the lines are the statement's
    await chat.send("español")
    estado = await chat.send("estado")
    dia = format_date(again, "medium", locale="es")
    assert f"\n    {dia} Chest X-ray x2: $30.00 de $120.00\n" in estado


async def test_stop_start_help_are_honoured_at_once(
    db: Database, conversation: Conversation
) -> None:
    await ana_with_bills(db)
    chat = Chat(conversation, "sms", PHONE)
    assert "Reply START" in await chat.send("stop")
    async with db.read() as conn:
        assert not await may_contact(conn, "sms", PHONE)
    assert "STOP" in await chat.send("Help")
    assert "on again" in await chat.send("START")
    async with db.read() as conn:
        assert await may_contact(conn, "sms", PHONE)


async def test_a_card_number_is_masked_and_never_stored(
    db: Database, conversation: Conversation
) -> None:
    await ana_with_bills(db)
    chat = await verified_sms(conversation)
    await chat.send("pay")
    await chat.press_starting("pay_amount")
    said = await chat.send("my card is 4242 4242 4242 4242 exp 12/29")
    assert "never type card numbers" in said
    async with db.read() as conn:
        stored = (await conn.execute(select(chat_state.c.data))).scalars().all()
    assert not any("4242" in text for text in stored)


async def test_a_typed_amount_becomes_a_pay_link(db: Database, conversation: Conversation) -> None:
    account_id = await ana_with_bills(db)
    chat = await verified_sms(conversation)
    await chat.send("pay")
    await chat.press(f"pay_amount:{account_id}")
    assert "up to $200.50" in chat.text
    assert "more than the balance" in await chat.send("500")
    assert "amount like $25.50" in await chat.send("lots")
    await chat.send("25,50")
    order = await open_pay_link(db, chat.urls[0].rsplit("/", 1)[1])
    assert order.amount == usd("25.50")


async def test_plan_enrolment_stores_the_signed_agreement(
    db: Database, conversation: Conversation
) -> None:
    account_id = await ana_with_bills(db)
    chat = await verified_sms(conversation)
    await chat.send("plan")
    assert chat.choice_ids[:2] == [f"plan_offer:{account_id}:3", f"plan_offer:{account_id}:6"]
    shown = await chat.press(f"plan_offer:{account_id}:3")
    assert "PAYMENT AGREEMENT" in shown and "$66.84" in shown and "$66.83" in shown
    await chat.press(f"agree:{account_id}:3")
    assert "is set up" in chat.text
    async with db.read() as conn:
        plan = await plan_of(conn, account_id)
    assert plan is not None and plan.count == 3 and plan.channel == "sms"
    assert sum(i.amount.minor for i in plan.instalments) == 20050
    assert "Next instalment ($66.84)" in [
        c.label for r in (await _pay_options(chat)) for c in r.choices
    ]


async def _pay_options(chat: Chat):  # type: ignore[no-untyped-def]
    await chat.send("pay")
    return chat.replies


async def test_a_changed_balance_shows_the_terms_again(
    db: Database, conversation: Conversation
) -> None:
    account_id = await ana_with_bills(db)
    chat = await verified_sms(conversation)
    await chat.send("plan")
    await chat.press(f"plan_offer:{account_id}:3")
    await post_charge(
        db, ADMIN, account_id=account_id, amount=usd("30.00"), service_date=on_day(db), key="c3"
    )
    await chat.press(f"agree:{account_id}:3")
    assert "balance changed" in chat.text and "$76.84" in chat.text
    async with db.read() as conn:
        assert await plan_of(conn, account_id) is None


async def test_talk_to_a_person_threads_in_the_staff_channel(
    db: Database, conversation: Conversation, staff: StaffChannel
) -> None:
    await ana_with_bills(db)
    chat = await verified_sms(conversation)
    await chat.press("agent")
    assert "passed to the billing office" in await chat.send("Why is the lab bill so high?")
    await chat.send("Also, can I pay next week?")
    first, second = staff.posts
    assert first.channel == "C0PATIENT" and first.thread is None
    assert "Why is the lab bill" in first.text and PHONE not in first.text
    assert second.thread is not None


async def test_forged_choices_reach_nothing(db: Database, conversation: Conversation) -> None:
    await ana_with_bills(db)
    other = await person(db, "Other", phone="+15559990000", date_of_birth=BORN)
    await post_charge(
        db, ADMIN, account_id=other.id, amount=usd("10.00"), service_date=on_day(db), key="o"
    )
    chat = await verified_sms(conversation)
    said = await chat.send(choice=f"pay_balance:{other.id}")
    assert "did not understand" in said and "$10.00" not in said and chat.urls == []
    assert await balance_of(db, other.id) == usd("10.00")


async def test_state_survives_a_second_process(db: Database, staff: StaffChannel) -> None:
    await ana_with_bills(db)
    first = Conversation()
    first.bind(PatientContext(db, SETTINGS, first, staff=staff))
    await Chat(first, "sms", PHONE).send("hi")
    twin = Database(db.url, clock=db.clock)
    try:
        second = Conversation()
        second.bind(PatientContext(twin, SETTINGS, second, staff=staff))
        assert "You are verified" in await Chat(second, "sms", PHONE).send("1980-04-12")
    finally:
        await twin.dispose()
    async with db.read() as conn:
        data = (await conn.execute(select(chat_state.c.data))).scalar_one()
    assert "1980" not in json.dumps(data)


async def test_prepay_offers_come_from_the_catalogue(
    db: Database, conversation: Conversation
) -> None:
    account_id = await ana_with_bills(db)
    await service(db, "PHYSIO", "80.00", "procedure", description="Physiotherapy session")
    await rule(
        db,
        "Physio prepaid",
        "fixed",
        amount=usd("60.00"),
        service_code="PHYSIO",
        requires_prepayment=True,
    )
    chat = await verified_sms(conversation)
    await chat.send("prepago")
    assert chat.choice_ids[0] == f"prepay_offer:{account_id}:PHYSIO"
    assert chat.replies[0].choices[0].label == "Physiotherapy session: $60.00"
    await chat.send("1")
    order = await open_pay_link(db, chat.urls[0].rsplit("/", 1)[1])
    assert order.amount == usd("60.00") and order.service_code == "PHYSIO"
