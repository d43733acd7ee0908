"""``/ar assign``, ``/ar followup``, ``/ar worklist`` and the worklist's buttons: the
collectors' side of Slack (AR-045, AR-101, AR-005, AR-100).

Core decides who may do what (:mod:`core.worklists`). A worklist shows its owner's
flags due by today with View, Done and Snooze buttons, whose values are the flag's id
and nothing else; what a button stands for is read again with the presser's
permissions. Looking at someone else's worklist needs ``manage_accounts``; a worklist
shows only the accounts of the reader's own locations, and counts the others.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from bot.staff import ids
from bot.staff.money import find_account
from bot.staff.parse_collect import Assign, FollowUp, ShowWorklist
from bot.staff.turn import Turn
from core.auth import Actor, Permission, require
from core.clock import today
from core.worklists import (
    Flag,
    assign_collector,
    close_follow_up,
    collector_of,
    flag_follow_up,
    snooze_follow_up,
    staff_named,
    worklist,
)

SNOOZE = timedelta(days=7)
LISTED = 10
"""Due flags shown with buttons (two blocks each: Slack allows 50 a message)."""


async def _named(turn: Turn, staff: Actor, who: str) -> Actor:
    if who.casefold() == "me":
        return staff
    async with turn.db.read() as conn:
        return await staff_named(conn, who)


async def assign(turn: Turn, staff: Actor, cmd: Assign) -> None:
    account = await find_account(turn.db, cmd.account)
    collector = None if cmd.collector is None else await _named(turn, staff, cmd.collector)
    async with turn.db.read() as conn:
        before = await collector_of(conn, account.id)
    await assign_collector(turn.db, staff, account_id=account.id, collector=collector)
    await turn.reply("assigned", account=account, collector=collector, before=before)


async def follow_up(turn: Turn, staff: Actor, cmd: FollowUp) -> None:
    account = await find_account(turn.db, cmd.account)
    on = today(turn.services.clock)
    due = cmd.due if isinstance(cmd.due, date) else on + timedelta(days=cmd.due)
    flag = await flag_follow_up(
        turn.db, staff, account_id=account.id, due=due, note=cmd.note, key=turn.key("followup")
    )
    await turn.reply("follow_up_set", flag=flag, today=on, snoozed=False)


async def show_worklist(turn: Turn, staff: Actor, cmd: ShowWorklist) -> None:
    require(staff, Permission.VIEW_ACCOUNTS)
    whose = await _named(turn, staff, cmd.collector)
    if whose.id != staff.id:
        require(staff, Permission.MANAGE_ACCOUNTS)
    async with turn.db.read() as conn:
        found = await worklist(conn, int(whose.id), today(turn.services.clock), staff.locations)
    shown = replace(found, due=found.due[:LISTED])
    await turn.reply("worklist", worklist=shown, mine=whose.id == staff.id)


async def done_pressed(turn: Turn, staff: Actor, value: str) -> None:
    flag = await close_follow_up(turn.db, staff, ids.id_in(value, "a follow-up"))
    await turn.reply("follow_up_done", flag=flag)


async def snooze_pressed(turn: Turn, staff: Actor, value: str) -> None:
    flag_id = ids.id_in(value, "a follow-up")
    until = today(turn.services.clock) + SNOOZE
    flag: Flag = await snooze_follow_up(turn.db, staff, flag_id, until)
    await turn.reply("follow_up_set", flag=flag, today=today(turn.services.clock), snoozed=True)
