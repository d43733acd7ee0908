"""Collectors and follow-ups (AR-045, AR-101, AR-005, AR-100): assigning accounts to
collectors, flags with review dates, the collector's worklist, done and snoozed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.auth import Actor, add_staff, staff_user
from core.db import Database
from core.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from core.ledger.accounts import Account
from core.worklists import (
    FlagStatus,
    assign_collector,
    close_follow_up,
    collector_of,
    due_by_owner,
    flag_follow_up,
    snooze_follow_up,
    staff_named,
    worklist,
)
from tests.core.dunning_helpers import owes, patient
from tests.core.helpers import ADMIN, usd

TODAY = date(2026, 6, 30)  # the clock's day


async def staff(db: Database, name: str, role: str, *where: str, slack: str) -> Actor:
    async with db.transaction() as tx:
        return await add_staff(
            tx, ADMIN, name=name, role=role, locations=where, slack_user_id=slack
        )


@pytest.fixture
async def team(db: Database) -> dict[str, Actor]:
    return {
        "super": await staff(db, "Sam Supervisor", "supervisor", slack="U0SUPER"),
        "bea": await staff(db, "Bea Biller", "biller", slack="U0BEA"),
        "cole": await staff(db, "Cole Clerk", "clerk", slack="U0COLE"),
        "nora": await staff(db, "Nora North", "clerk", "north", slack="U0NORA"),
        "angela": await staff(db, "Ángela Núñez", "clerk", slack="U0ANGELA"),
    }


async def owing(db: Database, last: str, amount: str = "120.00") -> Account:
    account = await patient(db, last, telegram=False)
    await owes(db, account, amount, 40)
    return account


async def test_a_supervisor_assigns_collectors_and_the_history_is_kept(
    db: Database, team: dict[str, Actor]
) -> None:
    ana = await owing(db, "Ana")

    await assign_collector(db, team["super"], account_id=ana.id, collector=team["bea"])
    async with db.read() as conn:
        first = await collector_of(conn, ana.id)
    await assign_collector(db, team["super"], account_id=ana.id, collector=team["cole"])
    async with db.read() as conn:
        second = await collector_of(conn, ana.id)
    await assign_collector(db, team["super"], account_id=ana.id, collector=None)

    assert first is not None and (first.name, first.slack_user_id) == ("Bea Biller", "U0BEA")
    assert second is not None and second.name == "Cole Clerk"
    async with db.read() as conn:
        assert await collector_of(conn, ana.id) is None
    with pytest.raises(PermissionDenied, match="manage_accounts"):
        await assign_collector(db, team["cole"], account_id=ana.id, collector=team["cole"])
    with pytest.raises(ValidationError, match="Nora North cannot collect accounts of location"):
        await assign_collector(db, team["super"], account_id=ana.id, collector=team["nora"])


async def test_a_flag_is_for_the_collector_once_per_request_within_a_year(
    db: Database, team: dict[str, Actor]
) -> None:
    ana = await owing(db, "Ana")
    luis = await owing(db, "Luis")
    await assign_collector(db, team["super"], account_id=ana.id, collector=team["bea"])
    due = TODAY + timedelta(days=3)

    flag = await flag_follow_up(
        db, team["cole"], account_id=ana.id, due=due, note="call  about the plan", key="k1"
    )
    again = await flag_follow_up(
        db, team["cole"], account_id=ana.id, due=due, note="call  about the plan", key="k1"
    )
    own = await flag_follow_up(
        db, team["cole"], account_id=luis.id, due=TODAY, note="promised Friday", key="k2"
    )

    assert again.id == flag.id
    assert (flag.owner.name, flag.due, flag.note) == ("Bea Biller", due, "call about the plan")
    assert (flag.balance, flag.status) == (usd("120.00"), FlagStatus.OPEN)
    assert own.owner.name == "Cole Clerk"  # no collector: whoever set it
    for bad, says in (
        (TODAY - timedelta(days=1), "from today"),
        (TODAY + timedelta(days=400), "to a year ahead"),
    ):
        with pytest.raises(ValidationError, match=says):
            await flag_follow_up(
                db, team["cole"], account_id=ana.id, due=bad, note="x", key=f"{bad}"
            )
    with pytest.raises(ValidationError, match="say what to follow up"):
        await flag_follow_up(db, team["cole"], account_id=ana.id, due=due, note="  ", key="k3")
    with pytest.raises(PermissionDenied, match="location 'main'"):
        await flag_follow_up(db, team["nora"], account_id=ana.id, due=due, note="x", key="k4")


async def test_the_worklist_shows_what_is_due_what_is_coming_and_what_has_no_flag(
    db: Database, team: dict[str, Actor]
) -> None:
    late, soon, later, quiet, paid = (
        await owing(db, "Late"),
        await owing(db, "Soon"),
        await owing(db, "Later"),
        await owing(db, "Quiet", "900.00"),
        await patient(db, "Paid", telegram=False),
    )
    for account in (late, soon, later, quiet, paid):
        await assign_collector(db, team["super"], account_id=account.id, collector=team["bea"])
    bea = team["bea"]
    await flag_follow_up(db, bea, account_id=late.id, due=TODAY, note="call", key="a")
    await flag_follow_up(
        db, bea, account_id=soon.id, due=TODAY + timedelta(days=5), note="letter", key="b"
    )
    await flag_follow_up(
        db, bea, account_id=later.id, due=TODAY + timedelta(days=60), note="review", key="c"
    )

    async with db.read() as conn:
        mine = await worklist(conn, int(bea.id), TODAY)
        theirs = await worklist(conn, int(team["cole"].id), TODAY)

    assert [f.number for f in mine.due] == [late.number] and mine.due_count == 1
    assert [f.number for f in mine.upcoming] == [soon.number]  # 60 days out: not yet shown
    assert [(u.number, u.balance) for u in mine.unflagged] == [(quiet.number, usd("900.00"))]
    assert mine.assigned == 5
    assert (theirs.due, theirs.upcoming, theirs.unflagged, theirs.assigned) == ((), (), (), 0)

    # The day after, the flag is still due (overdue) until it is done or snoozed.
    async with db.read() as conn:
        owners = await due_by_owner(conn, TODAY + timedelta(days=5))
    [(owner, flags)] = owners.items()
    assert owner.name == "Bea Biller" and [f.number for f in flags] == [late.number, soon.number]


async def test_done_and_snoozed_by_the_owner_or_a_manager_of_accounts(
    db: Database, team: dict[str, Actor]
) -> None:
    ana = await owing(db, "Ana")
    await assign_collector(db, team["super"], account_id=ana.id, collector=team["cole"])
    flag = await flag_follow_up(
        db, team["cole"], account_id=ana.id, due=TODAY, note="call", key="a"
    )

    with pytest.raises(PermissionDenied, match="manage_accounts"):
        await close_follow_up(db, team["nora"], flag.id)  # neither owner nor manager
    snoozed = await snooze_follow_up(db, team["cole"], flag.id, TODAY + timedelta(days=7))
    assert snoozed.due == TODAY + timedelta(days=7)
    done = await close_follow_up(db, team["super"], flag.id, "paid in full at the desk")
    assert (done.status, done.outcome) == (FlagStatus.DONE, "paid in full at the desk")
    with pytest.raises(InvalidState, match="already done"):
        await close_follow_up(db, team["cole"], flag.id)
    with pytest.raises(InvalidState, match="already done"):
        await snooze_follow_up(db, team["cole"], flag.id, TODAY + timedelta(days=9))
    async with db.read() as conn:
        assert (await worklist(conn, int(team["cole"].id), TODAY)).due == ()


async def test_reassigning_moves_open_flags_to_the_new_collector(
    db: Database, team: dict[str, Actor]
) -> None:
    ana = await owing(db, "Ana")
    await assign_collector(db, team["super"], account_id=ana.id, collector=team["cole"])
    flag = await flag_follow_up(
        db, team["cole"], account_id=ana.id, due=TODAY, note="call", key="a"
    )

    await assign_collector(db, team["super"], account_id=ana.id, collector=team["bea"])

    async with db.read() as conn:
        assert [f.id for f in (await worklist(conn, int(team["bea"].id), TODAY)).due] == [flag.id]
        assert (await worklist(conn, int(team["cole"].id), TODAY)).due == ()


async def test_staff_are_named_by_slack_id_mention_or_full_name(
    db: Database, team: dict[str, Actor]
) -> None:
    async with db.read() as conn:
        assert (await staff_named(conn, "U0BEA")).name == "Bea Biller"
        assert (await staff_named(conn, "<@U0BEA|bea>")).name == "Bea Biller"
        assert (await staff_named(conn, "bea biller")).name == "Bea Biller"
        # Review finding: SQLite's lower() left "Á" as it was.
        assert (await staff_named(conn, "ÁNGELA  núñez")).name == "Ángela Núñez"
        with pytest.raises(NotFound, match="no one on the staff is 'Bea'"):
            await staff_named(conn, "Bea")


async def test_staff_who_left_are_not_reminded(db: Database, team: dict[str, Actor]) -> None:
    ana = await owing(db, "Ana")
    await assign_collector(db, team["super"], account_id=ana.id, collector=team["cole"])
    await flag_follow_up(db, team["cole"], account_id=ana.id, due=TODAY, note="call", key="a")
    async with db.transaction() as tx:  # Cole left (there is no command for it yet)
        await tx.conn.execute(
            staff_user.update().where(staff_user.c.id == int(team["cole"].id)).values(active=False)
        )

    async with db.read() as conn:
        assert await due_by_owner(conn, TODAY) == {}
