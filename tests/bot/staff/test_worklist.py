"""``/ar assign``, ``/ar followup``, ``/ar worklist`` and the worklist's Done and Snooze
buttons (AR-045, AR-101, AR-005, AR-100), through the real bolt app."""

from __future__ import annotations

from datetime import date

import pytest

from bot.staff import ids
from core.auth import Actor, add_staff
from core.db import Database
from core.ledger.accounts import Account
from core.worklists import collector_of, flag_follow_up
from tests.bot.staff.conftest import Slack, buttons, patient, text_of
from tests.core.dunning_helpers import owes
from tests.core.helpers import ADMIN

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
TODAY = date(2026, 6, 30)


@pytest.fixture
async def ana(db: Database) -> Account:
    account = await patient(db, "López", "Ana")
    await owes(db, account, "120.00", 40)
    return account


async def test_a_supervisor_assigns_collectors_by_name_or_slack_id(
    slack: Slack, db: Database, ana: Account
) -> None:
    first = text_of(await slack.command(f'assign {ana.number} "bea biller"', "U0SUPER"))
    second = text_of(await slack.command(f"assign {ana.number} U0CLERK", "U0SUPER"))
    again = text_of(await slack.command(f'assign {ana.number} "chris  clerk"', "U0SUPER"))
    third = text_of(await slack.command(f"assign {ana.number} none", "U0SUPER"))

    assert first.startswith(f"*{ana.number}*  Ana López is now collected by *Bea Biller*.")
    assert "is now collected by *Chris Clerk* (before: Bea Biller)." in second
    assert again.endswith("is already collected by *Chris Clerk*; nothing changed.")
    assert "no longer has a collector (before: Chris Clerk)." in third
    async with db.read() as conn:
        assert await collector_of(conn, ana.id) is None
    for text, user, says in (
        (f"assign {ana.number} me", "U0CLERK", "lacks the permission 'manage_accounts'"),
        (f"assign {ana.number} Nobody", "U0SUPER", "no one on the staff is 'Nobody'"),
        (f"assign {ana.number} U0NORTH", "U0SUPER", "Nora North cannot collect accounts of"),
        (f"assign {ana.number}", "U0SUPER", "usage: /ar assign"),
    ):
        assert says in text_of(await slack.command(text, user)), text
    async with db.read() as conn:
        assert await collector_of(conn, ana.id) is None


async def test_a_collector_works_the_list_done_and_snoozed(
    slack: Slack, db: Database, ana: Account
) -> None:
    await slack.command(f"assign {ana.number} U0BILLER", "U0SUPER")
    luis = await patient(db, "Ruiz", "Luis")
    await owes(db, luis, "900.00", 70)
    await slack.command(f"assign {luis.number} U0BILLER", "U0SUPER")

    set_now = text_of(
        await slack.command(f"followup {ana.number} +0 call about the plan", "U0CLERK")
    )
    later = text_of(
        await slack.command(f"followup {ana.number} 2026-07-03 send a letter", "U0CLERK")
    )

    assert set_now.startswith(
        f"Follow-up on *{ana.number}*  Ana López set for *Jun 30, 2026* (today), for Bea "
        "Biller: call about the plan"
    )
    assert "*Jul 3, 2026* (in 3 days)" in later
    account = text_of(await slack.command(f"account {ana.number}", "U0CLERK"))
    assert (
        "Collector: Bea Biller · follow-up Jun 30, 2026: call about the plan · follow-up "
        "Jul 3, 2026: send a letter"
    ) in account
    reply = await slack.command("worklist", "U0BILLER")
    shown = text_of(reply)
    assert shown.startswith(
        "*Your worklist* on Jun 30, 2026: 1 follow-up due, 2 accounts assigned."
    )
    assert (
        f"*{ana.number}*  Ana López · balance *$120.00*\ndue today: call about the plan" in shown
    )
    assert "*Coming up* (14 days):" in shown
    assert f"Jul 3, 2026  *{ana.number}*  Ana López: send a letter" in shown
    assert f"*{luis.number}*  Luis Ruiz  $900.00" in shown  # owes, no follow-up set
    [view, done, snooze] = buttons(reply)
    assert (view["action_id"], done["action_id"], snooze["action_id"]) == (
        ids.VIEW_ACCOUNT, ids.FOLLOW_UP_DONE, ids.FOLLOW_UP_SNOOZE,
    )  # fmt: skip

    snoozed = text_of(await slack.press(ids.FOLLOW_UP_SNOOZE, snooze["value"], "U0BILLER"))
    assert "Snoozed the follow-up on" in snoozed and "*Jul 7, 2026* (in 7 days)" in snoozed
    assert "0 follow-ups due" in text_of(await slack.command("worklist", "U0BILLER"))
    finished = text_of(await slack.press(ids.FOLLOW_UP_DONE, done["value"], "U0BILLER"))
    assert "Done: the follow-up on" in finished and "call about the plan" in finished
    again = text_of(await slack.press(ids.FOLLOW_UP_DONE, done["value"], "U0BILLER"))
    assert "already done" in again


async def test_someone_else_s_worklist_needs_manage_accounts(
    slack: Slack, db: Database, ana: Account
) -> None:
    await slack.command(f"assign {ana.number} U0BILLER", "U0SUPER")
    await slack.command(f"followup {ana.number} +0 call", "U0BILLER")

    theirs = text_of(await slack.command('worklist "Bea Biller"', "U0SUPER"))
    refused = text_of(await slack.command("worklist U0BILLER", "U0CLERK"))

    assert theirs.startswith("*Bea Biller's worklist* on Jun 30, 2026: 1 follow-up due")
    assert "lacks the permission 'manage_accounts'" in refused
    for text, says in (
        (f"followup {ana.number} 2026-06-01 call", "a review date is from today"),
        (f"followup {ana.number} soon call", "is not a review date"),
        (f"followup {ana.number} +3", "usage: /ar followup"),
        (f"followup {ana.number} +400 call", "give a whole number from 0 to 366"),
    ):
        assert says in text_of(await slack.command(text, "U0BILLER")), text


async def test_another_location_s_manager_sees_their_accounts_whatever_the_rest(
    slack: Slack, db: Database, staff: dict[str, Actor]
) -> None:
    """Review finding: the 15 oldest flags were read before the reader's locations were
    applied, so a north manager was told 'Nothing is due today' about a collector whose
    oldest flags were at main, and the counts included main's."""
    async with db.transaction() as tx:
        await add_staff(tx, ADMIN, name="Ned North", role="biller", locations=("north",),
                        slack_user_id="U0NBILL")  # fmt: skip
    clerk = staff["U0CLERK"]
    for n in range(15):
        account = await patient(db, f"Main{n}", "Al")
        await owes(db, account, "50.00", 40)
        await flag_follow_up(db, clerk, account_id=account.id, due=TODAY, note="call",
                             key=f"main-{n}")  # fmt: skip
    north = await patient(db, "Norte", "Bo", location="north")
    await owes(db, north, "70.00", 40)
    await flag_follow_up(db, clerk, account_id=north.id, due=TODAY, note="call north",
                         key="north-1")  # fmt: skip

    shown = text_of(await slack.command("worklist U0CLERK", "U0NBILL"))

    assert shown.startswith("*Chris Clerk's worklist* on Jun 30, 2026: 1 follow-up due")
    assert "15 more (follow-ups and accounts) at locations you do not work at" in shown
    assert f"*{north.number}*  Bo Norte" in shown and "Main" not in shown
