"""A statement longer than one message holds (Telegram 4,096 UTF-16 code units, Twilio
1,600 characters) reaches the patient whole, in parts, through the real channels: a
patient on dialysis three times a week has some forty visits in the statement's 90 days.

Before, Telegram answered "message is too long" and Twilio error 21617, and the patient
got nothing at all."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.billing.charges import ChargeLine, post_charges
from core.db import Database
from core.links import issue_link_code
from core.patients.outbox import outbox
from tests.bot.patient.conftest import SmsPatient, StartServed, TelegramPatient
from tests.bot.patient.test_conversation import BORN, PHONE
from tests.core.billing.helpers import service
from tests.core.helpers import ADMIN
from tests.core.profile.common import on_day, person
from tests.fakes.telegram import MAX_TEXT
from tests.fakes.twilio import MAX_BODY

VISITS = 40


async def on_dialysis(db: Database) -> int:
    """Ana, with a dialysis session and its lab work three times a week, 40 visits."""
    ana = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    await service(db, "DIAL", "310.00", "procedure", description="Hemodialysis session")
    await service(db, "LABS", "24.00", "lab", description="Dialysis lab panel")
    for n in range(VISITS):
        day = on_day(db) - timedelta(days=2 * n + 1)
        lines = (ChargeLine("DIAL", service_date=day), ChargeLine("LABS", service_date=day))
        await post_charges(db, ADMIN, account_id=ana.id, lines=lines, key=f"visit-{n}")
    return ana.id


async def sends(db: Database) -> list[tuple[str, str]]:
    async with db.read() as conn:
        rows = await conn.execute(select(outbox.c.status, outbox.c.kind).order_by(outbox.c.id))
        return [(r.status, r.kind) for r in rows]


async def test_a_long_statement_arrives_in_parts_on_telegram(
    db: Database, served: StartServed
) -> None:
    account_id = await on_dialysis(db)
    code = (await issue_link_code(db, ADMIN, account_id=account_id)).code
    ana = TelegramPatient(await served(), 61_000_009)
    await ana.send(f"/start {code}")
    await ana.send("1980-04-12")
    before = len(await sends(db))

    statement = await ana.press("Statement")

    texts = [str(c.params["text"]) for c in ana.last]
    assert len(texts) > 1
    assert all(len(t.encode("utf-16-le")) // 2 <= MAX_TEXT for t in texts)
    assert statement.count("Hemodialysis session x1: $310.00") == VISITS
    assert "Next payment due:" in texts[-1]  # the statement's end comes last
    assert ana.labels == ["Balance", "Pay", "Payment plan", "Statement", "Talk to a person"]
    assert [bool(c.inline_keyboard) for c in ana.last] == [False] * (len(texts) - 1) + [True]
    assert (await sends(db))[before:] == [("sent", "reply")]  # one send, recorded once


async def test_a_long_statement_arrives_in_parts_by_sms(db: Database, served: StartServed) -> None:
    await on_dialysis(db)
    ana = SmsPatient(await served(), PHONE)
    await ana.send("Hi")
    await ana.send("04/12/1980")
    before = len(await sends(db))

    statement = await ana.send("statement")

    bodies = [m.body for m in ana.last]
    assert len(bodies) > 2
    assert all(len(b) <= MAX_BODY for b in bodies)
    assert all(m.status == 201 for m in ana.app.twilio.attempts[-len(bodies) :])
    assert statement.count("Hemodialysis session x1: $310.00") == VISITS
    assert ana.options == {
        "1": "Balance",
        "2": "Pay",
        "3": "Payment plan",
        "4": "Statement",
        "5": "Talk to a person",
    }
    assert (await sends(db))[before:] == [("sent", "reply")]
