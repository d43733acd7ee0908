"""A fake Telegram Bot API that speaks real HTTP on 127.0.0.1, and Telegram's updates.

aiogram's ``Bot`` is pointed at it through ``TELEGRAM_API_BASE``; it POSTs
``/bot{token}/{method}`` with a form (nested objects as JSON strings) or a JSON body
and reads ``{"ok": true, "result": ...}`` back, as from Telegram. The fake answers
``getMe``, ``sendMessage``, ``answerCallbackQuery``, ``editMessageReplyMarkup``,
``setWebhook``, ``deleteWebhook`` and ``getUpdates`` (long polling: it serves the
updates a test queued with :meth:`FakeTelegram.queue`).

Every request is a :class:`Call` in ``fake.calls``; ``await fake.wait_for(method, n)``
waits until ``n`` have arrived. A chat can be made to fail as Telegram fails it:
:meth:`~FakeTelegram.block` (403, the patient blocked the bot),
:meth:`~FakeTelegram.forget` (400, chat not found), :meth:`~FakeTelegram.throttle`
(429 with ``retry_after``) and :meth:`~FakeTelegram.break_server` (500).

The update builders (:func:`message_update`, :func:`callback_update`,
:func:`contact_update`) make updates of the shape Telegram sends to a webhook.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

BOT_TOKEN = "123456:ARBOT-test-token"
BOT_ID = 123456
BOT_USERNAME = "arbot_test_bot"
NOW = 1_782_820_800
"""2026-06-30 12:00 UTC: the ``date`` of every message the fake makes."""


MAX_TEXT = 4096
"""A message's text, in UTF-16 code units, as the Bot API measures it."""


@dataclass(frozen=True, slots=True)
class Call:
    """One Bot API request: the method and its parameters, JSON fields decoded."""

    method: str
    params: dict[str, Any]

    @property
    def chat_id(self) -> str:
        return str(self.params.get("chat_id", ""))

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard's rows as sent (``[]`` when there is none)."""
        markup = self.params.get("reply_markup") or {}
        rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
        return rows


