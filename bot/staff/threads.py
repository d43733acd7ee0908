"""Staff replies to patients: a message in a patient's thread goes back to their chat.

The patient side (``bot.patient.relay``) opens a thread in the staff channel when a
patient asks for a person; a staff member answering *in that thread* answers the
patient. Bot messages, edits and messages outside patient threads are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.staff.services import services_of

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.event("message")(on_message)


async def on_message(event: dict[str, Any], context: AsyncBoltContext) -> None:
    services = services_of(context)
    thread, ts = event.get("thread_ts"), event.get("ts")
    if services.patient_reply is None or not thread or thread == ts:
        return
    if event.get("bot_id") or event.get("subtype"):
        return  # our own posts, edits, joins: not a person answering
    with services.work.track():
        try:
            await services.patient_reply(str(thread), str(ts), str(event.get("text", "")))
        except Exception:
            log.exception("passing a staff reply to a patient failed")
