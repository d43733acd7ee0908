"""The whole way through (issue 5, the end-to-end test): a patient links Telegram with a
staff code, proves their date of birth, reads the balance, asks for a pay link, opens
it, pays on (fake) Stripe; Stripe delivers its webhooks three times over; the receipt
arrives once in the same chat, the balance is zero at once (AR-093) and the ledger
balances.

Everything runs as ``arbot serve`` runs it: ``bot.web.make_app`` on a real port, aiogram
against the fake Bot API, the stripe SDK against the fake Stripe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.patient.messengers import ChoiceData
from bot.web import make_app
from core.db import Database
from core.links import issue_link_code
from core.settings import Settings
from tests.bot.patient.test_conversation import ana_with_bills
from tests.core.helpers import ADMIN, balance_of, usd
from tests.fakes.stripe import SECRET_KEY, FakeStripe, fake_stripe
from tests.fakes.stripe import WEBHOOK_SECRET as STRIPE_SECRET
from tests.fakes.telegram import (
    BOT_TOKEN,
    FakeTelegram,
    callback_update,
    fake_telegram,
    message_update,
)

__all__ = ["fake_stripe", "fake_telegram"]  # fixtures
CHAT = 4242
TELEGRAM_SECRET = "e2e-telegram-secret-0123"


class Served:
    def __init__(self, base: str, telegram: FakeTelegram, http: aiohttp.ClientSession) -> None:
        self.base, self.telegram, self.http = base, telegram, http

    async def say(self, text: str) -> str:
        return await self._post(message_update(CHAT, text))

    async def press(self, choice_id: str) -> str:
        data = ChoiceData(id=choice_id).pack()
        return await self._post(callback_update(CHAT, data))

    async def _post(self, update: dict[str, Any]) -> str:
        before = len(self.telegram.called("sendMessage"))
        headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        async with self.http.post(
            f"{self.base}/telegram/webhook", json=update, headers=headers
        ) as r:
            assert r.status == 200, await r.text()
        return "\n".join(c.params["text"] for c in self.telegram.called("sendMessage")[before:])

    def last_buttons(self) -> list[dict[str, Any]]:
        return [b for row in self.telegram.called("sendMessage")[-1].inline_keyboard for b in row]


@pytest.fixture
async def served(
    db: Database, fake_telegram: FakeTelegram, fake_stripe: FakeStripe, unused_tcp_port: int
) -> AsyncIterator[Served]:
    base = f"http://127.0.0.1:{unused_tcp_port}"
    settings = Settings(
        database_url=db.url,
        public_base_url=base,
        telegram_bot_token=BOT_TOKEN,
        telegram_api_base=fake_telegram.base,
        telegram_webhook_secret=TELEGRAM_SECRET,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=STRIPE_SECRET,
        stripe_api_base=fake_stripe.base,
    )
    runner = web.AppRunner(make_app(settings, db))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    fake_stripe.webhook_url = f"{base}/stripe/webhook"
    try:
        async with aiohttp.ClientSession() as http:
            yield Served(base, fake_telegram, http)
    finally:
        await runner.cleanup()


async def test_link_verify_pay_and_one_receipt(
    db: Database, served: Served, fake_stripe: FakeStripe
) -> None:
    account_id = await ana_with_bills(db)
    code = (await issue_link_code(db, ADMIN, account_id=account_id)).code
    assert "date of birth" in await served.say(f"/start {code}")
    assert "You are verified" in await served.say("1980-04-12")
    assert "balance $200.50" in await served.say("balance")
    await served.press("pay")
    await served.press(f"pay_balance:{account_id}")
    [link] = [b["url"] for b in served.last_buttons() if "url" in b]
    assert link.startswith(f"{served.base}/pay/")

    async with served.http.get(link) as page:
        assert page.status == 200 and "$200.50" in await page.text()
    assert fake_stripe.created_sessions == []  # looking at the page opens nothing
    async with served.http.post(link, allow_redirects=False) as opened:
        assert opened.status == 303
        checkout = opened.headers["Location"]
    [session_id] = list(fake_stripe.sessions)
    assert checkout == fake_stripe.sessions[session_id]["url"]
    assert fake_stripe.sessions[session_id]["amount_total"] == 20050

    events = fake_stripe.complete(session_id)
    deliveries = await fake_stripe.deliver([*events, *reversed(events), *events])
    assert {d.status for d in deliveries} == {200}
    receipts = [c for c in served.telegram.sent_to(CHAT) if "Payment received" in c.params["text"]]
    assert len(receipts) == 1
    assert "Payment received: $200.50" in receipts[0].params["text"]
    assert "Balance now: $0.00" in receipts[0].params["text"]
    assert await balance_of(db, account_id) == usd("0.00")
    after = await served.say("balance")
    assert "balance $0.00" in after and "Office visit: $120.00, paid" in after
