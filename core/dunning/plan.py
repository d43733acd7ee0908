"""The dunning decision, one set-based query over every account (AR-029, AR-108, BI-21).

For each person's account (a patient, guarantor or employee: insurers, businesses and
agencies are billed, not dunned by chat) the query finds, as of a day, the open items
that may be dunned: not disputed (AR-078), not paused. An insurer's share of a visit is
an item on the insurer's own account, so what is on a person's account is theirs to
pay. The oldest of them
is the *anchor*: how many days past its due date it is picks the highest level of the
account's rule that has been reached. Nothing is planned when

* that level was already decided for this account, rule and anchor (the history),
* the account had a reminder within the rule's gap (7 days by default),
* the whole account is paused, or its status puts it out of reach (disputed, in
  collections, bad debt, inactive), or it is on an active payment plan (AR-162),
* what it owes (dunnable items less unapplied credits) is not above the rule's minimum,
* no channel may carry a message: a Telegram chat linked to the responsible party (the
  guarantor when there is one) unless it opted out, else SMS to a linked number or the
  phone on file when it opted in (core.customers.may_contact's rule).

A flag for collections needs no channel. Everything runs in the database: only the
planned messages come back. What each account owes is summed in :mod:`core.dunning.owed`,
and whom a message may reach is joined in :mod:`core.dunning.reach`; the levels of the
rules are decided here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Integer, String, and_, case, false, func, literal, null, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import day_number, from_day, to_day
from core.dunning.owed import aged_column, open_per_account
from core.dunning.reach import reachable
from core.dunning.rules import DunningRule, load_rules, rules_for
from core.dunning.tables import dunning_notice
from core.ledger.tables import customer_account
from core.money import Money

DUNNED_TYPES = ("patient", "guarantor", "employee")
"""Customer types dunning follows up: people, who can be reached in a chat."""


@dataclass(frozen=True, slots=True)
class DunningMessage:
    """One planned step for one account: a message to send, or a flag for collections."""

    account_id: int
    account_number: str
    recipient_id: int
    location: str
    rule: str
    level: int
    template: str
    action: str
    anchor_due: date
    days_overdue: int
    amount_due: Money
    overdue: Money
    channel: str | None
    address: str | None
    verified: bool
    locale: str
    dedupe_key: str


SQLITE_CACHE_KIB = 32 * 1024
"""SQLite page cache while the plan runs: 32 MB instead of 2 MB took a quarter off its
CPU time over 100,000 accounts (make bench)."""


@asynccontextmanager
async def roomy_cache(conn: AsyncConnection) -> AsyncIterator[None]:
    """A larger SQLite page cache for the duration of one big query, then the default."""
    if conn.dialect.name != "sqlite":
        yield
        return
    await conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        await conn.exec_driver_sql("PRAGMA cache_size=-2000")


def dedupe_key(account_id: int, rule: str, level: int, on: date) -> str:
    """(account, rule, level, day): the key a notice is sent under, once."""
    return f"dunning:{account_id}:{rule}:{level}:{on.isoformat()}"


def _rule_of(rules: Sequence[DunningRule], ca: Any) -> Any:
    """The code of the most specific rule matching each account (``rules`` are sorted)."""
    whens = []
    for r in rules:
        test = []
        if r.financial_class is not None:
            test.append(ca.c.financial_class == r.financial_class)
        if r.location is not None:
            test.append(ca.c.location == r.location)
        whens.append((and_(true(), *test), literal(r.code, String)))
    return case(*whens, else_=null())


def _level_of(
    rules: Sequence[DunningRule], rule: Any, owed: Any, *, messages_only: bool = False
) -> Any:
    """The highest level of the account's rule reached: more than the rule's minimum
    has been due for at least the level's days (a few cents left on an old item do
    not make a final notice)."""
    whens = [
        (
            and_(rule == r.code, owed.c[aged_column(lv.days_after_due)] > r.min_balance_minor),
            literal(lv.level, Integer),
        )
        for r in rules
        for lv in sorted(r.levels, key=lambda lv: -lv.days_after_due)
        if not messages_only or lv.action == "message"
    ]
    return case(*whens, else_=null())


def _is_collections(rules: Sequence[DunningRule], rule: Any, level: Any) -> Any:
    pairs = [(r.code, lv.level) for r in rules for lv in r.levels if lv.action != "message"]
    if not pairs:
        return false()
    return or_(*(and_(rule == code, level == n) for code, n in pairs))


def _gap_of(rules: Sequence[DunningRule], rule: Any) -> Any:
    return case(*((rule == r.code, r.min_gap_days) for r in rules), else_=0)


def _last_delivered(day: int) -> Any:
    """Per account, rule and anchor: the last day a message was sent (or went out and
    its outcome was cut off)."""
    n = dunning_notice
    return (
        select(
            n.c.account_id,
            n.c.rule,
            n.c.anchor_day,
            func.max(day_number(n.c.planned_day)).label("day"),
        )
        .where(n.c.action == "message", n.c.status.in_(["sent", "sending"]))
        .group_by(n.c.account_id, n.c.rule, n.c.anchor_day)
        .subquery("delivered")
    )


def _step(rules: Sequence[DunningRule], rule: Any, level: Any, attr: str) -> Any:
    """The template or action of each account's (rule, level)."""
    whens = [
        (and_(rule == r.code, level == lv.level), literal(getattr(lv, attr), String))
        for r in rules
        for lv in r.levels
    ]
    return case(*whens, else_=null())


