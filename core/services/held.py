"""Held payments: a receipt that would leave its account in credit waits for a yes (AR-095).

Recording more than an account owes leaves a credit balance, which the clinic must later
apply or refund, so the person recording it is asked first. Until they answer, the
payment is *held*: a row naming the account, the amount, method and reference, who
asked, until when the question stands, and the idempotency key the payment will be
recorded under. Buttons carry only the row's opaque token; the amount that is posted is
the one kept here.

A held payment moves once, from ``held`` to ``confirmed``, ``cancelled`` or ``expired``,
by a conditional update (``WHERE status = 'held'``): of a Confirm and a Cancel pressed at
the same moment exactly one wins, and the other is told what happened instead.
Confirming records the payment, under the key in the row, in the same transaction as
the claim, so a confirmed hold always has its payment and never two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Row,
    String,
    Table,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission
from core.db import Database, Tx
from core.db.metadata import Currency, Minor, UtcDateTime, metadata
from core.errors import (
    IdempotencyConflict,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from core.ledger.application import DEFAULT_ORDER, Rule
from core.ledger.posting import DuplicateKey
from core.money import Money, require_positive
from core.services import account_for, run_once
from core.services.payments import PaymentResult, payment_draft, payment_in, payment_replay

HOLD = timedelta(minutes=30)
"""How long a question stands: as long as Slack lets a response_url answer."""
TOKEN = re.compile(r"[0-9a-f]{32}")
STATUSES = ("held", "confirmed", "cancelled", "expired")

pending_payment = Table(
    "pending_payment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(32), nullable=False, unique=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("amount_minor", Minor, nullable=False),
    Column("currency", Currency, nullable=False),
    Column("method", String(20), nullable=False),
    Column("reference", String(60)),
    Column("source", String(20), nullable=False),
    Column("asked_by", String(120), nullable=False),
    Column("asked_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("status", String(10), nullable=False, server_default="held"),
    Column("decided_at", UtcDateTime),
    Column("entry_id", Integer, ForeignKey("journal_entry.id")),
    CheckConstraint(f"status IN {STATUSES!r}", name="status"),
    CheckConstraint("amount_minor > 0", name="amount"),
    Index("ix_pending_payment_account", "account_id", "status"),
)


class HeldStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class HeldPayment:
    """A payment waiting for its asker's confirmation (or no longer waiting: ``status``)."""

    token: str
    key: str
    account_id: int
    amount: Money
    method: str
    reference: str | None
    source: str
    asked_by: str
    asked_at: datetime
    expires_at: datetime
    status: HeldStatus
    decided_at: datetime | None = None
    entry_id: int | None = None
    replayed: bool = False


class _Taken(Exception):
    """Someone settled the held payment between our reading it and our claim."""


def _from_row(row: Row[Any]) -> HeldPayment:
    m = row._mapping
    return HeldPayment(
        token=m["token"],
        key=m["idempotency_key"],
        account_id=m["account_id"],
        amount=Money(m["amount_minor"], m["currency"]),
        method=m["method"],
        reference=m["reference"],
        source=m["source"],
        asked_by=m["asked_by"],
        asked_at=m["asked_at"],
        expires_at=m["expires_at"],
        status=HeldStatus(m["status"]),
        decided_at=m["decided_at"],
        entry_id=m["entry_id"],
    )


async def load_held(conn: AsyncConnection, token: str) -> HeldPayment:
    """The held payment behind ``token``; :class:`NotFound` for any other string."""
    row = None
    if TOKEN.fullmatch(token):
        query = select(pending_payment).where(pending_payment.c.token == token)
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("arbot has no payment waiting for this confirmation")
    return _from_row(row)


async def hold_payment(
    db: Database,
    actor: Actor,
    *,
    token: str,
    key: str,
    account_id: int,
    amount: Money,
    method: str,
    reference: str | None = None,
    source: str = "staff",
    hold: timedelta = HOLD,
) -> HeldPayment:
    """Hold a payment of ``amount`` until ``actor`` confirms or cancels it, for at most
    ``hold``; needs ``record_payment`` at the account's location. ``token`` is what the
    question's buttons carry (32 hex digits) and ``key`` the idempotency key the payment
    will be recorded under. Asking again with the same token returns the first hold."""
    require_positive(amount, "payment")
    if not TOKEN.fullmatch(token):
        raise ValidationError("a held payment's token is 32 hexadecimal digits")
    account = await account_for(db, actor, account_id, Permission.RECORD_PAYMENT)
    if amount.currency != account.currency:
        raise ValidationError(f"account {account.number} is kept in {account.currency}")
    values = {
        "token": token, "idempotency_key": key, "account_id": account_id,
        "amount_minor": amount.minor, "currency": amount.currency, "method": method,
        "reference": reference, "source": source, "asked_by": actor.label,
    }  # fmt: skip

    async def work(tx: Tx) -> HeldPayment:
        now = tx.db.clock.now()
        try:
            await tx.conn.execute(
                pending_payment.insert().values(**values, asked_at=now, expires_at=now + hold)
            )
        except IntegrityError as exc:
            raise DuplicateKey(key) from exc
        tx.audit(
            actor.label, source, "payment.hold", f"held payment {token}",
            account_id=account_id, amount_minor=amount.minor, currency=amount.currency,
            method=method,
        )  # fmt: skip
        return await load_held(tx.conn, token)

    async def again(conn: AsyncConnection) -> HeldPayment:
        done = await load_held(conn, token)
        first = (done.key, done.account_id, done.amount, done.method, done.asked_by)
        if first != (key, account_id, amount, method, actor.label):
            raise IdempotencyConflict(f"the token {token} already holds another payment")
        return replace(done, replayed=True)

    return await run_once(db, work, again)


