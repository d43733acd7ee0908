"""Billing's reports: each pricing rule's effect on revenue (BI-26, BI-27) and stock
consumption with reorder flags (BI-24)."""

from __future__ import annotations

from datetime import date

from core.billing.charges import ChargeLine
from core.billing.reports import pricing_effect, stock_consumption
from core.billing.tables import stock_item
from core.db import Database
from core.services.adjustments import reverse_entry
from tests.core.billing.helpers import DAY, charge, rule, service, stock
from tests.core.helpers import ADMIN, open_account, usd


async def test_each_rule_shows_what_it_took_off(db: Database) -> None:
    await service(db, "CONS", "100.00")
    await service(db, "LAB", "40.00", "lab")
    ana = await open_account(db, "Ana López")
    ten_off = await rule(db, "Spring 10%", "percent", percent="10", service_code="CONS")
    await charge(db, ana.id, ChargeLine("CONS", 2, DAY), ChargeLine("LAB", 1, DAY), key="v1")
    await charge(db, ana.id, ChargeLine("LAB", 1, DAY, unit_price=usd("30.00"),
                                        override_reason="staff discount"), key="v2")  # fmt: skip
    gone = await charge(db, ana.id, ChargeLine("CONS", 1, DAY), key="v3")
    await reverse_entry(db, ADMIN, entry_id=gone.entry.id, on=DAY, key="undo-v3",
                        reason="KEYING_ERROR")  # fmt: skip
    async with db.read() as conn:
        found = await pricing_effect(conn, start=DAY, end=DAY, currency="USD")
    assert [(f.rule_id, f.lines, f.list_value, f.charged, f.effect) for f in found] == [
        (None, 1, usd("40.00"), usd("30.00"), usd("-10.00")),
        (ten_off, 1, usd("200.00"), usd("180.00"), usd("-20.00")),
    ]
    async with db.read() as conn:
        assert await pricing_effect(conn, start=date(2026, 4, 1), end=date(2026, 4, 30),
                                    currency="USD") == []  # fmt: skip


async def test_consumption_and_reorder(db: Database) -> None:
    await stock(db, "GAUZE", 10)
    await service(db, "DRESS", "5.00", "material", stock_item="GAUZE")
    ana = await open_account(db, "Ana López")
    async with db.transaction() as tx:
        await tx.conn.execute(stock_item.update().values(reorder_level=5))
    await charge(db, ana.id, ChargeLine("DRESS", 4, DAY), key="v1")
    undone = await charge(db, ana.id, ChargeLine("DRESS", 3, DAY), key="v2")
    await reverse_entry(db, ADMIN, entry_id=undone.entry.id, on=DAY, key="undo",
                        reason="KEYING_ERROR")  # fmt: skip
    await charge(db, ana.id, ChargeLine("DRESS", 2, DAY), key="v3")
    today = db.clock.now().date()
    async with db.read() as conn:
        [row] = await stock_consumption(conn, start=today, end=today)
    assert (row.item_code, row.store, row.used, row.on_hand, row.reorder) == (
        "GAUZE", "main", 6, 4, True,
    )  # fmt: skip
