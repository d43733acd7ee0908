"""The dunning history: deciding a day's notices in one statement, and sending them once.

:func:`queue_dunning` writes what :func:`~core.dunning.plan.plan_dunning` would plan
straight into ``dunning_notice`` with one ``INSERT ... SELECT`` (no row goes through
Python), at most as many per channel as the caller says can be sent today; the rest is
left undecided and comes up again tomorrow. A notice queued on an earlier day and never
sent is expired first, so tomorrow decides it afresh under a new dedupe key. Flags for
collections are carried out in the same transaction: the account's status becomes
``in_collections`` (kept with its reason, like any status change).

Sending is claimed notice by notice (:func:`claim_notice`, ``queued`` -> ``sending``,
a conditional UPDATE only one process can win) before the message goes out, and its
outcome recorded after (:func:`finish_notice`): a notice is never sent twice, by two
schedulers or by a re-run, and one cut off mid-send stays ``sending`` rather than go
again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, String, and_, case, cast, false, func, literal, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.db.metadata import to_day
from core.dunning.plan import plan_statement, roomy_cache
from core.dunning.rules import DunningRule, load_rules
from core.dunning.tables import dunning_notice
from core.errors import ValidationError
from core.ledger.tables import customer_account, customer_status
from core.money import Money

FINAL = ("sent", "failed", "skipped")
ACTOR = "system:dunning"


@dataclass(frozen=True, slots=True)
class Queued:
    """What one day's queueing did: notices per channel, flags for collections, and
    notices expired from earlier days."""

    day: date
    by_channel: Mapping[str, int]
    collections: int
    expired: int

    @property
    def messages(self) -> int:
        return sum(self.by_channel.values())


def _key(as_of: date, plan: Any) -> Any:
    text = String()
    return (
        literal("dunning:", text)
        + cast(plan.c.account_id, text)
        + literal(":", text)
        + plan.c.rule
        + literal(":", text)
        + cast(plan.c.level, text)
        + literal(f":{as_of.isoformat()}", text)
    )


def _cap(caps: Mapping[Any, int], test: Any, rank: Any) -> Any:
    """``rank`` is within the cap of the row's key (keys not listed get none); caps are
    tried in order, so specific keys come before catch-alls."""
    if not caps:
        return rank <= 0
    return rank <= case(*((test(key), cap) for key, cap in caps.items()), else_=0)


def _location_test(r: Any) -> Any:
    def test(key: tuple[str | None, str]) -> Any:
        location, channel = key
        return (
            r.channel == channel
            if location is None
            else and_(r.location == location, r.channel == channel)
        )

    return test


def _named_first(caps: Mapping[tuple[str | None, str], int]) -> dict[Any, int]:
    return dict(sorted(caps.items(), key=lambda kv: kv[0][0] is None))


@dataclass(frozen=True, slots=True)
class OpenLocations:
    """Where messages may go out now: the configured locations whose sending hours are
    open, and whether the default hours (every other location) are."""

    open: frozenset[str]
    configured: frozenset[str]
    default_open: bool

    def test(self, location: Any) -> Any:
        configured_open = location.in_(sorted(self.open)) if self.open else false()
        if not self.default_open:
            return configured_open
        others = location.not_in(sorted(self.configured)) if self.configured else true()
        return or_(configured_open, others)


@dataclass(frozen=True, slots=True)
class Limits:
    """How much may be queued: ``caps`` per channel (``{"sms": 46800}``),
    ``location_caps`` per (location, channel) where location ``None`` stands for every
    location not named, and ``open_at``: only locations that can still send today."""

    caps: Mapping[str, int] | None = None
    location_caps: Mapping[tuple[str | None, str], int] | None = None
    open_at: OpenLocations | None = None


QUEUE_COLUMNS = (
    "dedupe_key", "account_id", "recipient_id", "rule", "level", "anchor_day",
    "planned_day", "template", "action", "location", "channel", "address", "verified",
    "locale", "currency", "amount_minor", "overdue_minor", "status", "queued_at",
)  # fmt: skip


def queue_statement(
    as_of: date, rules: Sequence[DunningRule], now: datetime, limits: Limits, postgres: bool
) -> Any:
    """The one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` that queues a day's
    notices: the plan ranked per channel and location, highest levels and largest
    amounts first, cut at the limits (flags for collections are never cut)."""
    plan = plan_statement(as_of, rules).order_by(None).subquery("plan")
    order = (plan.c.level.desc(), plan.c.amount_due.desc(), plan.c.account_id)
    # Ranking sorts every planned row: done only for the limits that were given.
    ranks = []
    if limits.caps is not None:
        over = func.row_number().over(partition_by=plan.c.channel, order_by=order)
        ranks.append(over.label("rank_c"))
    if limits.location_caps is not None:
        over = func.row_number().over(
            partition_by=(plan.c.location, plan.c.channel), order_by=order
        )
        ranks.append(over.label("rank_lc"))
    ranked = select(plan, *ranks).subquery("ranked")
    r = ranked.c
    caps, location_caps = limits.caps, limits.location_caps
    message = and_(
        limits.open_at.test(r.location) if limits.open_at is not None else true(),
        _cap(caps, lambda c: r.channel == c, r.rank_c) if caps is not None else true(),
        _cap(_named_first(location_caps), _location_test(r), r.rank_lc)
        if location_caps is not None
        else true(),
    )
    chosen_rows = select(
        _key(as_of, ranked).label("dedupe_key"),
        r.account_id,
        r.recipient_id,
        r.rule,
        r.level,
        r.anchor,
        literal(to_day(as_of), Integer),
        r.template,
        r.action,
        r.location,
        r.channel,
        r.address,
        r.verified,
        r.locale,
        r.currency,
        r.amount_due,
        r.overdue,
        literal("queued", String),
        literal(now, dunning_notice.c.queued_at.type),
    ).where(or_(r.action == "collections", message))
    insert = postgresql.insert if postgres else sqlite.insert
    return (
        insert(dunning_notice)
        .from_select(list(QUEUE_COLUMNS), chosen_rows)
        .on_conflict_do_nothing()
        .returning(dunning_notice.c.channel)
    )


async def queue_dunning(
    db: Database,
    as_of: date,
    *,
    rules: Sequence[DunningRule] | None = None,
    limits: Limits = Limits(),
) -> Queued:
    """Decide and queue ``as_of``'s notices in one transaction, within ``limits``;
    notices queued earlier and never sent are expired first."""
    async with db.transaction() as tx:
        chosen = list(rules) if rules is not None else await load_rules(tx.conn)
        now = tx.db.clock.now()
        expired = await tx.conn.execute(
            dunning_notice.update()
            .where(
                dunning_notice.c.status == "queued",
                dunning_notice.c.planned_day < as_of,
            )
            .values(status="expired", finished_at=now)
        )
        async with roomy_cache(tx.conn):
            statement = queue_statement(as_of, chosen, now, limits, tx.is_postgres)
            made = (await tx.conn.execute(statement)).all()
        by_channel = dict(Counter(channel for (channel,) in made if channel is not None))
        collections = await _flag_collections(tx.conn, now)
        tx.audit(
            ACTOR,
            "scheduler",
            "dunning.queue",
            f"day {as_of.isoformat()}",
            messages=by_channel,
            collections=collections,
            expired=expired.rowcount,
        )
    return Queued(as_of, by_channel, collections, expired.rowcount)


async def _flag_collections(conn: AsyncConnection, now: datetime) -> int:
    """Accounts whose level says "collections": status ``in_collections``, with why."""
    n = dunning_notice
    flagged = and_(n.c.action == "collections", n.c.status == "queued")
    text = String()
    reason = (
        literal("dunning rule ", text)
        + n.c.rule
        + literal(", level ", text)
        + cast(n.c.level, text)
    )
    await conn.execute(
        customer_status.insert().from_select(
            ["account_id", "status", "effective_day", "at", "actor", "reason"],
            select(
                n.c.account_id,
                literal("in_collections", text),
                n.c.planned_day,
                literal(now, customer_status.c.at.type),
                literal(ACTOR, text),
                reason,
            ).where(flagged),
        )
    )
    done = await conn.execute(n.update().where(flagged).values(status="done", finished_at=now))
    return int(done.rowcount)


@dataclass(frozen=True, slots=True)
class Notice:
    """A queued message, as the sender needs it."""

    id: int
    dedupe_key: str
    account_id: int
    account_number: str
    recipient_id: int
    location: str
    rule: str
    level: int
    template: str
    channel: str
    address: str
    verified: bool
    locale: str
    amount_due: Money
    overdue: Money
    anchor_due: date
    planned_day: date


async def queued_notices(
    conn: AsyncConnection,
    open_at: OpenLocations,
    *,
    channels: Collection[str] | None = None,
    limit: int = 1000,
) -> list[Notice]:
    """Notices waiting to be sent where sending hours are open now (on ``channels``
    only, when given), highest level and largest amount first."""
    n, ca = dunning_notice, customer_account
    query = (
        select(n, ca.c.number)
        .join(ca, ca.c.id == n.c.account_id)
        .where(n.c.status == "queued", n.c.action == "message")
        .order_by(n.c.level.desc(), n.c.amount_minor.desc(), n.c.id)
        .where(open_at.test(n.c.location))
        .limit(limit)
    )
    if channels is not None:
        query = query.where(n.c.channel.in_(sorted(channels)))
    rows = await conn.execute(query)
    return [
        Notice(
            id=r.id,
            dedupe_key=r.dedupe_key,
            account_id=r.account_id,
            account_number=r.number,
            recipient_id=r.recipient_id,
            location=r.location,
            rule=r.rule,
            level=r.level,
            template=r.template,
            channel=r.channel,
            address=r.address,
            verified=bool(r.verified),
            locale=r.locale,
            amount_due=Money(int(r.amount_minor), r.currency),
            overdue=Money(int(r.overdue_minor), r.currency),
            anchor_due=r.anchor_day,
            planned_day=r.planned_day,
        )
        for r in rows
    ]


async def claim_notice(db: Database, notice_id: int) -> bool:
    """Take a queued notice for sending; False when another sender already has it."""
    async with db.transaction() as tx:
        claimed = await tx.conn.execute(
            dunning_notice.update()
            .where(dunning_notice.c.id == notice_id, dunning_notice.c.status == "queued")
            .values(status="sending")
        )
    return claimed.rowcount == 1


async def finish_notice(
    db: Database, notice_id: int, status: str, failure: str | None = None
) -> None:
    """Record how a claimed notice ended: ``sent``, ``failed`` (with the failure kind) or
    ``skipped`` (nothing is owed any more, the person opted out since it was queued)."""
    if status not in FINAL:
        raise ValidationError(f"{status!r} is not how a notice ends; use {', '.join(FINAL)}")
    async with db.transaction() as tx:
        await tx.conn.execute(
            dunning_notice.update()
            .where(dunning_notice.c.id == notice_id, dunning_notice.c.status == "sending")
            .values(
                status=status,
                failure=(failure or None) and failure[:40],
                finished_at=tx.db.clock.now(),
            )
        )


async def notice_counts(conn: AsyncConnection, day: date) -> dict[str, int]:
    """How ``day``'s notices stand: ``{"queued": 3, "sent": 40, ...}``."""
    rows = await conn.execute(
        select(dunning_notice.c.status, func.count())
        .where(dunning_notice.c.planned_day == day)
        .group_by(dunning_notice.c.status)
    )
    return {str(status): int(count) for status, count in rows}
