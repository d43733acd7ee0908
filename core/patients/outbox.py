"""The outbox: every message to a patient, recorded before it is sent and after.

A send is claimed first, with its dedupe key when it has one (a receipt names the
payment, a reminder the account and the day): a second claim of the same key gets
nothing, so a redelivered webhook or a re-run job never messages a patient twice
(issue 6). Once the channel has answered, the outcome is recorded: ``sent`` with the
provider's id, or ``failed`` with the kind of failure (the bot was blocked, the number
is invalid, rate limited, another error) and the provider's words, for the delivery
failure report (AR-179). A claim left without an outcome was cut off mid-send.

The message text is never stored: it can hold balances and dates. The kind of message
and the account are enough to say what was sent to whom.

A caller that writes other rows around a send (a chat turn saves its state with its
replies' claims, and finishes its inbound event with the last outcome) passes its own
transaction to :func:`claim_send_in` and :func:`record_outcome_in`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database, Tx
from core.db.metadata import UtcDateTime, metadata
from core.errors import InvalidState, NotFound, ValidationError
from core.ports import Delivery
from core.profile.chats import chat_address

FAILURES = ("blocked", "invalid_address", "rate_limited", "error")
DETAIL_LENGTH = 300

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(200), unique=True),
    Column("channel", String(10), nullable=False),
    Column("address", String(64), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("account_id", Integer, ForeignKey("customer_account.id")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status", String(10), nullable=False, server_default="claimed"),
    Column("failure", String(20)),
    Column("detail", String(DETAIL_LENGTH)),
    Column("provider_ref", String(120)),
    Column("finished_at", UtcDateTime),
    CheckConstraint("status IN ('claimed', 'sent', 'failed')", name="status"),
    Index("ix_outbox_status_created", "status", "created_at"),
    Index("ix_outbox_account", "account_id"),
)


# Built once (every reply to a patient is claimed and its outcome recorded); the INSERT
# and the SET take their values from the parameters they are executed with.
_CLAIM = {
    pg: dialect.insert(outbox).on_conflict_do_nothing().returning(outbox.c.id)
    for pg, dialect in ((True, postgresql), (False, sqlite))
}
_OUTCOME = outbox.update().where(outbox.c.id == bindparam("b_id"), outbox.c.status == "claimed")


@dataclass(frozen=True, slots=True)
class Send:
    """A claimed send: go ahead and send it, then :func:`record_outcome` with ``id``."""

    id: int
    channel: str
    address: str
    kind: str
    account_id: int | None
    dedupe_key: str | None


@dataclass(frozen=True, slots=True)
class FailedSend:
    """One line of the delivery failure report (AR-179)."""

    id: int
    channel: str
    address: str
    kind: str
    account_id: int | None
    failure: str
    detail: str | None
    created_at: datetime
    finished_at: datetime | None


def _checked(kind: str, dedupe_key: str | None) -> None:
    if not kind.strip() or len(kind) > 40:
        raise ValidationError(f"{kind!r} is not a message kind (1 to 40 characters)")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= 200:
        raise ValidationError("a dedupe key needs 1 to 200 characters")


async def claim_send(
    db: Database,
    *,
    channel: str,
    address: str,
    kind: str,
    account_id: int | None = None,
    dedupe_key: str | None = None,
) -> Send | None:
    """Record a send before it happens; None when ``dedupe_key`` was already claimed
    (never send twice), whatever became of that first send."""
    async with db.transaction() as tx:
        return await claim_send_in(
            tx,
            channel=channel,
            address=address,
            kind=kind,
            account_id=account_id,
            dedupe_key=dedupe_key,
        )


async def claim_send_in(
    tx: Tx,
    *,
    channel: str,
    address: str,
    kind: str,
    account_id: int | None = None,
    dedupe_key: str | None = None,
) -> Send | None:
    """:func:`claim_send` inside the caller's transaction: the claim counts once that
    transaction commits, and must have committed before the message is sent."""
    normal = chat_address(channel, address)
    _checked(kind, dedupe_key)
    row = {
        "channel": channel,
        "address": normal,
        "kind": kind,
        "account_id": account_id,
        "dedupe_key": dedupe_key,
        "created_at": tx.db.clock.now(),
    }
    try:
        made = await tx.conn.execute(_CLAIM[tx.is_postgres], row)
    except IntegrityError as exc:  # the account's foreign key
        raise NotFound(f"there is no customer account with id {account_id}") from exc
    send_id = made.scalar()
    if send_id is None:
        return None
    return Send(int(send_id), channel, normal, kind, account_id, dedupe_key)


def _outcome(delivery: Delivery) -> dict[str, str | None]:
    if delivery.ok:
        return {"status": "sent", "failure": None, "detail": None}
    failure = delivery.failure or "error"
    if failure not in FAILURES:
        raise ValidationError(f"{failure!r} is not a delivery failure; use {', '.join(FAILURES)}")
    detail = (delivery.detail or "")[:DETAIL_LENGTH] or None
    return {"status": "failed", "failure": failure, "detail": detail}


async def record_outcome(db: Database, send_id: int, delivery: Delivery) -> None:
    """Record how send ``send_id`` went. Recording the same outcome again changes
    nothing; a different outcome for a send already finished is refused."""
    async with db.transaction() as tx:
        await record_outcome_in(tx, send_id, delivery)


async def record_outcome_in(tx: Tx, send_id: int, delivery: Delivery) -> None:
    """:func:`record_outcome` inside the caller's transaction. The outcome is written by
    one conditional update of a send still ``claimed``; only when that finds nothing is
    the row read, to tell a repeat of the same outcome from a refusal."""
    values = _outcome(delivery)
    ref = delivery.provider_ref[:120] if delivery.provider_ref else None
    written = await tx.conn.execute(
        _OUTCOME,
        {"b_id": send_id, "provider_ref": ref, "finished_at": tx.db.clock.now(), **values},
    )
    if written.rowcount == 1:
        return
    row = (await tx.conn.execute(select(outbox).where(outbox.c.id == send_id))).first()
    if row is None:
        raise NotFound(f"there is no outbox send {send_id}")
    if (row.status, row.failure, row.provider_ref) != (values["status"], values["failure"], ref):
        raise InvalidState(f"send {send_id} already has its outcome ({row.status})")


async def failed_sends(conn: AsyncConnection, start: datetime, end: datetime) -> list[FailedSend]:
    """Sends that failed among those claimed from ``start`` up to (not including)
    ``end``, oldest first: the delivery failure report (AR-179)."""
    if end <= start:
        raise ValidationError("the report's end must come after its start")
    rows = await conn.execute(
        select(outbox)
        .where(outbox.c.status == "failed", outbox.c.created_at >= start)
        .where(outbox.c.created_at < end)
        .order_by(outbox.c.created_at, outbox.c.id)
    )
    return [
        FailedSend(
            r.id,
            r.channel,
            r.address,
            r.kind,
            r.account_id,
            r.failure,
            r.detail,
            r.created_at,
            r.finished_at,
        )
        for r in rows
    ]
