"""The console channel: ``arbot chat --phone +15551234567`` talks to the conversation
from a terminal, without Telegram, Twilio or Stripe keys.

Each line typed is a text message from that phone on the ``sms`` channel, so the
conversation treats it exactly as an SMS from a patient with that number on file; the
replies are printed as an SMS would show them, options as numbered lines (answer
with the number or the word). Ctrl-D (end of input) leaves. Lines come from standard
input, so a script can be piped in as well as typed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.patient.events import Handler, Inbound
from bot.patient.outbound import sms_text
from core.customers import phone_number
from core.db import Database
from core.settings import Settings

CHANNEL = "sms"


async def run_console(
    handler: Handler,
    phone: str,
    stdin: TextIO,
    stdout: TextIO,
    *,
    interactive: bool = False,
) -> int:
    """Read lines until end of input, print each turn's replies; returns how many
    messages were sent. ``interactive`` adds a greeting and a ``> `` prompt."""
    address = phone_number(phone)
    if interactive:
        stdout.write(f"Chatting as {address} over SMS. Ctrl-D leaves.\n")
    sent = 0
    while True:
        if interactive:
            stdout.write("> ")
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        sent += 1
        replies = await handler.handle(Inbound(channel=CHANNEL, address=address, text=text))
        stdout.write("".join(f"{sms_text(reply)}\n\n" for reply in replies))
        stdout.flush()
    if interactive:
        stdout.write("\n")
    return sent


async def chat(settings: Settings, phone: str) -> int:
    """``arbot chat``: the conversation on DATABASE_URL, on this terminal."""
    from bot.patient.context import PatientContext
    from bot.patient.conversation import Conversation
    from bot.patient.planning import plan_policy
    from bot.patient.stripe_gateway import make_gateway

    address = phone_number(phone)
    db = Database(settings.database_url)
    gateway = make_gateway(settings)
    try:
        conversation = Conversation()
        ctx = PatientContext(
            db=db,
            settings=settings,
            conversation=conversation,
            gateway=gateway,
            plan_policy=plan_policy(settings),
        )
        conversation.bind(ctx)
        await run_console(
            conversation, address, sys.stdin, sys.stdout, interactive=sys.stdin.isatty()
        )
    finally:
        await gateway.close()
        await db.dispose()
    return 0
