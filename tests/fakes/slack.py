"""A fake Slack that speaks real HTTP on 127.0.0.1, and Slack's way of signing requests.

The fake stands in for three things Slack runs:

- the Web API (``{api_url}{method}``): it checks the bot token, records every call
  and answers as Slack does: ``auth.test`` (bolt calls it first), ``chat.postMessage``,
  ``chat.postEphemeral``, ``chat.update``, ``views.open|update|publish``,
  ``conversations.open``, ``users.info``, the v2 file upload that ``files_upload_v2``
  makes (``files.getUploadURLExternal``, a POST of the bytes to the upload URL it
  returned, ``files.completeUploadExternal``) and ``apps.connections.open``;
- ``response_url``s, which record what a listener answers;
- Block Kit's limits (:mod:`tests.fakes.blockkit`): a message or view that breaks one
  is refused as Slack refuses it, ``invalid_blocks``;
- a Socket Mode websocket (``apps.connections.open`` hands out its URL), through
  which a test can send envelopes as Slack does and read the acknowledgements.

Every call is a :class:`Call` in ``fake.calls`` (``fake.called("chat.postMessage")``);
``await fake.wait_for(method, count)`` waits until that many have arrived.

Signing: :func:`signed_headers` signs a body as Slack does (``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{body}``, computed by slack_sdk's ``SignatureVerifier``);
:func:`command_body` and :func:`action_body` build the form bodies of a slash command
and of a button press (the ``payload`` field, JSON).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier

from tests.fakes.blockkit import refused

BOT_TOKEN = "xoxb-arbot-test"
APP_TOKEN = "xapp-arbot-test"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM_ID = "T0ARBOT"
BOT_USER_ID = "U0ARBOT"


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake received: a Web API method, ``response_url`` or ``upload``."""

    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    path: str = ""
    raw: bytes = b""
    ok: bool = True
    """False for a call the fake was told to fail (:meth:`FakeSlack.fail_next`)."""

    def json(self, name: str) -> Any:
        """A form field that carries JSON (``blocks``, ``files`` ...), decoded."""
        value = self.body[name]
        return json.loads(value) if isinstance(value, str) else value


