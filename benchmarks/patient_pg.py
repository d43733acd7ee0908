"""The patient benchmark's 100,000 patients on PostgreSQL (``--patient-postgres URL``).

The SQLite database of :mod:`benchmarks.patient_data` is copied row for row into a
PostgreSQL database migrated by arbot (``arbot_bench_patient`` on the server of the
URL given), with ``COPY`` and the triggers off for the load (``session_replication_
role = replica``: the rows were checked against the ledger's invariants when they were
generated). That database is kept as a template; each run works on a fresh copy
(``CREATE DATABASE ... TEMPLATE``), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

TEMPLATE = "arbot_bench_patient"
TABLES = (
    "customer_account",
    "customer_contact",
    "chat_link",
    "customer_relationship",
    "chat_state",
    "inbound_event",
    "outbox",
    "journal_entry",
    "journal_line",
    "ar_item",
    "application",
    "allocation",
)
"""Parents before children; every table the generator writes."""


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _converter(pg_type: str) -> Callable[[Any], Any]:
    if pg_type.startswith("timestamp"):
        return lambda v: (
            None if v is None else datetime.fromisoformat(v).replace(tzinfo=UTC)  # naive UTC
        )
    if pg_type == "boolean":
        return lambda v: None if v is None else bool(v)
    return lambda v: v


async def _copy(pg_url: str, source: Path) -> None:
    import asyncpg

    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    lite = sqlite3.connect(source)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        async with conn.transaction():
            for table in TABLES:
                names = [r[1] for r in lite.execute(f"PRAGMA table_info({table})")]
                types = dict(
                    await conn.fetch(
                        "SELECT column_name, data_type FROM information_schema.columns"
                        " WHERE table_name = $1",
                        table,
                    )
                )
                convert = [_converter(types[n]) for n in names]
                rows = lite.execute(f"SELECT {', '.join(names)} FROM {table}")
                records = [tuple(f(v) for f, v in zip(convert, r, strict=True)) for r in rows]
                await conn.copy_records_to_table(table, records=records, columns=names)
                if "id" in names:
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
        lite.close()


async def ensure_template(admin_url: str, source: Path) -> None:
    """The template database, loaded from ``source`` unless it already was."""
    from core.db import Database
    from core.db.migrate import upgrade

    marker = f"arbot bench patients from {source.name}"
    engine = create_async_engine(admin_url)
    try:
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    text(
                        "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                        " WHERE datname = :name"
                    ),
                    {"name": TEMPLATE},
                )
            ).scalar()
    finally:
        await engine.dispose()
    if found == marker:
        return
    started = time.perf_counter()
    await _admin(
        admin_url,
        f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)",
        f"CREATE DATABASE {TEMPLATE}",
    )
    url = _with_database(admin_url, TEMPLATE)
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    await _copy(url, source)
    await _admin(admin_url, f"COMMENT ON DATABASE {TEMPLATE} IS '{marker}'")
    print(
        f"  loaded {source.name} into PostgreSQL database {TEMPLATE} in"
        f" {time.perf_counter() - started:.0f} s",
        flush=True,
    )


@asynccontextmanager
async def fresh_copy(admin_url: str, source: Path) -> AsyncIterator[str]:
    """The URL of a new database copied from the template; dropped at the end."""
    await ensure_template(admin_url, source)
    name = f"{TEMPLATE}_run_{os.getpid()}"
    await _admin(
        admin_url,
        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}",
    )
    try:
        yield _with_database(admin_url, name)
    finally:
        await asyncio.sleep(0)
        await _admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
