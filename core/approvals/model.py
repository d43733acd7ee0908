"""What a request is, who may decide it, and what is open to honour it now.

Shared by :mod:`core.approvals.requests` (asking) and :mod:`core.approvals.decisions`
(deciding). Every figure a decision depends on is read here from the database, never
taken from the button that asked for it (DESIGN: buttons carry ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.approvals.tables import approval_request
from core.auth import Actor, Permission, approver_level, require
from core.errors import InvalidState, NotFound, PermissionDenied
from core.ledger.items import balance, load_items
from core.ledger.model import PostedEntry
from core.ledger.posting import load_entry
from core.money import Money
from core.services import entries_under
from core.services.writeoffs import writable_items


class RequestKind(StrEnum):
    WRITE_OFF = "write_off"
    REFUND = "refund"
    WRITE_OFF_REVERSAL = "write_off_reversal"


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # approved and posted, in one transaction
    REJECTED = "rejected"
    POSTED = "posted"  # posted at once, within the small-balance tolerance (AR-091)
    EXPIRED = "expired"


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"


WORDS = {
    RequestKind.WRITE_OFF: "write-off",
    RequestKind.REFUND: "refund",
    RequestKind.WRITE_OFF_REVERSAL: "write-off reversal",
}

DECIDE_PERMISSIONS: dict[RequestKind, tuple[Permission, ...]] = {
    RequestKind.WRITE_OFF: (Permission.APPROVE_WRITE_OFF,),
    RequestKind.REFUND: (Permission.REFUND,),
    RequestKind.WRITE_OFF_REVERSAL: (Permission.APPROVE_WRITE_OFF, Permission.REVERSE_ENTRY),
}
"""What an approver must hold, at the account's location, to decide each kind."""


@dataclass(frozen=True, slots=True)
class Request:
    """A write-off, refund or write-off reversal someone asked for (AR-026, AR-058)."""

    id: int
    kind: RequestKind
    account_id: int
    amount: Money | None  # None: everything open at approval
    currency: str
    reason: str
    note: str
    idempotency_key: str
    requested_by: str
    requester_name: str
    requester_staff_id: int | None
    requested_at: datetime
    status: Status
    needs_role: str
    entry_type: str | None = None
    item_id: int | None = None
    reverses_entry_id: int | None = None
    escalated_by: str | None = None
    decided_by: str | None = None
    decider_name: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    entry_key: str | None = None
    posted: Money | None = None
    message_channel: str | None = None
    message_ts: str | None = None
    message_state: str = "none"
    replayed: bool = False

    @property
    def word(self) -> str:
        return WORDS[self.kind]


@dataclass(frozen=True, slots=True)
class Decision:
    """What an approver's press did: approved and posted, rejected, or escalated."""

    outcome: Outcome
    request: Request
    entries: tuple[PostedEntry, ...] = ()
    replayed: bool = False


class AlreadyDecided(InvalidState):
    """The request was decided (or posted, or expired) before this decision; ``request``
    is as it stands now, so the message can say who decided it and when."""

    def __init__(self, request: Request) -> None:
        self.request = request
        super().__init__(_settled_text(request))


def _settled_text(request: Request) -> str:
    when = f"{request.decided_at:%Y-%m-%d %H:%M} UTC" if request.decided_at else "earlier"
    head = f"request {request.id} ({request.word})"
    if request.status is Status.POSTED:
        return f"{head} was posted at once, within the small-balance tolerance"
    if request.status is Status.EXPIRED:
        return f"{head} expired at {when} without a decision; ask again if it is still needed"
    said = f": {request.decision_note}" if request.decision_note else ""
    return f"{head} was already {request.status.value} by {request.decider_name} at {when}{said}"


