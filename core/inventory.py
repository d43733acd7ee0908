"""Inventory: stock items, how many are on the shelf where, and every movement.

A stock item is kept either centrally (one store, location ``central``) or per
location (BI-25). Billing a material or a medication takes its quantity off the shelf
in the same database transaction as the charge; reversing the charge puts it back
(BI-10, BI-11). Each item says what happens when billing would take it below zero:
``refuse`` stops the charge with a clear error, ``allow`` lets it through and flags
the movement for review. The movement log names the journal entry that caused each
movement and is never edited, so consumption figures for reordering (BI-24) come
from it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.billing.catalogue import service_code
from core.billing.tables import stock_item, stock_level, stock_movement
from core.db import Database, Tx
from core.errors import InvalidState, NotFound, ValidationError

CENTRAL = "central"
POLICIES = ("refuse", "allow")


@dataclass(frozen=True, slots=True)
class StockItem:
    code: str
    description: str
    unit: str
    central: bool
    negative_policy: str

    def store(self, location: str) -> str:
        """Where this item is kept for a charge at ``location``."""
        return CENTRAL if self.central else location


@dataclass(frozen=True, slots=True)
class Movement:
    item_code: str
    location: str
    delta: int
    balance_after: int
    flagged: bool


async def define_stock_item(
    db: Database,
    actor: Actor,
    *,
    code: str,
    description: str,
    unit: str = "each",
    central: bool = False,
    negative_policy: str = "refuse",
    reorder_level: int | None = None,
) -> str:
    """Add a stock item, or change how it is kept."""
    require(actor, Permission.MANAGE_CATALOGUE)
    async with db.transaction() as tx:
        return await save_stock_item(
            tx, actor, code, description, unit, central, negative_policy, reorder_level
        )


async def save_stock_item(
    tx: Tx,
    actor: Actor,
    code: str,
    description: str,
    unit: str = "each",
    central: bool = False,
    negative_policy: str = "refuse",
    reorder_level: int | None = None,
) -> str:
    code = service_code(code)
    if not description.strip():
        raise ValidationError(f"stock item {code} needs a description")
    if negative_policy not in POLICIES:
        raise ValidationError(f"{negative_policy!r} is not a stock policy; use refuse or allow")
    row = {
        "description": description.strip()[:200],
        "unit": unit.strip() or "each",
        "central": central,
        "negative_policy": negative_policy,
        "reorder_level": reorder_level,
    }
    exists = (
        await tx.conn.execute(select(stock_item.c.code).where(stock_item.c.code == code))
    ).first()
    if exists is None:
        await tx.conn.execute(stock_item.insert().values(code=code, **row))
    else:
        await tx.conn.execute(stock_item.update().where(stock_item.c.code == code).values(**row))
    tx.audit(actor.label, "staff", "inventory.item", f"stock {code}", **row)
    return code


async def load_stock_items(conn: AsyncConnection, codes: Iterable[str]) -> dict[str, StockItem]:
    rows = await conn.execute(select(stock_item).where(stock_item.c.code.in_(sorted(set(codes)))))
    return {
        r.code: StockItem(r.code, r.description, r.unit, r.central, r.negative_policy)
        for r in rows
    }


async def on_hand(conn: AsyncConnection, item_code: str, location: str) -> int:
    found = await conn.execute(
        select(stock_level.c.quantity).where(
            stock_level.c.item_code == item_code, stock_level.c.location == location
        )
    )
    return int(found.scalar() or 0)


async def move_stock(
    tx: Tx,
    items: dict[str, StockItem],
    deltas: dict[tuple[str, str], int],
    *,
    reason: str,
    actor: str,
    entry_id: int | None = None,
) -> list[Movement]:
    """Change stock levels by ``deltas`` ((item, store) -> quantity, negative to take)
    and log each movement; refuses the whole transaction when an item whose policy is
    ``refuse`` would go below zero."""
    now: datetime = tx.db.clock.now()
    moves: list[Movement] = []
    for (code, store), delta in sorted(deltas.items()):
        if delta == 0:
            continue
        after = await _change_level(tx, code, store, delta)
        flagged = delta < 0 and after < 0
        if flagged and items[code].negative_policy == "refuse":
            raise InvalidState(
                f"only {after - delta} {items[code].unit} of {code} in stock at {store}; "
                f"{-delta} needed (receive stock first, or set the item to allow negative stock)"
            )
        moves.append(Movement(code, store, delta, after, flagged))
    if moves:
        await tx.conn.execute(
            stock_movement.insert(),
            [
                {
                    "item_code": m.item_code,
                    "location": m.location,
                    "delta": m.delta,
                    "balance_after": m.balance_after,
                    "reason": reason,
                    "entry_id": entry_id,
                    "flagged": m.flagged,
                    "at": now,
                    "actor": actor,
                }
                for m in moves
            ],
        )
    return moves


async def on_hand_many(
    conn: AsyncConnection, item_codes: Iterable[str]
) -> dict[tuple[str, str], int]:
    """Stock on hand of ``item_codes`` at every store: (item, store) -> quantity."""
    rows = await conn.execute(
        select(stock_level).where(stock_level.c.item_code.in_(sorted(set(item_codes))))
    )
    return {(r.item_code, r.location): r.quantity for r in rows}


async def move_stock_many(
    tx: Tx,
    items: dict[str, StockItem],
    moves: Sequence[tuple[int, str, str, int]],
    *,
    reason: str,
    actor: str,
) -> list[Movement]:
    """Many movements at once, each ``(entry id, item, store, delta)`` logged against its
    own entry: one UPDATE per item and store, one INSERT for the log (imports)."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for _, code, store, delta in moves:
        totals[(code, store)] += delta
    running: dict[tuple[str, str], int] = {}
    for (code, store), delta in sorted(totals.items()):
        if delta:
            after = await _change_level(tx, code, store, delta)
            running[(code, store)] = after - delta
    now = tx.db.clock.now()
    rows: list[dict[str, object]] = []
    logged: list[Movement] = []
    for entry_id, code, store, delta in moves:
        if delta == 0:
            continue
        level = running[(code, store)] = running[(code, store)] + delta
        flagged = delta < 0 and level < 0
        if flagged and items[code].negative_policy == "refuse":
            raise InvalidState(f"{code} at {store} would go below zero ({level})")
        logged.append(Movement(code, store, delta, level, flagged))
        rows.append(
            {
                "item_code": code,
                "location": store,
                "delta": delta,
                "balance_after": level,
                "reason": reason,
                "entry_id": entry_id,
                "flagged": flagged,
                "at": now,
                "actor": actor,
            }
        )
    if rows:
        await tx.conn.execute(stock_movement.insert(), rows)
    return logged


