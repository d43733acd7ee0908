"""Deciding: approve or reject a request, exactly once (AR-088, AR-061).

The approver's decision and the posting it causes commit together: the request is
claimed with ``UPDATE ... WHERE id = :id AND status = 'pending'`` in the transaction
that posts the write-off or refund, so of two approvers pressing at the same moment
one posts and the other is told who did (:class:`AlreadyDecided`). Amounts and the
account are read again from the database at the moment of approval. A request above
a supervisor's limit escalates to the managers (a :class:`Decision` saying so); the
same approver pressing again gets their first decision back.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.approvals.model import (
    AlreadyDecided,
    Decision,
    Outcome,
    Request,
    RequestKind,
    Status,
    entries_of,
    load_request,
    may_decide,
    open_to_write_off,
    posted_total,
    refundable,
    request_from_row,
)
from core.approvals.tables import approval_request
from core.auth import Actor, approval_limit, approver_level
from core.db import Database, Tx
from core.errors import InvalidState, PermissionDenied, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.items import balance
from core.ledger.model import PostedEntry
from core.ledger.posting import DuplicateKey, load_entry, reversed_by
from core.ledger.tables import customer_account
from core.money import Money
from core.services.adjustments import reversal_draft, reverse_in
from core.services.payments import refund_draft, refund_in
from core.services.writeoffs import write_off_in


class _Taken(Exception):
    """Someone else changed the request between our reading it and our claim."""


async def approve(
    db: Database, actor: Actor, request_id: int, *, on: date, note: str = ""
) -> Decision:
    """Approve the request and post it, dated ``on``, in one transaction.

    Refused (:class:`~core.errors.PermissionDenied`) for anyone but a staff member other
    than the requester who holds the kind's permission at the account's location, at the
    level the request needs; above the approver's limit a supervisor escalates it to the
    managers instead, and anyone else is refused. :class:`AlreadyDecided` if it was
    decided by someone else first; :class:`~core.errors.InvalidState` if what is open (or
    in credit) no longer covers it."""
    async with db.read() as conn:
        request = await load_request(conn, request_id)
        account = await load_account(conn, account_id=request.account_id)
        may_decide(actor, request, account.location)
        if request.status is not Status.PENDING:
            return await _settled(conn, actor, request, Outcome.APPROVED)
        amount = await _amount_now(conn, request, account, on)
    limit = approval_limit(actor)
    if limit is not None and amount > limit:
        return await _escalate(db, actor, request, Money(amount, account.currency), limit)
    key = f"approval-request/{request.id}"
    try:
        async with db.transaction() as tx:
            if not await _claim(tx, actor, request, Status.APPROVED, note.strip() or None, key):
                raise _Taken
            entries = await _post(tx, actor, request, account, on, key)
            await _check_limit(tx, actor, request, entries, limit)
    except _Taken:
        return await _lost(db, actor, request_id, account, Outcome.APPROVED)
    except DuplicateKey as exc:  # pragma: no cover - the claim makes this unreachable
        raise InvalidState(f"request {request.id} has already been posted") from exc
    async with db.read() as conn:
        fresh = await load_request(conn, request_id)
    return Decision(Outcome.APPROVED, fresh, tuple(entries))


async def reject(db: Database, actor: Actor, request_id: int, *, reason: str) -> Decision:
    """Reject the request, saying why; the same people may reject as may approve, limits
    aside (refusing moves no money). Refusals as for :func:`approve`."""
    if not reason.strip():
        raise ValidationError("a rejection needs a reason the requester can read")
    async with db.read() as conn:
        request = await load_request(conn, request_id)
        account = await load_account(conn, account_id=request.account_id)
        may_decide(actor, request, account.location)
        if request.status is not Status.PENDING:
            return await _settled(conn, actor, request, Outcome.REJECTED)
    try:
        async with db.transaction() as tx:
            if not await _claim(tx, actor, request, Status.REJECTED, reason.strip(), None):
                raise _Taken
    except _Taken:
        return await _lost(db, actor, request_id, account, Outcome.REJECTED)
    async with db.read() as conn:
        return Decision(Outcome.REJECTED, await load_request(conn, request_id))


async def pending_for(conn: AsyncConnection, actor: Actor) -> list[Request]:
    """Pending requests ``actor`` could decide now, oldest first: the right permission at
    the account's location, the level the request needs, a limit that covers it, and not
    their own (the approver's queue in Slack's App Home)."""
    if actor.kind != "staff":
        return []
    rows = await conn.execute(
        select(approval_request, customer_account.c.location)
        .join(customer_account, customer_account.c.id == approval_request.c.account_id)
        .where(approval_request.c.status == Status.PENDING.value)
        .order_by(approval_request.c.requested_at, approval_request.c.id)
    )
    limit, found = approval_limit(actor), []
    for row in rows.all():
        request = request_from_row(row)
        try:
            may_decide(actor, request, row.location)
        except PermissionDenied:
            continue
        if limit is not None:
            amount = request.amount.minor if request.amount else None
            if amount is None:
                amount = await open_to_write_off(
                    conn, request.account_id, date.max, request.item_id
                )
            if amount > limit:
                continue
        found.append(request)
    return found


async def _amount_now(conn: AsyncConnection, request: Request, account: Account, on: date) -> int:
    """What approving would post now, in minor units; refused if it can no longer be
    honoured as asked."""
    asked = request.amount
    if request.kind is RequestKind.WRITE_OFF:
        available = await open_to_write_off(conn, account.id, on, request.item_id)
        what = "is open"
    elif request.kind is RequestKind.REFUND:
        available = min(await refundable(conn, account.id, on))
        what = "is in credit"
    else:
        assert request.reverses_entry_id is not None
        original = await load_entry(conn, entry_id=request.reverses_entry_id)
        if (by := await reversed_by(conn, original.id)) is not None:
            raise InvalidState(
                f"{original.number} has already been reversed by {by}; reject request {request.id}"
            )
        assert asked is not None
        return asked.minor
    if available <= 0 or (asked is not None and asked.minor > available):
        now = Money(max(available, 0), account.currency)
        raise InvalidState(
            f"only {now} {what} on account {account.number} now, less than the "
            f"{asked or 'balance'} asked for in request {request.id}; reject it and ask again"
        )
    return available if asked is None else asked.minor


async def _claim(
    tx: Tx, actor: Actor, request: Request, status: Status, note: str | None, key: str | None
) -> bool:
    """Take the decision if the request is still pending at a level ``actor`` may decide:
    a conditional UPDATE, so of two racing deciders exactly one gets the row."""
    manager = approver_level(actor) == "manager"
    levels = ["supervisor", "manager"] if manager else ["supervisor"]
    done = await tx.conn.execute(
        approval_request.update()
        .where(
            approval_request.c.id == request.id,
            approval_request.c.status == Status.PENDING.value,
            approval_request.c.needs_role.in_(levels),
        )
        .values(
            status=status.value,
            decided_by=actor.label,
            decider_name=actor.name,
            decided_at=tx.db.clock.now(),
            decision_note=note,
            entry_key=key,
        )
    )
    if done.rowcount != 1:
        return False
    tx.audit(
        actor.label,
        "staff",
        f"approval.{'approve' if status is Status.APPROVED else 'reject'}",
        f"request {request.id}",
        kind=request.kind.value,
        account_id=request.account_id,
        requested_by=request.requested_by,
        note=note,
    )
    return True


async def _post(
    tx: Tx, actor: Actor, request: Request, account: Account, on: date, key: str
) -> list[PostedEntry]:
    """Post what the request asked for, as ``actor``, under ``key``."""
    if request.kind is RequestKind.WRITE_OFF:
        return await write_off_in(
            tx,
            actor_label=actor.label,
            account=account,
            amount_minor=None if request.amount is None else request.amount.minor,
            key=key,
            on=on,
            reason=request.reason,
            note=request.note,
            item_id=request.item_id,
            entry_type=request.entry_type or "WO_ADMIN",
        )
    if request.kind is RequestKind.REFUND:
        return [await _refund(tx, actor, request, account, on, key)]
    assert request.reverses_entry_id is not None
    original = await load_entry(tx.conn, entry_id=request.reverses_entry_id)
    draft = reversal_draft(
        original,
        on=on,
        key=key,
        actor_label=actor.label,
        source="staff",
        reason=request.reason,
        memo=request.note,
    )
    return [await reverse_in(tx, original, draft)]


async def _refund(
    tx: Tx, actor: Actor, request: Request, account: Account, on: date, key: str
) -> PostedEntry:
    """A refund payable (2200) out of the account's credit; the cheque or the gateway
    refund that pays it out is another step (AR-058)."""
    assert request.amount is not None
    draft = refund_draft(
        account.id,
        request.amount,
        on=on,
        key=key,
        actor_label=actor.label,
        reason=request.reason,
        pay_from="2200",
        memo=request.note,
    )
    entry = await refund_in(tx, draft, account.id)
    if await balance(tx.conn, account.id) > 0:
        raise InvalidState(
            f"account {account.number} no longer has {request.amount} in credit; "
            f"reject request {request.id} and ask again"
        )
    return entry


async def _check_limit(
    tx: Tx, actor: Actor, request: Request, entries: list[PostedEntry], limit: int | None
) -> None:
    """Record what was posted; refuse (rolling it all back) if more became open between
    the check and the posting and the total passed the approver's limit."""
    total = posted_total(entries)
    if limit is not None and total > limit:
        raise PermissionDenied(
            f"{Money(total, request.currency)} is open now, above {actor.name}'s approval "
            f"limit of {Money(limit, request.currency)}; press approve again to escalate"
        )
    await tx.conn.execute(
        approval_request.update()
        .where(approval_request.c.id == request.id)
        .values(posted_minor=total)
    )


