"""Where a request is shown: its one message in the approvals channel.

A request waiting for approval is worthless unless approvers see it, and confusing if
they see it twice. So the message has a slot on the request, claimed before it is
posted: a conditional update moves ``message_state`` from ``none`` to ``posting``
(naming the channel), and only the process that made that move posts. Afterwards the
message's channel and ts are kept (``posted``) so that decisions update it in place. A
post that fails gives the slot back (``none``), and so does time: a claim older than
:data:`STALE_CLAIM` belongs to a process that died mid-post. Requests whose message
never went out are found again by :func:`unsent` and posted then. A claim after an
earlier one says when that was (:class:`Claim`): a post can reach Slack without arbot
hearing back, so the next poster first looks for it in the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Claim:
    """The right to post a request's message. ``earlier`` is when a previous attempt
    was claimed, if there was one: its post may have reached Slack although arbot never
    heard back (a timeout, or a process that died after posting), so the poster looks
    for that message before posting another."""

    earlier: datetime | None = None


async def claim_message(db: Database, request_id: int, channel: str) -> Claim | None:
    """Take the right to post the request's message in ``channel``; ``None`` if it is
    posted, or being posted by someone else. Only a pending request is posted."""
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        earlier = (
            await tx.conn.execute(
                select(approval_request.c.message_claimed_at).where(
                    approval_request.c.id == request_id
                )
            )
        ).scalar()
        same = approval_request.c.message_claimed_at
        done = await tx.conn.execute(
            approval_request.update()
            .where(
                approval_request.c.id == request_id,
                approval_request.c.status == Status.PENDING.value,
                _free(now - STALE_CLAIM),
                same.is_(None) if earlier is None else same == earlier,
            )
            .values(message_state="posting", message_channel=channel, message_claimed_at=now)
        )
        return Claim(earlier) if done.rowcount == 1 else None


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
            .values(message_state="none")
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
