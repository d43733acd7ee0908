"""Many clerks and webhooks at once: the ledger stays whole under concurrent writers.

Eight workers, each with its own engine and so its own PostgreSQL connections, post
charges, payments (applied oldest first) and cash applications to the same three
accounts at the same time; pairs of them send the same payment or charge, under one
idempotency key, at the same moment, as a webhook delivered twice would. SQLite has
one writer at a time, so this runs on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from core.clock import FixedClock
from core.db import Database
from core.db.audit import verify_chain
from core.ledger.invariants import check_invariants
from core.ledger.items import balance, load_items
from core.ledger.tables import journal_entry
from core.money import Money
from core.services.charges import post_charge
from core.services.payments import apply_unapplied, record_payment
from tests.conftest import DATA_TABLES
from tests.core.helpers import ADMIN, open_account

pytestmark = pytest.mark.postgres

WORKERS = 8
OPS = 25
ACCOUNTS = 3
DAY = date(2026, 6, 1)


@dataclass(frozen=True, slots=True)
class Op:
    kind: str
    account: int
    key: str
    amount: int = 0
    back: int = 0
    shared: bool = False


def plan(seed: int = 20260601) -> list[list[Op]]:
    """Each worker's operations; at every fifth step a pair of workers sends one op twice."""
    rng = random.Random(seed)
    work: list[list[Op]] = [[] for _ in range(WORKERS)]
    for n in range(OPS):
        for w in range(0, WORKERS, 2):
            if n % 5 == 2:
                kind = "charge" if n % 10 == 7 else "payment"
                op = _op(rng, kind, f"dup-{w}-{n}", shared=True)
                work[w].append(op)
                work[w + 1].append(op)
                continue
            for worker in (w, w + 1):
                kind = rng.choices(["charge", "payment", "apply"], [45, 35, 20])[0]
                work[worker].append(_op(rng, kind, f"w{worker}-{n}"))
    return work


def _op(rng: random.Random, kind: str, key: str, *, shared: bool = False) -> Op:
    amount = rng.randint(1_000, 20_000) if kind == "charge" else rng.randint(500, 15_000)
    return Op(kind, rng.randrange(ACCOUNTS), key, amount, rng.randint(0, 120), shared)


async def run_op(db: Database, op: Op, account_id: int) -> int | None:
    money = Money(op.amount, "USD")
    if op.kind == "charge":
        entry = await post_charge(
            db,
            ADMIN,
            account_id=account_id,
            amount=money,
            service_date=DAY - timedelta(days=op.back),
            bill_date=DAY,
            key=op.key,
        )
        return entry.id
    if op.kind == "payment":
        paid = await record_payment(
            db,
            ADMIN,
            account_id=account_id,
            amount=money,
            received_on=DAY,
            key=op.key,
            method="card",
        )
        return paid.entry.id
    await apply_unapplied(db, ADMIN, account_id=account_id, key=op.key, on=DAY)
    return None


async def worker(
    url: str,
    clock: FixedClock,
    ops: list[Op],
    accounts: list[int],
    barriers: dict[str, asyncio.Barrier],
    results: dict[str, list[int | None]],
    errors: list[str],
) -> None:
    db = Database(url, clock=clock)
    try:
        for op in ops:
            if op.shared:
                await barriers[op.key].wait()
            try:
                results[op.key].append(await run_op(db, op, accounts[op.account]))
            except Exception as exc:  # every failure is reported, not just the first
                errors.append(f"{op.key} ({op.kind}): {type(exc).__name__}: {exc}")
    finally:
        await db.dispose()


async def test_concurrent_writers_keep_the_ledger_whole(postgres_ready: str) -> None:
    """AR-127 subledger = control, AR-053 one entry per key, AR-017/AR-021 application,
    with eight writers on three accounts at once and duplicated keys racing."""
    clock = FixedClock(datetime(2026, 6, 1, 12, tzinfo=UTC))
    setup = Database(postgres_ready, clock=clock)
    try:
        async with setup.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
        accounts = [(await open_account(setup, name=f"Patient {i}")).id for i in range(ACCOUNTS)]
        work = plan()
        shared = {op.key for ops in work for op in ops if op.shared}
        barriers = {key: asyncio.Barrier(2) for key in shared}
        results: dict[str, list[int | None]] = defaultdict(list)
        errors: list[str] = []
        try:
            async with asyncio.timeout(45):
                await asyncio.gather(
                    *(
                        worker(postgres_ready, clock, ops, accounts, barriers, results, errors)
                        for ops in work
                    )
                )
        except TimeoutError:
            pytest.fail("workers still busy after 45 s; failures so far:\n" + "\n".join(errors))

        async with setup.read() as conn:
            assert await check_invariants(conn) == []
            assert (await verify_chain(conn)).ok
        assert not errors, "\n".join(errors)
        await _check_outcome(setup, work, accounts, results)
    finally:
        await setup.dispose()


async def _check_outcome(
    db: Database, work: list[list[Op]], accounts: list[int], results: dict[str, list[Any]]
) -> None:
    distinct = {op.key: op for ops in work for op in ops}
    for key, op in distinct.items():
        want = 2 if op.shared else 1
        assert len(results[key]) == want
        assert len(set(results[key])) == 1, f"{key} gave entries {results[key]}"
    expected = [0] * ACCOUNTS
    for op in distinct.values():
        expected[op.account] += {"charge": op.amount, "payment": -op.amount}.get(op.kind, 0)
    posted = sum(1 for op in distinct.values() if op.kind != "apply")
    async with db.read() as conn:
        entries = (await conn.execute(select(func.count()).select_from(journal_entry))).scalar()
        assert entries == posted
        for index, account in enumerate(accounts):
            items = await load_items(conn, account_id=account)
            owed = sum(i.open.minor for i in items if i.is_debit)
            unapplied = -sum(i.open.minor for i in items if not i.is_debit)
            assert await balance(conn, account) == expected[index] == owed - unapplied
    # Once the dust settles, applying what is left must leave no account both owing
    # and holding unapplied cash (AR-017, AR-021).
    for account in accounts:
        await apply_unapplied(db, ADMIN, account_id=account, key=f"settle-{account}", on=DAY)
    async with db.read() as conn:
        for account in accounts:
            items = await load_items(conn, account_id=account, only_open=True)
            assert {i.is_debit for i in items} != {True, False}, items
        assert await check_invariants(conn) == []
        assert (await verify_chain(conn)).ok
