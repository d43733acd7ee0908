"""A SQLite database of one small table for core.db's own tests (``thing``: an id and a
unique name), fresh for each test, as the Database class makes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from core.db import Database

meta = MetaData()
thing = Table(
    "thing",
    meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False, unique=True),
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'things.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    try:
        yield database
    finally:
        await database.dispose()
