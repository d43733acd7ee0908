"""Events: ``app_home_opened`` publishes the user's App Home tab (``bot.staff.home``)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.staff.home import home_view
from bot.staff.services import services_of

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(on_home_opened)


async def on_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tab", "home") != "home":
        return  # the Messages tab: nothing to publish
    services = services_of(context)
    with services.work.track():
        user = str(event.get("user", ""))
        try:
            view = await home_view(services, user)
            await context.client.views_publish(user_id=user, view=view)
        except Exception:
            log.exception("publishing the App Home of %s failed", user)
