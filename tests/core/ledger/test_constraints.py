"""The database itself refuses what the ledger must never hold.

These tests go around the ORM with raw SQL, as an attacker or a buggy script would,
and must see the database refuse (style: a constraint at every layer)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import Database
from core.db.metadata import to_day
from core.errors import PeriodClosed
from core.ledger.invariants import check_invariants
from core.services.adjustments import dispute_item
from core.services.charges import post_charge
from core.services.payments import record_payment
from core.services.periods import close_period, open_period
from tests.core.helpers import ADMIN, items_of, open_account, usd

ENTRY = text(
    "INSERT INTO journal_entry (id, idempotency_key, fingerprint, entry_type, kind, "
    "effective_day, posted_at, actor, source, memo, line_count) VALUES "
    "(:id, :key, 'f', 'CHARGE', 'charge', :day, CURRENT_TIMESTAMP, 'raw', 'raw', '', :n)"
)
LINE = text(
    "INSERT INTO journal_line (entry_id, line_no, gl_account_id, customer_account_id, "
    "currency, amount_minor) VALUES (:entry, :no, (SELECT id FROM gl_account WHERE code = :gl), "
    ":acct, 'USD', :amount)"
)


def _entry(entry_id: int, n: int = 2, day: date = date(2026, 6, 1)) -> dict[str, object]:
    return {"id": entry_id, "key": f"raw-{entry_id}", "day": to_day(day), "n": n}


async def _charge(db: Database) -> int:
    account = await open_account(db)
    entry = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("10"), service_date=date(2026, 6, 1), key="c"
    )
    return entry.id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_line SET amount_minor = amount_minor * 2",
        "DELETE FROM journal_line",
        "UPDATE journal_entry SET memo = 'edited'",
        "DELETE FROM journal_entry",
        "UPDATE ar_item SET amount_minor = 1",
        "UPDATE ar_item SET open_minor = 0",
        "UPDATE ar_item SET open_minor = open_minor + 1, amount_minor = amount_minor + 1",
        "DELETE FROM ar_item",
        "DELETE FROM audit_log",
    ],
)
async def test_posted_rows_cannot_be_changed(db: Database, statement: str) -> None:
    """AR-053, AR-119: history is never edited, in any database."""
    await _charge(db)
    with pytest.raises(DBAPIError, match="immutable"):
        async with db.engine.begin() as conn:
            await conn.execute(text(statement))


async def _paid_in_part(db: Database) -> int:
    """A charge of 10.00 with 4.00 paid and applied: the charge's item id."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("10"), service_date=date(2026, 6, 1), key="c"
    )
    await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("4"),
        received_on=date(2026, 6, 2),
        key="p",
        method="cash",
    )
    return (await items_of(db, account.id))[0].id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE allocation SET amount_minor = amount_minor * 2",
        "DELETE FROM allocation",
        "UPDATE application SET method = 'edited'",
        "DELETE FROM application",
        "UPDATE item_dispute SET reason = 'edited'",
        "DELETE FROM item_dispute",
    ],
)
async def test_an_items_activity_is_never_edited(db: Database, statement: str) -> None:
    """AR-090: what happened to an item (each payment applied to it, each dispute
    flagged or cleared) stays as it happened; a correction is a new row."""
    item_id = await _paid_in_part(db)
    await dispute_item(db, ADMIN, item_id=item_id, disputed=True, on=date(2026, 6, 3),
                       reason="patient says paid")  # fmt: skip
    with pytest.raises(DBAPIError, match="immutable"):
        async with db.engine.begin() as conn:
            await conn.execute(text(statement))


async def _open_minor(db: Database, item_id: int) -> int:
    async with db.read() as conn:
        found = await conn.execute(
            text("SELECT open_minor FROM ar_item WHERE id = :id"), {"id": item_id}
        )
        return int(found.scalar_one())


async def test_the_database_keeps_each_items_open_amount(db: Database) -> None:
    """Issue 2: an allocation, as it is written, settles its item's open amount."""
    item_id = await _paid_in_part(db)
    assert await _open_minor(db, item_id) == 600


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ar_item SET open_minor = 0",
        "UPDATE ar_item SET open_minor = open_minor - 100 WHERE amount_minor > 0",
        "UPDATE allocation SET amount_minor = -1000 WHERE amount_minor = -400",
        "DELETE FROM allocation",
    ],
)
async def test_an_open_amount_moves_only_with_its_allocations(
    db: Database, statement: str
) -> None:
    """An open amount is derived: nobody may set it, nor change what it is derived from."""
    item_id = await _paid_in_part(db)
    with pytest.raises(DBAPIError, match="immutable"):
        async with db.engine.begin() as conn:
            await conn.execute(text(statement))
    assert await _open_minor(db, item_id) == 600


