"""``arbot staff add`` and ``arbot staff list``: who the Slack app knows, their role,
locations and approval limit. In-process through ``bot.cli.main`` against a SQLite
file per test, copied from one migrated database."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest

from bot.cli import main
from core.auth import StaffRole, load_staff
from core.db import Database
from core.db.audit import verify_chain


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("staff") / "arbot.db"
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(StringIO()):
        mp.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
        assert main(["db", "upgrade"]) == 0
    return path


@pytest.fixture
def arbot(
    migrated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    path = tmp_path / "arbot.db"
    shutil.copy(migrated, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ARBOT_CURRENCY", "USD")
    capsys.readouterr()

    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'arbot.db'}"


def test_a_supervisor_is_added_and_listed(arbot: Callable[..., Run], tmp_path: Path) -> None:
    sam = ["--slack-user", "U123", "--name", "Sam Supervisor", "--role", "supervisor"]
    places = ["--location", "main", "--location", "north", "--approval-limit", "500.00"]
    added = arbot("staff", "add", *sam, *places)
    assert added.code == 0, added.err
    assert added.out == "added staff user 1: Sam Supervisor, supervisor\n"
    assert arbot("staff", "add", "--name", "Mia Manager", "--role", "manager").code == 0
    assert arbot("staff", "add", "--name", "Cleo Clerk", "--role", "clerk").code == 0

    listed = arbot("staff", "list")
    assert listed.code == 0
    lines = [line.split("  ") for line in listed.out.splitlines()]
    cells = [[c.strip() for c in line if c.strip()] for line in lines]
    assert cells == [
        ["id", "name", "role", "locations", "slack user", "approval limit", "active"],
        ["1", "Sam Supervisor", "supervisor", "main,north", "U123", "500.00", "yes"],
        ["2", "Mia Manager", "manager", "all", "-", "no limit (role default)", "yes"],
        ["3", "Cleo Clerk", "clerk", "all", "-", "-", "yes"],
    ]

    async def stored() -> None:
        db = Database(url(tmp_path))
        try:
            async with db.read() as conn:
                sam = await load_staff(conn, slack_user_id="U123")
                assert (await verify_chain(conn)).ok
        finally:
            await db.dispose()
        assert sam.role is StaffRole.SUPERVISOR and sam.approval_limit_minor == 50_000
        assert sam.locations == frozenset({"main", "north"})

    asyncio.run(stored())


def test_a_default_limit_shows_as_the_roles(arbot: Callable[..., Run]) -> None:
    assert arbot("staff", "add", "--name", "Dee", "--role", "supervisor").code == 0
    assert "500.00 (role default)" in arbot("staff", "list").out


def test_an_empty_list_says_how_to_add(arbot: Callable[..., Run]) -> None:
    listed = arbot("staff", "list")
    assert listed.code == 0 and "arbot staff add" in listed.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--role", "boss"], "'boss' is not a role; use one of clerk, biller, supervisor"),
        (["--role", "supervisor", "--approval-limit", "12.345"], "more decimals than USD"),
        (["--role", "supervisor", "--approval-limit", "lots"], "'lots' is not an amount"),
        (["--role", "supervisor", "--approval-limit", "-5"], "cannot be negative"),
        (["--role", "clerk", "--approval-limit", "5"], "a clerk approves nothing"),
        (["--role", "clerk", "--slack-user", "bob"], "'bob' is not a Slack user id"),
        (["--role", "clerk", "--location", "No Where"], "'No Where' is not a location"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    arbot: Callable[..., Run], argv: list[str], message: str
) -> None:
    refused = arbot("staff", "add", "--name", "X", *argv)
    assert refused.code == 2 and refused.out == ""
    assert refused.err.startswith("arbot: ") and message in refused.err
    assert "no staff users yet" in arbot("staff", "list").out


def test_one_slack_user_is_one_staff_user(arbot: Callable[..., Run]) -> None:
    assert arbot("staff", "add", "--name", "A", "--role", "clerk", "--slack-user", "U1X").code == 0
    again = arbot("staff", "add", "--name", "B", "--role", "biller", "--slack-user", "U1X")
    assert again.code == 2 and "Slack user U1X is already a staff user" in again.err
