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
planned messages come back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import from_day, to_day
from core.dunning.rules import DunningRule, load_rules, rules_for
from core.dunning.tables import dunning_notice, dunning_pause
from core.ledger.tables import (
    allocation,
    ar_item,
    chat_link,
    contact_consent,
    customer_account,
    customer_contact,
    customer_status,
    item_dispute,
)
from core.money import Money
from core.plans.tables import payment_plan

DUNNED_TYPES = ("patient", "guarantor", "employee")
"""Customer types dunning follows up: people, who can be reached in a chat."""
UNREACHABLE_STATUSES = (
    "disputed",
    "in_collections",
    "bad_debt",
    "inactive",
    "flagged_for_deletion",
)
"""Account statuses dunning leaves alone: someone else is dealing with the account."""


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


def _day(column: Any) -> Any:
    return type_coerce(column, Integer)


def _active_pauses(day: int) -> Any:
    p = dunning_pause
    return and_(
        p.c.lifted_at.is_(None),
        _day(p.c.from_day) <= day,
        or_(p.c.until_day.is_(None), _day(p.c.until_day) >= day),
    )


def _aged(threshold: int) -> str:
    return f"aged_{threshold}".replace("-", "m")


def disputed_items(day: int) -> Any:
    """Each item's latest dispute flag on ``day``. Joined to the row with the highest id
    per item rather than filtered with ``id IN (...)``: SQLite ran that form once per
    item (129 s over 390,000 items against 1 s, make bench)."""
    d = item_dispute
    latest = (
        select(d.c.item_id, func.max(d.c.id).label("id"))
        .where(_day(d.c.effective_day) <= day)
        .group_by(d.c.item_id)
        .subquery("latest_dispute")
    )
    flag = d.alias("dispute")
    return (
        select(latest.c.item_id, flag.c.disputed)
        .join(flag, flag.c.id == latest.c.id)
        .subquery("disputed")
    )


def _open_per_account(
    as_of: date, thresholds: Sequence[int] = (), account_id: int | None = None
) -> Any:
    """Per account: the anchor (the oldest dunnable open item's due day), what the
    dunnable items have open, the part past due, unapplied credits, and for each
    threshold what has been due at least that many days (column ``aged_<days>``)."""
    day = to_day(as_of)
    applied = (
        select(allocation.c.item_id, func.sum(allocation.c.amount_minor).label("applied"))
        .where(_day(allocation.c.effective_day) <= day)
        .group_by(allocation.c.item_id)
        .subquery("applied")
    )
    disputed = disputed_items(day)
    paused = (
        select(dunning_pause.c.item_id)
        .where(dunning_pause.c.item_id.is_not(None), _active_pauses(day))
        .distinct()
        .subquery("paused_items")
    )
    i = ar_item
    open_minor = i.c.amount_minor + func.coalesce(applied.c.applied, 0)
    dunnable = and_(
        i.c.amount_minor > 0,
        func.coalesce(disputed.c.disputed, false()).is_not(true()),
        paused.c.item_id.is_(None),
    )
    due = _day(i.c.due_day)
    only = i.c.account_id == account_id if account_id is not None else true()
    return (
        select(
            i.c.account_id,
            func.min(case((dunnable, due))).label("anchor"),
            func.sum(case((dunnable, open_minor), else_=0)).label("dunnable"),
            func.sum(case((and_(dunnable, due < day), open_minor), else_=0)).label("overdue"),
            func.sum(case((i.c.amount_minor < 0, open_minor), else_=0)).label("credits"),
            *(
                func.sum(case((and_(dunnable, due <= day - t), open_minor), else_=0)).label(
                    _aged(t)
                )
                for t in sorted(set(thresholds))
            ),
        )
        .outerjoin(applied, applied.c.item_id == i.c.id)
        .outerjoin(disputed, disputed.c.item_id == i.c.id)
        .outerjoin(paused, paused.c.item_id == i.c.id)
        .where(_day(i.c.effective_day) <= day, open_minor != 0, only)
        .group_by(i.c.account_id)
        .subquery("owed")
    )


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
            and_(rule == r.code, owed.c[_aged(lv.days_after_due)] > r.min_balance_minor),
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
            n.c.account_id, n.c.rule, n.c.anchor_day, func.max(_day(n.c.planned_day)).label("day")
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