async def test_an_item_opened_at_the_wrong_amount_is_reported(db: Database) -> None:
    """Posting writes a new item's open amount as its whole amount; a raw insert that
    misstates it (or, on SQLite, leaves it out: the column's default is 0) is what
    ``arbot audit verify`` reports. PostgreSQL refuses the one left out outright."""
    item_id = await _paid_in_part(db)
    for open_minor in ("", ", 5"):
        columns = ", open_minor" if open_minor else ""
        async with db.engine.connect() as conn:
            transaction = await conn.begin()
            try:
                await conn.execute(
                    text(
                        "INSERT INTO ar_item (entry_id, line_no, account_id, currency, "
                        f"amount_minor, effective_day, service_day, bill_day, due_day{columns}) "
                        "SELECT entry_id, 2, account_id, currency, 1000, effective_day, "
                        f"service_day, bill_day, due_day{open_minor} FROM ar_item WHERE id = :id"
                    ),
                    {"id": item_id},
                )
            except DBAPIError as refused:
                await transaction.rollback()
                assert db.is_postgres and not open_minor
                assert 'null value in column "open_minor"' in str(refused)
                continue
            problems = await check_invariants(conn)
            await transaction.rollback()
        kept = [p.message for p in problems if p.source == "item"]
        assert kept == [f"open amount kept as {open_minor[2:] or 0}, allocations say 1000"]


async def test_an_item_open_beyond_its_amount_is_reported(db: Database) -> None:
    """The bounds check reads the kept open amount: 1500 open on a charge of 1000."""
    item_id = await _paid_in_part(db)
    async with db.engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(
            text(
                "INSERT INTO ar_item (entry_id, line_no, account_id, currency, amount_minor, "
                "effective_day, service_day, bill_day, due_day, open_minor) "
                "SELECT entry_id, 2, account_id, currency, 1000, effective_day, service_day, "
                "bill_day, due_day, 1500 FROM ar_item WHERE id = :id"
            ),
            {"id": item_id},
        )
        problems = await check_invariants(conn)
        await transaction.rollback()
    assert sorted(p.message for p in problems if p.source == "item") == [
        "open amount 1500 outside 0..1000",
        "open amount kept as 1500, allocations say 1000",
    ]


async def test_zero_lines_and_single_line_entries_are_refused_by_check(db: Database) -> None:
    account = await open_account(db)
    with pytest.raises(DBAPIError, match="nonzero"):
        async with db.engine.begin() as conn:
            await conn.execute(ENTRY, _entry(900))
            await conn.execute(
                LINE, {"entry": 900, "no": 1, "gl": "1100", "acct": account.id, "amount": 0}
            )
    with pytest.raises(DBAPIError, match="two_lines"):
        async with db.engine.begin() as conn:
            await conn.execute(ENTRY, _entry(901, n=1))


async def test_a_closed_period_refuses_postings(db: Database) -> None:
    """AR-123: once May is closed, nothing more is dated in May."""
    account = await open_account(db)
    await open_period(db, ADMIN, name="2026-05", start=date(2026, 5, 1), end=date(2026, 5, 31))
    await close_period(db, ADMIN, name="2026-05")

    with pytest.raises(PeriodClosed, match="2026-05-20 falls in a closed fiscal period"):
        await post_charge(
            db,
            ADMIN,
            account_id=account.id,
            amount=usd("10"),
            service_date=date(2026, 5, 20),
            key="late",
        )
    with pytest.raises(DBAPIError, match="period_closed"):
        async with db.engine.begin() as conn:
            await conn.execute(ENTRY, _entry(902, day=date(2026, 5, 31)))
    # June is open.
    await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("10"),
        service_date=date(2026, 6, 1),
        key="june",
    )


@pytest.fixture
def postgres_only(db: Database) -> Database:
    if not db.is_postgres:
        pytest.skip("SQLite cannot defer a trigger to COMMIT; the invariant check covers it")
    return db


async def test_postgres_refuses_an_unbalanced_entry_at_commit(postgres_only: Database) -> None:
    account = await open_account(postgres_only)
    with pytest.raises(DBAPIError, match="unbalanced_entry"):
        async with postgres_only.engine.begin() as conn:
            await conn.execute(ENTRY, _entry(903))
            await conn.execute(
                LINE, {"entry": 903, "no": 1, "gl": "1100", "acct": account.id, "amount": 100}
            )
            await conn.execute(
                LINE, {"entry": 903, "no": 2, "gl": "4000", "acct": None, "amount": -50}
            )


async def test_postgres_refuses_an_entry_missing_its_lines(postgres_only: Database) -> None:
    with pytest.raises(DBAPIError, match="lacks its lines"):
        async with postgres_only.engine.begin() as conn:
            await conn.execute(ENTRY, _entry(904, n=2))


async def test_postgres_refuses_an_allocation_that_does_not_net(postgres_only: Database) -> None:
    await _charge(postgres_only)
    with pytest.raises(DBAPIError, match="unbalanced_match"):
        async with postgres_only.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO application (id, idempotency_key, account_id, method, "
                    "effective_day, created_at, actor, source) VALUES (900, 'raw-app', 1, 'raw', "
                    f"{to_day(date(2026, 6, 2))}, CURRENT_TIMESTAMP, 'raw', 'raw')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO allocation (application_id, match_no, item_id, amount_minor, "
                    "effective_day, account_id, currency, service_day, bill_day, due_day, "
                    f"item_day) SELECT 900, 1, id, -500, {to_day(date(2026, 6, 2))}, "
                    "account_id, currency, service_day, bill_day, due_day, effective_day "
                    "FROM ar_item WHERE id = 1"
                )
            )
