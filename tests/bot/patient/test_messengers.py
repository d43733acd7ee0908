"""Outbound sends (issue 5 Robustness: "Outbound sends respect Telegram's and Twilio's
rate limits, retry with backoff, and record failures (bot blocked, invalid number) for
the statement error report (AR-179)"): the messengers against the fakes, and
``deliver`` recording each outcome in the outbox."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.patient.messengers import Pace, TelegramMessenger, TwilioMessenger
from bot.patient.outbound import deliver, sms_text
from bot.patient.telegram import make_bot
from bot.pieces import parts
from core.db import Database
from core.patients.outbox import failed_sends, outbox
from core.ports import Choice, Delivery, OutboundMessage
from core.settings import Settings
from tests.fakes.telegram import BOT_TOKEN, MAX_TEXT, FakeTelegram, fake_telegram
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    MAX_BODY,
    FakeTwilio,
    fake_twilio,
)

__all__ = ["fake_telegram", "fake_twilio"]

CHAT = "5550003"
PHONE = "+15557654321"
HELLO = OutboundMessage("Your balance is $120.00.")
ITEM = "- Jun 27, 2026 Consultation x2, Chest X-ray: $130.00, pending; $130.00 open, due Jul 27"
LONG = OutboundMessage(
    "\n".join(
        ["Statement for account A0000042 (Ana 👋)", "", *[ITEM] * 120, "Balance $15,600.00"]
    ),
    (Choice("pay", "Pay"), Choice("menu", "Menu")),
)
"""A statement of 120 items: 11,000 characters, more than one message holds anywhere."""


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def lines_of(*texts: str) -> list[str]:
    return [line for text in texts for line in text.split("\n") if line]


@pytest.fixture
async def tg(fake_telegram: FakeTelegram) -> AsyncIterator[TelegramMessenger]:
    settings = Settings(telegram_bot_token=BOT_TOKEN, telegram_api_base=fake_telegram.base)
    bot = make_bot(settings)
    try:
        yield TelegramMessenger(bot, backoff=0.05)
    finally:
        await bot.session.close()


@pytest.fixture
async def sms(fake_twilio: FakeTwilio) -> AsyncIterator[TwilioMessenger]:
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
        twilio_api_base=fake_twilio.base,
    )
    messenger = TwilioMessenger(settings, pace=Pace(50, 1), backoff=0.05)
    try:
        yield messenger
    finally:
        await messenger.close()


async def test_telegram_waits_the_retry_after_it_is_told_then_delivers(
    tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.throttle(CHAT, retry_after=1)
    started = time.monotonic()

    delivery = await tg.send("telegram", CHAT, HELLO)

    assert delivery.ok and delivery.provider_ref
    assert time.monotonic() - started >= 1.0
    assert len(fake_telegram.sent_to(CHAT)) == 2


async def test_telegram_blocked_and_unknown_chats_are_classified_without_retrying(
    tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.block(CHAT)
    fake_telegram.forget("5550004")

    blocked = await tg.send("telegram", CHAT, HELLO)
    unknown = await tg.send("telegram", "5550004", HELLO)

    assert (blocked.ok, blocked.failure) == (False, "blocked")
    assert blocked.detail is not None and "blocked" in blocked.detail
    assert (unknown.ok, unknown.failure) == (False, "invalid_address")
    assert len(fake_telegram.sent_to(CHAT)) == 1
    assert len(fake_telegram.sent_to("5550004")) == 1


async def test_telegram_server_errors_are_retried_three_times_at_most(
    tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    tg.per_chat = Pace(50, 1)
    fake_telegram.break_server(CHAT, times=2)
    recovered = await tg.send("telegram", CHAT, HELLO)
    fake_telegram.break_server(CHAT, times=3)
    failed = await tg.send("telegram", CHAT, HELLO)

    assert recovered.ok
    assert (failed.ok, failed.failure) == (False, "error")
    assert len(fake_telegram.sent_to(CHAT)) == 6


async def test_telegram_still_throttled_after_three_tries_is_rate_limited(
    tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.throttle(CHAT, retry_after=0, times=3)

    delivery = await tg.send("telegram", CHAT, HELLO)

    assert (delivery.ok, delivery.failure) == (False, "rate_limited")


async def test_a_long_retry_after_is_not_waited_for(
    tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.throttle(CHAT, retry_after=3600)
    started = time.monotonic()

    delivery = await tg.send("telegram", CHAT, HELLO)

    assert (delivery.ok, delivery.failure) == (False, "rate_limited")
    assert time.monotonic() - started < 5


async def test_a_message_longer_than_telegram_takes_goes_in_parts_at_line_ends(
    tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    """The Bot API refuses a text over 4,096 UTF-16 code units ("message is too long"):
    the statement goes in order in as few parts as fit, the buttons on the last."""
    delivery = await tg.send("telegram", CHAT, LONG)

    sent = fake_telegram.sent_to(CHAT)
    texts = [str(c.params["text"]) for c in sent]
    assert delivery.ok and len(sent) == 3
    assert all(utf16(t) <= MAX_TEXT for t in texts)
    assert lines_of(*texts) == lines_of(LONG.text)
    assert ["reply_markup" in c.params for c in sent] == [False, False, True]
    assert sent[-1].inline_keyboard[0][0]["text"] == "Pay"
    assert delivery.provider_ref is not None and delivery.provider_ref.isdigit()


async def test_a_message_longer_than_twilio_takes_goes_in_parts_at_line_ends(
    sms: TwilioMessenger, fake_twilio: FakeTwilio
) -> None:
    """Twilio refuses a body over 1,600 characters (error 21617): the text, then the
    numbered choices, in as few messages as fit, in order."""
    delivery = await sms.send("sms", PHONE, LONG)

    bodies = [m.body for m in fake_twilio.messages]
    assert delivery.ok and len(bodies) == 7
    assert all(utf16(b) <= MAX_BODY for b in bodies)
    assert lines_of(*bodies) == lines_of(sms_text(LONG))
    assert bodies[-1].endswith("1) Pay\n2) Menu")
    assert delivery.provider_ref == fake_twilio.messages[-1].sid


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, ["short"]),
        ("one\ntwo\nthree", 7, ["one\ntwo", "three"]),
        ("one\n\ntwo", 4, ["one", "two"]),  # no part is only a blank line
        ("a long line of words", 8, ["a long", "line of", "words"]),
        ("unbreakable", 4, ["unbr", "eaka", "ble"]),
        ("abcd\nef ghij", 5, ["abcd", "ef", "ghij"]),  # a long line does not join the last
        ("👋👋👋 hi", 5, ["👋👋", "👋 hi"]),  # an emoji is two UTF-16 code units
    ],
)
def test_parts_split_at_line_ends_then_words(text: str, limit: int, expected: list[str]) -> None:
    found = parts(text, limit)
    assert found == expected
    assert all(utf16(p) <= limit for p in found)


async def test_a_part_that_fails_stops_the_rest(
    tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.block(CHAT)

    delivery = await tg.send("telegram", CHAT, LONG)

    assert (delivery.ok, delivery.failure) == (False, "blocked")
    assert len(fake_telegram.sent_to(CHAT)) == 1


@pytest.mark.parametrize(
    ("code", "failure"),
    [(21211, "invalid_address"), (21614, "invalid_address"), (21610, "blocked"), (30001, "error")],
)
async def test_twilio_errors_are_classified(
    sms: TwilioMessenger, fake_twilio: FakeTwilio, code: int, failure: str
) -> None:
    fake_twilio.fail_number(PHONE, code)

    delivery = await sms.send("sms", PHONE, HELLO)

    assert (delivery.ok, delivery.failure) == (False, failure)
    assert delivery.detail is not None and delivery.detail.startswith(f"{code}:")
    assert len(fake_twilio.attempts) == 1


async def test_twilio_429_and_5xx_are_retried(
    sms: TwilioMessenger, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.throttle(PHONE, retry_after=1)
    fake_twilio.break_server(PHONE)
    started = time.monotonic()

    delivery = await sms.send("sms", PHONE, HELLO)

    assert delivery.ok
    assert delivery.provider_ref == fake_twilio.messages[0].sid
    assert [a.status for a in fake_twilio.attempts] == [429, 500, 201]
    assert time.monotonic() - started >= 1.0


async def test_twilio_refuses_wrong_credentials(fake_twilio: FakeTwilio) -> None:
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token="wrong",
        twilio_from_number=FROM_NUMBER,
        twilio_api_base=fake_twilio.base,
    )
    messenger = TwilioMessenger(settings)
    try:
        delivery = await messenger.send("sms", PHONE, HELLO)
    finally:
        await messenger.close()

    assert (delivery.ok, delivery.failure) == (False, "error")
    assert fake_twilio.messages == []


async def test_twilio_unreachable_is_an_error_after_three_tries() -> None:
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
        twilio_api_base="http://127.0.0.1:9",
    )
    messenger = TwilioMessenger(settings, pace=Pace(50, 1), backoff=0.01)
    try:
        delivery = await messenger.send("sms", PHONE, HELLO)
    finally:
        await messenger.close()

    assert (delivery.ok, delivery.failure) == (False, "error")
    assert delivery.detail is not None and "connect" in delivery.detail


async def test_pace_keeps_to_its_rate_per_key() -> None:
    pace = Pace(20, 1)
    started = time.monotonic()

    for _ in range(5):
        await pace.wait("chat-a")
    one_key = time.monotonic() - started
    await pace.wait("chat-b")

    assert one_key >= 4 / 20 * 0.9
    assert time.monotonic() - started - one_key < 0.05


async def test_deliver_records_each_outcome_for_the_failure_report(
    db: Database, tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    """AR-179: a blocked bot is in the failed-send report with Telegram's words."""
    fake_telegram.block("5550009")
    messengers = {"telegram": tg}

    ok = await deliver(
        db, messengers, channel="telegram", address=CHAT, message=HELLO, kind="receipt"
    )
    blocked = await deliver(
        db, messengers, channel="telegram", address="5550009", message=HELLO, kind="reminder"
    )

    assert ok is not None and ok.ok
    assert blocked == Delivery(
        ok=False, failure="blocked", detail="Forbidden: bot was blocked by the user"
    )
    async with db.read() as conn:
        rows = list(await conn.execute(select(outbox).order_by(outbox.c.id)))
        now = db.clock.now()
        report = await failed_sends(conn, now - timedelta(hours=1), now + timedelta(hours=1))
    assert [(r.kind, r.status, r.failure) for r in rows] == [
        ("receipt", "sent", None),
        ("reminder", "failed", "blocked"),
    ]
    assert [(f.address, f.failure) for f in report] == [("5550009", "blocked")]


