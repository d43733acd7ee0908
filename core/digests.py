"""Digests: the summaries the scheduler posts to staff channels, each exactly once.

A *digest* is one message for one period and one scope: the ATB digest of 2026-06-30
for location ``north`` (or ``""``, every location: the managers' consolidated one), the
cash digest of a day. A digest may not be posted twice however often its job runs, so
each has a row in ``digest_post``, keyed by (kind, period, scope, currency), that is
claimed before posting, as an approval's message is (core.approvals.messages): only the
process whose conditional update moved it to ``posting`` posts; a post that failed gives
the claim back (``open``), and a claim older than :data:`STALE_CLAIM` belongs to a
process that died mid-post. The message's ts and the chart's file id are kept as each
goes out, so a retry finishes what is missing and repeats nothing.

The ATB digest keeps the figures it showed (``digest_figure``: amount and number of
accounts per bucket, for every location and for all of them) so the next digest can
say what changed since (AR-193). Staff drill from a bucket to its accounts
(:func:`bucket_accounts`): the accounts are read again from the ledger, as of the
digest's date, with the permissions of whoever asks (VIEW_REPORTS, at the digest's
location).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.db import Database, Tx
from core.db.metadata import Currency, DayNumber, Minor, UtcDateTime, metadata
from core.errors import NotFound, PermissionDenied, ValidationError
from core.ledger.aging import (
    AgingRule,
    AtbBucket,
    Basis,
    aged_trial_balance,
    bucket_labels,
    parse_bounds,
)
from core.money import Money

KINDS = ("atb", "cash")
STALE_CLAIM = timedelta(minutes=2)
"""Longer than a post and an upload take (slack_sdk gives up after 30 seconds each)."""
ALL = ""
"""The scope of a digest of every location (the managers' consolidated one, BI-20)."""

digest_post = Table(
    "digest_post",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("period", String(20), nullable=False),
    Column("scope", String(60), nullable=False),
    Column("as_of", DayNumber, nullable=False),
    Column("currency", Currency, nullable=False),
    Column("channel", String(40), nullable=False),
    Column("bounds", String(60), nullable=False),
    Column("basis", String(10), nullable=False, server_default="service"),
    Column("disputed_current", Boolean, nullable=False, server_default="0"),
    Column("total_minor", Minor, nullable=False),
    Column("accounts", Integer, nullable=False),
    Column("state", String(10), nullable=False),
    Column("claimed_at", UtcDateTime),
    Column("posted_at", UtcDateTime),
    Column("message_ts", String(40)),
    Column("file_id", String(40)),
    CheckConstraint("kind IN ('atb','cash')", name="kind"),
    CheckConstraint("state IN ('open','posting','posted')", name="state"),
    UniqueConstraint("kind", "period", "scope", "currency"),
    Index("ix_digest_post_previous", "kind", "scope", "currency", "as_of"),
)

digest_figure = Table(
    "digest_figure",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest_id", Integer, ForeignKey("digest_post.id"), nullable=False),
    Column("group_key", String(60), nullable=False),
    Column("position", Integer, nullable=False),
    Column("label", String(20), nullable=False),
    Column("amount_minor", Minor, nullable=False),
    Column("accounts", Integer, nullable=False),
    UniqueConstraint("digest_id", "group_key", "position"),
)


@dataclass(frozen=True, slots=True)
class DigestDraft:
    """A digest about to be posted: what identifies it and the figures it shows.

    ``figures`` maps a group (``""`` for the digest's whole scope, else a location) to
    its buckets; ``total_minor`` and ``accounts`` are the scope's total and number of
    accounts (for the cash digest: the day's receipts and the accounts that paid)."""

    kind: str
    period: str
    scope: str
    as_of: date
    currency: str
    channel: str
    total_minor: int
    accounts: int
    rule: AgingRule | None = None
    """How an ATB digest aged its items (AR-194); None for the cash digest."""
    figures: Mapping[str, Sequence[AtbBucket]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError(f"{self.kind!r} is not a kind of digest ({', '.join(KINDS)})")
        if not self.period or len(self.period) > 20 or len(self.scope) > 60:
            raise ValidationError(f"{self.period!r} / {self.scope!r} cannot name a digest")
        if not self.channel or len(self.channel) > 40:
            raise ValidationError(f"{self.channel!r} is not a Slack channel id")


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest as kept: where it stands (``open``, ``posting``, ``posted``), what of it
    went out (``message_ts``, ``file_id``) and, for the ATB, its figures."""

    id: int
    kind: str
    period: str
    scope: str
    as_of: date
    currency: str
    channel: str
    rule: AgingRule | None
    total_minor: int
    accounts: int
    state: str
    message_ts: str | None
    file_id: str | None
    posted_at: datetime | None
    figures: dict[str, tuple[AtbBucket, ...]]

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)


def _free(claimed_before: datetime) -> ColumnElement[bool]:
    """Not posted, and nobody is posting it now."""
    return or_(
        digest_post.c.state == "open",
        and_(digest_post.c.state == "posting", digest_post.c.claimed_at < claimed_before),
    )


def _figure_rows(digest_id: int, draft: DigestDraft) -> list[dict[str, Any]]:
    return [
        {
            "digest_id": digest_id,
            "group_key": key[:60],
            "position": i,
            "label": b.label,
            "amount_minor": b.amount_minor,
            "accounts": b.accounts,
        }
        for key, buckets in draft.figures.items()
        for i, b in enumerate(buckets)
    ]


def _key(draft: DigestDraft) -> ColumnElement[bool]:
    return and_(
        digest_post.c.kind == draft.kind,
        digest_post.c.period == draft.period,
        digest_post.c.scope == draft.scope,
        digest_post.c.currency == draft.currency,
    )


async def _keep_figures(tx: Tx, digest_id: int, draft: DigestDraft) -> None:
    await tx.conn.execute(digest_figure.delete().where(digest_figure.c.digest_id == digest_id))
    rows = _figure_rows(digest_id, draft)
    if rows:
        await tx.conn.execute(digest_figure.insert(), rows)


async def claim_digest(db: Database, draft: DigestDraft, actor: str) -> Digest | None:
    """Take the right to post ``draft``: the digest as kept (its ``message_ts`` and
    ``file_id`` say what already went out), or None when it is posted or someone else is
    posting it now. Figures are kept, or replaced while no message has gone out, so that
    what is kept is what was shown."""
    values = {
        "as_of": draft.as_of,
        "channel": draft.channel,
        "bounds": ",".join(map(str, draft.rule.bounds)) if draft.rule else "",
        "basis": (draft.rule or AgingRule()).basis.value,
        "disputed_current": bool(draft.rule and draft.rule.disputed_current),
        "total_minor": draft.total_minor,
        "accounts": draft.accounts,
    }
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        insert = postgresql.insert if tx.is_postgres else sqlite.insert
        made = await tx.conn.execute(
            insert(digest_post)
            .values(
                kind=draft.kind,
                period=draft.period,
                scope=draft.scope,
                currency=draft.currency,
                state="posting",
                claimed_at=now,
                **values,
            )
            .on_conflict_do_nothing()
            .returning(digest_post.c.id)
        )
        digest_id = made.scalar()
        if digest_id is not None:
            await _keep_figures(tx, digest_id, draft)
            subject = f"{draft.kind} digest {draft.period} {draft.scope or 'all'}"
            tx.audit(actor, "scheduler", "digest.claim", subject, channel=draft.channel)
        else:
            taken = await tx.conn.execute(
                digest_post.update()
                .where(_key(draft), _free(now - STALE_CLAIM))
                .values(state="posting", claimed_at=now)
                .returning(digest_post.c.id, digest_post.c.message_ts)
            )
            row = taken.first()
            if row is None:
                return None
            digest_id = row.id
            if row.message_ts is None:
                await tx.conn.execute(
                    digest_post.update().where(digest_post.c.id == digest_id).values(**values)
                )
                await _keep_figures(tx, digest_id, draft)
        return await _load(tx.conn, digest_id)


async def message_posted(db: Database, digest_id: int, ts: str) -> None:
    """The digest's message went out as ``ts``: never post it again."""
    async with db.transaction() as tx:
        await tx.conn.execute(
            digest_post.update().where(digest_post.c.id == digest_id).values(message_ts=ts)
        )


async def digest_done(
    db: Database, digest_id: int, actor: str, *, file_id: str | None = None
) -> None:
    """Everything of the digest went out (its chart as ``file_id``, if any)."""
    async with db.transaction() as tx:
        done = await tx.conn.execute(
            digest_post.update()
            .where(digest_post.c.id == digest_id, digest_post.c.state == "posting")
            .values(state="posted", posted_at=tx.db.clock.now(), file_id=file_id)
            .returning(digest_post.c.kind, digest_post.c.period, digest_post.c.scope)
        )
        row = done.first()
        if row is None:
            raise NotFound(f"digest {digest_id} is not being posted")
        subject = f"{row.kind} digest {row.period} {row.scope or 'all'}"
        tx.audit(actor, "scheduler", "digest.posted", subject)


async def release_digest(db: Database, digest_id: int) -> None:
    """A post failed: give the claim back, so the next run posts what is missing."""
    async with db.transaction() as tx:
        await tx.conn.execute(
            digest_post.update()
            .where(digest_post.c.id == digest_id, digest_post.c.state == "posting")
            .values(state="open", claimed_at=None)
        )


async def _load(conn: AsyncConnection, digest_id: int) -> Digest:
    row = (await conn.execute(select(digest_post).where(digest_post.c.id == digest_id))).first()
    if row is None:
        raise NotFound(f"there is no digest {digest_id}")
    lines = await conn.execute(
        select(digest_figure)
        .where(digest_figure.c.digest_id == digest_id)
        .order_by(digest_figure.c.group_key, digest_figure.c.position)
    )
    grouped: dict[str, list[tuple[str, int, int]]] = {}
    for line in lines:
        grouped.setdefault(line.group_key, []).append(
            (line.label, int(line.amount_minor), line.accounts)
        )
    figures = {}
    for key, found in grouped.items():
        total = sum(amount for _, amount, _ in found)
        figures[key] = tuple(AtbBucket(lb, a, _percent(a, total), n) for lb, a, n in found)
    return Digest(
        id=row.id,
        kind=row.kind,
        period=row.period,
        scope=row.scope,
        as_of=row.as_of,
        currency=row.currency,
        channel=row.channel,
        rule=AgingRule(Basis(row.basis), parse_bounds(row.bounds), row.disputed_current)
        if row.bounds
        else None,
        total_minor=int(row.total_minor),
        accounts=row.accounts,
        state=row.state,
        message_ts=row.message_ts,
        file_id=row.file_id,
        posted_at=row.posted_at,
        figures=figures,
    )


def _percent(part: int, total: int) -> Decimal:
    if total == 0:
        return Decimal("0.00")
    return (Decimal(part) * 100 / Decimal(total)).quantize(Decimal("0.01"))


async def digest_of(
    conn: AsyncConnection, kind: str, period: str, scope: str, currency: str
) -> Digest | None:
    """The digest kept for ``kind``, ``period`` and ``scope``, if any."""
    found = (
        await conn.execute(
            select(digest_post.c.id).where(
                digest_post.c.kind == kind,
                digest_post.c.period == period,
                digest_post.c.scope == scope,
                digest_post.c.currency == currency,
            )
        )
    ).scalar()
    return None if found is None else await _load(conn, found)


async def previous_digest(
    conn: AsyncConnection, kind: str, scope: str, currency: str, *, before: date
) -> Digest | None:
    """The latest digest of ``scope`` whose message went out, as of a day before
    ``before``: what the next digest compares with (AR-193)."""
    found = (
        await conn.execute(
            select(digest_post.c.id)
            .where(
                digest_post.c.kind == kind,
                digest_post.c.scope == scope,
                digest_post.c.currency == currency,
                digest_post.c.as_of < before,
                digest_post.c.message_ts.is_not(None),
            )
            .order_by(digest_post.c.as_of.desc(), digest_post.c.id.desc())
            .limit(1)
        )
    ).scalar()
    return None if found is None else await _load(conn, found)


@dataclass(frozen=True, slots=True)
class BucketAccount:
    number: str
    name: str
    amount: Money
    """What of the account's balance is in the bucket."""
    balance: Money


@dataclass(frozen=True, slots=True)
class BucketAccounts:
    """One bucket of an ATB digest, account by account, as of the digest's date."""

    digest: Digest
    label: str
    total: Money
    accounts: tuple[BucketAccount, ...]
    more: int
    """Accounts in the bucket beyond those listed."""


async def bucket_accounts(
    conn: AsyncConnection, actor: Actor, digest_id: int, position: int, *, limit: int = 25
) -> BucketAccounts:
    """The accounts in bucket ``position`` of ATB digest ``digest_id``, largest first,
    read again from the ledger as of the digest's date. Needs VIEW_REPORTS at the
    digest's location; the consolidated digest's buckets are for staff of every
    location (BI-20)."""
    digest = await _load(conn, digest_id)
    rule = digest.rule
    if digest.kind != "atb" or rule is None:
        raise NotFound(f"digest {digest_id} is not an ATB digest")
    require(actor, Permission.VIEW_REPORTS, digest.scope or None)
    if digest.scope == ALL and actor.locations is not None:
        raise PermissionDenied(
            f"{actor.name} sees the accounts of {', '.join(sorted(actor.locations))} only; "
            "the consolidated digest's accounts are for staff of every location: use your "
            "location's digest or /ar atb"
        )
    labels = bucket_labels(rule.bounds)
    if not 0 <= position < len(labels):
        raise ValidationError(f"the digest has no bucket {position}")
    query = rule.query(digest.as_of, digest.currency, location=digest.scope or None)
    atb = await aged_trial_balance(conn, query)
    inside = sorted(
        (row for row in atb.rows if row.amounts[position] != 0),
        key=lambda row: (-row.amounts[position], row.number),
    )
    money = [
        BucketAccount(
            row.number,
            row.name,
            Money(row.amounts[position], digest.currency),
            Money(row.total, digest.currency),
        )
        for row in inside
    ]
    total = Money(sum(row.amounts[position] for row in inside), digest.currency)
    return BucketAccounts(
        digest, labels[position], total, tuple(money[:limit]), max(0, len(money) - limit)
    )
