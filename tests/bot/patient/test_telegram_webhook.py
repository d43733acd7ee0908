"""Telegram through its webhook (issue 5, Telegram channel; Robustness): updates POSTed to
``/telegram/webhook`` with the secret token, aiogram's real ``Bot`` answering through
the fake Bot API on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.fsm.storage.memory import MemoryStorage

from bot.patient.events import Inbound
from bot.patient.messengers import ChoiceData
from core.ports import OutboundMessage
from tests.bot.patient.conftest import PAY_URL, PUBLIC_URL, WEBHOOK_SECRET, Echo, StartApp
from tests.fakes.telegram import (
    callback_update,
    contact_update,
    group_message_update,
    message_update,
)

CHAT = 5550001


async def test_a_message_is_answered_with_an_inline_keyboard(patient_app: StartApp) -> None:
    echo = Echo()
    app = await patient_app(echo)

    response = await app.update(message_update(CHAT, "hello"))

    assert response.status == 200
    assert [(i.channel, i.address, i.text) for i in echo.seen] == [
        ("telegram", str(CHAT), "hello")
    ]
    [sent] = app.telegram.sent_to(CHAT)
    assert sent.params["text"] == "You said: hello"
    assert sent.inline_keyboard == [
        [{"text": "Yes", "callback_data": "c|yes"}],
        [{"text": "Pay now", "url": PAY_URL}],
    ]
    # A link preview would open the pay page (and a payment session) on its own.
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    [row] = await app.outbox()
    assert (row.channel, row.address, row.kind, row.status) == (
        "telegram",
        str(CHAT),
        "reply",
        "sent",
    )
    assert row.provider_ref is not None


async def test_without_the_secret_token_nothing_is_handled(patient_app: StartApp) -> None:
    """Robustness: an unverified webhook gets 401 and changes nothing."""
    echo = Echo()
    app = await patient_app(echo)

    missing = await app.update(message_update(CHAT, "hello"), secret=None)
    wrong = await app.update(message_update(CHAT, "hello"), secret="guessed")

    assert (missing.status, wrong.status) == (401, 401)
    assert echo.seen == []
    assert app.telegram.called("sendMessage") == []
    assert await app.outbox() == []


async def test_the_same_update_twice_is_handled_once(patient_app: StartApp) -> None:
    """Robustness: each inbound event is handled once (Telegram's update_id)."""
    echo = Echo()
    app = await patient_app(echo)
    update = message_update(CHAT, "balance")

    first = await app.update(update)
    again = await app.update(update)

    assert (first.status, again.status) == (200, 200)
    assert len(echo.seen) == 1
    assert len(app.telegram.sent_to(CHAT)) == 1


async def test_a_button_press_is_the_choice_and_its_buttons_go_away(
    patient_app: StartApp,
) -> None:
    """The button's data is the choice id (typed CallbackData, prefix ``c``); the spinner
    stops; the answer buttons are taken off the message, its link stays."""
    echo = Echo()
    app = await patient_app(echo)
    keyboard: list[list[dict[str, Any]]] = [
        [{"text": "Yes", "callback_data": ChoiceData(id="yes").pack()}],
        [{"text": "Pay now", "url": PAY_URL}],
    ]

    response = await app.update(callback_update(CHAT, "c|plan:3", keyboard=keyboard))

    assert response.status == 200
    assert [(i.address, i.choice, i.text) for i in echo.seen] == [(str(CHAT), "plan:3", "")]
    assert len(app.telegram.called("answerCallbackQuery")) == 1
    [edit] = app.telegram.called("editMessageReplyMarkup")
    assert edit.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Pay now", "url": PAY_URL}]]
    }
    [sent] = app.telegram.sent_to(CHAT)
    assert sent.params["text"] == "You chose plan:3."
    # The reply first: tidying the button is off the reply's path (make bench).
    assert [c.method for c in app.telegram.calls][-3:] == [
        "sendMessage",
        "answerCallbackQuery",
        "editMessageReplyMarkup",
    ]


class Broken:
    async def handle(self, inbound: Inbound) -> list[OutboundMessage]:
        raise RuntimeError("a bug")


async def test_a_button_whose_turn_failed_still_stops_its_spinner(
    patient_app: StartApp,
) -> None:
    """The turn failed (Telegram is answered 500 and will deliver the press again), but
    the patient's button does not spin on."""
    app = await patient_app(Broken())

    response = await app.update(callback_update(CHAT, "c|balance"))

    assert response.status == 500
    assert len(app.telegram.called("answerCallbackQuery")) == 1
    assert app.telegram.called("sendMessage") == []


async def test_a_button_of_another_kind_only_stops_the_spinner(patient_app: StartApp) -> None:
    echo = Echo()
    app = await patient_app(echo)

    response = await app.update(callback_update(CHAT, "legacy:42"))

    assert response.status == 200
    assert echo.seen == []
    assert len(app.telegram.called("answerCallbackQuery")) == 1
    assert app.telegram.called("sendMessage") == []