async def _escalate(
    db: Database, actor: Actor, request: Request, amount: Money, limit: int
) -> Decision:
    """Hand a request above a supervisor's limit to the managers (AR-088)."""
    over = f"{amount} is above {actor.name}'s approval limit of {Money(limit, amount.currency)}"
    if approver_level(actor) != "supervisor" or request.needs_role != "supervisor":
        raise PermissionDenied(
            f"{over}; someone with a higher limit must decide request {request.id}"
        )
    async with db.transaction() as tx:
        done = await tx.conn.execute(
            approval_request.update()
            .where(
                approval_request.c.id == request.id,
                approval_request.c.status == Status.PENDING.value,
                approval_request.c.needs_role == "supervisor",
            )
            .values(needs_role="manager", escalated_by=actor.label)
        )
        if done.rowcount == 1:
            tx.audit(actor.label, "staff", "approval.escalate", f"request {request.id}", why=over)
    async with db.read() as conn:
        fresh = await load_request(conn, request.id)
        if fresh.status is not Status.PENDING:
            return await _settled(conn, actor, fresh, Outcome.APPROVED)
    return Decision(Outcome.ESCALATED, fresh)


async def _lost(
    db: Database, actor: Actor, request_id: int, account: Account, outcome: Outcome
) -> Decision:
    async with db.read() as conn:
        fresh = await load_request(conn, request_id)
        may_decide(actor, fresh, account.location)  # escalated meanwhile: say so
        return await _settled(conn, actor, fresh, outcome)


async def _settled(
    conn: AsyncConnection, actor: Actor, request: Request, outcome: Outcome
) -> Decision:
    """A request no longer pending: the same decider pressing again gets their decision
    back (a Slack retry); anyone else learns who decided it first."""
    if request.status.value == outcome.value and request.decided_by == actor.label:
        return Decision(outcome, request, await entries_of(conn, request), replayed=True)
    if request.status is Status.PENDING:  # pragma: no cover - a claim lost to nobody
        raise InvalidState(f"request {request.id} changed while it was decided; try again")
    raise AlreadyDecided(request)