async def confirm_held(
    db: Database,
    actor: Actor,
    token: str,
    *,
    on: date,
    rules: Sequence[Rule] = DEFAULT_ORDER,
) -> PaymentResult:
    """Record the held payment, received ``on``, applied by ``rules``: only its asker may,
    while it is held. A second confirmation returns the first payment (``replayed``);
    after a cancellation or expiry it is refused with :class:`InvalidState`."""
    held = await _asked_by(db, actor, token)
    await account_for(db, actor, held.account_id, Permission.RECORD_PAYMENT)
    if held.status is HeldStatus.HELD:
        draft = payment_draft(
            held.account_id, held.amount, on, held.key, held.method, actor.label,
            held.source, reference=held.reference,
        )  # fmt: skip
        try:
            async with db.transaction() as tx:
                if not await _claim(tx, held, HeldStatus.CONFIRMED):
                    raise _Taken
                result = await payment_in(tx, actor, draft, held.account_id, rules=rules)
                await tx.conn.execute(
                    pending_payment.update()
                    .where(pending_payment.c.token == token)
                    .values(entry_id=result.entry.id)
                )
                return result
        except _Taken:
            held = await _settled(db, token)
    if held.status is not HeldStatus.CONFIRMED:
        raise _refusal(held)
    async with db.read() as conn:
        return await payment_replay(conn, held.key)


async def cancel_held(db: Database, actor: Actor, token: str) -> HeldPayment:
    """Drop the held payment: only its asker may, while it is held; nothing is recorded.
    Cancelling twice returns the cancelled hold; after a confirmation or expiry it is
    refused with :class:`InvalidState`."""
    held = await _asked_by(db, actor, token)
    if held.status is HeldStatus.HELD:
        async with db.transaction() as tx:
            claimed = await _claim(tx, held, HeldStatus.CANCELLED)
        held = await _settled(db, token)
        if claimed:
            return held
    if held.status is not HeldStatus.CANCELLED:
        raise _refusal(held)
    return replace(held, replayed=True)


async def _asked_by(db: Database, actor: Actor, token: str) -> HeldPayment:
    async with db.read() as conn:
        held = await load_held(conn, token)
    if held.asked_by != actor.label:
        raise PermissionDenied(
            f"only the person who asked may confirm or cancel this payment, not {actor.name}"
        )
    return held


async def _claim(tx: Tx, held: HeldPayment, status: HeldStatus) -> bool:
    """Settle the held payment if it is still held and not past its time: a conditional
    UPDATE, so of a Confirm and a Cancel at the same moment exactly one gets the row."""
    now = tx.db.clock.now()
    done = await tx.conn.execute(
        pending_payment.update()
        .where(
            pending_payment.c.token == held.token,
            pending_payment.c.status == HeldStatus.HELD.value,
            pending_payment.c.expires_at > now,
        )
        .values(status=status.value, decided_at=now)
    )
    if done.rowcount != 1:
        return False
    verb = "confirm" if status is HeldStatus.CONFIRMED else "cancel"
    tx.audit(held.asked_by, held.source, f"payment.{verb}", f"held payment {held.token}")
    return True


async def _settled(db: Database, token: str) -> HeldPayment:
    """The held payment after a lost claim; one left held past its time is marked expired."""
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        await tx.conn.execute(
            pending_payment.update()
            .where(
                pending_payment.c.token == token,
                pending_payment.c.status == HeldStatus.HELD.value,
                pending_payment.c.expires_at <= now,
            )
            .values(status=HeldStatus.EXPIRED.value, decided_at=now)
        )
        return await load_held(tx.conn, token)


def _refusal(held: HeldPayment) -> InvalidState:
    if held.status is HeldStatus.CONFIRMED:
        number = f" as T{held.entry_id:08d}" if held.entry_id else ""
        return InvalidState(f"this payment was already recorded{number}; it was not cancelled")
    if held.status is HeldStatus.CANCELLED:
        return InvalidState("this payment was cancelled; record it again if it is still due")
    minutes = int((held.expires_at - held.asked_at).total_seconds() // 60)
    return InvalidState(
        f"this question has expired (it stands for {minutes} minutes); record the payment again"
    )
