"""The patient channels as the providers meet them: the app served on an ephemeral
127.0.0.1 port, Telegram updates and Twilio webhooks POSTed to it over real HTTP, and
the fake Bot API (``tests.fakes.telegram``) and fake Twilio (``tests.fakes.twilio``)
recording what it sends back.

``await patient_app(handler)`` starts the app around any
:class:`~bot.patient.events.Handler` (an :class:`Echo` here) and returns a
:class:`Patients` to drive it. ``await served(**settings)`` starts what ``arbot serve``
starts instead (``bot.web.make_app``: the real conversation, the pay pages, Slack when
configured); :class:`TelegramPatient` and :class:`SmsPatient` then talk to it as a
patient would, reading only what the fakes received.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.patient import sms as sms_channel
from bot.patient import telegram as telegram_channel
from bot.patient.context import PatientContext
from bot.patient.events import Handler, Inbound
from bot.patient.messengers import Pace, TelegramMessenger, TwilioMessenger
from bot.patient.telegram import TelegramChannel
from bot.web import PATIENT_KEY, make_app
from core.db import Database
from core.patients.outbox import outbox
from core.ports import Choice, OutboundMessage
from core.settings import Settings
from tests.fakes.telegram import (
    BOT_TOKEN,
    Call,
    FakeTelegram,
    callback_update,
    fake_telegram,
    message_update,
)
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilio,
    Message,
    fake_twilio,
    inbound_form,
    signed_headers,
)

__all__ = ["fake_telegram", "fake_twilio"]

PUBLIC_URL = "https://arbot.example.org"
WEBHOOK_SECRET = "webhook-secret-0123456789"
PAY_URL = "https://arbot.example.org/pay/Xy12"


@dataclass
class Echo:
    """A small conversation: says back what it got and offers two choices, one a link.

    ``two`` gets two replies; ``contact`` asks for the phone number; a choice or a
    shared contact is named in the reply."""

    seen: list[Inbound] = field(default_factory=list)

    async def handle(self, inbound: Inbound) -> list[OutboundMessage]:
        self.seen.append(inbound)
        if inbound.choice:
            return [OutboundMessage(f"You chose {inbound.choice}.")]
        if inbound.contact_not_own:
            return [OutboundMessage("That is someone else's number.", ask_contact=True)]
        if inbound.contact_phone:
            return [OutboundMessage(f"Thanks, {inbound.contact_phone}.")]
        if inbound.text == "contact":
            return [
                OutboundMessage(
                    "Share your number.", (Choice("lang:es", "Español"),), ask_contact=True
                )
            ]
        reply = OutboundMessage(
            f"You said: {inbound.text}",
            (Choice("yes", "Yes"), Choice("pay", "Pay now", url=PAY_URL)),
        )
        if inbound.text == "two":
            return [OutboundMessage("First."), reply]
        return [reply]


@dataclass
class Patients:
    """The running app and the fakes it talks to."""

    http: TestClient[Any, Any]
    ctx: PatientContext
    telegram: FakeTelegram
    twilio: FakeTwilio
    channel: TelegramChannel | None

    async def update(
        self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET
    ) -> ClientResponse:
        """POST a Telegram update to the webhook as Telegram does (with the secret)."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return await self.http.post(telegram_channel.WEBHOOK_PATH, json=update, headers=headers)

    async def sms(
        self, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> ClientResponse:
        """POST an inbound SMS form, signed for the public URL unless ``headers`` given."""
        if headers is None:
            headers = signed_headers(PUBLIC_URL + sms_channel.INBOUND_PATH, form)
        return await self.http.post(sms_channel.INBOUND_PATH, data=form, headers=headers)

    async def text(self, sender: str, body: str, **kwargs: Any) -> ClientResponse:
        return await self.sms(inbound_form(sender, body, **kwargs))

    async def outbox(self) -> list[Any]:
        async with self.ctx.db.read() as conn:
            return list(await conn.execute(select(outbox).order_by(outbox.c.id)))


def channel_settings(
    db: Database, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "telegram_bot_token": BOT_TOKEN,
        "telegram_api_base": fake_telegram.base,
        "telegram_webhook_secret": WEBHOOK_SECRET,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": FROM_NUMBER,
        "twilio_api_base": fake_twilio.base,
        "public_base_url": PUBLIC_URL,
    }
    return Settings(**{**values, **overrides})


def build_app(ctx: PatientContext) -> tuple[web.Application, TelegramChannel | None]:
    """The web app with the patient channels mounted as ``bot.web`` mounts them."""
    app = web.Application()
    channel = telegram_channel.mount(app, ctx)
    sms_channel.mount(app, ctx)
    return app, channel


StartApp = Callable[..., Awaitable[Patients]]


@pytest.fixture
async def patient_app(
    db: Database, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> AsyncIterator[StartApp]:
    """``await patient_app(handler, **settings)``: the app serving ``handler``, stopped
    at the end of the test. Settings point at the fakes; keyword arguments override."""
    async with AsyncExitStack() as stack:

        async def start(handler: Handler, **overrides: Any) -> Patients:
            settings = channel_settings(db, fake_telegram, fake_twilio, **overrides)
            ctx = PatientContext(db=db, settings=settings, conversation=handler)
            app, channel = build_app(ctx)
            client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
            await stack.enter_async_context(client)
            return Patients(client, ctx, fake_telegram, fake_twilio, channel)

        yield start


def unpaced(ctx: PatientContext) -> None:
    """Let the messengers send as fast as the fakes answer. Their real pace (one SMS a
    second, one Telegram message a second per chat) would only make a transcript wait
    between turns; the pacing itself is tested in test_messengers."""
    for messenger in ctx.messengers.values():
        if isinstance(messenger, TelegramMessenger):
            messenger.overall, messenger.per_chat = Pace(10_000, 10_000), Pace(10_000, 10_000)
        elif isinstance(messenger, TwilioMessenger):
            messenger.pace = Pace(10_000, 10_000)


StartServed = Callable[..., Awaitable[Patients]]


@pytest.fixture
async def served(
    db: Database, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> AsyncIterator[StartServed]:
    """``await served(**settings)``: ``bot.web.make_app`` as ``arbot serve`` runs it, on an
    ephemeral 127.0.0.1 port, Telegram and Twilio pointed at the fakes."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Patients:
            settings = channel_settings(db, fake_telegram, fake_twilio, **overrides)
            app = make_app(settings, db)
            client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
            await stack.enter_async_context(client)
            ctx = app[PATIENT_KEY]
            unpaced(ctx)
            return Patients(client, ctx, fake_telegram, fake_twilio, None)

        yield start


@dataclass
class TelegramPatient:
    """A patient in a private Telegram chat: types, presses the buttons they were shown,
    and reads the messages the bot sent them (from the fake Bot API)."""

    app: Patients
    chat_id: int
    last: list[Call] = field(default_factory=list)
    """The bot's messages answering the last update."""
    _read: int = 0

    async def send(self, text: str) -> str:
        return await self._post(message_update(self.chat_id, text))

    async def press(self, label: str) -> str:
        """Press the button labelled ``label`` under the bot's last messages."""
        for call in reversed(self.last):
            for row in call.inline_keyboard:
                for button in row:
                    if button["text"] == label:
                        assert "callback_data" in button, f"{label!r} is a link, not a choice"
                        update = callback_update(
                            self.chat_id, button["callback_data"], keyboard=call.inline_keyboard
                        )
                        return await self._post(update)
        raise AssertionError(f"no button {label!r} among {self.labels}")

    async def _post(self, update: dict[str, Any]) -> str:
        response = await self.app.update(update)
        assert response.status == 200, await response.text()
        sent = self.app.telegram.sent_to(self.chat_id)
        self.last, self._read = sent[self._read :], len(sent)
        return self.text

    @property
    def text(self) -> str:
        return "\n".join(str(c.params["text"]) for c in self.last)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [b for c in self.last for row in c.inline_keyboard for b in row]

    @property
    def labels(self) -> list[str]:
        return [str(b["text"]) for b in self.buttons]


OPTION = re.compile(r"^(\d+)\) (.*)$", re.MULTILINE)


@dataclass
class SmsPatient:
    """A patient texting the clinic's number: each text a signed Twilio webhook, each
    answer read from what the fake Twilio was asked to send to their phone."""

    app: Patients
    phone: str
    last: list[Message] = field(default_factory=list)
    _read: int = 0

    async def send(self, body: str) -> str:
        response = await self.app.text(self.phone, body)
        assert response.status == 200, await response.text()
        sent = self.app.twilio.sent_to(self.phone)
        self.last, self._read = sent[self._read :], len(sent)
        return self.text

    @property
    def text(self) -> str:
        return "\n\n".join(m.body for m in self.last)

    @property
    def options(self) -> dict[str, str]:
        """The last message's numbered options: ``{"1": "Balance", ...}``."""
        if not self.last:
            return {}
        return dict(OPTION.findall(self.last[-1].body))

    def number_of(self, label: str) -> str:
        """The number to type for the option that starts with ``label``."""
        [number] = [n for n, shown in self.options.items() if shown.startswith(label)]
        return number
