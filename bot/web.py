"""The composition root for ``arbot serve``: one aiohttp app for every endpoint.

Later parts mount the Telegram, Stripe and Twilio webhooks here. Today it serves
``GET /healthz``, which answers 200 only when the database answers, and the Slack
app: ``POST /slack/events`` when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set, and
a Socket Mode connection for as long as the app runs when SLACK_APP_TOKEN is set.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from bot.staff.app import mount
from bot.staff.services import Services
from core.db import Database
from core.settings import Settings

DB_KEY = web.AppKey("db", Database)
SLACK_KEY = web.AppKey("slack", Services)
"""The Slack app's services, when Slack is configured (tests wait on ``.work``)."""


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DB_KEY]
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # the probe reports any failure, it does not raise
        return web.json_response({"status": "error", "database": type(exc).__name__}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def make_app(settings: Settings, db: Database | None = None) -> web.Application:
    app = web.Application()
    database = db or Database(settings.database_url)
    app[DB_KEY] = database
    app.router.add_get("/healthz", healthz)
    slack = mount(app, settings, database)
    if slack is not None:
        app[SLACK_KEY] = slack

    async def close_db(_: web.Application) -> None:
        if db is None:
            await database.dispose()

    app.on_cleanup.append(close_db)
    return app
