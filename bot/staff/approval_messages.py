"""An approval request's one message in the approvals channel: posted once, found
again, updated in place (AR-026, AR-088).

Core hands out the message slot (``core.approvals.messages``), so a Slack retry or a
second delivery finds it taken. A post that fails is made again by Slack's retry, or by
the next ``/ar`` command anyone sends (:func:`post_unsent`). A post can reach Slack
without arbot hearing back (a timeout, a process that died before recording it): the
message carries the request id in its metadata, and the next attempt looks for it in
the channel's history and updates it instead of posting a second.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.staff.money import balance_of
from bot.staff.render import message
from bot.staff.services import Services
from core.approvals import (
    Claim,
    Request,
    Status,
    claim_message,
    release_message,
    set_message,
    unsent,
)
from core.approvals.payouts import payout_of
from core.ledger.accounts import load_account

log = logging.getLogger(__name__)
MESSAGE_EVENT = "arbot_approval_request"
"""The metadata event type on a request's channel message (payload: ``request_id``)."""
HISTORY_SLACK = 60
"""Seconds before an earlier claim from which its message is looked for (clock skew)."""


async def post_request(
    services: Services, client: AsyncWebClient, request: Request, channel: str
) -> bool:
    """Post ``request``'s message in ``channel`` unless it is posted (or being posted);
    whether this call posted it. A failed post gives the slot back and raises, so that
    the message is posted later (a retry, or :func:`post_unsent`)."""
    claim = await claim_message(services.db, request.id, channel)
    if claim is None:
        return False
    try:
        payload = await request_message(services, request)
        found = await already_posted(client, request, channel, claim)
        if found is not None:
            await client.chat_update(channel=channel, ts=found, **payload)
            where = (channel, found)
        else:
            posted = await client.chat_postMessage(
                channel=channel, metadata=_metadata(request), **payload
            )
            where = (str(posted["channel"]), str(posted["ts"]))
    except BaseException:
        await release_message(services.db, request.id)
        raise
    await set_message(services.db, request.id, *where)
    return True


def _metadata(request: Request) -> dict[str, Any]:
    """Slack message metadata naming the request, so its message can be found again."""
    return {"event_type": MESSAGE_EVENT, "event_payload": {"request_id": request.id}}


async def already_posted(
    client: AsyncWebClient, request: Request, channel: str, claim: Claim
) -> str | None:
    """The ts of the request's message, when an earlier attempt to post it (``claim``)
    reached Slack although arbot never heard back: found in the channel's history by its
    metadata. ``None`` if there was no earlier attempt, or nothing is found (or the
    history cannot be read: then a second message is better than none)."""
    if claim.earlier is None:
        return None
    try:
        history = await client.conversations_history(
            channel=channel,
            oldest=f"{claim.earlier.timestamp() - HISTORY_SLACK:.6f}",
            include_all_metadata=True,
            limit=200,
        )
    except SlackApiError as exc:
        log.warning("cannot read %s to find request %s: %s", channel, request.id, exc)
        return None
    for posted in history.get("messages") or []:
        meta = posted.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == MESSAGE_EVENT and payload.get("request_id") == request.id:
            return str(posted["ts"])
    return None


async def post_unsent(services: Services, client: AsyncWebClient, before: datetime) -> None:
    """Post the messages of requests made ``before`` whose post failed: Slack does not
    retry a command arbot acknowledged, so without this no approver might ever see them.
    Run beside each command (``before`` its arrival, so not for a request it makes); a
    failure here is logged, never shown to whoever sent the command."""
    try:
        for request in await unsent(services.db, before=before):
            channel = request.message_channel or services.settings.slack_approvals_channel
            if channel:
                await post_request(services, client, request, channel)
    except Exception:
        log.exception("could not post the approval requests left unposted")


async def request_message(services: Services, request: Request) -> dict[str, Any]:
    """The channel message for ``request`` as it stands: buttons while it is pending."""
    async with services.db.read() as conn:
        account = await load_account(conn, account_id=request.account_id)
        payout = await payout_of(conn, request)
    reverses = f"T{request.reverses_entry_id:08d}" if request.reverses_entry_id else None
    pending = request.status is Status.PENDING
    return message(
        "approval_request" if pending else "approval_decided",
        services.locale,
        request=request,
        account=account,
        reverses=reverses,
        balance=await balance_of(services.db, account),
        when=_when(request.decided_at),
        payout=payout,
    )


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else ""


async def update_message(
    services: Services, client: AsyncWebClient, request: Request, body: dict[str, Any]
) -> None:
    """Show ``request`` as it stands now in its channel message."""
    channel = request.message_channel or str((body.get("channel") or {}).get("id") or "")
    ts = request.message_ts or str((body.get("container") or {}).get("message_ts") or "")
    if not channel or not ts:
        return
    await client.chat_update(channel=channel, ts=ts, **await request_message(services, request))