def _on_plan() -> Any:
    """Accounts with an active payment plan (AR-162): they get the plan's notices, not
    dunning. A plan missed past its grace period is put in default by the plan job
    (``core.plans.instalments``), which ends it, and dunning takes the account up again
    at the level its oldest item calls for."""
    return (
        select(payment_plan.c.account_id)
        .where(payment_plan.c.status == "active")
        .subquery("on_plan")
    )


def _latest(table: Any, keys: Sequence[Any], where: Any = None) -> Any:
    query = select(*keys, func.max(table.c.id).label("id")).group_by(*keys)
    return query.where(where) if where is not None else query


def _channels(recipient: Any) -> dict[str, Any]:
    """Columns choosing the channel, address and verification for ``recipient``."""
    links = {}
    for channel in ("telegram", "sms"):
        latest = _latest(
            chat_link,
            [chat_link.c.account_id],
            and_(chat_link.c.channel == channel, chat_link.c.unlinked_at.is_(None)),
        ).subquery(f"{channel}_latest")
        link = chat_link.alias(f"{channel}_link")
        links[channel] = (latest, link)
    phone_pick = (
        select(
            customer_contact.c.account_id,
            func.coalesce(
                func.min(case((customer_contact.c.is_primary.is_(true()), customer_contact.c.id))),
                func.min(customer_contact.c.id),
            ).label("id"),
        )
        .where(customer_contact.c.kind == "phone")
        .group_by(customer_contact.c.account_id)
        .subquery("phone_pick")
    )
    phone = customer_contact.alias("phone")
    return {"links": links, "phone_pick": phone_pick, "phone": phone, "recipient": recipient}


def plan_statement(as_of: date, rules: Sequence[DunningRule], *, unreachable: bool = False) -> Any:
    """The SELECT behind :func:`plan_dunning` (and the queue's INSERT ... SELECT); with
    ``unreachable``, messages no channel can carry are included too (channel NULL)."""
    rules = rules_for(rules)
    day = to_day(as_of)
    ca = customer_account
    thresholds = [lv.days_after_due for r in rules for lv in r.levels]
    owed = _open_per_account(as_of, thresholds)
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
                _day(delivered.c.anchor_day) == c.anchor,
            ),
        )
        .where(level.is_not(None))
        .cte("leveled")
        .prefix_with("MATERIALIZED")
    )
    return _reachable(leveled, day, unreachable)