def request_from_row(row: Row[Any]) -> Request:
    m = row._mapping
    cur = m["currency"]
    return Request(
        id=m["id"],
        kind=RequestKind(m["kind"]),
        account_id=m["account_id"],
        amount=None if m["amount_minor"] is None else Money(m["amount_minor"], cur),
        currency=cur,
        reason=m["reason"],
        note=m["note"],
        idempotency_key=m["idempotency_key"],
        requested_by=m["requested_by"],
        requester_name=m["requester_name"],
        requester_staff_id=m["requester_staff_id"],
        requested_at=m["requested_at"],
        status=Status(m["status"]),
        needs_role=m["needs_role"],
        entry_type=m["entry_type"],
        item_id=m["item_id"],
        reverses_entry_id=m["reverses_entry_id"],
        escalated_by=m["escalated_by"],
        decided_by=m["decided_by"],
        decider_name=m["decider_name"],
        decided_at=m["decided_at"],
        decision_note=m["decision_note"],
        entry_key=m["entry_key"],
        posted=None if m["posted_minor"] is None else Money(m["posted_minor"], cur),
        message_channel=m["message_channel"],
        message_ts=m["message_ts"],
        message_state=m["message_state"],
    )


async def load_request(conn: AsyncConnection, request_id: int) -> Request:
    """The request as it stands; :class:`NotFound` if there is none."""
    row = (
        await conn.execute(select(approval_request).where(approval_request.c.id == request_id))
    ).first()
    if row is None:
        raise NotFound(f"there is no approval request {request_id}")
    return request_from_row(row)


def is_requester(actor: Actor, request: Request) -> bool:
    if actor.label == request.requested_by:
        return True
    staff_id = request.requester_staff_id
    return actor.kind == "staff" and staff_id is not None and actor.id == str(staff_id)


def may_decide(actor: Actor, request: Request, location: str) -> None:
    """Refuse unless ``actor`` may approve or reject ``request`` at all (limits aside):
    a person, not the requester (segregation of duties), holding the kind's permissions
    at the account's location, at the level the request has escalated to (AR-088)."""
    if actor.kind != "staff":
        raise PermissionDenied(f"only a staff member can decide request {request.id}")
    if is_requester(actor, request):
        raise PermissionDenied(
            f"segregation of duties: {actor.name} asked for this {request.word} "
            f"(request {request.id}) and cannot approve or reject it; another approver must"
        )
    for permission in DECIDE_PERMISSIONS[request.kind]:
        require(actor, permission, location)
    if request.needs_role == "manager" and approver_level(actor) != "manager":
        raise PermissionDenied(
            f"request {request.id} was escalated to a manager, above a supervisor's "
            f"approval limit; {actor.name} is a {actor.role}"
        )


async def open_to_write_off(
    conn: AsyncConnection, account_id: int, on: date, item_id: int | None
) -> int:
    """What a write-off dated ``on`` could take now, in minor units."""
    return sum(i.open.minor for i in await writable_items(conn, account_id, on, item_id))


async def refundable(conn: AsyncConnection, account_id: int, on: date) -> tuple[int, int]:
    """(credit balance, unapplied credits dated up to ``on``) in minor units. A refund may
    take the smaller: unapplied cash on an account that still owes pays its items first."""
    credits = [
        i
        for i in await load_items(conn, account_id=account_id, only_open=True)
        if not i.is_debit and i.effective_date <= on
    ]
    return -await balance(conn, account_id), -sum(i.open.minor for i in credits)


async def entries_of(conn: AsyncConnection, request: Request) -> tuple[PostedEntry, ...]:
    """The entries a posted or approved request wrote (several for a write-off spread
    over items)."""
    if request.entry_key is None:
        return ()
    first = await load_entry(conn, key=request.entry_key)
    return (first, *await entries_under(conn, f"{request.entry_key}/item/"))


def posted_total(entries: tuple[PostedEntry, ...] | list[PostedEntry]) -> int:
    """What ``entries`` took off (or, for a refund, put back on) the account, in minor
    units: the size of their lines on the customer account."""
    return sum(abs(ln.amount.minor) for e in entries for ln in e.lines if ln.account_id)
