"""The scheduler's digests in Slack: their messages, the button that drills from an ATB
bucket to its accounts, and the ports that let the scheduler post them.

The scheduler (``scheduler.digests``) decides what a digest says and posts it once; it
renders it through :func:`render` (``templates/slack/digest_*.json.j2``), given to it as
``Ports.staff_render`` by :func:`with_digests`. Each bucket of an ATB digest has a
button whose value is ``<digest id>:<bucket position>``, ids only: pressing it lists that
bucket's accounts, read again from the ledger by ``core.digests.bucket_accounts`` with
the presser's permissions (VIEW_REPORTS at the digest's location), to the presser alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.staff import ids
from bot.staff.actions import Action, listener
from bot.staff.messenger import SlackStaffMessenger
from bot.staff.render import message
from bot.staff.turn import Turn
from bot.staff.words import ParseError
from core.auth import Actor
from core.digests import bucket_accounts
from core.settings import Settings
from scheduler.digests import digest_settings
from scheduler.ports import Ports

DRILL = "ar_digest_bucket"
"""An ATB digest's bucket button; its value is ``<digest id>:<bucket position>``."""


def render(template: str, locale: str = "en_US", **context: Any) -> dict[str, Any]:
    """A digest's Slack payload (``scheduler.ports.StaffRenderer``)."""
    return message(template, locale, drill=DRILL, **context)


def bucket_of(value: str) -> tuple[int, int]:
    """The digest id and bucket position a button names."""
    digest, sep, position = value.partition(":")
    if not sep:
        raise ParseError("this button does not name a digest's bucket")
    return ids.id_in(digest, "a digest"), ids.id_in(position, "a digest's bucket")


async def drill(turn: Turn, staff: Actor, action: Action) -> None:
    digest_id, position = bucket_of(str(action.get("value", "")))
    async with turn.db.read() as conn:
        found = await bucket_accounts(conn, staff, digest_id, position)
    await turn.reply("digest_accounts", found=found)


def register(app: AsyncApp) -> None:
    app.action(DRILL)(listener(drill))


def with_digests(ports: Ports, settings: Settings) -> Ports:
    """``ports`` able to post the digests as the environment configures them: Slack
    (``SLACK_BOT_TOKEN``, ``SLACK_API_URL``) and ``ARBOT_ATB_DIGEST*``,
    ``ARBOT_CASH_DIGEST_CHANNEL``. Without a bot token a digest can still be dry-run."""
    staff = ports.staff
    if staff is None and settings.slack_bot_token:
        client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        staff = SlackStaffMessenger(client)
    digests = digest_settings(
        atb=settings.atb_digest,
        atb_channel=settings.atb_digest_channel,
        atb_channels=settings.atb_digest_channels,
        cash_channel=settings.cash_digest_channel,
    )
    return replace(ports, staff=staff, staff_render=render, digests=digests)
