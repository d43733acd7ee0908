"""The SMS channel: Twilio POSTs each text a patient sends to ``/sms/inbound``.

Twilio signs every webhook (``X-Twilio-Signature``: HMAC-SHA1 with the account's auth
token over the URL it called and the form's fields); a request whose signature does
not check out against ``PUBLIC_BASE_URL`` + ``/sms/inbound`` gets 403 and changes
nothing. The URL is the configured public one, not the one the request arrived on,
which a proxy in front of arbot rewrites. A message's ``MessageSid`` is claimed once,
so a retried webhook is not answered twice.

The patient's text goes to the conversation as it is (a number picks an option, STOP,
START and HELP are the conversation's to honour); the replies go out through Twilio's
REST API (:class:`~bot.patient.messengers.TwilioMessenger`), one SMS each with the
options as numbered lines, and the webhook answers an empty TwiML ``<Response/>``.
Nothing the patient wrote is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from twilio.request_validator import RequestValidator

from bot.patient.events import Inbound
from bot.patient.messengers import TwilioMessenger
from bot.patient.outbound import respond
from core.settings import Settings

if TYPE_CHECKING:
    from bot.patient.context import PatientContext

log = logging.getLogger(__name__)
INBOUND_PATH = "/sms/inbound"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def inbound_url(settings: Settings) -> str:
    """The URL Twilio calls and signs: the one to enter in the number's settings."""
    return settings.public_base_url.rstrip("/") + INBOUND_PATH


def inbound_handler(ctx: PatientContext) -> Callable[[web.Request], Awaitable[web.Response]]:
    validator = RequestValidator(ctx.settings.twilio_auth_token)
    url = inbound_url(ctx.settings)

    async def on_sms(request: web.Request) -> web.Response:
        form = await request.post()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(url, form, signature):
            log.warning("refused an SMS webhook with a missing or wrong signature")
            return web.Response(status=403, text="invalid Twilio signature")
        sid, sender = str(form.get("MessageSid", "")), str(form.get("From", ""))
        if not sid or not sender:
            return web.Response(status=400, text="MessageSid and From are required")
        inbound = Inbound(channel="sms", address=sender, text=str(form.get("Body", "")))
        await respond(ctx, inbound, source="sms", event_id=sid)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    return on_sms


def mount(app: web.Application, ctx: PatientContext) -> TwilioMessenger | None:
    """Set up SMS as configured; None when Twilio is not (no account SID or token).

    The messenger (``ctx.messengers["sms"]``) needs TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER; the inbound webhook also needs
    PUBLIC_BASE_URL, the address Twilio calls and signs."""
    settings = ctx.settings
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        return None
    if not settings.twilio_from_number:
        log.warning("TWILIO_FROM_NUMBER is not set: arbot sends no SMS")
        return None
    messenger = TwilioMessenger(settings)
    ctx.messengers.setdefault("sms", messenger)

    async def close(_: web.Application) -> None:
        await messenger.close()

    app.on_cleanup.append(close)
    if settings.public_base_url:
        app.router.add_post(INBOUND_PATH, inbound_handler(ctx))
    else:
        log.warning("PUBLIC_BASE_URL is not set: SMS from patients cannot reach arbot")
    return messenger
