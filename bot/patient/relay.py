"""Talk to a person: the patient's words go to the staff channel as a thread, and a
staff reply in that thread comes back to the same chat (issue 5).

Staff see the account number(s) the chat is verified for and what the patient wrote
(card numbers already masked); nothing else about the patient is added.
"""

from __future__ import annotations

import logging

from bot.patient.context import PatientContext
from bot.patient.labels import MENU
from bot.patient.outbound import deliver
from bot.patient.texts import say
from bot.patient.turn import Turn
from core.patients.agents import chat_of_thread, current_thread, remember_thread
from core.patients.chatstate import load_state
from core.patients.summary import PatientAccount
from core.ports import OutboundMessage, StaffPost

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


async def from_staff(ctx: PatientContext, thread_ts: str, message_ts: str, text: str) -> bool:
    """A staff reply in a patient's thread goes back to that chat, once per Slack message
    (``message_ts`` keys the send: Slack retries an event it thinks was not acknowledged
    in time); False when the thread is not a patient's (an ordinary staff conversation)."""
    thread = await chat_of_thread(ctx.db, thread_ts)
    words = text.strip()[:LONGEST]
    if thread is None or not words:
        return False
    async with ctx.db.read() as conn:
        state = await load_state(conn, thread.channel, thread.address)
    message = OutboundMessage(say(state.locale, "staff_reply", words=words))
    await deliver(
        ctx.db,
        ctx.messengers,
        channel=thread.channel,
        address=thread.address,
        message=message,
        kind="staff_reply",
        dedupe_key=f"staff_reply:{thread_ts}:{message_ts}",
    )
    return True
