"""Where a request is shown: its one message in the approvals channel.

A request waiting for approval is worthless unless approvers see it, and confusing if
they see it twice. So the message has a slot on the request, claimed before it is
posted: a conditional update moves ``message_state`` from ``none`` to ``posting``
(naming the channel), and only the process that made that move posts. Afterwards the
message's channel and ts are kept (``posted``) so that decisions update it in place. A
post that fails gives the slot back (``none``), and so does time: a claim older than
:data:`STALE_CLAIM` belongs to a process that died mid-post. Requests whose message
never went out are found again by :func:`unsent` and posted then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select

from core.approvals.model import Request, Status, request_from_row
from core.approvals.tables import approval_request
from core.db import Database
from core.errors import NotFound

STALE_CLAIM = timedelta(minutes=2)
"""Longer than a post takes (slack_sdk gives up after 30 seconds)."""


def _free(claimed_before: datetime) -> ColumnElement[bool]:
    """No message and no live claim on it."""
    return or_(
        approval_request.c.message_state == "none",
        and_(
            approval_request.c.message_state == "posting",
            approval_request.c.message_claimed_at < claimed_before,
        ),
    )


async def claim_message(db: Database, request_id: int, channel: str) -> bool:
    """Take the right to post the request's message in ``channel``; ``False`` if it is
    posted, or being posted by someone else. Only a pending request is posted."""
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        done = await tx.conn.execute(
            approval_request.update()
            .where(
                approval_request.c.id == request_id,
                approval_request.c.status == Status.PENDING.value,
                _free(now - STALE_CLAIM),
            )
            .values(message_state="posting", message_channel=channel, message_claimed_at=now)
        )
        return done.rowcount == 1


async def set_message(db: Database, request_id: int, channel: str, ts: str) -> None:
    """Remember where the request's message was posted, so it can be updated later."""
    async with db.transaction() as tx:
        done = await tx.conn.execute(
            approval_request.update()
            .where(approval_request.c.id == request_id)
            .values(message_channel=channel, message_ts=ts, message_state="posted")
        )
        if done.rowcount == 0:
            raise NotFound(f"there is no approval request {request_id}")


async def release_message(db: Database, request_id: int) -> None:
    """The post failed: give the slot back, keeping the channel it was meant for."""
    async with db.transaction() as tx:
        await tx.conn.execute(
            approval_request.update()
            .where(
                approval_request.c.id == request_id,
                approval_request.c.message_state == "posting",
            )
            .values(message_state="none", message_claimed_at=None)
        )


async def unsent(db: Database, *, before: datetime | None = None, limit: int = 5) -> list[Request]:
    """Pending requests made ``before`` (default: now) whose message never went out (a
    failed post, or a process that died before or during it), oldest first."""
    now = db.clock.now()
    query = (
        select(approval_request)
        .where(
            approval_request.c.status == Status.PENDING.value,
            approval_request.c.requested_at < (before or now),
            _free(now - STALE_CLAIM),
        )
        .order_by(approval_request.c.id)
        .limit(limit)
    )
    async with db.read() as conn:
        return [request_from_row(r) for r in await conn.execute(query)]
