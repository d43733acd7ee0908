"""A fake Twilio Messages API on 127.0.0.1, and Twilio's way of signing webhooks.

The fake serves ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (``TWILIO_API_BASE``
points at it): it checks HTTP basic auth (account SID and auth token), records each
message (:attr:`FakeTwilio.messages`) and answers 201 with the message resource, or
Twilio's error JSON (``{"code", "message", "more_info", "status"}``) when a test made
a number fail (:meth:`~FakeTwilio.fail_number`), throttled it (429 with Retry-After)
or broke the server (500).

:func:`signed_headers` signs an inbound webhook form the way Twilio does
(``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL followed by the sorted form
fields, computed by twilio's own ``RequestValidator.compute_signature``), and
:func:`inbound_form` builds the form Twilio POSTs when a patient texts the clinic.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token-0001"
FROM_NUMBER = "+15005550006"

ERRORS = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit",
}
MAX_BODY = 1600
"""Characters in one message's body; Twilio refuses a longer one (error 21617)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One POST to Messages.json, as the fake received it, and how it answered."""

    to: str
    from_: str
    body: str
    status: int
    sid: str | None


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    base: str = ""
    attempts: list[Message] = field(default_factory=list)
    """Every request, the refused ones too."""
    _failures: dict[str, list[tuple[int, int, int | None]]] = field(default_factory=dict)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _sids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def messages(self) -> list[Message]:
        """The messages Twilio accepted (201)."""
        return [m for m in self.attempts if m.status == 201]

    def sent_to(self, number: str) -> list[Message]:
        return [m for m in self.messages if m.to == number]

    async def wait_for(self, count: int) -> list[Message]:
        """The accepted messages once there are ``count`` (at most 10 seconds' wait)."""
        async with asyncio.timeout(10), self._arrived:
            await self._arrived.wait_for(lambda: len(self.messages) >= count)
        return self.messages

    def fail_number(self, number: str, code: int, times: int = 1_000_000) -> None:
        """Sends to ``number`` answer 400 with Twilio error ``code`` (21211, 21610 ...)."""
        self._failures.setdefault(number, []).extend([(400, code, None)] * times)

    def throttle(self, number: str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` sends to ``number`` answer 429 (error 20429, Retry-After)."""
        self._failures.setdefault(number, []).extend([(429, 20429, retry_after)] * times)

    def break_server(self, number: str, times: int = 1) -> None:
        self._failures.setdefault(number, []).extend([(500, 20500, None)] * times)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._messages)
        return app

    async def _messages(self, request: web.Request) -> web.Response:
        form = await request.post()
        to, from_, body = (str(form.get(k, "")) for k in ("To", "From", "Body"))
        if not self._authorised(request):
            return await self._answer(Message(to, from_, body, 401, None), _error(20003, 401))
        pending = self._failures.get(to)
        if pending:
            status, code, retry = pending.pop(0)
            response = _error(code, status, to=to)
            if retry is not None:
                response.headers["Retry-After"] = str(retry)
            return await self._answer(Message(to, from_, body, status, None), response)
        if not to.startswith("+") or not to[1:].isdigit():
            return await self._answer(Message(to, from_, body, 400, None), _error(21211, 400, to))
        if not body:
            return await self._answer(Message(to, from_, body, 400, None), _error(21602, 400))
        if len(body) > MAX_BODY:
            return await self._answer(Message(to, from_, body, 400, None), _error(21617, 400))
        sid = f"SM{next(self._sids):032x}"
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": from_,
            "body": body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return await self._answer(
            Message(to, from_, body, 201, sid), web.json_response(resource, status=201)
        )

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            scheme == "Basic"
            and request.match_info["sid"] == self.account_sid
            and (login, password) == (self.account_sid, self.auth_token)
        )

    async def _answer(self, message: Message, response: web.Response) -> web.Response:
        async with self._arrived:
            self.attempts.append(message)
            self._arrived.notify_all()
        return response


def _error(code: int, status: int, to: str = "") -> web.Response:
    words = {20003: "Authenticate", 20429: "Too Many Requests", 21602: "Message body is required."}
    text = ERRORS.get(code, words.get(code, "Internal Server Error")).format(to=to)
    body = {
        "code": code,
        "message": text,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    """The fake Twilio on an ephemeral 127.0.0.1 port (``fake.base`` is TWILIO_API_BASE)."""
    fake = FakeTwilio()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()


_message_sids = itertools.count(1)


def inbound_form(
    from_: str, body: str, *, to: str = FROM_NUMBER, sid: str | None = None
) -> dict[str, str]:
    """The form Twilio POSTs to the messaging webhook when ``from_`` texts ``to``."""
    sid = sid or f"SM{next(_message_sids):032x}"
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }


def signed_headers(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    """The headers Twilio sends with ``form`` POSTed to ``url`` (the public URL)."""
    signature = RequestValidator(token).compute_signature(url, form)
    return {"X-Twilio-Signature": signature}
