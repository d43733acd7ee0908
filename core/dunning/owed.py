"""What each account owes to dunning on a day, worked out in SQL (AR-078).

Dunning follows up only what a person may be asked to pay: open items that are not
disputed and not paused. The subquery here sums them per account (the anchor, what is
open, the part past due, unapplied credits, and what has been due for at least each
level's days) for :mod:`core.dunning.plan` to decide on, and :func:`owed_now` runs it
for one account, so a queued reminder can be checked just before it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.metadata import day_number, to_day
from core.dunning.tables import dunning_pause
from core.ledger.items import open_on_day
from core.ledger.tables import ar_item
from core.money import Money


def active_pauses(day: int) -> Any:
    p = dunning_pause
    return and_(
        p.c.lifted_at.is_(None),
        day_number(p.c.from_day) <= day,
        or_(p.c.until_day.is_(None), day_number(p.c.until_day) >= day),
    )


def paused_items(day: int) -> Any:
    """Items paused on their own on ``day``."""
    return (
        select(dunning_pause.c.item_id)
        .where(dunning_pause.c.item_id.is_not(None), active_pauses(day))
        .distinct()
        .subquery("paused_items")
    )


def aged_column(threshold: int) -> str:
    return f"aged_{threshold}".replace("-", "m")


def open_per_account(
    as_of: date,
    thresholds: Sequence[int] = (),
    account_id: int | None = None,
    leave_out: Any = None,
) -> Any:
    """Per account: the anchor (the oldest dunnable open item's due day), what the
    dunnable items have open, the part past due, unapplied credits, and for each
    threshold what has been due at least that many days (column ``aged_<days>``).
    ``leave_out``, a query of item ids (``id``), takes those items out of the dunnable
    ones (late fees, for :mod:`core.latefees`)."""
    day = to_day(as_of)
    on = open_on_day(day)
    paused = paused_items(day)
    i = ar_item
    open_minor = on.open_minor
    dunnable = and_(i.c.amount_minor > 0, on.disputed.is_not(true()), paused.c.item_id.is_(None))
    items = on.items.outerjoin(paused, paused.c.item_id == i.c.id)
    if leave_out is not None:
        items = items.outerjoin(leave_out, leave_out.c.id == i.c.id)
        dunnable = and_(dunnable, leave_out.c.id.is_(None))
    due = day_number(i.c.due_day)
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
                    aged_column(t)
                )
                for t in sorted(set(thresholds))
            ),
        )
        .select_from(items)
        .where(on.posted, open_minor != 0, only)
        .group_by(i.c.account_id)
        .subquery("owed")
    )


async def owed_now(conn: AsyncConnection, account_id: int, as_of: date, currency: str) -> Money:
    """What the account owes to dunning now (dunnable items less unapplied credits): a
    queued reminder is checked against it just before it goes, in case the patient paid
    in the meantime."""
    owed = open_per_account(as_of, account_id=account_id)
    row = (await conn.execute(select(owed.c.dunnable + owed.c.credits))).first()
    return Money(int(row[0]) if row is not None else 0, currency)