async def test_the_senders_own_contact_is_their_phone(patient_app: StartApp) -> None:
    """Identity: "Share my phone number" counts only for the sender's own contact."""
    echo = Echo()
    app = await patient_app(echo)

    await app.update(contact_update(CHAT, "15551234567", owner=CHAT))
    await app.update(contact_update(CHAT, "+15557654321", owner=CHAT + 1))
    await app.update(contact_update(CHAT, "+15550000000", owner=None))

    own, other, not_a_user = echo.seen
    assert (own.contact_phone, own.contact_not_own) == ("+15551234567", False)
    assert (other.contact_phone, other.contact_not_own) == (None, True)
    assert (not_a_user.contact_phone, not_a_user.contact_not_own) == (None, True)


async def test_asking_for_the_contact_shows_the_share_button(patient_app: StartApp) -> None:
    app = await patient_app(Echo())

    await app.update(message_update(CHAT, "contact"))

    [sent] = app.telegram.sent_to(CHAT)
    markup = sent.params["reply_markup"]
    assert markup["one_time_keyboard"] is True
    assert markup["keyboard"] == [
        [{"text": "Share my phone number", "request_contact": True}],
        [{"text": "Español"}],
    ]


async def test_a_group_chat_gets_no_answer(patient_app: StartApp) -> None:
    """Balances are for the patient's private chat: a group the bot was added to hears
    nothing."""
    echo = Echo()
    app = await patient_app(echo)

    response = await app.update(group_message_update(-100200300, CHAT, "balance"))

    assert response.status == 200
    assert echo.seen == []
    assert app.telegram.called("sendMessage") == []


async def test_several_replies_go_out_in_order(patient_app: StartApp) -> None:
    app = await patient_app(Echo())

    await app.update(message_update(CHAT, "two"))

    assert [c.params["text"] for c in app.telegram.sent_to(CHAT)] == ["First.", "You said: two"]
    first, second = app.telegram.sent_to(CHAT)
    assert first.params["reply_markup"] == {"remove_keyboard": True}
    assert len(second.inline_keyboard) == 2


async def test_the_webhook_is_registered_with_its_secret_on_startup(
    patient_app: StartApp,
) -> None:
    app = await patient_app(Echo())

    [call] = await app.telegram.wait_for("setWebhook")

    assert call.params["url"] == f"{PUBLIC_URL}/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert set(call.params["allowed_updates"]) == {"message", "callback_query"}
    assert app.telegram.called("getUpdates") == []


async def test_without_a_configured_secret_one_is_derived_from_the_token(
    patient_app: StartApp,
) -> None:
    """An empty TELEGRAM_WEBHOOK_SECRET does not leave the webhook open."""
    echo = Echo()
    app = await patient_app(echo, telegram_webhook_secret="")

    [call] = await app.telegram.wait_for("setWebhook")
    secret = call.params["secret_token"]
    refused = await app.update(message_update(CHAT, "hello"), secret=None)
    accepted = await app.update(message_update(CHAT, "hello"), secret=secret)

    assert len(secret) >= 32
    assert (refused.status, accepted.status) == (401, 200)
    assert len(echo.seen) == 1


class FailsOnce(Echo):
    """A conversation with a bug that shows once: its error quotes the patient."""

    async def handle(self, inbound: Inbound) -> list[OutboundMessage]:
        if not self.seen:
            self.seen.append(inbound)
            raise ValueError(f"cannot read {inbound.text!r}")
        return await super().handle(inbound)


async def test_a_failed_turn_is_answered_when_telegram_delivers_it_again(
    patient_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    """The update is released, not lost: Telegram's redelivery after the 500 is answered.
    The log says where it failed, never what the patient wrote."""
    app = await patient_app(FailsOnce())
    update = message_update(CHAT, "my card 4111 1111 1111 1111")

    failed = await app.update(update)
    again = await app.update(update)

    assert (failed.status, again.status) == (500, 200)
    assert [c.params["text"] for c in app.telegram.sent_to(CHAT)] == [
        "You said: my card 4111 1111 1111 1111"
    ]
    assert "ValueError" in caplog.text
    assert "4111" not in caplog.text


async def test_the_dispatcher_keeps_nothing_per_chat(patient_app: StartApp) -> None:
    """A chat's state lives in the database; aiogram's own per-chat state (its FSM, in
    memory) would keep a record for every chat that ever wrote, for as long as the
    process runs: 100,000 patients, 100,000 records (make bench)."""
    app = await patient_app(Echo())
    assert app.channel is not None

    for n in range(3):
        assert (await app.update(message_update(CHAT + n, "hello"))).status == 200

    assert len(app.telegram.called("sendMessage")) == 3
    storage = app.channel.dispatcher.fsm.storage
    assert isinstance(storage, MemoryStorage)
    assert storage.storage == {}