def _reachable(leveled: Any, day: int, unreachable: bool) -> Any:
    """Join each account's level to its history and its channels."""
    ladder = leveled
    ca, recipient = customer_account, customer_account.alias("recipient")
    status = customer_status.alias("status_now")
    latest_status = _latest(
        customer_status,
        [customer_status.c.account_id],
        _day(customer_status.c.effective_day) <= day,
    ).subquery("latest_status")
    done = dunning_notice.alias("done")
    last_sent = (
        select(
            dunning_notice.c.account_id, func.max(_day(dunning_notice.c.planned_day)).label("day")
        )
        .where(
            dunning_notice.c.action == "message",
            dunning_notice.c.status.not_in(["expired", "skipped"]),
        )
        .group_by(dunning_notice.c.account_id)
        .subquery("last_sent")
    )
    account_paused = (
        select(dunning_pause.c.account_id)
        .where(dunning_pause.c.item_id.is_(None), _active_pauses(day))
        .distinct()
        .subquery("paused_accounts")
    )
    on_plan = _on_plan()
    ch = _channels(recipient)
    (tg_latest, tg), (sms_latest, sms) = ch["links"]["telegram"], ch["links"]["sms"]
    phone_pick, phone = ch["phone_pick"], ch["phone"]
    consents = _latest(
        contact_consent, [contact_consent.c.channel, contact_consent.c.address]
    ).subquery("consent_latest")
    tg_consent, sms_consent = (
        contact_consent.alias("tg_consent"),
        contact_consent.alias("sms_consent"),
    )
    tg_pick, sms_pick = consents.alias("tg_pick"), consents.alias("sms_pick")
    sms_address = func.coalesce(sms.c.address, phone.c.normalized)
    tg_ok = and_(
        tg.c.address.is_not(None), func.coalesce(tg_consent.c.granted, true()).is_(true())
    )
    sms_ok = and_(
        sms_address.is_not(None), func.coalesce(sms_consent.c.granted, false()).is_(true())
    )
    channel = case((tg_ok, "telegram"), (sms_ok, "sms"), else_=null())
    address = case((tg_ok, tg.c.address), (sms_ok, sms_address), else_=null())
    verified = case(
        (tg_ok, tg.c.verified_at.is_not(None)),
        (sms_ok, and_(sms.c.verified_at.is_not(None), sms.c.address == sms_address)),
        else_=false(),
    )
    messages = ladder.c.action == "message"
    query = (
        select(
            leveled.c.account_id,
            ca.c.number,
            recipient.c.id.label("recipient_id"),
            ca.c.location,
            ca.c.currency,
            leveled.c.rule,
            leveled.c.level,
            leveled.c.template,
            leveled.c.action,
            leveled.c.anchor,
            leveled.c.days_overdue,
            leveled.c.amount_due,
            case(
                (leveled.c.overdue < leveled.c.amount_due, leveled.c.overdue),
                else_=leveled.c.amount_due,
            ).label("overdue"),
            # A flag for collections is no message: it has no channel.
            case((messages, channel), else_=null()).label("channel"),
            case((messages, address), else_=null()).label("address"),
            and_(messages, verified).label("verified"),
            recipient.c.language.label("locale"),
        )
        .select_from(leveled)
        .join(ca, ca.c.id == leveled.c.account_id)
        .join(recipient, recipient.c.id == func.coalesce(ca.c.guarantor_id, ca.c.id))
        .outerjoin(latest_status, latest_status.c.account_id == ca.c.id)
        .outerjoin(status, status.c.id == latest_status.c.id)
        .outerjoin(
            done,
            and_(
                done.c.account_id == leveled.c.account_id,
                done.c.rule == leveled.c.rule,
                done.c.level == leveled.c.level,
                _day(done.c.anchor_day) == leveled.c.anchor,
                done.c.status != "expired",
            ),
        )
        .outerjoin(last_sent, last_sent.c.account_id == leveled.c.account_id)
        .outerjoin(account_paused, account_paused.c.account_id == leveled.c.account_id)
        .outerjoin(on_plan, on_plan.c.account_id == leveled.c.account_id)
        .outerjoin(tg_latest, tg_latest.c.account_id == recipient.c.id)
        .outerjoin(tg, tg.c.id == tg_latest.c.id)
        .outerjoin(
            tg_pick, and_(tg_pick.c.channel == "telegram", tg_pick.c.address == tg.c.address)
        )
        .outerjoin(tg_consent, tg_consent.c.id == tg_pick.c.id)
        .outerjoin(sms_latest, sms_latest.c.account_id == recipient.c.id)
        .outerjoin(sms, sms.c.id == sms_latest.c.id)
        .outerjoin(phone_pick, phone_pick.c.account_id == recipient.c.id)
        .outerjoin(phone, phone.c.id == phone_pick.c.id)
        .outerjoin(sms_pick, and_(sms_pick.c.channel == "sms", sms_pick.c.address == sms_address))
        .outerjoin(sms_consent, sms_consent.c.id == sms_pick.c.id)
        .where(
            leveled.c.amount_due > ladder.c.min_balance,
            done.c.id.is_(None),
            account_paused.c.account_id.is_(None),
            on_plan.c.account_id.is_(None),
            or_(status.c.status.is_(None), status.c.status.not_in(UNREACHABLE_STATUSES)),
            or_(
                ladder.c.action == "collections",
                and_(
                    true() if unreachable else channel.is_not(None),
                    or_(last_sent.c.day.is_(None), last_sent.c.day <= day - ladder.c.gap),
                ),
            ),
        )
        .order_by(leveled.c.level.desc(), leveled.c.amount_due.desc(), leveled.c.account_id)
    )
    return query


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


async def owed_now(conn: AsyncConnection, account_id: int, as_of: date, currency: str) -> Money:
    """What the account owes to dunning now (dunnable items less unapplied credits): a
    queued reminder is checked against it just before it goes, in case the patient paid
    in the meantime."""
    owed = _open_per_account(as_of, account_id=account_id)
    row = (await conn.execute(select(owed.c.dunnable + owed.c.credits))).first()
    return Money(int(row[0]) if row is not None else 0, currency)
