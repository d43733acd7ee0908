"""``Database.read`` keeps its promise: every statement of one read sees the same
snapshot, on PostgreSQL too (whose default, READ COMMITTED, would show each statement
the latest commits: a review found the nightly integrity check reporting a gap in the
audit trail when a posting committed between its count and its walk)."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import Database
from core.ledger.tables import journal_entry
from core.services.charges import post_charge
from tests.core.dunning_helpers import AS_OF, patient
from tests.core.helpers import ADMIN, usd


async def count(conn) -> int:  # type: ignore[no-untyped-def]
    return int((await conn.execute(select(func.count()).select_from(journal_entry))).scalar_one())


async def test_a_read_sees_one_snapshot_whatever_commits_meanwhile(db: Database) -> None:
    ana = await patient(db, "Ana", telegram=False)
    async with db.read() as conn:
        before = await count(conn)
        await post_charge(db, ADMIN, account_id=ana.id, amount=usd("5.00"), service_date=AS_OF,
                          key="meanwhile")  # fmt: skip
        during = await count(conn)
    async with db.read() as conn:
        after = await count(conn)

    assert (before, during, after) == (0, 0, 1)
