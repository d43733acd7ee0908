"""Dunning rules, pauses and sending hours: what the clinic configures (AR-108, AR-162).

A rule is a ladder of levels counted in days after the due date of the oldest open item
(a statement at day 0, reminders at 15, 30 and 45, a final notice at 60, a flag for
collections at 90), each level with its template and action. A rule applies to one
financial class, one location, both or neither; an account gets the most specific rule
that matches it (class and location, then class, then location, then the catch-all).
With no rule stored, :data:`DEFAULT_RULE` applies to every account.

A pause takes an item or a whole account out of dunning with a reason (a promise to
pay, a dispute, a payment plan, hardship) from a day until a day, or until lifted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.db import Database, inserted_id
from core.dunning.tables import (
    ACTIONS,
    PAUSE_REASONS,
    dunning_level,
    dunning_pause,
    dunning_rule,
    location_hours,
)
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.accounts import load_account
from core.ledger.tables import ar_item
from core.profile.common import CODE, class_code, source_of

TEMPLATE = CODE
"""Template names are codes too: ``reminder``, ``final_notice``."""


@dataclass(frozen=True, slots=True)
class DunningLevel:
    level: int
    days_after_due: int
    template: str
    action: str = "message"


@dataclass(frozen=True, slots=True)
class DunningRule:
    code: str
    name: str
    levels: tuple[DunningLevel, ...]
    financial_class: str | None = None
    location: str | None = None
    min_balance_minor: int = 0
    min_gap_days: int = 7

    @property
    def specificity(self) -> int:
        """How narrowly the rule applies: 3 class and location, 2 class, 1 location."""
        return 2 * (self.financial_class is not None) + (self.location is not None)


DEFAULT_RULE = DunningRule(
    code="default",
    name="Statement, three reminders, final notice, collections",
    levels=(
        DunningLevel(1, 0, "statement"),
        DunningLevel(2, 15, "reminder"),
        DunningLevel(3, 30, "reminder"),
        DunningLevel(4, 45, "reminder"),
        DunningLevel(5, 60, "final_notice"),
        DunningLevel(6, 90, "collections", action="collections"),
    ),
    min_balance_minor=500,
)
"""The built-in ladder; balances of 5.00 or less (in the account's currency) are left to
the small-balance write-off."""


def check_rule(rule: DunningRule) -> DunningRule:
    """Refuse a rule that cannot work; returns it with its codes in normal form."""
    code = class_code(rule.code, "rule code")
    if not rule.name.strip():
        raise ValidationError("a dunning rule needs a name")
    if not rule.levels:
        raise ValidationError(f"dunning rule {code} needs at least one level")
    levels = sorted(rule.levels, key=lambda lv: lv.days_after_due)
    if [lv.level for lv in levels] != list(range(1, len(levels) + 1)):
        raise ValidationError(
            f"dunning rule {code}: number the levels 1, 2, 3 ... in order of their days"
        )
    if any(b.days_after_due == a.days_after_due for a, b in pairwise(levels)):
        raise ValidationError(f"dunning rule {code}: two levels fall on the same day")
    for lv in levels:
        if not -90 <= lv.days_after_due <= 3650:
            raise ValidationError(
                f"level {lv.level} of rule {code}: days after the due date must be "
                "between -90 and 3650"
            )
        if lv.action not in ACTIONS:
            raise ValidationError(
                f"{lv.action!r} is not a dunning action; use message or collections"
            )
        class_code(lv.template, "template name", 60)
    if rule.min_balance_minor < 0 or not 0 <= rule.min_gap_days <= 365:
        raise ValidationError(
            f"dunning rule {code}: the minimum balance cannot be negative and the gap "
            "between reminders must be 0 to 365 days"
        )
    fc = class_code(rule.financial_class, "financial class") if rule.financial_class else None
    loc = class_code(rule.location, "location") if rule.location else None
    return DunningRule(
        code, rule.name.strip(), tuple(levels), fc, loc, rule.min_balance_minor, rule.min_gap_days
    )


async def define_rule(db: Database, actor: Actor, rule: DunningRule) -> int:
    """Store a rule with its levels (the clinic's configuration, like its catalogue).

    Two active rules for the same class and location would leave it to chance which
    applies, so the second is refused."""
    require(actor, Permission.MANAGE_CATALOGUE)
    rule = check_rule(rule)
    async with db.transaction() as tx:
        same_scope = await tx.conn.execute(
            select(dunning_rule.c.code).where(
                dunning_rule.c.active.is_(True),
                _is(dunning_rule.c.financial_class, rule.financial_class),
                _is(dunning_rule.c.location, rule.location),
            )
        )
        if (other := same_scope.scalar()) is not None:
            raise InvalidState(f"dunning rule {other} already covers the same accounts")
        try:
            rule_id = inserted_id(
                await tx.conn.execute(
                    dunning_rule.insert().values(
                        code=rule.code,
                        name=rule.name,
                        financial_class=rule.financial_class,
                        location=rule.location,
                        min_balance_minor=rule.min_balance_minor,
                        min_gap_days=rule.min_gap_days,
                        created_at=tx.db.clock.now(),
                        actor=actor.label,
                    )
                )
            )
        except IntegrityError as exc:
            raise ValidationError(f"dunning rule code {rule.code} is already in use") from exc
        await tx.conn.execute(
            dunning_level.insert(),
            [
                {
                    "rule_id": rule_id,
                    "level": lv.level,
                    "days_after_due": lv.days_after_due,
                    "template": lv.template,
                    "action": lv.action,
                }
                for lv in rule.levels
            ],
        )
        tx.audit(
            actor.label,
            source_of(actor),
            "dunning.rule",
            f"rule {rule.code}",
            levels=[[lv.days_after_due, lv.template, lv.action] for lv in rule.levels],
            financial_class=rule.financial_class,
            location=rule.location,
        )
    return rule_id


def _is(column: ColumnElement[str], value: str | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


async def load_rules(conn: AsyncConnection) -> list[DunningRule]:
    """The active rules, most specific first; :data:`DEFAULT_RULE` alone when none is
    stored."""
    rows = (
        await conn.execute(
            select(dunning_rule, dunning_level)
            .join(dunning_level, dunning_level.c.rule_id == dunning_rule.c.id)
            .where(dunning_rule.c.active.is_(True))
            .order_by(dunning_rule.c.id, dunning_level.c.level)
        )
    ).all()
    if not rows:
        return [DEFAULT_RULE]
    levels: dict[str, list[DunningLevel]] = {}
    heads = {}
    for r in rows:
        heads[r.code] = r
        levels.setdefault(r.code, []).append(
            DunningLevel(r.level, r.days_after_due, r.template, r.action)
        )
    rules = [
        DunningRule(
            code,
            h.name,
            tuple(levels[code]),
            h.financial_class,
            h.location,
            int(h.min_balance_minor),
            h.min_gap_days,
        )
        for code, h in heads.items()
    ]
    return sorted(rules, key=lambda r: -r.specificity)


@dataclass(frozen=True, slots=True)
class Pause:
    id: int
    account_id: int
    item_id: int | None
    reason: str
    note: str
    from_day: date
    until_day: date | None


async def pause_dunning(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    reason: str,
    from_day: date,
    until_day: date | None = None,
    item_id: int | None = None,
    note: str = "",
) -> Pause:
    """Leave an account, or one of its items, out of dunning from ``from_day`` to
    ``until_day`` (the last day; None: until lifted) for ``reason`` (AR-108, AR-162)."""
    if reason not in PAUSE_REASONS:
        raise ValidationError(
            f"{reason!r} is not a reason to pause dunning; use {', '.join(PAUSE_REASONS)}"
        )
    if until_day is not None and until_day < from_day:
        raise ValidationError("a pause cannot end before it starts")
    if len(note) > 300:
        raise ValidationError("keep the note to 300 characters")
    async with db.transaction() as tx:
        account = await load_account(tx.conn, account_id=account_id)
        require(actor, Permission.MANAGE_ACCOUNTS, account.location)
        if item_id is not None:
            owner = (
                await tx.conn.execute(select(ar_item.c.account_id).where(ar_item.c.id == item_id))
            ).scalar()
            if owner != account_id:
                raise NotFound(f"item {item_id} is not on account {account.number}")
        pause_id = inserted_id(
            await tx.conn.execute(
                dunning_pause.insert().values(
                    account_id=account_id,
                    item_id=item_id,
                    reason=reason,
                    note=note.strip(),
                    from_day=from_day,
                    until_day=until_day,
                    created_at=tx.db.clock.now(),
                    actor=actor.label,
                )
            )
        )
        tx.audit(
            actor.label,
            source_of(actor),
            "dunning.pause",
            f"account {account.number}",
            item=item_id,
            reason=reason,
            until=until_day.isoformat() if until_day else None,
        )
    return Pause(pause_id, account_id, item_id, reason, note.strip(), from_day, until_day)


async def lift_pause(db: Database, actor: Actor, pause_id: int) -> None:
    """End a pause now (the promise was broken, the dispute settled)."""
    async with db.transaction() as tx:
        row = (
            await tx.conn.execute(select(dunning_pause).where(dunning_pause.c.id == pause_id))
        ).first()
        if row is None:
            raise NotFound(f"there is no dunning pause {pause_id}")
        account = await load_account(tx.conn, account_id=row.account_id)
        require(actor, Permission.MANAGE_ACCOUNTS, account.location)
        lifted = await tx.conn.execute(
            dunning_pause.update()
            .where(dunning_pause.c.id == pause_id, dunning_pause.c.lifted_at.is_(None))
            .values(lifted_at=tx.db.clock.now(), lifted_by=actor.label)
        )
        if lifted.rowcount != 1:
            raise InvalidState(f"dunning pause {pause_id} was already lifted")
        tx.audit(
            actor.label,
            source_of(actor),
            "dunning.unpause",
            f"account {account.number}",
            pause=pause_id,
        )


@dataclass(frozen=True, slots=True)
class SendingHours:
    """When messages that do not answer the patient may go out at a location, in its
    time zone (DESIGN: time; issue 6: quiet hours, default 08:00-21:00)."""

    zone: tzinfo
    start: time = time(8, 0)
    end: time = time(21, 0)


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"{name!r} is not a time zone; use a name like America/New_York"
        ) from exc


def _minute(value: time) -> int:
    return value.hour * 60 + value.minute


async def set_location_hours(
    db: Database,
    actor: Actor,
    *,
    location: str,
    zone: str,
    start: time = time(8, 0),
    end: time = time(21, 0),
) -> None:
    """Set a location's time zone and the hours reminders may go out there."""
    require(actor, Permission.MANAGE_CATALOGUE)
    code = class_code(location, "location")
    time_zone(zone)
    if not _minute(start) < (_minute(end) or 1440):
        raise ValidationError("the sending hours must start before they end")
    values = {
        "time_zone": zone,
        "send_from_minute": _minute(start),
        "send_until_minute": _minute(end) or 1440,
    }
    async with db.transaction() as tx:
        insert = postgresql.insert if tx.is_postgres else sqlite.insert
        now = tx.db.clock.now()
        await tx.conn.execute(
            insert(location_hours)
            .values(location=code, updated_at=now, actor=actor.label, **values)
            .on_conflict_do_update(
                index_elements=["location"],
                set_={**values, "updated_at": now, "actor": actor.label},
            )
        )
        tx.audit(actor.label, source_of(actor), "dunning.hours", f"location {code}", **values)


async def sending_hours(conn: AsyncConnection) -> dict[str, SendingHours]:
    """Each configured location's hours; others use the system zone and 08:00-21:00."""
    rows = await conn.execute(select(location_hours))
    return {
        r.location: SendingHours(
            ZoneInfo(r.time_zone),
            time(r.send_from_minute // 60, r.send_from_minute % 60),
            time(23, 59, 59)
            if r.send_until_minute == 1440
            else time(r.send_until_minute // 60, r.send_until_minute % 60),
        )
        for r in rows
    }


def rules_for(rules: Sequence[DunningRule]) -> list[DunningRule]:
    """``rules`` checked and sorted most specific first (the order they are tried in)."""
    return sorted((check_rule(r) for r in rules), key=lambda r: -r.specificity)
