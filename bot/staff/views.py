"""View submissions: the modal asking why an approval request is rejected.

The reason is checked and the request rejected before the submission is acknowledged,
so that an empty reason or core's refusal (the requester rejecting their own request,
a request someone else decided first) is shown in the modal itself
(``response_action: errors``) rather than lost; only then is the channel message
updated.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.staff import approvals, ids
from bot.staff.parse import ParseError
from bot.staff.services import services_of
from core.approvals import AlreadyDecided, reject
from core.auth import load_staff
from core.errors import ArbotError, NotFound

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.view(ids.REJECT_MODAL)(on_reject_submitted)


def reason_of(view: dict[str, Any]) -> str:
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get(ids.REJECT_REASON_BLOCK) or {}).get(ids.REJECT_REASON_INPUT) or {}
    return str(field.get("value") or "").strip()


async def on_reject_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    services = services_of(context)
    with services.work.track():

        async def refuse(text: str) -> None:
            await ack(response_action="errors", errors={ids.REJECT_REASON_BLOCK: text[:300]})

        reason = reason_of(view)
        if not reason:
            await refuse("say why the request is rejected; the requester will read it")
            return
        slack_user = str((body.get("user") or {}).get("id") or "")
        try:
            async with services.db.read() as conn:
                try:
                    staff = await load_staff(conn, slack_user_id=slack_user)
                except NotFound:
                    await refuse("arbot does not know your Slack user; ask an administrator")
                    return
            request_id = approvals.request_id(str(view.get("private_metadata") or ""))
            decision = await reject(services.db, staff, request_id, reason=reason)
        except AlreadyDecided as exc:
            await refuse(str(exc))
            await approvals.update_message(services, context.client, exc.request, {})
            return
        except (ParseError, ArbotError) as exc:
            await refuse(str(exc))
            return
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("Slack request failed (reference %s)", reference)
            await refuse(f"something went wrong; quote reference {reference}")
            return
        await ack()
        try:
            await approvals.update_message(services, context.client, decision.request, {})
        except Exception:
            log.exception("could not update the message of request %s", request_id)
