"""Posting through the ledger: idempotency, transaction numbers, and bad input that
gets a clear message and writes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.errors import (
    IdempotencyConflict,
    NotFound,
    UnbalancedEntry,
    ValidationError,
)
from core.ledger.model import AR_CONTROL, EntryDraft, ItemTerms, Line
from core.ledger.posting import post
from core.ledger.tables import ar_item, journal_entry, journal_line
from core.money import Money
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, balance_of, open_account, usd

DAY = date(2026, 6, 1)


def charge(account_id: int, amount: str = "25.00", key: str = "k1", **kw: object) -> EntryDraft:
    money = usd(amount)
    return EntryDraft(
        entry_type="CHARGE",
        effective_date=DAY,
        idempotency_key=key,
        actor="staff:1",
        source="test",
        lines=(
            Line(AR_CONTROL, money, account_id, ItemTerms(due_date=date(2026, 7, 1))),
            Line("4000", -money),
        ),
        **kw,  # type: ignore[arg-type]
    )


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.read() as conn:
        found = [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in (journal_entry, journal_line, ar_item)
        ]
    return found[0], found[1], found[2]


async def test_the_same_key_twice_returns_the_original_and_writes_nothing(db: Database) -> None:
    account = await open_account(db)
    first = await post(db, charge(account.id))
    before = await counts(db)
    again = await post(db, charge(account.id))

    assert again.id == first.id and again.number == first.number and again.replayed
    assert not first.replayed
    assert await counts(db) == before == (1, 2, 1)
    assert await balance_of(db, account.id) == usd("25.00")


async def test_a_key_reused_for_different_content_is_refused(db: Database) -> None:
    account = await open_account(db)
    await post(db, charge(account.id))
    with pytest.raises(IdempotencyConflict, match="already used for a different entry"):
        await post(db, charge(account.id, amount="26.00"))
    assert await balance_of(db, account.id) == usd("25.00")


async def test_a_payment_replayed_is_recorded_once(db: Database) -> None:
    """A webhook delivered twice records one payment (AR-003, AR-080)."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("40"), service_date=DAY, key="c"
    )
    one = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("15"),
        received_on=DAY,
        key="pay",
        method="card",
    )
    two = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("15"),
        received_on=DAY,
        key="pay",
        method="card",
    )
    assert two.entry.id == one.entry.id and two.entry.replayed
    assert two.applied == one.applied == usd("15.00")
    assert await balance_of(db, account.id) == usd("25.00")


async def test_transaction_numbers_are_unique_and_increasing(db: Database) -> None:
    """AR-053."""
    account = await open_account(db)
    entries = [await post(db, charge(account.id, key=f"k{i}")) for i in range(5)]
    numbers = [e.number for e in entries]
    assert numbers == sorted(set(numbers)) and numbers[0].startswith("T")


def test_an_unbalanced_entry_cannot_even_be_built() -> None:
    with pytest.raises(UnbalancedEntry, match=r"off by 5\.00 USD"):
        EntryDraft(
            entry_type="CHARGE",
            effective_date=DAY,
            idempotency_key="k",
            actor="a",
            source="s",
            lines=(Line(AR_CONTROL, usd("30"), 1), Line("4000", usd("-25"))),
        )
    with pytest.raises(UnbalancedEntry, match="at least two lines"):
        EntryDraft(
            entry_type="CHARGE",
            effective_date=DAY,
            idempotency_key="k",
            actor="a",
            source="s",
            lines=(Line("4000", usd("1")),),
        )
    with pytest.raises(ValidationError, match="needs a customer account"):
        Line(AR_CONTROL, usd("1"))
    with pytest.raises(ValidationError, match="idempotency key"):
        EntryDraft(
            entry_type="CHARGE",
            effective_date=DAY,
            idempotency_key="",
            actor="a",
            source="s",
            lines=(Line("1000", usd("1")), Line("4000", usd("-1"))),
        )


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"account": 999}, NotFound, "no customer account with id 999"),
        ({"currency": "EUR"}, ValidationError, "kept in USD, not EUR"),
        ({"gl": "9999"}, NotFound, "no GL account 9999"),
        ({"entry_type": "NOPE"}, ValidationError, "'NOPE' is not a defined entry type"),
        ({"reason": "NOPE"}, ValidationError, "'NOPE' is not a defined reason code"),
        ({"due": date(2026, 5, 1)}, ValidationError, "due date 2026-05-01 is before"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_writes_nothing(
    db: Database, change: dict[str, object], error: type[Exception], message: str
) -> None:
    account = await open_account(db)
    currency = str(change.get("currency", "USD"))
    money = Money(2500, currency)
    draft = EntryDraft(
        entry_type=str(change.get("entry_type", "CHARGE")),
        effective_date=DAY,
        idempotency_key="bad",
        actor="staff:1",
        source="test",
        reason_code=change.get("reason"),  # type: ignore[arg-type]
        lines=(
            Line(
                AR_CONTROL,
                money,
                int(change.get("account", account.id)),  # type: ignore[call-overload]
                ItemTerms(due_date=change.get("due")),
            ),  # type: ignore[arg-type]
            Line(str(change.get("gl", "4000")), -money),
        ),
    )
    with pytest.raises(error, match=message):
        await post(db, draft)
    assert await counts(db) == (0, 0, 0)


@pytest.mark.parametrize("amount", ["0", "-5.00"])
async def test_charges_and_payments_must_be_positive(db: Database, amount: str) -> None:
    account = await open_account(db)
    with pytest.raises(ValidationError, match="greater than zero"):
        await post_charge(
            db, ADMIN, account_id=account.id, amount=usd(amount), service_date=DAY, key="c"
        )
    with pytest.raises(ValidationError, match="greater than zero"):
        await record_payment(
            db,
            ADMIN,
            account_id=account.id,
            amount=usd(amount),
            received_on=DAY,
            key="p",
            method="cash",
        )
    assert await counts(db) == (0, 0, 0)


async def test_unknown_account_for_a_payment_is_refused(db: Database) -> None:
    """AR-094: receipts for account numbers that do not exist are rejected."""
    with pytest.raises(NotFound, match="no account 4242"):
        await record_payment(
            db, ADMIN, account_id=4242, amount=usd("5"), received_on=DAY, key="p", method="cash"
        )
    assert await counts(db) == (0, 0, 0)


async def test_a_charge_for_a_category_without_revenue_account_is_refused(db: Database) -> None:
    account = await open_account(db)
    with pytest.raises(NotFound, match="no revenue account is set up for the category 'spa'"):
        await post_charge(
            db,
            ADMIN,
            account_id=account.id,
            amount=usd("5"),
            service_date=DAY,
            key="c",
            category="spa",
        )
    assert await counts(db) == (0, 0, 0)