def _per_rule(rules: Sequence[DunningRule], rule: Any, attr: str) -> Any:
    return case(*((rule == r.code, literal(getattr(r, attr), Integer)) for r in rules))


def plan_statement(as_of: date, rules: Sequence[DunningRule], *, unreachable: bool = False) -> Any:
    """The SELECT behind :func:`plan_dunning` (and the queue's INSERT ... SELECT); with
    ``unreachable``, messages no channel can carry are included too (channel NULL)."""
    rules = rules_for(rules)
    day = to_day(as_of)
    ca = customer_account
    thresholds = [lv.days_after_due for r in rules for lv in r.levels]
    owed = open_per_account(as_of, thresholds)
    rule = _rule_of(rules, ca)
    classified = (
        select(
            owed.c.account_id,
            owed.c.anchor,
            (owed.c.dunnable + owed.c.credits).label("amount_due"),
            owed.c.overdue,
            rule.label("rule"),
            _level_of(rules, rule, owed).label("reached"),
            _level_of(rules, rule, owed, messages_only=True).label("reached_message"),
        )
        .join(ca, ca.c.id == owed.c.account_id)
        .where(owed.c.anchor.is_not(None), ca.c.customer_type.in_(DUNNED_TYPES))
        .cte("classified")
        .prefix_with("MATERIALIZED")
    )
    c = classified.c
    delivered = _last_delivered(day)
    # Collections only after a message about the same debt went out, a gap ago: an
    # account seen first when very old gets its final notice first.
    told = and_(delivered.c.day.is_not(None), delivered.c.day <= day - _gap_of(rules, c.rule))
    level = case(
        (and_(_is_collections(rules, c.rule, c.reached), ~told), c.reached_message),
        else_=c.reached,
    )
    # Materialized: SQLite would otherwise work the CASEs out again at every use.
    leveled = (
        select(
            c.account_id,
            c.anchor,
            c.amount_due,
            c.overdue,
            c.rule,
            level.label("level"),
            (day - c.anchor).label("days_overdue"),
            _step(rules, c.rule, level, "template").label("template"),
            _step(rules, c.rule, level, "action").label("action"),
            _per_rule(rules, c.rule, "min_balance_minor").label("min_balance"),
            _per_rule(rules, c.rule, "min_gap_days").label("gap"),
        )
        .select_from(classified)
        .outerjoin(
            delivered,
            and_(
                delivered.c.account_id == c.account_id,
                delivered.c.rule == c.rule,
                day_number(delivered.c.anchor_day) == c.anchor,
            ),
        )
        .where(level.is_not(None))
        .cte("leveled")
        .prefix_with("MATERIALIZED")
    )
    return reachable(leveled, day, unreachable)


async def plan_dunning(
    conn: AsyncConnection,
    as_of: date,
    rules: Sequence[DunningRule] | None = None,
    *,
    unreachable: bool = False,
) -> list[DunningMessage]:
    """What dunning would do on ``as_of``: highest levels and largest amounts first.

    ``rules`` default to the stored ones (:func:`core.dunning.rules.load_rules`). With
    ``unreachable``, messages that no channel may carry are listed too, with no channel
    (a dry run shows whom the clinic cannot reach); they are never queued."""
    chosen = list(rules) if rules is not None else await load_rules(conn)
    async with roomy_cache(conn):
        rows = (await conn.execute(plan_statement(as_of, chosen, unreachable=unreachable))).all()
    return [
        DunningMessage(
            account_id=r.account_id,
            account_number=r.number,
            recipient_id=r.recipient_id,
            location=r.location,
            rule=r.rule,
            level=r.level,
            template=r.template,
            action=r.action,
            anchor_due=from_day(int(r.anchor)),
            days_overdue=int(r.days_overdue),
            amount_due=Money(int(r.amount_due), r.currency),
            overdue=Money(int(r.overdue), r.currency),
            channel=r.channel,
            address=r.address,
            verified=bool(r.verified),
            locale=r.locale,
            dedupe_key=dedupe_key(r.account_id, r.rule, r.level, as_of),
        )
        for r in rows
    ]
