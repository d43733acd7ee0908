"""Shared by the core tests: a database of a test's own, for migrations."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection

from core.db import Database
from core.db.migrate import alembic_config, upgrade
from tests.conftest import _admin

PG_URL = os.environ.get("ARBOT_TEST_POSTGRES_URL", "")


async def downgrade(db: Database, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database of this test's own, at the newest revision: a migration's test takes
    it down a revision (:func:`downgrade`) and back up."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrating.db'}"
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL tests need ARBOT_TEST_POSTGRES_URL (CI sets it)")
        name = f"arbot_migrating_{os.getpid()}"
        _admin(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
        url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    try:
        await upgrade(db)
        yield db
    finally:
        await db.dispose()
        if request.param == "postgres":
            _admin(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
