"""Payments waiting for the "this leaves a credit balance" confirmation (AR-095).

The question's buttons carry only an opaque token. What was asked (account, amount,
method, reference, who asked) is written on the server, as a record of the audit
trail whose subject names the token: the audit trail is in the database every web
process shares, it is append-only, and a request to post money belongs on it anyway.
Pressing Confirm reads the record back, so the amount that is posted is the one the
server stored, never one a button says. A Cancel is another record; after it, or
after :data:`HOLD`, the token posts nothing. The payment's idempotency key is made
from the token, so two presses (or a press and a retry) record it once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.db import Database
from core.db.audit import audit_log
from core.errors import InvalidState, NotFound, PermissionDenied
from core.money import Money

HOLD = timedelta(minutes=30)
"""As long as Slack lets a response_url answer: the question cannot outlive its message."""
HELD, CANCELLED = "slack.payment.held", "slack.payment.cancelled"
_TOKEN = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class PendingPayment:
    token: str
    staff_id: str
    account_id: int
    amount: Money
    method: str
    reference: str | None
    asked_at: datetime | None = None

    @property
    def key(self) -> str:
        """The idempotency key the payment is recorded under, whichever way it goes."""
        return f"slack/payment/{self.token}"


def _subject(token: str) -> str:
    return f"slack payment {token}"


async def _records(conn: AsyncConnection, token: str) -> list[tuple[str, str, datetime]]:
    rows = await conn.execute(
        select(audit_log.c.action, audit_log.c.detail, audit_log.c.at)
        .where(audit_log.c.subject == _subject(token))
        .order_by(audit_log.c.seq)
    )
    return [(r.action, r.detail, r.at) for r in rows]


async def hold(db: Database, staff: Actor, payment: PendingPayment) -> None:
    """Keep ``payment`` until it is confirmed or cancelled; a retry keeps the first."""
    async with db.transaction() as tx:
        if await _records(tx.conn, payment.token):
            return
        tx.audit(
            staff.label,
            "slack",
            HELD,
            _subject(payment.token),
            staff_id=payment.staff_id,
            account_id=payment.account_id,
            amount_minor=payment.amount.minor,
            currency=payment.amount.currency,
            method=payment.method,
            reference=payment.reference,
        )


async def held(db: Database, staff: Actor, token: str) -> PendingPayment:
    """The payment ``staff`` asked about under ``token``, while it may still be posted."""
    async with db.read() as conn:
        records = await _records(conn, token) if _TOKEN.fullmatch(token) else []
    if not records or records[0][0] != HELD:
        raise NotFound("arbot has no payment waiting for this confirmation")
    _, detail_text, at = records[0]
    detail = json.loads(detail_text)
    if detail["staff_id"] != staff.id:
        raise PermissionDenied(
            f"only the person who asked may confirm this payment, not {staff.name}"
        )
    if any(action == CANCELLED for action, _, _ in records):
        raise InvalidState("this payment was cancelled; send the /ar payment command again")
    if db.clock.now() - at > HOLD:
        raise InvalidState("this question has expired; send the /ar payment command again")
    return PendingPayment(
        token=token,
        staff_id=detail["staff_id"],
        account_id=detail["account_id"],
        amount=Money(detail["amount_minor"], detail["currency"]),
        method=detail["method"],
        reference=detail["reference"],
        asked_at=at,
    )


async def cancel(db: Database, staff: Actor, payment: PendingPayment) -> None:
    async with db.transaction() as tx:
        tx.audit(staff.label, "slack", CANCELLED, _subject(payment.token))