@dataclass
class FakeSlack:
    bot_token: str = BOT_TOKEN
    calls: list[Call] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    socket_received: list[dict[str, Any]] = field(default_factory=list)
    """What the app sent back over the Socket Mode websocket (acknowledgements)."""
    base: str = ""
    _open: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _failing: dict[str, list[str]] = field(default_factory=dict)
    _losing: set[str] = field(default_factory=set)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Posted messages per channel, oldest first (``conversations.history`` reads them)."""
    refusals: list[tuple[str, list[str]]] = field(default_factory=list)
    """Messages and views refused for breaking Block Kit's limits (:mod:`.blockkit`)."""

    def __post_init__(self) -> None:
        self._open.set()

    def fail_next(self, method: str, error: str = "internal_error", times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` as Slack answers a failure
        (``{"ok": false, "error": ...}``); slack_sdk raises ``SlackApiError`` on them."""
        self._failing.setdefault(method, []).extend([error] * times)

    def lose_next_answer(self, method: str) -> None:
        """Do the next call to ``method`` but answer 503, as a gateway timing out after
        Slack did the work: a message is posted although the app hears only a failure."""
        self._losing.add(method)

    def succeeded(self, method: str) -> list[Call]:
        """The calls to ``method`` that were not made to fail."""
        return [c for c in self.called(method) if c.ok]

    def hold_replies(self) -> None:
        """Keep every response_url POST waiting until :meth:`release_replies`."""
        self._open.clear()

    def release_replies(self) -> None:
        self._open.set()

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL is set to (the trailing slash matters to slack_sdk)."""
        return f"{self.base}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self.base}/response/{name}"

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @property
    def replies(self) -> list[Call]:
        """What listeners posted to response_urls, in order."""
        return self.called("response_url")

    @property
    def web_api_calls(self) -> list[Call]:
        """Web API calls other than bolt's own ``auth.test``."""
        return [c for c in self.calls if c.method not in ("auth.test", "response_url")]

    async def wait_for(self, method: str, count: int = 1) -> list[Call]:
        """The calls to ``method`` once there are ``count`` (at most 10 seconds' wait)."""
        async with asyncio.timeout(10), self._arrived:
            await self._arrived.wait_for(lambda: len(self.called(method)) >= count)
        return self.called(method)

    async def _record(self, call: Call) -> None:
        async with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self._web_api)
        app.router.add_get("/api/{method}", self._web_api)  # conversations.history
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        return app

    async def _web_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        # slack_sdk sends most arguments as query parameters, some as a form or JSON body.
        body = {**request.query, **_decode(request.content_type, raw)}
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        token = token or str(body.get("token", ""))
        failing = self._failing.get(method)
        error = failing.pop(0) if failing else None
        call = Call(method, body, dict(request.headers), request.path, raw, ok=error is None)
        await self._record(call)
        expected = APP_TOKEN if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if error is not None:
            return web.json_response({"ok": False, "error": error})
        refusal = refused(body)
        if refusal:
            self.refusals.append((method, refusal))
            return web.json_response({"ok": False, "error": "invalid_blocks", "errors": refusal})
        answer = self._answer(method, body)
        if method == "chat.postMessage" and answer.get("ok"):
            self._keep(answer["channel"], answer["ts"], body)
        if method in self._losing:
            self._losing.discard(method)
            return web.Response(status=503, text="upstream request timeout")
        return web.json_response(answer)

    def _keep(self, channel: str, ts: str, body: dict[str, Any]) -> None:
        """A posted message, as ``conversations.history`` lists it."""
        metadata = body.get("metadata")
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        message = {"type": "message", "ts": ts, "text": body.get("text", "")}
        if metadata:
            message["metadata"] = metadata
        self.messages.setdefault(channel, []).append(message)

    def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        """Newest first, from ``oldest``; metadata only with ``include_all_metadata``."""
        oldest = float(body.get("oldest") or 0)
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        listed = [
            m if with_metadata else {k: v for k, v in m.items() if k != "metadata"}
            for m in reversed(self.messages.get(str(body.get("channel")), []))
            if float(m["ts"]) > oldest
        ]
        return {"messages": listed, "has_more": False}

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        ts = f"{int(time.time())}.{n:06d}"  # Slack stamps a message with its own time
        channel = str(body.get("channel") or body.get("channel_id") or "C0ARBOT")
        view = body.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        answers: dict[str, dict[str, Any]] = {
            "auth.test": {
                "url": "https://arbot-test.slack.com/",
                "team": "Arbot Test",
                "user": "arbot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0ARBOT",
                "is_enterprise_install": False,
            },
            "chat.postMessage": {"channel": channel, "ts": ts, "message": {"ts": ts}},
            "chat.update": {"channel": channel, "ts": body.get("ts", ts)},
            "chat.postEphemeral": {"message_ts": ts},
            "views.open": {"view": {**(view or {}), "id": f"V{n:08d}"}},
            "views.update": {"view": {**(view or {}), "id": body.get("view_id", f"V{n:08d}")}},
            "views.publish": {"view": {**(view or {}), "id": f"V{n:08d}"}},
            "conversations.open": {"channel": {"id": f"D{body.get('users', 'X')}"}},
            "users.info": {
                "user": {"id": body.get("user"), "tz": "UTC", "locale": "en-US", "name": "x"}
            },
            "files.getUploadURLExternal": {
                "upload_url": f"{self.base}/upload/F{n:08d}",
                "file_id": f"F{n:08d}",
            },
            "files.completeUploadExternal": {
                "files": [
                    {"id": f["id"], "title": f.get("title")}
                    for f in json.loads(str(body.get("files", "[]")))
                ]
            },
            "apps.connections.open": {"url": f"{self.base.replace('http', 'ws', 1)}/socket"},
        }
        if method == "conversations.history":
            answers[method] = self._history(body)
        if method not in answers:
            return {"ok": False, "error": "unknown_method"}
        return {"ok": True, **answers[method]}

    async def _response_url(self, request: web.Request) -> web.Response:
        await self._open.wait()
        raw = await request.read()
        body = _decode(request.content_type, raw)
        refusal = refused(body)
        call = Call("response_url", body, dict(request.headers), request.path, raw, not refusal)
        await self._record(call)
        if refusal:  # a response_url answers an error with its HTTP status
            self.refusals.append(("response_url", refusal))
            return web.Response(status=400, text="invalid_blocks")
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.uploads[request.match_info["file_id"]] = raw
        await self._record(Call("upload", {}, dict(request.headers), request.path, raw))
        return web.Response(text=f"OK - {len(raw)}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await self._record(Call("socket.connect", {}, dict(request.headers), request.path))
        await ws.send_json({"type": "hello", "num_connections": 1})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                answer = json.loads(msg.data)
                self.socket_received.append(answer)
                await self._record(Call("socket.ack", answer, {}, request.path))
        return ws

    async def send_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Send a Socket Mode envelope (``slash_commands``, ``interactive``) to the app."""
        envelope_id = f"e-{next(self._ids)}"
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
            }
        )
        return envelope_id

    async def close_sockets(self) -> None:
        for ws in self._sockets:
            await ws.close()


def _decode(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type == "application/json":
        decoded: dict[str, Any] = json.loads(raw)
        return decoded
    from urllib.parse import parse_qsl

    return dict(parse_qsl(raw.decode(), keep_blank_values=True))


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack on an ephemeral 127.0.0.1 port."""
    fake = FakeSlack()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        fake.release_replies()
        await fake.close_sockets()
        await server.close()


def signed_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack sends with ``body``: its timestamp and the v0 signature over both."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


def command_payload(
    text: str,
    *,
    user: str,
    response_url: str,
    trigger_id: str | None = None,
    channel: str = "C0BILLING",
    command: str = "/ar",
) -> dict[str, str]:
    """The fields of a slash command as Slack sends them."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "arbot-test",
        "channel_id": channel,
        "channel_name": "billing",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0ARBOT",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{time.time_ns()}.1234.abcdef",
    }


def command_body(text: str, **fields: Any) -> str:
    """A slash command, form-encoded as Slack POSTs it."""
    return urlencode(command_payload(text, **fields))


def action_payload(
    action_id: str,
    value: str,
    *,
    user: str,
    response_url: str,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload: one button pressed in an ephemeral message."""
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "arbot-test"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0ARBOT",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": "1700000000.000100", "is_ephemeral": True},
        "trigger_id": trigger_id or f"{time.time_ns()}.1234.abcdef",
        "channel": {"id": "C0BILLING", "name": "billing"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "value": value,
                "type": "button",
                "action_ts": "1700000001.000200",
            }
        ],
    }


def action_body(action_id: str, value: str, **fields: Any) -> str:
    """A button press, as the form field ``payload`` holding JSON."""
    return urlencode({"payload": json.dumps(action_payload(action_id, value, **fields))})
