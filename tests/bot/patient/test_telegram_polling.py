"""Telegram by long polling (issue 5: "long polling otherwise"): without PUBLIC_BASE_URL
the app polls ``getUpdates`` of the fake Bot API in the background while it runs."""

from __future__ import annotations

from tests.bot.patient.conftest import Echo, StartApp
from tests.fakes.telegram import message_update

CHAT = 5550002


async def test_updates_are_polled_and_answered(patient_app: StartApp) -> None:
    echo = Echo()
    app = await patient_app(echo, public_base_url="")
    assert app.channel is not None and not app.channel.webhook

    await app.telegram.queue(message_update(CHAT, "hello"), message_update(CHAT, "again"))
    await app.telegram.wait_for("sendMessage", 2)

    assert [i.text for i in echo.seen] == ["hello", "again"]
    assert [c.params["text"] for c in app.telegram.sent_to(CHAT)] == [
        "You said: hello",
        "You said: again",
    ]
    # A webhook left by an earlier deployment would make getUpdates fail.
    assert app.telegram.called("deleteWebhook")
    assert app.telegram.called("setWebhook") == []


async def test_an_update_delivered_twice_by_polling_is_answered_once(
    patient_app: StartApp,
) -> None:
    echo = Echo()
    app = await patient_app(echo, public_base_url="")
    update = message_update(CHAT, "hello")

    await app.telegram.queue(update)
    await app.telegram.wait_for("sendMessage", 1)
    # Telegram hands an update out again when its confirmation was lost.
    await app.telegram.queue(update, message_update(CHAT, "next"))
    await app.telegram.wait_for("sendMessage", 2)

    assert [i.text for i in echo.seen] == ["hello", "next"]


async def test_there_is_no_webhook_route_when_polling(patient_app: StartApp) -> None:
    app = await patient_app(Echo(), public_base_url="")

    response = await app.update(message_update(CHAT, "hello"))

    assert response.status in (404, 405)
