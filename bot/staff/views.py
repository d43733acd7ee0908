"""View submissions: the modal asking why an approval request is rejected.

Run by :mod:`bot.staff.forms`: an empty reason, or a presser who may not decide the
request (the requester, someone without the permission, a request decided meanwhile),
is shown in the modal itself (``response_action: errors``); then the modal closes and
only after that is the request rejected and its channel message updated.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.staff import approval_messages, approvals, ids
from bot.staff.forms import Refused, metadata_of, submitting
from core.approvals import AlreadyDecided, reject

log = logging.getLogger(__name__)
REASON = ids.REJECT_REASON_BLOCK
REASON_MAX = 500
"""The reject modal's own limit (max_length), checked again on the server."""


def register(app: AsyncApp) -> None:
    app.view(ids.REJECT_MODAL)(on_reject_submitted)


async def on_reject_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    async with submitting(context, ack, body, view, REASON) as done:
        turn = done.turn
        reason = done.field(REASON, ids.REJECT_REASON_INPUT)
        if not reason:
            raise Refused(REASON, "say why the request is rejected; the requester will read it")
        if len(reason) > REASON_MAX:  # the modal allows no more; a forged one might
            raise Refused(REASON, f"say it in at most {REASON_MAX} characters")
        staff = await turn.staff()
        asked = approvals.request_id(metadata_of(view)[1])
        request, _ = await approvals.decidable(turn, staff, asked)
        await done.accept()
        try:
            decision = await reject(turn.db, staff, request.id, reason=reason)
        except AlreadyDecided as exc:  # decided between the check and now
            await approval_messages.update_message(turn.services, turn.client, exc.request, {})
            raise
        try:
            await approval_messages.update_message(
                turn.services, turn.client, decision.request, {}
            )
        except Exception:
            log.exception("could not update the message of request %s", request.id)
