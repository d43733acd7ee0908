"""The Telegram channel: aiogram 3 in front of the channel-agnostic conversation.

Telegram delivers updates one of two ways. With ``PUBLIC_BASE_URL`` set it POSTs them
to ``/telegram/webhook`` (registered with ``setWebhook`` when the app starts), each
carrying the secret token in ``X-Telegram-Bot-Api-Secret-Token``; a request without
the right one gets 401 before anything runs. The secret is TELEGRAM_WEBHOOK_SECRET,
or when that is empty one derived from the bot token, so that every web process
agrees on it. Without a public URL arbot long-polls ``getUpdates`` in a background
task for as long as the web app runs (local development, the demo).

Handlers only translate: a text, a shared contact or a pressed button becomes an
:class:`~bot.patient.events.Inbound` for :func:`~bot.patient.outbound.respond`, which
claims the ``update_id`` (a redelivered update is answered once), runs the
conversation and delivers the replies through
:class:`~bot.patient.messengers.TelegramMessenger`. Only private chats are served: a
bot added to a group says nothing there. A contact counts as the patient's own phone
only when its Telegram user is the sender. Nothing the patient wrote is logged.

``import aiogram`` is slow: only ``bot.web`` imports this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageReplyMarkup,
    GetUpdates,
    SendMessage,
    SetWebhook,
)
from aiogram.methods.base import Response
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.patient.events import Inbound
from bot.patient.messengers import ChoiceData, TelegramMessenger
from bot.patient.outbound import respond
from core.customers import phone_number
from core.errors import ValidationError
from core.settings import Settings

if TYPE_CHECKING:
    from bot.patient.context import PatientContext

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
CONTEXT = "patient"
"""The dispatcher's workflow data key for the :class:`PatientContext`."""
POLLING_TIMEOUT = 25
RESTART_POLLING_AFTER = 5.0

# aiogram reads every Bot API answer through ``Response[method.__returning__]``, and
# pydantic keeps parametrised models only in a weak cache: without a reference of our
# own, ``Response[Message]`` is rebuilt (15-30 ms) whenever the garbage collector has
# taken it, which under load is most replies (make bench, patient bot).
_RESPONSE_MODELS = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        SendMessage,
        AnswerCallbackQuery,
        EditMessageReplyMarkup,
        SetWebhook,
        DeleteWebhook,
        GetUpdates,
    )
)


@dataclass(frozen=True, slots=True)
class TelegramChannel:
    """What :func:`mount` set up (tests and the benchmark feed the dispatcher directly)."""

    bot: Bot
    dispatcher: Dispatcher
    messenger: TelegramMessenger
    webhook: bool


def make_bot(settings: Settings) -> Bot:
    """aiogram's ``Bot`` talking to ``TELEGRAM_API_BASE`` (a fake in tests)."""
    server = TelegramAPIServer.from_base(settings.telegram_api_base)
    return Bot(settings.telegram_bot_token, session=AiohttpSession(api=server))


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or one derived from the bot token (hex: a character set
    Telegram accepts), the same in every process."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    key = settings.telegram_bot_token.encode()
    return hmac.new(key, b"arbot telegram webhook", hashlib.sha256).hexdigest()


def build_dispatcher(ctx: PatientContext) -> Dispatcher:
    # No aiogram FSM: a chat's state is in the database (core.patients.chatstate), and
    # aiogram's in-memory FSM kept a record for every chat that ever wrote, for as long
    # as the process ran.
    dispatcher = Dispatcher(name="arbot-patient", disable_fsm=True)
    dispatcher[CONTEXT] = ctx
    dispatcher.include_router(_router())
    return dispatcher


def _router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.register(on_contact, F.contact)
    router.message.register(on_message)
    router.callback_query.register(on_choice, ChoiceData.filter())
    router.callback_query.register(on_stale_button)
    return router


async def on_message(message: Message, event_update: Update, patient: PatientContext) -> None:
    text = message.text or message.caption or ""
    inbound = Inbound(channel="telegram", address=str(message.chat.id), text=text)
    await respond(patient, inbound, source="telegram", event_id=str(event_update.update_id))


async def on_contact(message: Message, event_update: Update, patient: PatientContext) -> None:
    contact = message.contact
    sender = message.from_user
    own = contact is not None and sender is not None and contact.user_id == sender.id
    phone = _phone(contact.phone_number) if own and contact is not None else None
    inbound = Inbound(
        channel="telegram",
        address=str(message.chat.id),
        contact_phone=phone,
        contact_not_own=not own,
    )
    await respond(patient, inbound, source="telegram", event_id=str(event_update.update_id))


