"""Stock moved by billing: taken with the charge, put back by its reversal
(BI-10, BI-11, BI-24, BI-25).

What a clerk checks here is the shelf: how many are on hand where, which movement
took them and which entry it names, and that a refused charge left both the ledger
and the shelf exactly as they were."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.billing.charges import ChargeLine, post_charges
from core.billing.tables import stock_movement
from core.db import Database, Tx
from core.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from core.inventory import Movement, define_stock_item, flagged_movements, receive_stock
from core.ledger.model import PostedEntry
from core.services.adjustments import reverse_entry
from tests.core.billing.helpers import DAY, charge, footprint, service, shelf, stock
from tests.core.helpers import ADMIN, CLERK, balance_of, open_account, usd


async def movements(db: Database, item: str) -> list[tuple[str, str, int, int, int | None]]:
    """(reason, store, delta, balance after, entry id) for ``item``, oldest first."""
    m = stock_movement.c
    async with db.read() as conn:
        rows = await conn.execute(
            select(m.reason, m.location, m.delta, m.balance_after, m.entry_id)
            .where(m.item_code == item)
            .order_by(m.id)
        )
        return [(r.reason, r.location, r.delta, r.balance_after, r.entry_id) for r in rows]


async def dressing(db: Database, on_hand: int, policy: str = "refuse", **kwargs: Any) -> None:
    """Gauze on the shelf at main and a dressing service that uses one pad a unit."""
    await stock(db, "GAUZE", on_hand, policy=policy, **kwargs)
    await service(db, "DRESS", "5.00", "material", stock_item="GAUZE")


async def test_a_charge_takes_its_stock_and_the_movement_names_the_entry(db: Database) -> None:
    """BI-10, BI-24: two lines of the same material leave the shelf as one movement."""
    await dressing(db, 10)
    patient = await open_account(db)
    invoice = await charge(db, patient.id, ChargeLine("DRESS", 2), ChargeLine("dress", 1))
    assert await shelf(db, "GAUZE") == 7
    assert await movements(db, "GAUZE") == [
        ("receipt", "main", 10, 10, None),
        ("charge", "main", -3, 7, invoice.entry.id),
    ]
    assert invoice.total == usd("15.00") and invoice.flagged_stock == ()


async def test_stock_moves_in_the_charges_transaction(db: Database) -> None:
    """BI-10: when anything later in the posting fails, the stock stays on the shelf."""
    await dressing(db, 10)
    patient = await open_account(db)
    before = await footprint(db)

    async def fail(tx: Tx, entry: PostedEntry) -> None:
        raise InvalidState("the draft changed while it was being finalised")

    with pytest.raises(InvalidState, match="draft changed"):
        await post_charges(
            db,
            ADMIN,
            account_id=patient.id,
            lines=[ChargeLine("DRESS", 4, DAY)],
            key="k",
            then=fail,
        )
    assert await footprint(db) == before
    assert await shelf(db, "GAUZE") == 10


async def test_refuse_policy_stops_the_charge_and_writes_nothing(db: Database) -> None:
    """BI-11: a charge that would take a 'refuse' item below zero is refused whole:
    no entry, no item, and no stock taken, not even of the other materials on it."""
    await dressing(db, 2)
    await stock(db, "BANDAGE", 5)
    await service(db, "WRAP", "3.00", "material", stock_item="BANDAGE")
    patient = await open_account(db)
    before = await footprint(db)
    with pytest.raises(InvalidState, match="only 2 each of GAUZE in stock at main; 3 needed"):
        await charge(db, patient.id, ChargeLine("WRAP", 2), ChargeLine("DRESS", 3))
    assert await footprint(db) == before
    assert (await shelf(db, "GAUZE"), await shelf(db, "BANDAGE")) == (2, 5)
    assert await balance_of(db, patient.id) == usd("0.00")


async def test_allow_policy_posts_and_flags_the_movement_for_review(db: Database) -> None:
    """BI-11: an 'allow' item may go below zero; the movement is listed for review."""
    await dressing(db, 1, policy="allow")
    patient = await open_account(db)
    invoice = await charge(db, patient.id, ChargeLine("DRESS", 3))
    await receive_stock(
        db, ADMIN, item_code="GAUZE", location="main", quantity=5, reason="receipt"
    )
    assert invoice.flagged_stock == ("GAUZE",)
    assert await shelf(db, "GAUZE") == 3
    async with db.read() as conn:
        assert await flagged_movements(conn) == [Movement("GAUZE", "main", -3, -2, True)]
    assert await balance_of(db, patient.id) == usd("15.00")


async def test_central_items_leave_the_central_store_wherever_billed(db: Database) -> None:
    """BI-25: a central item is received into and billed from 'central'; a
    per-location item leaves the shelf where the line was provided."""
    await stock(db, "VACCINE", 10, location="north", central=True)
    await stock(db, "GAUZE", 4, location="north")
    await service(db, "JAB", "20.00", "medication", stock_item="VACCINE")
    await service(db, "DRESS", "5.00", "material", stock_item="GAUZE")
    patient = await open_account(db)
    await charge(
        db,
        patient.id,
        ChargeLine("JAB", 2, location="north"),
        ChargeLine("DRESS", 1, location="north"),
    )
    await charge(db, patient.id, ChargeLine("JAB", 1), key="visit-main")
    assert await shelf(db, "VACCINE", "central") == 7
    assert (await shelf(db, "VACCINE", "north"), await shelf(db, "VACCINE", "main")) == (0, 0)
    assert (await shelf(db, "GAUZE", "north"), await shelf(db, "GAUZE", "main")) == (3, 0)


async def test_reversing_a_charge_puts_its_stock_back(db: Database) -> None:
    """BI-10: the reversal returns what the charge took, in a 'reversal' movement that
    names the reversal entry; the patient owes nothing for the visit."""
    await dressing(db, 1, policy="allow")
    patient = await open_account(db)
    invoice = await charge(db, patient.id, ChargeLine("DRESS", 3))
    reversal = await reverse_entry(
        db, ADMIN, entry_id=invoice.entry.id, on=DAY, key="undo", reason="KEYING_ERROR"
    )
    assert await shelf(db, "GAUZE") == 1
    assert (await movements(db, "GAUZE"))[-2:] == [
        ("charge", "main", -3, -2, invoice.entry.id),
        ("reversal", "main", 3, 1, reversal.id),
    ]
    assert await balance_of(db, patient.id) == usd("0.00")
    again = await reverse_entry(
        db, ADMIN, entry_id=invoice.entry.id, on=DAY, key="undo", reason="KEYING_ERROR"
    )
    assert again.id == reversal.id and await shelf(db, "GAUZE") == 1


async def test_reversing_a_charge_without_materials_moves_no_stock(db: Database) -> None:
    await dressing(db, 5)
    await service(db, "CONS", "100.00")
    patient = await open_account(db)
    invoice = await charge(db, patient.id, ChargeLine("CONS"))
    await reverse_entry(db, ADMIN, entry_id=invoice.entry.id, on=DAY, key="r", reason="OTHER")
    assert await movements(db, "GAUZE") == [("receipt", "main", 5, 5, None)]


async def test_a_count_corrects_the_shelf_either_way(db: Database) -> None:
    """BI-24: a stock count may lower the level; it is logged as a 'count'."""
    await dressing(db, 5)
    await receive_stock(db, ADMIN, item_code="gauze", location="main", quantity=-2, reason="count")
    assert await shelf(db, "GAUZE") == 3
    assert (await movements(db, "GAUZE"))[-1] == ("count", "main", -2, 3, None)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"reason": "gift"}, "'gift' is not a reason to move stock by hand"),
        ({"quantity": 0}, "above zero"),
        ({"quantity": -1}, "above zero"),
        ({"quantity": 0, "reason": "count"}, "above zero"),
        ({"quantity": -6, "reason": "count"}, "only 5 each of GAUZE in stock"),
        ({"item_code": "NOPE"}, "no stock item NOPE"),
        ({"actor": CLERK}, "manage_catalogue"),
    ],
)
async def test_stock_moved_by_hand_is_checked_first(
    db: Database, kwargs: dict[str, Any], error: str
) -> None:
    await dressing(db, 5)
    before = await footprint(db)
    args: dict[str, Any] = {"actor": ADMIN, "item_code": "GAUZE", "location": "main"}
    args |= {"quantity": 3, "reason": "receipt"} | kwargs
    with pytest.raises((ValidationError, NotFound, InvalidState, PermissionDenied), match=error):
        await receive_stock(db, **args)
    assert await footprint(db) == before


async def test_a_stock_item_needs_a_known_policy(db: Database) -> None:
    before = await footprint(db)
    with pytest.raises(ValidationError, match="'maybe' is not a stock policy"):
        await define_stock_item(db, ADMIN, code="X", description="X", negative_policy="maybe")
    with pytest.raises(ValidationError, match="needs a description"):
        await define_stock_item(db, ADMIN, code="X", description=" ")
    assert await footprint(db) == before
