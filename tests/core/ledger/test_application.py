"""Cash application rules (AR-017..AR-022, AR-024, AR-084, AR-091, AR-139)."""

from __future__ import annotations

from datetime import date

import pytest

from core.db import Database
from core.errors import ValidationError
from core.ledger.application import Rule, parse_rule
from core.services.charges import post_charge
from core.services.payments import Tolerance, record_payment
from tests.core.helpers import ADMIN, balance_of, items_of, open_account, usd

PAID_ON = date(2026, 6, 30)


async def _three_charges(db: Database) -> tuple[int, list[int]]:
    account = await open_account(db)
    ids = []
    for n, (day, amount) in enumerate(
        [(date(2026, 2, 1), "100"), (date(2026, 4, 15), "45"), (date(2026, 6, 10), "80")]
    ):
        entry = await post_charge(
            db, ADMIN, account_id=account.id, amount=usd(amount), service_date=day, key=f"c{n}"
        )
        ids.append(entry.item_ids[0])
    return account.id, ids


async def test_oldest_first_is_the_default(db: Database) -> None:
    account, ids = await _three_charges(db)
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account,
        amount=usd("120"),
        received_on=PAID_ON,
        key="p",
        method="cash",
    )
    assert [(p.item_id, p.amount_minor) for p in paid.placements] == [
        (ids[0], 10000),
        (ids[1], 2000),
    ]


async def test_exact_amount_then_oldest_first(db: Database) -> None:
    account, ids = await _three_charges(db)
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account,
        amount=usd("80"),
        received_on=PAID_ON,
        key="p",
        method="card",
        rules=[Rule("exact_amount"), Rule("oldest_first")],
    )
    assert [p.item_id for p in paid.placements] == [ids[2]]


async def test_exact_amount_without_a_match_is_reported_and_left_unapplied(db: Database) -> None:
    account, _ = await _three_charges(db)
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account,
        amount=usd("33"),
        received_on=PAID_ON,
        key="p",
        method="card",
        rules=[Rule("exact_amount")],
    )
    assert paid.placements == () and paid.unapplied == usd("33.00")
    assert "no open item matches the amount exactly" in paid.exceptions


async def test_selected_items_then_buckets_then_period(db: Database) -> None:
    """AR-017 (chosen invoice), AR-019 (aging buckets, period)."""
    account, ids = await _three_charges(db)
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account,
        amount=usd("90"),
        received_on=PAID_ON,
        key="p",
        method="card",
        rules=[parse_rule(f"selected:{ids[2]}"), parse_rule("buckets:0-30")],
    )
    assert [(p.item_id, p.rule) for p in paid.placements] == [(ids[2], "selected")]
    assert paid.unapplied == usd("10.00")

    by_bucket = await record_payment(
        db,
        ADMIN,
        account_id=account,
        amount=usd("45"),
        received_on=PAID_ON,
        key="p2",
        method="card",
        rules=[parse_rule("buckets:61-90"), parse_rule("oldest_first")],
    )
    assert [p.item_id for p in by_bucket.placements] == [ids[1]]  # 76 days old

    by_period = await record_payment(
        db,
        ADMIN,
        account_id=account,
        amount=usd("5"),
        received_on=PAID_ON,
        key="p3",
        method="card",
        rules=[parse_rule("period:2026-01-01..2026-03-31")],
    )
    assert [p.item_id for p in by_period.placements] == [ids[0]]


async def test_small_leftover_within_tolerance_is_written_off(db: Database) -> None:
    """AR-024, AR-091: 99.50 paid on 100.00 with a 1.00 tolerance closes the charge."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=date(2026, 6, 1), key="c"
    )
    paid = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("99.50"),
        received_on=PAID_ON,
        key="p",
        method="cash",
        tolerance=Tolerance(amount_minor=100),
    )
    assert len(paid.write_offs) == 1 and paid.write_offs[0].entry_type == "WO_SMALL"
    assert await balance_of(db, account.id) == usd("0")
    assert all(i.open == usd("0") for i in await items_of(db, account.id))


def test_rules_are_read_strictly() -> None:
    assert parse_rule("buckets:91-120,121-") == Rule("buckets", buckets=((91, 120), (121, None)))
    with pytest.raises(ValidationError, match="unknown application rule 'newest'"):
        parse_rule("newest")
    with pytest.raises(ValidationError, match="cannot read application rule"):
        parse_rule("period:2026-13-01..2026-01-01")


async def test_a_replayed_payment_reports_its_small_balance_write_offs(db: Database) -> None:
    """Regression: the replay returns the same result as the first call, write-offs too."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("100"), service_date=date(2026, 6, 1), key="c"
    )
    args = {
        "account_id": account.id,
        "amount": usd("99.50"),
        "received_on": PAID_ON,
        "key": "p",
        "method": "cash",
        "tolerance": Tolerance(amount_minor=100),
    }
    first = await record_payment(db, ADMIN, **args)  # type: ignore[arg-type]
    again = await record_payment(db, ADMIN, **args)  # type: ignore[arg-type]
    assert again.entry.id == first.entry.id and again.placements == first.placements
    assert [e.id for e in again.write_offs] == [e.id for e in first.write_offs]
    assert len(again.write_offs) == 1
