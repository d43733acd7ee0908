"""``GET /healthz`` as a load balancer or Procfile supervisor sees it: 200 only when the
database answers, 503 otherwise. The app is served on an ephemeral 127.0.0.1 port.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web import make_app, settle_heap
from core.db import Database
from core.settings import Settings


async def settle_sqlite_workers(before: Collection[threading.Thread]) -> None:
    """Wait for aiosqlite worker threads started since ``before`` to end.

    When a SQLite connect fails, aiosqlite 0.22 queues its worker's stop without awaiting
    it (omnilib/aiosqlite#241, #259); if this test's loop closed first, the worker's
    callback would raise "Event loop is closed" in its thread and fail the run.
    """
    for worker in threading.enumerate():
        if worker not in before and worker.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(worker.join, 5)


async def get_healthz(settings: Settings, db: Database | None = None) -> tuple[int, object]:
    app = make_app(settings, db)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/healthz")
        return response.status, await response.json()


@pytest.fixture
async def unreachable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    urls = {
        "postgres-closed-port": "postgresql+asyncpg://postgres@127.0.0.1:1/x",
        "sqlite-missing-folder": f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'arbot.db'}",
    }
    before = set(threading.enumerate())
    db = Database(urls[request.param])
    try:
        yield db
    finally:
        await db.dispose()
        await settle_sqlite_workers(before)


async def test_healthz_is_ok_on_a_migrated_database(db: Database) -> None:
    """Web endpoints (README): 200 ``{"status": "ok", "database": "ok"}``."""
    status, body = await get_healthz(Settings(database_url=db.url), db)

    assert status == 200
    assert body == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    "unreachable", ["postgres-closed-port", "sqlite-missing-folder"], indirect=True
)
async def test_healthz_is_503_when_the_database_does_not_answer(unreachable: Database) -> None:
    """Web endpoints (README): 503 when the database cannot be reached, and no traceback."""
    status, body = await get_healthz(Settings(database_url=unreachable.url), unreachable)

    assert status == 503
    assert isinstance(body, dict) and body["status"] == "error"
    assert body["database"] != "ok"


async def test_app_built_from_settings_alone_uses_the_configured_database(
    tmp_path: Path,
) -> None:
    """``arbot serve`` passes only settings: the app opens DATABASE_URL itself."""
    good = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'arbot.db'}")
    bad = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'no' / 'arbot.db'}")

    before = set(threading.enumerate())

    assert (await get_healthz(good))[0] == 200
    assert (await get_healthz(bad))[0] == 503
    await settle_sqlite_workers(before)


async def test_unknown_paths_are_404(db: Database) -> None:
    """Only the documented endpoints answer."""
    async with TestClient(TestServer(make_app(Settings(), db), host="127.0.0.1")) as client:
        response = await client.get("/admin")
        assert response.status == 404


async def test_serve_runs_the_scheduler_in_process_and_stops_it(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """One-process installs (issue 6): `arbot serve` leads the scheduler beside the web
    app and shuts it down with the app."""
    app = make_app(Settings(database_url=db.url), db, with_scheduler=True)
    async with TestClient(TestServer(app)) as client:
        for _ in range(100):
            if "arbot scheduler leads" in capsys.readouterr().out:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the scheduler did not start")
        assert (await client.get("/healthz")).status == 200
    # Leaving the client ran the app's cleanup: the scheduler's task has finished.
    assert not [t for t in asyncio.all_tasks() if "lead" in repr(t.get_coro())]


def test_settling_the_heap_takes_start_up_objects_out_of_full_collections() -> None:
    """What start-up made is no longer walked by the garbage collector's collections
    (``arbot serve`` settles the heap once it serves: a full collection over it took
    220-320 ms, make bench); what is made afterwards still is."""
    started = {"start-up": ["made before serving"]}
    try:
        frozen = settle_heap()
        later = {"a chat turn": ["made while serving"]}
        walked = [o for g in range(3) for o in gc.get_objects(generation=g)]
        assert frozen >= 1000
        assert not any(o is started for o in walked)
        assert any(o is later for o in walked)
    finally:
        gc.unfreeze()
