"""What billing's history says: the effect of each pricing rule on revenue (BI-26,
BI-27) and what billing took from stock, for reordering (BI-24)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.tables import charge_line, pricing_rule, stock_item, stock_level, stock_movement
from core.ledger.tables import journal_entry
from core.money import Money


@dataclass(frozen=True, slots=True)
class RuleEffect:
    """What one pricing rule (or staff overrides, ``rule_id`` None) did in a period."""

    rule_id: int | None
    name: str
    lines: int
    list_value: Money
    charged: Money

    @property
    def effect(self) -> Money:
        """Charged minus list value: negative for a discount, positive for a surcharge."""
        return self.charged - self.list_value


async def pricing_effect(
    conn: AsyncConnection, *, start: date, end: date, currency: str
) -> list[RuleEffect]:
    """Per rule, the charge lines it priced between ``start`` and ``end`` (service
    dates), their list value and what was charged; overrides are one row of their own.
    Lines of reversed charges are left out."""
    reversed_ids = select(journal_entry.c.reverses_id).where(
        journal_entry.c.reverses_id.is_not(None)
    )
    listed = charge_line.c.list_unit_minor * charge_line.c.quantity
    rows = await conn.execute(
        select(
            charge_line.c.rule_id,
            func.max(pricing_rule.c.name).label("name"),
            func.count().label("lines"),
            func.sum(listed).label("listed"),
            func.sum(charge_line.c.amount_minor).label("charged"),
        )
        .outerjoin(pricing_rule, pricing_rule.c.id == charge_line.c.rule_id)
        .where(
            charge_line.c.service_day.between(start, end),
            charge_line.c.currency == currency,
            (charge_line.c.rule_id.is_not(None)) | (charge_line.c.override_reason.is_not(None)),
            charge_line.c.entry_id.not_in(reversed_ids),
        )
        .group_by(charge_line.c.rule_id)
        .order_by(charge_line.c.rule_id.nulls_first())
    )
    return [
        RuleEffect(
            r.rule_id,
            r.name or "prices set by hand or by the billing system",
            int(r.lines),
            Money(int(r.listed), currency),
            Money(int(r.charged), currency),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Consumption:
    item_code: str
    store: str
    used: int
    on_hand: int
    reorder_level: int | None

    @property
    def reorder(self) -> bool:
        return self.reorder_level is not None and self.on_hand <= self.reorder_level


async def stock_consumption(conn: AsyncConnection, *, start: date, end: date) -> list[Consumption]:
    """What billing took from each store from ``start`` to ``end`` (UTC days of the
    movements; charges less their reversals), beside what is on hand now and whether
    to reorder (BI-24)."""
    since = datetime.combine(start, time(), UTC)
    until = datetime.combine(end + timedelta(days=1), time(), UTC)
    taken = case(
        (stock_movement.c.reason.in_(("charge", "reversal")), -stock_movement.c.delta), else_=0
    )
    used = (
        select(
            stock_movement.c.item_code,
            stock_movement.c.location,
            func.sum(taken).label("used"),
        )
        .where(stock_movement.c.at >= since, stock_movement.c.at < until)
        .group_by(stock_movement.c.item_code, stock_movement.c.location)
        .subquery()
    )
    rows = await conn.execute(
        select(
            stock_level.c.item_code,
            stock_level.c.location,
            func.coalesce(used.c.used, 0).label("used"),
            stock_level.c.quantity,
            stock_item.c.reorder_level,
        )
        .join(stock_item, stock_item.c.code == stock_level.c.item_code)
        .outerjoin(
            used,
            (used.c.item_code == stock_level.c.item_code)
            & (used.c.location == stock_level.c.location),
        )
        .order_by(stock_level.c.item_code, stock_level.c.location)
    )
    return [
        Consumption(r.item_code, r.location, int(r.used), int(r.quantity), r.reorder_level)
        for r in rows
    ]