async def test_deliver_sends_a_dedupe_key_once(
    db: Database, tg: TelegramMessenger, fake_telegram: FakeTelegram
) -> None:
    """Issue 6: a redelivered webhook or a re-run job never messages a patient twice."""
    messengers = {"telegram": tg}
    kwargs = {"channel": "telegram", "address": CHAT, "kind": "receipt", "dedupe_key": "pi_1"}

    first = await deliver(db, messengers, message=HELLO, **kwargs)  # type: ignore[arg-type]
    second = await deliver(db, messengers, message=HELLO, **kwargs)  # type: ignore[arg-type]

    assert first is not None and first.ok
    assert second is None
    assert len(fake_telegram.sent_to(CHAT)) == 1


async def test_deliver_without_a_messenger_records_an_error(db: Database) -> None:
    delivery = await deliver(
        db, {}, channel="sms", address=PHONE, message=HELLO, kind="reminder", account_id=None
    )

    assert delivery == Delivery(ok=False, failure="error", detail="no sms messenger is set up")
    async with db.read() as conn:
        [row] = list(await conn.execute(select(outbox)))
    assert (row.status, row.failure) == ("failed", "error")


async def test_each_messenger_keeps_its_pace(
    tg: TelegramMessenger, sms: TwilioMessenger, fake_twilio: FakeTwilio
) -> None:
    """Telegram paces each chat, Twilio its sending number (a long code: 1 a second;
    here 10 a second to keep the test short)."""
    tg.per_chat = Pace(10, 1)
    sms.pace = Pace(10, 1)
    started = time.monotonic()
    for _ in range(3):
        await tg.send("telegram", CHAT, HELLO)
    telegram_took = time.monotonic() - started
    started = time.monotonic()
    for number in ("+15550000001", "+15550000002", "+15550000003"):
        await sms.send("sms", number, HELLO)
    sms_took = time.monotonic() - started

    assert telegram_took >= 0.18
    assert sms_took >= 0.18
    assert len(fake_twilio.messages) == 3
