"""Small builders for the billing tests: a catalogue, stock, a visit, and what a
refused operation must have left untouched."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select

from core.billing.catalogue import NewRule, NewService, define_rule, define_service
from core.billing.charges import ChargeLine, Invoice, post_charges
from core.billing.prepaid import prepay
from core.billing.tables import (
    charge_draft,
    charge_draft_line,
    charge_line,
    charge_share,
    pricing_rule,
    service_price,
    stock_item,
    stock_level,
    stock_movement,
)
from core.billing.tables import prepayment as prepayment_table
from core.billing.tables import prepayment_use as prepayment_use_table
from core.billing.tables import service as service_table
from core.db import Database
from core.db.audit import audit_log
from core.inventory import define_stock_item, on_hand, receive_stock
from core.ledger.model import PostedEntry
from core.ledger.tables import allocation, ar_item, journal_entry, journal_line
from core.money import Money
from tests.core.helpers import ADMIN, usd

DAY = date(2026, 3, 2)
SEASON = date(2026, 1, 1)
WRITTEN = (
    journal_entry,
    journal_line,
    ar_item,
    allocation,
    charge_line,
    charge_share,
    stock_movement,
    prepayment_table,
    prepayment_use_table,
    pricing_rule,
    service_table,
    service_price,
    stock_item,
    audit_log,
)
"""Tables that only grow: a refused operation leaves their row counts as they were."""
EDITED = (charge_draft, charge_draft_line, stock_level)
"""Tables whose rows change in place: a refused operation leaves every row as it was."""


async def service(
    db: Database, code: str, price: str, category: str = "consultation", **kwargs: Any
) -> str:
    description = kwargs.pop("description", code.title())
    return await define_service(
        db, ADMIN, NewService(code, description, category, usd(price), **kwargs)
    )


async def rule(db: Database, name: str, kind: str, **kwargs: Any) -> int:
    """A pricing rule valid from the start of the season unless told otherwise."""
    kwargs.setdefault("valid_from", SEASON)
    return await define_rule(db, ADMIN, NewRule(name, kind, **kwargs))


async def stock(
    db: Database,
    code: str,
    quantity: int = 0,
    *,
    location: str = "main",
    central: bool = False,
    policy: str = "refuse",
) -> str:
    """A stock item with ``quantity`` received at ``location``."""
    await define_stock_item(
        db, ADMIN, code=code, description=code.title(), central=central, negative_policy=policy
    )
    if quantity:
        await receive_stock(
            db, ADMIN, item_code=code, location=location, quantity=quantity, reason="receipt"
        )
    return code


async def charge(
    db: Database, account_id: int, *lines: ChargeLine, key: str = "visit-1", on: date = DAY
) -> Invoice:
    return await post_charges(db, ADMIN, account_id=account_id, lines=lines, key=key, bill_date=on)


async def shelf(db: Database, code: str, location: str = "main") -> int:
    async with db.read() as conn:
        return await on_hand(conn, code, location)


async def footprint(db: Database) -> dict[str, object]:
    """Everything billing writes, as row counts or whole rows: a refused operation must
    leave this exactly as it was."""
    async with db.read() as conn:
        found: dict[str, object] = {
            t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in WRITTEN
        }
        for t in EDITED:
            rows = await conn.execute(select(t).order_by(*t.primary_key.columns))
            found[t.name] = [tuple(r) for r in rows]
    return found


def gl_effect(entry: PostedEntry) -> dict[str, Money]:
    """What the entry did to each GL account (debits positive)."""
    totals: dict[str, int] = defaultdict(int)
    for line in entry.lines:
        totals[line.gl] += line.amount.minor
    return {gl: Money(minor, "USD") for gl, minor in sorted(totals.items())}


async def charge_lines(db: Database, entry_id: int) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(charge_line)
            .where(charge_line.c.entry_id == entry_id)
            .order_by(charge_line.c.seq)
        )
        return [dict(r._mapping) for r in rows]


async def prepaid(
    db: Database, account_id: int, amount: str, for_service: str | None = None, key: str = ""
) -> PostedEntry:
    """Money paid ahead, for one service or (``for_service`` None) for any treatment."""
    return await prepay(
        db,
        ADMIN,
        account_id=account_id,
        amount=usd(amount),
        on=DAY,
        key=key or f"prepay-{for_service}-{amount}",
        method="card",
        service=for_service,
    )