@dataclass
class FakeTelegram:
    token: str = BOT_TOKEN
    calls: list[Call] = field(default_factory=list)
    base: str = ""
    webhook: dict[str, Any] = field(default_factory=dict)
    """The last ``setWebhook`` parameters (cleared by ``deleteWebhook``)."""
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _failures: dict[str, list[tuple[int, str, int | None]]] = field(default_factory=dict)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_to(self, chat_id: int | str) -> list[Call]:
        """Every ``sendMessage`` to ``chat_id`` (the failed attempts too)."""
        return [c for c in self.called("sendMessage") if c.chat_id == str(chat_id)]

    async def wait_for(self, method: str, count: int = 1) -> list[Call]:
        """The calls to ``method`` once there are ``count`` (at most 10 seconds' wait)."""
        async with asyncio.timeout(10), self._arrived:
            await self._arrived.wait_for(lambda: len(self.called(method)) >= count)
        return self.called(method)

    # -- failures a chat can be given ------------------------------------------------

    def block(self, chat_id: int | str, times: int = 1_000_000) -> None:
        """The patient blocked the bot: ``sendMessage`` to the chat answers 403."""
        self._fail(chat_id, times, 403, "Forbidden: bot was blocked by the user")

    def forget(self, chat_id: int | str, times: int = 1_000_000) -> None:
        """The chat does not exist (a wrong chat id): 400 chat not found."""
        self._fail(chat_id, times, 400, "Bad Request: chat not found")

    def throttle(self, chat_id: int | str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` sends to the chat answer 429 with ``retry_after``."""
        self._fail(
            chat_id, times, 429, f"Too Many Requests: retry after {retry_after}", retry_after
        )

    def break_server(self, chat_id: int | str, times: int = 1) -> None:
        """The next ``times`` sends to the chat answer 500."""
        self._fail(chat_id, times, 500, "Internal Server Error")

    def _fail(
        self, chat_id: int | str, times: int, code: int, text: str, retry: int | None = None
    ) -> None:
        self._failures.setdefault(str(chat_id), []).extend([(code, text, retry)] * times)

    # -- updates for long polling ----------------------------------------------------

    async def queue(self, *updates: dict[str, Any]) -> None:
        """Updates that ``getUpdates`` will hand out (Telegram keeps them until confirmed)."""
        async with self._arrived:
            self._updates.extend(updates)
            self._arrived.notify_all()

    # -- the HTTP side ----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        return app

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        call = Call(method, params)
        async with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        answer = getattr(self, f"_{method}", None)
        if answer is None:
            return _error(404, "Not Found: method not found")
        result: web.Response = await answer(params)
        return result

    async def _getMe(self, params: dict[str, Any]) -> web.Response:
        return _ok(
            {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Arbot",
                "username": BOT_USERNAME,
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat = str(params.get("chat_id", ""))
        pending = self._failures.get(chat)
        if pending:
            code, text, retry = pending.pop(0)
            return _error(code, text, retry)
        if not str(params.get("text", "")).strip():
            return _error(400, "Bad Request: message text is empty")
        if len(str(params["text"]).encode("utf-16-le")) > 2 * MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": NOW,
            "chat": {"id": int(chat), "type": "private", "first_name": "Pat"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Arbot"},
            "text": params["text"],
        }
        if "reply_markup" in params and "inline_keyboard" in params["reply_markup"]:
            message["reply_markup"] = params["reply_markup"]
        return _ok(message)

    async def _answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _editMessageReplyMarkup(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = dict(params)
        return _ok(True)

    async def _deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {}
        return _ok(True)

    async def _getUpdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        # Long polling, kept short so that a stopping test never waits long.
        wait = min(float(params.get("timeout") or 0), 0.5)

        def fresh() -> list[dict[str, Any]]:
            return [u for u in self._updates if u["update_id"] >= offset]

        async with self._arrived:
            if not fresh() and wait:
                try:
                    async with asyncio.timeout(wait):
                        await self._arrived.wait_for(lambda: bool(fresh()))
                except TimeoutError:
                    pass
            # Telegram forgets what the offset confirmed.
            self._updates = fresh()
            return _ok(self._updates[:100])


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        raw: dict[str, Any] = await request.json()
        return raw
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if isinstance(value, str):
            text = value
        elif isinstance(value, bytes | bytearray):
            text = bytes(value).decode()
        else:
            text = value.file.read().decode()
        params[key] = _maybe_json(text)
    return params


def _maybe_json(text: str) -> Any:
    """aiogram sends nested objects and lists as JSON strings; numbers stay strings."""
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=code)


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API on an ephemeral 127.0.0.1 port (``fake.base`` is the API base)."""
    fake = FakeTelegram()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()


# -- updates as Telegram sends them ------------------------------------------------------

_update_ids = itertools.count(700_000_001)


def next_update_id() -> int:
    return next(_update_ids)


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Pat", "language_code": "en"}


def _message(chat_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": 9000 + chat_id % 1000,
        "date": NOW,
        "chat": {"id": chat_id, "type": "private", "first_name": "Pat"},
        "from": _user(chat_id),
        **fields,
    }


def message_update(chat_id: int, text: str, *, update_id: int | None = None) -> dict[str, Any]:
    """The patient typed ``text`` in their private chat with the bot."""
    return {
        "update_id": update_id or next_update_id(),
        "message": _message(chat_id, text=text),
    }


def group_message_update(chat_id: int, user_id: int, text: str) -> dict[str, Any]:
    """Someone wrote ``text`` in a group the bot was added to."""
    message = _message(chat_id, text=text)
    message["chat"] = {"id": chat_id, "type": "group", "title": "Family"}
    message["from"] = _user(user_id)
    return {"update_id": next_update_id(), "message": message}


def contact_update(
    chat_id: int, phone: str, *, owner: int | None, update_id: int | None = None
) -> dict[str, Any]:
    """A contact shared in the chat; ``owner`` is the Telegram user whose number it is
    (the sender's own when they press 'Share my phone number'; None: not a user)."""
    contact: dict[str, Any] = {"phone_number": phone, "first_name": "Pat"}
    if owner is not None:
        contact["user_id"] = owner
    return {
        "update_id": update_id or next_update_id(),
        "message": _message(chat_id, contact=contact),
    }


def callback_update(
    chat_id: int,
    data: str,
    *,
    keyboard: list[list[dict[str, Any]]] | None = None,
    update_id: int | None = None,
) -> dict[str, Any]:
    """The patient pressed an inline button whose callback data is ``data`` in a message
    of the bot's that carried ``keyboard``."""
    uid = update_id or next_update_id()
    message = _message(chat_id, text="...")
    message["from"] = {"id": BOT_ID, "is_bot": True, "first_name": "Arbot"}
    if keyboard is not None:
        message["reply_markup"] = {"inline_keyboard": keyboard}
    return {
        "update_id": uid,
        "callback_query": {
            "id": f"cq{uid}",
            "from": _user(chat_id),
            "message": message,
            "chat_instance": f"ci{chat_id}",
            "data": data,
        },
    }
