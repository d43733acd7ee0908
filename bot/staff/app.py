"""The Slack app: one bolt ``AsyncApp`` over arbot's services, and its two transports.

Over HTTP, Slack POSTs signed requests to ``/slack/events`` (``events_handler``,
mounted by ``bot.web``); bolt refuses a bad or stale signature with 401 before any
listener runs. Over Socket Mode (``SLACK_APP_TOKEN``), the same app receives the same
requests through a websocket that arbot opens (``socket_mode``), with no public URL.

Listeners acknowledge first and work after: bolt answers Slack as soon as ``ack()``
is called and lets the listener run on (``process_before_response=False``), so
Slack's three-second limit never depends on the database. Work still running is
counted (``Services.work``), so a shutdown waits for it before the database closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.staff import actions, commands, digest, events, modals, threads, views
from bot.staff.services import SERVICES, Services
from core.db import Database
from core.settings import Settings

log = logging.getLogger(__name__)
SHUTDOWN_WAIT = 25
"""Seconds a shutdown waits for acknowledged Slack work (a Procfile platform waits 30)."""
NO_APPROVALS_CHANNEL = (
    "SLACK_APPROVALS_CHANNEL is not set: write-off and refund requests will be posted for "
    "approval in whichever channel they are asked in, where everyone in that channel sees "
    "them, and requests asked in a direct message will be refused. Set it to the id of the "
    "approvers' channel (like C0123ABCD) and invite arbot there."
)


def build_app(settings: Settings, db: Database, *, services: Services | None = None) -> AsyncApp:
    """The bolt app, talking to the Web API at ``SLACK_API_URL``."""
    services = services or Services(db, settings)
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        process_before_response=False,
        name="arbot",
    )

    async def inject(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        context[SERVICES] = services
        await next()

    app.use(inject)
    commands.register(app)
    actions.register(app)
    events.register(app)
    views.register(app)
    modals.register(app)
    threads.register(app)
    digest.register(app)
    return app


def events_handler(bolt: AsyncApp) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for ``POST /slack/events`` (commands, buttons, events)."""

    async def slack_events(request: web.Request) -> web.StreamResponse:
        response = await bolt.async_dispatch(read_form(await to_bolt_request(request)))
        return await to_aiohttp_response(response)

    return slack_events


def read_form(req: AsyncBoltRequest) -> AsyncBoltRequest:
    """slack-bolt reads any form body in which the word "payload" appears as a button's
    ``payload=...`` field, finds none and leaves the request empty: Slack then gets 404
    for ``/ar find payload`` or a note saying "the 835 payload was short" (found by the
    random-text test). Such a body is read again as the form it is."""
    if req.body or req.content_type != "application/x-www-form-urlencoded":
        return req
    form = dict(parse_qsl(req.raw_body, keep_blank_values=True))
    if form and "payload" not in form:
        req.body = form
        req.context = build_async_context(AsyncBoltContext({}), form)
    return req


def socket_mode(
    bolt: AsyncApp, app_token: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context: connect to Slack over Socket Mode while serving."""

    async def connected(_: web.Application) -> AsyncIterator[None]:
        handler = AsyncSocketModeHandler(bolt, app_token)
        # Connecting runs beside the web server: slack_sdk retries a refused token or an
        # outage forever, and that must not keep /healthz and the webhooks from serving.
        # (slack_sdk's Socket Mode handler has no annotations)
        connecting = asyncio.create_task(handler.connect_async())  # type: ignore[no-untyped-call]
        try:
            yield
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
            connecting.cancel()
            with suppress(asyncio.CancelledError):
                await connecting

    return connected


def mount(app: web.Application, settings: Settings, db: Database) -> Services | None:
    """Mount the Slack app on ``app`` as configured; ``None`` when Slack is not set up.

    HTTP needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; Socket Mode needs
    SLACK_BOT_TOKEN and SLACK_APP_TOKEN. Both may be on at once."""
    http = bool(settings.slack_bot_token and settings.slack_signing_secret)
    socket = bool(settings.slack_bot_token and settings.slack_app_token)
    if not (http or socket):
        return None
    if not settings.slack_approvals_channel:
        log.warning(NO_APPROVALS_CHANNEL)
    services = Services(db, settings)
    bolt = build_app(settings, db, services=services)
    if http:
        app.router.add_post("/slack/events", events_handler(bolt))
    if socket:
        app.cleanup_ctx.append(socket_mode(bolt, settings.slack_app_token))

    async def finish_work(_: web.Application) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_WAIT):
                await services.work.idle()
        except TimeoutError:
            log.warning("Slack work still running at shutdown")

    app.on_shutdown.append(finish_work)
    return services
