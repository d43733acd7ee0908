"""Two first movements of one item at one store at once (review finding): on
PostgreSQL both used to INSERT the store's level row and one failed on the key."""

from __future__ import annotations

import asyncio

from core.db import Database
from core.inventory import define_stock_item, on_hand, receive_stock
from tests.core.helpers import ADMIN


async def test_two_first_receipts_at_once_both_count(db: Database) -> None:
    await define_stock_item(db, ADMIN, code="GAUZE", description="Gauze")
    await asyncio.gather(
        *(
            receive_stock(
                db, ADMIN, item_code="GAUZE", location="north", quantity=n, reason="receipt"
            )
            for n in (3, 4)
        )
    )
    async with db.read() as conn:
        assert await on_hand(conn, "GAUZE", "north") == 7
