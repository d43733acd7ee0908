"""Sending to patients: Telegram through aiogram's ``Bot``, SMS through Twilio's REST API.

Both implement :class:`core.ports.PatientMessenger`: one rendered message in, a
:class:`~core.ports.Delivery` out, never an exception for a failure the provider
reported. Each keeps to its provider's rate limits (Telegram: about 30 messages a
second overall and one a second per chat, with a short burst; a Twilio long code: one
a second), retries a 429 after the wait the provider asked for and a 5xx or a refused
connection with exponential backoff, three tries in all, and classifies what failed
for the delivery failure report (AR-179): the patient blocked the bot or opted out
(``blocked``), the chat or number does not exist (``invalid_address``), still rate
limited (``rate_limited``), anything else (``error``).

A text longer than one message holds (Telegram: 4,096 UTF-16 code units; Twilio: 1,600
characters) goes in parts, split at line ends, in order, each paced and retried on its
own; a Telegram message's buttons go with the last part. A part that fails stops the
rest, and that failure is the delivery's.

Rates are kept per process: several web processes each keep their own pace.
The message text is never logged.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import lru_cache, partial
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.patient.outbound import sms_text
from bot.patient.texts import label
from bot.pieces import parts
from core.ports import Choice, Delivery, OutboundMessage
from core.settings import Settings

log = logging.getLogger(__name__)
TRIES = 3
MAX_RETRY_AFTER = 30.0
"""A provider asking for a longer wait than this gets ``rate_limited`` at once: a
webhook's reply cannot wait that long."""
CONTACT_CHOICE = "contact"
"""A choice with this id labels Telegram's 'Share my phone number' button."""
CONTACT_LABEL = "Share my phone number"


class Pace:
    """At most ``rate`` sends a second for each key, allowing bursts of ``burst``.

    A token bucket per key: :meth:`wait` returns at once while the key has a token and
    otherwise sleeps until one has refilled. Buckets that have refilled are forgotten
    now and then, so a million chats do not stay in memory.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate, self.burst = rate, float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    async def wait(self, key: str = "") -> None:
        while True:
            now = time.monotonic()
            tokens, stamp = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                if len(self._buckets) > 10_000:
                    self._forget_full(now)
                return
            self._buckets[key] = (tokens, now)
            await asyncio.sleep((1 - tokens) / self.rate)

    def _forget_full(self, now: float) -> None:
        full = [
            key
            for key, (tokens, stamp) in self._buckets.items()
            if tokens + (now - stamp) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]


TELEGRAM_MAX_TEXT = 4096
"""The Bot API's limit on a message's text, in UTF-16 code units."""
TWILIO_MAX_BODY = 1600
"""Twilio's limit on a message's body; it refuses a longer one (error 21617)."""


class Retry(Exception):
    """A try that may be repeated, after ``wait`` seconds when the provider said so."""

    def __init__(self, failure: str, detail: str, wait: float | None = None) -> None:
        super().__init__(detail)
        self.failure, self.detail, self.wait = failure, detail, wait


async def with_retries(
    attempt: Callable[[], Awaitable[Delivery]], *, backoff: float, what: str
) -> Delivery:
    """Run ``attempt`` up to :data:`TRIES` times while it raises :class:`Retry`."""
    last = Retry("error", "not tried")
    for n in range(TRIES):
        try:
            return await attempt()
        except Retry as retry:
            last = retry
            if n == TRIES - 1 or (retry.wait or 0) > MAX_RETRY_AFTER:
                break
            delay = retry.wait if retry.wait is not None else backoff * 2**n
            log.info("%s send failed (%s), retrying in %.1f s", what, retry.failure, delay)
            await asyncio.sleep(delay)
    log.warning("%s send failed: %s", what, last.failure)
    return Delivery(ok=False, failure=last.failure, detail=last.detail)


async def in_parts(
    texts: list[str],
    send_part: Callable[[str, bool], Awaitable[Delivery]],
    *,
    backoff: float,
    what: str,
) -> Delivery:
    """``send_part(text, last)`` for each of ``texts`` in turn, each with its own
    retries; the last part's delivery, or the first failure (the parts after it are not
    sent), which names its part when there are several."""
    delivery = Delivery(ok=False, failure="error", detail="nothing to send")
    for n, text in enumerate(texts, start=1):
        attempt = partial(send_part, text, n == len(texts))
        delivery = await with_retries(attempt, backoff=backoff, what=what)
        if not delivery.ok:
            if len(texts) > 1:
                where = f"part {n} of {len(texts)}: {delivery.detail or delivery.failure}"
                delivery = replace(delivery, detail=where)
            return delivery
    return delivery


class ChoiceData(CallbackData, prefix="c", sep="|"):
    """An inline button's callback data: the id of the choice it stands for."""

    id: str


