"""The composition root for ``arbot serve``: one aiohttp app for every endpoint.

It serves ``GET /healthz``, which answers 200 only when the database answers; the
Slack app (``POST /slack/events`` when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are
set, and a Socket Mode connection while the app runs when SLACK_APP_TOKEN is set); and
the patient side (``bot.patient.app``): ``POST /telegram/webhook`` or long polling
with TELEGRAM_BOT_TOKEN, ``POST /sms/inbound`` with Twilio, ``/pay/<token>`` and
``POST /stripe/webhook``. Staff hear from patients through the Slack client.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from functools import partial

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text

from bot.patient import app as patient_app
from bot.patient.context import PatientContext
from bot.patient.relay import from_staff
from bot.staff.app import mount
from bot.staff.messenger import SlackStaffMessenger
from bot.staff.services import Services
from core.clock import SystemClock
from core.db import Database
from core.settings import Settings, aging_rule, invoice_setup

DB_KEY = web.AppKey("db", Database)
SLACK_KEY = web.AppKey("slack", Services)
"""The Slack app's services, when Slack is configured (tests wait on ``.work``)."""
PATIENT_KEY = web.AppKey("patient", PatientContext)


def settle_heap() -> int:
    """Once the app is up (``arbot serve`` calls this when it serves): collect what
    start-up left behind, then take every object still alive out of the garbage
    collector's sight. Those are the modules, aiogram's and pydantic's models,
    SQLAlchemy's tables, babel's locale data: about 350,000 objects that live as long as
    the process, and a full collection walked them all, 220-320 ms in which no chat was
    answered (make bench, patient bot). Returns how many objects were set aside."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DB_KEY]
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # the probe reports any failure, it does not raise
        return web.json_response({"status": "error", "database": type(exc).__name__}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def in_process_scheduler(
    settings: Settings, db: Database, patient: PatientContext
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context running the scheduler beside the web app (one-process
    installs): it sends through the patient channels' own messengers and gateway. With
    several processes on PostgreSQL the leader lock keeps one scheduler active."""

    async def running(_: web.Application) -> AsyncIterator[None]:
        from bot.jobports import scheduler_ports
        from scheduler.runner import lead

        stop = asyncio.Event()
        async with scheduler_ports(
            settings,
            db,
            messengers=patient.messengers,
            gateway=patient.gateway,
            staff=patient.staff,
        ) as ports:
            task = asyncio.create_task(lead(db, SystemClock(), ports, stop))
            try:
                yield
            finally:
                stop.set()
                await task

    return running


def make_app(
    settings: Settings, db: Database | None = None, *, with_scheduler: bool = False
) -> web.Application:
    aging_rule(settings)  # AR-194: a wrong ARBOT_AGING_* stops the web process at start
    invoice_setup(settings)  # BI-05, BI-14: so does a wrong ARBOT_INVOICE_*
    app = web.Application()
    database = db or Database(settings.database_url)
    app[DB_KEY] = database
    app.router.add_get("/healthz", healthz)
    slack = mount(app, settings, database)
    staff = None
    if settings.slack_bot_token:
        client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        staff = SlackStaffMessenger(client)
    patient = patient_app.mount(app, settings, database, staff)
    app[PATIENT_KEY] = patient
    if slack is not None:
        slack.patient_reply = partial(from_staff, patient)
        slack.gateway = patient.gateway
        app[SLACK_KEY] = slack
    if with_scheduler:
        app.cleanup_ctx.append(in_process_scheduler(settings, database, patient))

    async def close_db(_: web.Application) -> None:
        if db is None:
            await database.dispose()

    app.on_cleanup.append(close_db)
    return app
