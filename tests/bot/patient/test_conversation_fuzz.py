"""10,000 random inputs leave every account unchanged (issue 5, Robustness).

Random text (keywords, numbers, dates, amounts, Unicode, control characters, very long
lines), random button ids (including ids of other accounts) and shared contacts, sent
by a verified chat, an unverified one and a stranger: nothing may raise, every reply is
text, and the ledger has exactly the entries it had before."""

from __future__ import annotations

import random
import string

from sqlalchemy import func, select

from bot.patient.conversation import Conversation
from bot.patient.events import Inbound
from core.db import Database
from core.ledger.tables import journal_entry
from tests.bot.patient.chat import Chat, conversation, staff
from tests.bot.patient.test_conversation import PHONE, ana_with_bills, verified_sms
from tests.core.helpers import balance_of

WORDS = [
    "balance",
    "PAY",
    "plan",
    "saldo",
    "pagar",
    "estado",
    "agente",
    "help",
    "stop",
    "START",
    "menu",
    "1",
    "2",
    "3",
    "9",
    "0",
    "-1",
    "25",
    "25.5",
    "1e9",
    "NaN",
    "$1,000.00",
    "0.001",
    "1980-04-12",
    "04/12/1980",
    "31/02/1980",
    "/start",
    "/start abc",
    "español",
    "english",
    "'; DROP TABLE journal_entry; --",
    "<b>hi</b>",
    "\u202e",
    "🙂",
    "\x00",
    " ",
    "",
]
CHOICES = [
    "pay_balance:1",
    "pay_balance:2",
    "pay_overdue:1",
    "pay_amount:999",
    "agree:1:3",
    "agree:2:6",
    "plan_offer:1:3",
    "plan_offer:1:7",
    "prepay_offer:1:XRAY",
    "autopay:1",
    "lang:fr",
    "lang:es",
    "pay_account:x",
    "balance",
    "::",
    "agree",
    "plan_offer:1:",
]
RUNS = 10_000
__all__ = ["conversation", "staff"]  # fixtures


def noise(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
    if kind < 0.8:
        alphabet = string.printable + "áéíóúñ€£¥\u0301"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
    if kind < 0.95:
        return str(rng.randint(-(10**20), 10**20))
    return rng.choice(string.ascii_letters) * rng.randint(1000, 5000)


async def entries(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(journal_entry))).scalar_one()
        )


async def test_random_inputs_change_no_account(db: Database, conversation: Conversation) -> None:
    account_id = await ana_with_bills(db)
    before = (await entries(db), await balance_of(db, account_id))
    await verified_sms(conversation)
    rng = random.Random(20261123)
    chats = [("sms", PHONE), ("sms", "+15550001111"), ("telegram", "31337")]
    runs = RUNS if db.url.startswith("sqlite") else RUNS // 10
    for n in range(runs):
        channel, address = chats[n % len(chats)]
        roll = rng.random()
        inbound = Inbound(
            channel,
            address,
            noise(rng) if roll < 0.8 else "",
            choice=rng.choice(CHOICES) if roll >= 0.8 else None,
            contact_phone=PHONE if roll > 0.99 else None,
        )
        replies = await conversation.handle(inbound)
        assert all(isinstance(r.text, str) and r.text for r in replies), inbound
    assert (await entries(db), await balance_of(db, account_id)) == before
    assert "You are verified" not in await Chat(conversation, "sms", "+15550001111").send("hi")
