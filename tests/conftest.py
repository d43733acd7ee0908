"""Test harness: every ``db`` test runs on SQLite and, when ``ARBOT_TEST_POSTGRES_URL``
is set, on PostgreSQL too. After each test the whole ledger is checked (the style's
autouse invariant check: SQLite cannot defer a balance trigger, so the suite does)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from core.clock import FixedClock
from core.db import Database
from core.db.audit import verify_chain
from core.db.migrate import upgrade
from core.ledger.invariants import check_invariants

PG_URL = os.environ.get("ARBOT_TEST_POSTGRES_URL", "")
DATA_TABLES = (
    "audit_log",
    "import_reject",
    *("dunning_notice", "dunning_pause", "dunning_level", "dunning_rule", "location_hours"),
    *("digest_figure", "digest_post"),
    *("atb_snapshot_line", "atb_snapshot", "job_run", "control_total"),
    *("statement_cycle", "plan_charge"),
    *("gateway_reversal", "gateway_payment", "plan_agreement", "plan_instalment"),
    *("payment_plan", "pay_link"),
    "agent_thread",
    "outbox",
    "chat_state",
    "chat_identity",
    "inbound_event",
    "pending_payment",
    "approval_request",
    "link_code",
    "chat_link",
    "customer_relationship",
    "customer_note",
    "customer_address",
    "credit_profile",
    "customer_contact",
    "customer_status",
    "contact_consent",
    "item_dispute",
    "allocation",
    "application",
    "ar_item",
    "journal_line",
    "journal_entry",
    "customer_account",
    "fiscal_period",
    "staff_user",
    # The catalogue and stock reference no ledger table: TRUNCATE's CASCADE misses them.
    "service_price",
    "stock_level",
    "service",
    "stock_item",
)


def _migrate(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            if db.is_postgres:
                async with db.engine.begin() as conn:
                    await conn.execute(text("DROP SCHEMA public CASCADE"))
                    await conn.execute(text("CREATE SCHEMA public"))
            await upgrade(db)
        finally:
            await db.dispose()

    # Session fixtures may be first asked for inside a running test loop: use a thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


def _admin(url: str, *statements: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def postgres_ready() -> Iterator[str]:
    """A scratch database of this test session's own, made from ARBOT_TEST_POSTGRES_URL,
    so that two test runs on one server never see each other's rows."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need ARBOT_TEST_POSTGRES_URL (CI sets it)")
    name = f"arbot_test_{os.getpid()}"
    _admin(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    _admin(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 30, 15, 0, tzinfo=UTC))


async def make_db(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Database:
    if kind == "sqlite":
        path = tmp_path / "arbot.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return Database(f"sqlite+aiosqlite:///{path}", clock=clock)
    url = request.getfixturevalue("postgres_ready")
    db = Database(url, clock=clock)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    return db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> AsyncIterator[Database]:
    database = await make_db(request.param, request, tmp_path, clock)
    try:
        yield database
        async with database.read() as conn:
            assert await check_invariants(conn) == []
            assert (await verify_chain(conn)).ok
    finally:
        await database.dispose()
