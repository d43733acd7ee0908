"""What the scheduler sends through, wired from the environment (DESIGN: bot wires
everything): the patient messengers (Telegram, Twilio), the payment gateway, Slack for
staff digests, the texts, and the jobs' settings.

``arbot scheduler`` and ``arbot jobs run`` build their own messengers; ``arbot serve``
hands over the ones its patient channels already use, so one process keeps one
Telegram session and one Twilio pace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial

from bot.patient.outbound import deliver
from bot.patient.stripe_gateway import make_gateway
from bot.patient.texts import say
from bot.staff.digest import with_digests
from core.db import Database
from core.money import parse_money
from core.ports import PatientMessenger, PaymentGateway, StaffMessenger
from core.settings import Settings
from scheduler.ports import Ports
from scheduler.settings import plan_job_settings


def _own_messengers(
    settings: Settings, closers: list[Callable[[], Awaitable[None]]]
) -> dict[str, PatientMessenger]:
    messengers: dict[str, PatientMessenger] = {}
    if settings.telegram_bot_token:
        from bot.patient.messengers import TelegramMessenger
        from bot.patient.telegram import make_bot

        bot = make_bot(settings)
        messengers["telegram"] = TelegramMessenger(bot)
        closers.append(bot.session.close)
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number:
        from bot.patient.messengers import TwilioMessenger

        twilio = TwilioMessenger(settings)
        messengers["sms"] = twilio
        closers.append(twilio.close)
    return messengers


@asynccontextmanager
async def scheduler_ports(
    settings: Settings,
    db: Database,
    *,
    messengers: Mapping[str, PatientMessenger] | None = None,
    gateway: PaymentGateway | None = None,
    staff: StaffMessenger | None = None,
) -> AsyncIterator[Ports]:
    """The scheduler's ports; a patient channel not configured keeps its reminders
    queued. Messengers and a gateway given are used as they are (and not closed)."""
    closers: list[Callable[[], Awaitable[None]]] = []
    reach = dict(messengers) if messengers is not None else _own_messengers(settings, closers)
    if gateway is None:
        own = make_gateway(settings)
        closers.append(own.close)
        gateway = own
    small = parse_money(settings.small_balance or "0", settings.currency).minor
    try:
        yield with_digests(
            Ports(
                send=partial(deliver, db, reach),
                render=say,
                staff=staff,
                channels=frozenset(reach),
                pay_base_url=settings.public_base_url or f"http://{settings.host}:{settings.port}",
                currency=settings.currency,
                small_balances={"self": small} if small > 0 else {},
                gateway=gateway,
                approval_expiry_days=settings.approval_expiry_days,
                **plan_job_settings(settings),
            ),
            settings,
        )
    finally:
        for close in closers:
            await close()
