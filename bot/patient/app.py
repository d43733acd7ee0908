"""The patient side of ``arbot serve``: one :class:`PatientContext`, every channel mounted.

Telegram (webhook or long polling), SMS (Twilio), the pay pages (Stripe Checkout, or the
local test checkout without Stripe keys) and the Stripe webhook share one conversation
and one set of messengers. Receipts go back through the same messengers; a staff reply
in a patient's Slack thread comes back through :func:`bot.patient.relay.from_staff`.
"""

from __future__ import annotations

import logging
from functools import partial

from aiohttp import web

from bot.patient import documents, payweb, sms, stripe_webhook, telegram
from bot.patient.context import PatientContext
from bot.patient.conversation import Conversation
from bot.patient.planning import plan_policy
from bot.patient.receipts import send_receipt
from bot.patient.stripe_gateway import make_gateway
from core.db import Database
from core.ports import StaffMessenger
from core.settings import Settings

log = logging.getLogger(__name__)


def mount(
    app: web.Application, settings: Settings, db: Database, staff: StaffMessenger | None
) -> PatientContext:
    conversation = Conversation()
    gateway = make_gateway(settings)
    ctx = PatientContext(
        db,
        settings,
        conversation,
        gateway=gateway,
        staff=staff,
        plan_policy=plan_policy(settings),
    )
    conversation.bind(ctx)
    ctx.notify = partial(send_receipt, ctx)

    async def close_gateway(_: web.Application) -> None:
        await gateway.close()

    app.on_cleanup.append(close_gateway)
    if not settings.stripe_secret_key:
        log.warning("STRIPE_SECRET_KEY is not set: pay links open the local TEST checkout")
    telegram.mount(app, ctx)
    sms.mount(app, ctx)
    payweb.mount(app, ctx)
    documents.mount(app, ctx)
    stripe_webhook.mount(app, ctx)
    return ctx
