"""``arbot statements cycle`` and ``arbot statements cycles``: the office sets when
statements go out (AR-144, AR-161) from the server's command line. In-process through
``bot.cli.main`` against a migrated SQLite file."""

from __future__ import annotations

from collections.abc import Callable

from tests.bot.test_staff_cli import Run, arbot, migrated

__all__ = ["arbot", "migrated"]


def test_cycles_are_set_listed_and_replaced(arbot: Callable[..., Run]) -> None:
    assert arbot("statements", "cycles").out == (
        "no statement cycles: set one with arbot statements cycle\n"
    )
    done = arbot("statements", "cycle", "monthly", "--day", "31", "--min-balance", "5.00")
    assert (done.code, done.out) == (
        0,
        "statement cycle 1: monthly on day 31 (or the month's last day) for everyone\n",
    )
    done = arbot("statements", "cycle", "weekly", "--day", "2", "--location", "north")
    assert done.out == "statement cycle 2: weekly on Tuesday for location north\n"
    arbot("statements", "cycle", "monthly", "--day", "15")  # replaces cycle 1

    listed = arbot("statements", "cycles").out.splitlines()

    assert len(listed) == 2
    assert listed[0].split() == [
        "2",
        "location",
        "north",
        "weekly",
        "on",
        "Tuesday",
        "over",
        "0.00",
    ]
    assert listed[1].split()[:5] == ["3", "everyone", "monthly", "on", "day"]


def test_nonsense_is_refused_with_the_reason(arbot: Callable[..., Run]) -> None:
    refused = arbot("statements", "cycle", "monthly")
    assert (refused.code, refused.err) == (
        2,
        "arbot: a monthly statement cycle needs a day of the month, 1 to 31\n",
    )
    refused = arbot("statements", "cycle", "daily", "--account", "A9999999")
    assert (refused.code, refused.err) == (2, "arbot: there is no account A9999999\n")
    refused = arbot("statements", "cycle", "daily", "--account", "A1", "--location", "x")
    assert refused.err.startswith("arbot: a cycle is for one --account")
    assert arbot("statements", "cycles").out.startswith("no statement cycles")