async def _change_level(tx: Tx, code: str, store: str, delta: int) -> int:
    """Add ``delta`` to the level of ``code`` at ``store``; the new level.

    A store's first movement creates its level row. Two first movements at once must
    not collide on the key (PostgreSQL would raise): the row is made with ON CONFLICT
    DO NOTHING, then changed by the same UPDATE as any other movement, under its lock."""
    for _ in range(2):
        changed = await tx.conn.execute(
            stock_level.update()
            .where(stock_level.c.item_code == code, stock_level.c.location == store)
            .values(quantity=stock_level.c.quantity + delta)
            .returning(stock_level.c.quantity)
        )
        after = changed.scalar()
        if after is not None:
            return int(after)
        insert = postgresql.insert if tx.is_postgres else sqlite.insert
        await tx.conn.execute(
            insert(stock_level)
            .values(item_code=code, location=store, quantity=0)
            .on_conflict_do_nothing()
        )
    raise RuntimeError(f"no stock level row for {code} at {store}")  # pragma: no cover


async def receive_stock(
    db: Database, actor: Actor, *, item_code: str, location: str, quantity: int, reason: str
) -> Movement:
    """Stock received (``receipt``) or corrected by a count (``count``, may be negative)."""
    require(actor, Permission.MANAGE_CATALOGUE)
    if reason not in ("receipt", "count", "import"):
        raise ValidationError(f"{reason!r} is not a reason to move stock by hand")
    if quantity == 0 or (reason == "receipt" and quantity < 0):
        raise ValidationError("a receipt needs a quantity above zero")
    async with db.transaction() as tx:
        code = service_code(item_code)
        items = await load_stock_items(tx.conn, [code])
        if code not in items:
            raise NotFound(f"there is no stock item {code}")
        store = items[code].store(location)
        (moved,) = await move_stock(
            tx, items, {(code, store): quantity}, reason=reason, actor=actor.label
        )
        tx.audit(
            actor.label,
            "staff",
            "inventory.receive",
            f"stock {code}",
            location=store,
            quantity=quantity,
            reason=reason,
        )
    return moved


async def restore_for_reversal(tx: Tx, original_id: int, reversal_id: int, actor: str) -> None:
    """Put back what the charge ``original_id`` took from stock (its reversal is
    ``reversal_id``); a charge that moved no stock moves nothing."""
    rows = await tx.conn.execute(
        select(
            stock_movement.c.item_code, stock_movement.c.location, stock_movement.c.delta
        ).where(stock_movement.c.entry_id == original_id, stock_movement.c.reason == "charge")
    )
    deltas: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        deltas[(r.item_code, r.location)] -= r.delta
    if deltas:
        items = await load_stock_items(tx.conn, [code for code, _ in deltas])
        await move_stock(
            tx, items, dict(deltas), reason="reversal", actor=actor, entry_id=reversal_id
        )


async def flagged_movements(conn: AsyncConnection, limit: int = 100) -> list[Movement]:
    """Movements that took stock below zero under the ``allow`` policy, newest first."""
    rows = await conn.execute(
        select(stock_movement)
        .where(stock_movement.c.flagged.is_(True))
        .order_by(stock_movement.c.id.desc())
        .limit(limit)
    )
    return [Movement(r.item_code, r.location, r.delta, r.balance_after, True) for r in rows]
