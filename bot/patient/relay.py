"""Talk to a person: the patient's words go to the staff channel as a thread, and a
staff reply in that thread comes back to the same chat (issue 5).

Staff see the account number(s) the chat is verified for and what the patient wrote
(card numbers already masked); nothing else about the patient is added.
"""

from __future__ import annotations

import logging

from bot.patient.context import PatientContext
from bot.patient.labels import MENU
from bot.patient.turn import Turn
from core.patients.agents import current_thread, remember_thread
from core.patients.summary import PatientAccount
from core.ports import StaffPost

log = logging.getLogger(__name__)
LONGEST = 2000
"""A patient's message to staff is cut here; Slack takes more, a chat need not."""


def staff_channel(ctx: PatientContext) -> str:
    return ctx.settings.slack_patient_channel or ctx.settings.slack_approvals_channel


async def to_staff(ctx: PatientContext, turn: Turn, accounts: list[PatientAccount]) -> None:
    channel = staff_channel(ctx)
    words = turn.text.strip()[:LONGEST]
    if not words:
        turn.say("agent_ask", "menu")
        return
    if ctx.staff is None or not channel:
        turn.go("menu")
        turn.say("agent_unavailable", *MENU)
        return
    thread = await current_thread(ctx.db, turn.channel, turn.address)
    numbers = ", ".join(a.number for a in accounts)
    text = f"Patient message ({turn.channel}, account {numbers}):\n{words}"
    try:
        ts = await ctx.staff.post(StaffPost(channel, text, thread.thread_ts if thread else None))
    except Exception:  # Slack down: tell the patient rather than pretend it went
        log.exception("could not pass a patient's message to staff")
        turn.say("agent_unavailable", *MENU)
        turn.go("menu")
        return
    await remember_thread(
        ctx.db, turn.channel, turn.address, channel, thread.thread_ts if thread else ts
    )
    turn.say("agent_sent", "menu")
