"""The audit trail an auditor relies on: every posting leaves a hash-chained record, the
database refuses to change one, and when someone with file access does it anyway,
``verify_chain`` names the first record that no longer fits (AR-012, BI-17).

Tampering runs inside a transaction that is rolled back, so the ``db`` fixture's own
chain check still passes; one SQLite test commits the edit, as an attacker would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import FixedClock
from core.db import Database
from core.db.audit import GENESIS, _at_text, _digest, audit_log, verify_chain
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, open_account, usd

JUNE = date(2026, 6, 1)


async def history(db: Database) -> int:
    """Open an account, charge 120, take 120: four audit records."""
    account = await open_account(db)
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("120"), service_date=JUNE, key="c1"
    )
    await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("120"),
        received_on=JUNE,
        key="p1",
        method="card",
    )
    return account.id


async def drop_guard(conn: AsyncConnection, action: str) -> None:
    """What an attacker with database access does first: remove the refusing trigger."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("DROP TRIGGER audit_log_immutable ON audit_log"))
    else:
        await conn.execute(text(f"DROP TRIGGER audit_log_no_{action}"))


async def records(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(audit_log).order_by(audit_log.c.seq))
    return [dict(r) for r in rows.mappings()]


async def test_postings_append_hash_chained_records(db: Database) -> None:
    """AR-012: account, charge, payment and its application, each linked to the one before."""
    await history(db)

    async with db.read() as conn:
        rows = await records(conn)
        report = await verify_chain(conn)

    assert [r["action"] for r in rows] == [
        "account.open",
        "ledger.post",
        "ledger.post",
        "ledger.apply",
    ]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["prev_hash"] == GENESIS
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]
    assert len({r["hash"] for r in rows}) == 4
    assert {r["actor"] for r in rows} == {ADMIN.label}
    charge = json.loads(rows[1]["detail"])
    assert (charge["type"], charge["key"], charge["date"]) == ("CHARGE", "c1", "2026-06-01")
    assert (report.ok, report.records, report.broken_at, report.reason) == (
        True,
        4,
        None,
        "intact",
    )


async def test_a_replayed_posting_adds_no_record(db: Database) -> None:
    """AR-012: a charge sent twice under one key is posted, and audited, once."""
    account = await open_account(db)
    for _ in range(2):
        await post_charge(
            db, ADMIN, account_id=account.id, amount=usd("10"), service_date=JUNE, key="same"
        )

    async with db.read() as conn:
        assert [r["action"] for r in await records(conn)] == ["account.open", "ledger.post"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET detail = '{}' WHERE seq = 2",
        "UPDATE audit_log SET actor = 'nobody'",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
    ],
)
async def test_the_database_refuses_to_change_the_audit_trail(
    db: Database, statement: str
) -> None:
    """AR-012, AR-053: raw SQL around the application is refused by a trigger."""
    await history(db)

    with pytest.raises(DBAPIError, match="immutable"):
        async with db.engine.begin() as conn:
            await conn.execute(text(statement))

    async with db.read() as conn:
        assert len(await records(conn)) == 4
        assert (await verify_chain(conn)).ok


async def test_an_edited_record_is_reported_at_its_sequence_number(db: Database) -> None:
    """BI-17: an amount changed in record 2's detail breaks record 2."""
    await history(db)

    async with db.engine.connect() as conn, conn.begin() as tampering:
        await drop_guard(conn, "update")
        await conn.execute(
            text("UPDATE audit_log SET detail = REPLACE(detail, '120.00', '12.00') WHERE seq = 2")
        )
        edited = (await records(conn))[1]
        report = await verify_chain(conn)
        await tampering.rollback()

    assert "12.00" in edited["detail"]
    assert (report.ok, report.broken_at, report.records) == (False, 2, 1)
    assert report.reason == "its content does not match its hash"


async def test_a_deleted_middle_record_is_reported(db: Database) -> None:
    """BI-17: record 3 removed: the chain reports record 3 missing."""
    await history(db)

    async with db.engine.connect() as conn, conn.begin() as tampering:
        await drop_guard(conn, "delete")
        await conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
        report = await verify_chain(conn)
        await tampering.rollback()

    assert (report.ok, report.broken_at, report.records) == (False, 3, 2)
    assert report.reason == "record 3 is missing"


async def test_a_record_rehashed_after_editing_breaks_the_next_link(db: Database) -> None:
    """BI-17: an attacker who recomputes the edited record's own hash is caught at the
    next record, whose ``prev_hash`` still names the original."""
    await history(db)

    async with db.engine.connect() as conn, conn.begin() as tampering:
        await drop_guard(conn, "update")
        row = (await records(conn))[1]
        forged = {**row, "actor": "someone else", "at": _at_text(row["at"])}
        new_hash = _digest(2, row["prev_hash"], forged)
        await conn.execute(
            text("UPDATE audit_log SET actor = :actor, hash = :hash WHERE seq = 2"),
            {"actor": "someone else", "hash": new_hash},
        )
        report = await verify_chain(conn)
        await tampering.rollback()

    assert (report.broken_at, report.reason) == (3, "its link to the previous record is broken")


async def test_verify_chain_reads_the_chain_in_batches(db: Database) -> None:
    """AR-012: a long chain is checked in batches; the answer does not depend on the size."""
    await history(db)

    async with db.read() as conn:
        small = await verify_chain(conn, batch=1)
        large = await verify_chain(conn, batch=1000)

    assert small == large
    assert small.records == 4 and small.ok


@pytest.fixture
async def sqlite_file(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> AsyncIterator[Database]:
    """A migrated SQLite file of its own: the edit below is committed, never repaired."""
    path = tmp_path / "tampered.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    db = Database(f"sqlite+aiosqlite:///{path}", clock=clock)
    try:
        yield db
    finally:
        await db.dispose()


async def test_a_committed_edit_on_sqlite_is_found_by_a_later_check(sqlite_file: Database) -> None:
    """BI-17: someone with the database file drops the trigger and edits record 2 for good;
    the next verification, on a fresh connection, reports record 2."""
    db = sqlite_file
    await history(db)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TRIGGER audit_log_no_update"))
        await conn.execute(text("UPDATE audit_log SET subject = 'E999' WHERE seq = 2"))

    async with db.read() as conn:
        report = await verify_chain(conn)

    assert (report.ok, report.broken_at) == (False, 2)
