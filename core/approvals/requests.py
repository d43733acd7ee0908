"""Asking: write-off, refund and write-off reversal requests (AR-026, AR-028, AR-058).

A request is checked when it is made (the reason code exists, the amount is open or in
credit, nothing pending already asks for the same money) and again when it is decided.
Its idempotency key is unique, so a Slack retry of the same command makes one request.
A write-off at or below the small-balance tolerance posts at once (AR-091).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.approvals.model import (
    Request,
    RequestKind,
    Status,
    load_request,
    open_to_write_off,
    posted_total,
    refundable,
    request_from_row,
)
from core.approvals.tables import approval_request
from core.auth import Actor, Permission, require
from core.clock import today
from core.db import Database, Tx, inserted_id
from core.errors import IdempotencyConflict, InvalidState, NotFound, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.model import Kind
from core.ledger.posting import DuplicateKey, entry_kind, load_entry, reversed_by
from core.ledger.tables import reason_code
from core.money import Money, require_positive
from core.services import run_once
from core.services.writeoffs import check_write_off_type, write_off_in

SMALL_BALANCE = Actor.system("small-balance")
"""Who the audit trail says decided a write-off posted within tolerance."""


async def request_write_off(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    amount: Money | None,
    reason: str,
    note: str,
    key: str,
    tolerance: Money | None = None,
    entry_type: str = "WO_ADMIN",
    item_id: int | None = None,
    on: date | None = None,
) -> Request:
    """Ask for ``amount`` (``None``: everything open) of the account to be written off,
    with a reason code and a note (AR-026); needs ``request_write_off``. At or below
    ``tolerance`` (the clinic's configured small balance, never a person's say-so) an
    administrative write-off posts at once as a small-balance write-off dated ``on``
    (today) and the request comes back ``posted`` (AR-091); a transfer to bad debt
    (``entry_type="WO_BAD_DEBT"``, AR-027) always waits for approval."""
    if not note.strip():
        raise ValidationError("a write-off request needs a note saying why (AR-026)")
    day = on or today(db.clock)
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        require(actor, Permission.REQUEST_WRITE_OFF, account.location)
        asked = None if amount is None else amount.minor
        if (done := await request_by_key(conn, key)) is not None:
            return _replayed(done, RequestKind.WRITE_OFF, account_id, asked, reason)
        await check_write_off_type(conn, db, entry_type)
        administrative = await entry_kind(conn, db, entry_type) is Kind.WRITE_OFF
        await _check_reason(conn, reason)
        open_minor = await open_to_write_off(conn, account_id, day, item_id)
        pending = await _pending(conn, RequestKind.WRITE_OFF, account_id)
    if item_id is not None and open_minor == 0:
        raise NotFound(f"item {item_id} is not an open charge on account {account.number}")
    wanted = _within(account, amount, open_minor, pending, "write off", "is open")
    # The tolerance is in the clinic's currency; on an account kept in another it does
    # not apply, and the request waits for approval like any other.
    small = (
        tolerance is not None
        and administrative
        and tolerance.currency == account.currency
        and wanted <= tolerance.minor
    )
    values = _values(actor, account, RequestKind.WRITE_OFF, asked, reason, note, key)
    values.update(entry_type=entry_type, item_id=item_id)

    async def work(tx: Tx) -> Request:
        request_id = await _insert(tx, values)
        if small:
            await _post_small(tx, actor, request_id, account, wanted, day, values)
        return await load_request(tx.conn, request_id)

    async def again(conn: AsyncConnection) -> Request:
        done = await request_by_key(conn, key)
        assert done is not None
        return _replayed(done, RequestKind.WRITE_OFF, account_id, asked, reason)

    return await run_once(db, work, again)


async def request_refund(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    amount: Money,
    reason: str,
    key: str,
    note: str = "",
    on: date | None = None,
) -> Request:
    """Ask for ``amount`` of the account's credit balance to be refunded (AR-058); needs
    ``request_refund`` (clerks and up). The amount must fit the credit balance as of
    ``on`` (today), less what pending refund requests already ask for."""
    require_positive(amount, "refund")
    day = on or today(db.clock)
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        require(actor, Permission.REQUEST_REFUND, account.location)
        if (done := await request_by_key(conn, key)) is not None:
            return _replayed(done, RequestKind.REFUND, account_id, amount.minor, reason)
        await refund_fits(conn, account, amount, reason, day)
    values = _values(actor, account, RequestKind.REFUND, amount.minor, reason, note, key)

    async def work(tx: Tx) -> Request:
        return await load_request(tx.conn, await _insert(tx, values))

    async def again(conn: AsyncConnection) -> Request:
        done = await request_by_key(conn, key)
        assert done is not None
        return _replayed(done, RequestKind.REFUND, account_id, amount.minor, reason)

    return await run_once(db, work, again)


async def refund_fits(
    conn: AsyncConnection, account: Account, amount: Money, reason: str, day: date
) -> None:
    """Refuse a refund of ``amount`` that could not be asked for on ``day``: an unknown
    reason code, another currency, more than the credit balance (less what pending
    refund requests ask for), or unapplied cash that should pay open items first."""
    require_positive(amount, "refund")
    await _check_reason(conn, reason)
    credit, unapplied = await refundable(conn, account.id, day)
    pending = await _pending(conn, RequestKind.REFUND, account.id)
    _same_currency(amount, account)
    if unapplied > 0 and credit <= 0:
        raise ValidationError(
            f"cannot refund {amount}: account {account.number} has no credit balance; its "
            f"{Money(unapplied, account.currency)} of unapplied cash should pay its open "
            "items first"
        )
    _within(account, amount, min(credit, unapplied), pending, "refund", "is in credit")


async def request_reversal_of_write_off(
    db: Database, actor: Actor, *, entry_id: int, reason: str, note: str, key: str
) -> Request:
    """Ask for a write-off (or transfer to bad debt) to be reversed, reopening what it
    cleared (AR-028, AR-111); approved like a write-off of the same amount."""
    if not note.strip():
        raise ValidationError("a write-off reversal request needs a note saying why")
    async with db.read() as conn:
        entry = await load_entry(conn, entry_id=entry_id)
        if entry.kind not in (Kind.WRITE_OFF, Kind.BAD_DEBT) or entry.reverses_id is not None:
            raise ValidationError(f"{entry.number} is not a write-off or a transfer to bad debt")
        [line] = [ln for ln in entry.lines if ln.account_id is not None]
        assert line.account_id is not None
        account = await load_account(conn, account_id=line.account_id)
        require(actor, Permission.REQUEST_WRITE_OFF, account.location)
        minor = -line.amount.minor
        if (done := await request_by_key(conn, key)) is not None:
            return _replayed(done, RequestKind.WRITE_OFF_REVERSAL, account.id, minor, reason)
        await _check_reason(conn, reason)
        if (by := await reversed_by(conn, entry_id)) is not None:
            raise InvalidState(f"{entry.number} has already been reversed by {by}")
        for other in await _pending(conn, RequestKind.WRITE_OFF_REVERSAL, account.id):
            if other.reverses_entry_id == entry_id:
                raise InvalidState(f"request {other.id} already asks to reverse {entry.number}")
    values = _values(actor, account, RequestKind.WRITE_OFF_REVERSAL, minor, reason, note, key)
    values.update(reverses_entry_id=entry_id, entry_type=entry.entry_type)

    async def work(tx: Tx) -> Request:
        return await load_request(tx.conn, await _insert(tx, values))

    async def again(conn: AsyncConnection) -> Request:
        done = await request_by_key(conn, key)
        assert done is not None
        return _replayed(done, RequestKind.WRITE_OFF_REVERSAL, account.id, minor, reason)

    return await run_once(db, work, again)


def _stale(now: datetime, older_than: timedelta) -> ColumnElement[bool]:
    return (approval_request.c.status == Status.PENDING.value) & (
        approval_request.c.requested_at < now - older_than
    )


async def pending_older_than(db: Database, older_than: timedelta) -> list[int]:
    """Ids of the requests pending for longer than ``older_than`` (what would expire)."""
    async with db.read() as conn:
        query = select(approval_request.c.id).where(_stale(db.clock.now(), older_than))
        return list((await conn.execute(query.order_by(approval_request.c.id))).scalars())


async def expire_stale(
    db: Database, actor: Actor, *, older_than: timedelta = timedelta(days=14)
) -> list[int]:
    """Mark requests pending for longer than ``older_than`` expired (a scheduled job);
    returns their ids. An expired request can no longer be approved."""
    require(actor, Permission.APPROVE_WRITE_OFF)
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        stale = _stale(now, older_than)
        ids = list((await tx.conn.execute(select(approval_request.c.id).where(stale))).scalars())
        if ids:
            await tx.conn.execute(
                approval_request.update()
                .where(stale, approval_request.c.id.in_(ids))
                .values(status=Status.EXPIRED.value, decided_at=now)
            )
            tx.audit(actor.label, actor.kind, "approval.expire", "requests", ids=ids)
    return ids


def _values(
    actor: Actor,
    account: Account,
    kind: RequestKind,
    amount_minor: int | None,
    reason: str,
    note: str,
    key: str,
) -> dict[str, Any]:
    if not key or len(key) > 200:
        raise ValidationError("every request needs an idempotency key of 1-200 characters")
    staff_id = int(actor.id) if actor.kind == "staff" and actor.id.isdigit() else None
    return {
        "idempotency_key": key,
        "kind": kind.value,
        "account_id": account.id,
        "amount_minor": amount_minor,
        "currency": account.currency,
        "reason": reason,
        "note": note.strip(),
        "requested_by": actor.label,
        "requester_name": actor.name,
        "requester_staff_id": staff_id,
    }


async def _insert(tx: Tx, values: dict[str, Any]) -> int:
    """Write the request; its unique key is the transaction's first write, so a retry
    fails here and :func:`~core.services.run_once` returns the first request instead."""
    try:
        request_id = inserted_id(
            await tx.conn.execute(
                approval_request.insert().values(**values, requested_at=tx.db.clock.now())
            )
        )
    except IntegrityError as exc:
        if "idempotency_key" in str(exc.orig):
            raise DuplicateKey(values["idempotency_key"]) from exc
        raise
    detail = {k: v for k, v in values.items() if k not in ("note", "idempotency_key")}
    tx.audit(
        values["requested_by"], "staff", "approval.request", f"request {request_id}", **detail
    )
    return request_id


async def _post_small(
    tx: Tx,
    actor: Actor,
    request_id: int,
    account: Account,
    wanted: int,
    day: date,
    values: dict[str, Any],
) -> None:
    key = f"approval-request/{request_id}"
    posted = await write_off_in(
        tx,
        actor_label=actor.label,
        account=account,
        amount_minor=wanted,
        key=key,
        on=day,
        reason=values["reason"],
        note=values["note"],
        item_id=values["item_id"],
        entry_type="WO_SMALL",
    )
    await tx.conn.execute(
        approval_request.update()
        .where(approval_request.c.id == request_id)
        .values(
            status=Status.POSTED.value,
            decided_by=SMALL_BALANCE.label,
            decider_name="small-balance tolerance",
            decided_at=tx.db.clock.now(),
            entry_key=key,
            posted_minor=posted_total(posted),
        )
    )
    tx.audit(SMALL_BALANCE.label, "system", "approval.post_small", f"request {request_id}")


async def request_by_key(conn: AsyncConnection, key: str) -> Request | None:
    query = select(approval_request).where(approval_request.c.idempotency_key == key)
    row = (await conn.execute(query)).first()
    return None if row is None else request_from_row(row)


def _replayed(
    done: Request, kind: RequestKind, account_id: int, amount_minor: int | None, reason: str
) -> Request:
    """The first request made under a key, if this one asks the same; else refused."""
    asked = None if done.amount is None else done.amount.minor
    if (done.kind, done.account_id, asked, done.reason) != (
        kind,
        account_id,
        amount_minor,
        reason,
    ):
        raise IdempotencyConflict(
            f"idempotency key {done.idempotency_key!r} was already used for request {done.id}"
        )
    return dataclasses.replace(done, replayed=True)


async def _check_reason(conn: AsyncConnection, reason: str) -> None:
    query = select(reason_code.c.code).where(
        reason_code.c.code == reason, reason_code.c.active.is_(True)
    )
    if (await conn.execute(query)).first() is None:
        raise ValidationError(f"{reason!r} is not a defined reason code")


async def _pending(conn: AsyncConnection, kind: RequestKind, account_id: int) -> list[Request]:
    """Pending requests of ``kind`` on the account: what they ask for is spoken for."""
    rows = await conn.execute(
        select(approval_request).where(
            approval_request.c.kind == kind.value,
            approval_request.c.account_id == account_id,
            approval_request.c.status == Status.PENDING.value,
        )
    )
    return [request_from_row(r) for r in rows]


def _within(
    account: Account,
    amount: Money | None,
    available: int,
    pending: list[Request],
    verb: str,
    state: str,
) -> int:
    """The amount asked for, in minor units, once it fits what is available less what
    pending requests already ask for; refused with the figures otherwise."""
    if amount is not None:
        require_positive(_same_currency(amount, account), "request amount")
    whole = [p.id for p in pending if p.amount is None]
    if whole:
        raise ValidationError(f"request {whole[0]} already asks for everything open")
    asked = sum(p.amount.minor for p in pending if p.amount is not None)
    free = available - asked
    wanted = free if amount is None else amount.minor
    if available <= 0 or wanted <= 0 or wanted > free:
        money = Money(available, account.currency)
        tail = ""
        if asked:
            ids = ", ".join(str(p.id) for p in pending)
            tail = f", of which {Money(asked, account.currency)} is asked for by request {ids}"
        shown = "everything" if amount is None else str(amount)
        raise ValidationError(
            f"cannot {verb} {shown}: {money} {state} on account {account.number}{tail}"
        )
    return wanted


def _same_currency(amount: Money, account: Account) -> Money:
    if amount.currency != account.currency:
        raise ValidationError(f"account {account.number} is kept in {account.currency}")
    return amount