def telegram_markup(
    message: OutboundMessage,
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove:
    """Choices as an inline keyboard, one button a row (a URL choice is a link button).

    With ``ask_contact`` the keyboard is a one-time reply keyboard instead (Telegram
    allows one per message): the 'Share my phone number' button first, labelled by the
    choice with id :data:`CONTACT_CHOICE` if there is one, then each other choice as a
    button that sends its label as text (a language's name, a keyword). A message
    without choices takes away a reply keyboard left from before."""
    if message.ask_contact:
        named = [c for c in message.choices if c.id == CONTACT_CHOICE]
        text = named[0].label if named else label(None, CONTACT_LABEL)
        rows = [[KeyboardButton(text=text, request_contact=True)]]
        others = [c for c in message.choices if not c.url and c.id != CONTACT_CHOICE]
        rows += [[KeyboardButton(text=c.label)] for c in others]
        return ReplyKeyboardMarkup(keyboard=rows, one_time_keyboard=True, resize_keyboard=True)
    if not message.choices:
        return ReplyKeyboardRemove()
    return _inline_keyboard(message.choices)


@lru_cache(maxsize=1024)
def _inline_keyboard(choices: tuple[Choice, ...]) -> InlineKeyboardMarkup:
    """Built once per set of choices: most replies carry the same menu, and each button
    is a pydantic model (make bench). aiogram only reads the markup it is given."""
    buttons = [
        InlineKeyboardButton(text=c.label, url=c.url)
        if c.url
        else InlineKeyboardButton(text=c.label, callback_data=ChoiceData(id=c.id).pack())
        for c in choices
    ]
    return InlineKeyboardMarkup(inline_keyboard=[[b] for b in buttons])


class TelegramMessenger:
    """Sends with aiogram's ``Bot`` (``TELEGRAM_API_BASE`` set on its session)."""

    def __init__(
        self,
        bot: Bot,
        *,
        overall: Pace | None = None,
        per_chat: Pace | None = None,
        backoff: float = 0.5,
    ) -> None:
        self.bot = bot
        self.overall = overall or Pace(30, 30)
        self.per_chat = per_chat or Pace(1, 3)
        self.backoff = backoff

    async def send(self, channel: str, address: str, message: OutboundMessage) -> Delivery:
        markup = telegram_markup(message)

        async def part(text: str, last: bool) -> Delivery:
            await self.per_chat.wait(address)
            await self.overall.wait()
            try:
                sent = await self.bot.send_message(
                    chat_id=int(address),
                    text=text,
                    reply_markup=markup if last else None,
                    # A link preview would fetch the pay page, which opens a payment.
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except TelegramAPIError as exc:
                return _telegram_failure(exc)
            return Delivery(ok=True, provider_ref=str(sent.message_id))

        texts = parts(message.text, TELEGRAM_MAX_TEXT)
        return await in_parts(texts, part, backoff=self.backoff, what="telegram")


def _telegram_failure(exc: TelegramAPIError) -> Delivery:
    """What a Bot API error means for the delivery report, or :class:`Retry`."""
    words = exc.message
    if isinstance(exc, TelegramRetryAfter):
        raise Retry("rate_limited", words, float(exc.retry_after))
    if words.startswith("Too Many Requests"):  # a 429 without retry_after: back off
        raise Retry("rate_limited", words)
    if isinstance(exc, TelegramServerError | TelegramNetworkError):
        raise Retry("error", words)
    if isinstance(exc, TelegramForbiddenError):
        gone = "deactivated" in words
        return Delivery(ok=False, failure="invalid_address" if gone else "blocked", detail=words)
    if isinstance(exc, TelegramBadRequest) and "chat not found" in words.lower():
        return Delivery(ok=False, failure="invalid_address", detail=words)
    return Delivery(ok=False, failure="error", detail=words)


TWILIO_FAILURES = {
    21211: "invalid_address",  # the 'To' number is not a valid phone number
    21614: "invalid_address",  # the 'To' number is not a mobile number
    21612: "invalid_address",  # the 'To' number cannot be reached from this number
    21408: "invalid_address",  # no permission to send to the region
    21610: "blocked",  # the recipient replied STOP
}


class TwilioMessenger:
    """Sends SMS through Twilio's Messages API with a plain aiohttp POST.

    twilio's own async client warns under ``filterwarnings = error`` and hardcodes its
    base URL; this posts ``To``, ``From`` and ``Body`` to
    ``{TWILIO_API_BASE}/2010-04-01/Accounts/{sid}/Messages.json`` with basic auth.
    Without a ``session`` it opens its own on first use (:meth:`close` closes it)."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession | None = None,
        *,
        pace: Pace | None = None,
        backoff: float = 0.5,
        timeout: float = 15.0,
    ) -> None:
        self.settings = settings
        self._session = session
        self._own_session = session is None
        self.pace = pace or Pace(1, 1)
        self.backoff = backoff
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        base = settings.twilio_api_base.rstrip("/")
        self.url = f"{base}/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json"
        pair = f"{settings.twilio_account_sid}:{settings.twilio_auth_token}".encode()
        self.headers = {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def send(self, channel: str, address: str, message: OutboundMessage) -> Delivery:
        async def part(text: str, last: bool) -> Delivery:
            form = {"To": address, "From": self.settings.twilio_from_number, "Body": text}
            await self.pace.wait(self.settings.twilio_from_number)
            try:
                async with self._client().post(
                    self.url, data=form, headers=self.headers, timeout=self.timeout
                ) as response:
                    body = await _json(response)
                    status, retry_after = response.status, response.headers.get("Retry-After")
            except aiohttp.ClientConnectorError as exc:  # nothing reached Twilio
                raise Retry("error", f"cannot connect to Twilio: {exc.os_error}") from exc
            except (aiohttp.ClientError, TimeoutError) as exc:  # it may have been sent
                return Delivery(ok=False, failure="error", detail=type(exc).__name__)
            return _twilio_outcome(status, body, retry_after)

        texts = parts(sms_text(message), TWILIO_MAX_BODY)
        return await in_parts(texts, part, backoff=self.backoff, what="sms")


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _twilio_outcome(status: int, body: dict[str, Any], retry_after: str | None) -> Delivery:
    words = str(body.get("message") or f"HTTP {status}")
    if 200 <= status < 300:
        return Delivery(ok=True, provider_ref=str(body.get("sid") or "") or None)
    if status == 429:
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise Retry("rate_limited", words, wait)
    if status >= 500:
        raise Retry("error", words)
    code = body.get("code")
    failure = TWILIO_FAILURES.get(code, "error") if isinstance(code, int) else "error"
    detail = f"{code}: {words}" if code else words
    return Delivery(ok=False, failure=failure, detail=detail)