def _phone(raw: str) -> str:
    """Telegram sends the number with or without ``+``; the core wants E.164."""
    digits = raw.strip()
    digits = digits if digits.startswith("+") else f"+{digits}"
    try:
        return phone_number(digits)
    except ValidationError:
        return digits


async def on_choice(
    query: CallbackQuery, callback_data: ChoiceData, event_update: Update, patient: PatientContext
) -> None:
    """A button pressed: answer the choice, then stop the button's spinner and take the
    answer buttons off the message (its links stay) so it cannot be answered twice.

    The reply comes first: the two calls that tidy the button are two Bot API round
    trips, and made before the turn they were most of a pressed button's reply
    latency (make bench). The spinner stops when the reply has arrived, or when the
    turn failed."""
    inbound = Inbound(channel="telegram", address=str(query.from_user.id), choice=callback_data.id)
    try:
        await respond(patient, inbound, source="telegram", event_id=str(event_update.update_id))
    finally:
        with suppress(TelegramAPIError):  # a redelivered press is too old to answer
            await query.answer()
        await _keep_only_links(query)


async def on_stale_button(query: CallbackQuery) -> None:
    """A button whose data is not a choice (another version's): just stop its spinner."""
    with suppress(TelegramAPIError):
        await query.answer()


async def _keep_only_links(query: CallbackQuery) -> None:
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return
    rows = [[b for b in row if b.url] for row in message.reply_markup.inline_keyboard]
    rows = [row for row in rows if row]
    markup = InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    with suppress(TelegramAPIError):  # already edited ("message is not modified")
        await message.edit_reply_markup(reply_markup=markup)


def mount(app: web.Application, ctx: PatientContext) -> TelegramChannel | None:
    """Set up Telegram as configured; None without TELEGRAM_BOT_TOKEN.

    Registers ``ctx.messengers["telegram"]``; then either the webhook (PUBLIC_BASE_URL
    set: ``POST /telegram/webhook``, and ``setWebhook`` when the app starts) or long
    polling while the app runs."""
    settings = ctx.settings
    if not settings.telegram_bot_token:
        return None
    bot = make_bot(settings)
    dispatcher = build_dispatcher(ctx)
    messenger = TelegramMessenger(bot)
    ctx.messengers.setdefault("telegram", messenger)
    webhook = bool(settings.public_base_url)
    if webhook:
        secret = webhook_secret(settings)
        url = settings.public_base_url.rstrip("/") + WEBHOOK_PATH
        # Handled before answering: an update that failed is answered 500 and redelivered.
        handler = SimpleRequestHandler(
            dispatcher, bot, handle_in_background=False, secret_token=secret
        )
        handler.register(app, path=WEBHOOK_PATH)
        app.cleanup_ctx.append(_in_background(lambda: _set_webhook(bot, dispatcher, url, secret)))
    else:
        app.cleanup_ctx.append(_in_background(lambda: _poll(bot, dispatcher)))

        async def close(_: web.Application) -> None:
            await bot.session.close()

        app.on_cleanup.append(close)
    return TelegramChannel(bot, dispatcher, messenger, webhook)


def _in_background(
    work: Callable[[], Coroutine[Any, Any, None]],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context running ``work()`` beside the app, cancelled at the end:
    an unreachable Telegram must not keep /healthz and the other webhooks from serving."""

    async def running(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(work())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    return running


async def _set_webhook(bot: Bot, dispatcher: Dispatcher, url: str, secret: str) -> None:
    try:
        await bot.set_webhook(
            url=url,
            secret_token=secret,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
    except TelegramAPIError as exc:
        log.warning("Telegram refused setWebhook (%s): %s", type(exc).__name__, exc.message)
    else:
        log.info("Telegram webhook set to %s", url)


async def _poll(bot: Bot, dispatcher: Dispatcher) -> None:
    """Long polling, restarted after a failure (Telegram unreachable, a bad token)."""
    while True:
        try:
            # getUpdates is refused while a webhook is set (a previous deployment's).
            await bot.delete_webhook(drop_pending_updates=False)
            await dispatcher.start_polling(
                bot,
                polling_timeout=POLLING_TIMEOUT,
                handle_as_tasks=False,  # one update after the other, in order
                handle_signals=False,
                close_bot_session=False,
            )
            return
        except TelegramAPIError as exc:
            log.warning("Telegram polling stopped (%s); restarting", type(exc).__name__)
        await asyncio.sleep(RESTART_POLLING_AFTER)
