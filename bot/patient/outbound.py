"""From the conversation to the patient: one inbound event answered, each reply delivered.

:func:`respond` is what the Telegram and SMS adapters call for every event: it claims
the provider's event id (a redelivered update or message is answered once), lets the
conversation handle it, and hands each reply to :func:`deliver`. Turns of one chat run
one after the other within a process, so two quick messages are answered in order.

:func:`deliver` is the one way anything messages a patient (replies, receipts,
reminders): the send is claimed in the outbox first, with its dedupe key when it has
one, so a send already made is never repeated; the messenger for the channel sends
it; the outcome, delivered or the kind of failure, is recorded for the delivery
failure report (AR-179). The text itself is never stored or logged.

:func:`sms_text` renders a message as a text channel shows it (SMS, the console):
the choices as numbered lines, a link's choice with its address.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.patient.events import Inbound
from core.db import Database
from core.patients.inbox import claim_event, finish_event, release_event
from core.patients.outbox import claim_send, record_outcome
from core.ports import Delivery, OutboundMessage, PatientMessenger

if TYPE_CHECKING:
    from bot.patient.context import PatientContext

log = logging.getLogger(__name__)


def sms_text(message: OutboundMessage) -> str:
    """``text``, then one line per choice: ``1) Balance``; ``2) Pay: https://...``.

    Every choice is numbered in order, links too, as the conversation counts them
    when a patient answers with a number."""
    lines = [message.text.rstrip()]
    if message.choices:
        lines.append("")
        for n, choice in enumerate(message.choices, start=1):
            shown = f"{choice.label}: {choice.url}" if choice.url else choice.label
            lines.append(f"{n}) {shown}")
    return "\n".join(lines)


async def deliver(
    db: Database,
    messengers: Mapping[str, PatientMessenger],
    *,
    channel: str,
    address: str,
    message: OutboundMessage,
    kind: str,
    account_id: int | None = None,
    dedupe_key: str | None = None,
) -> Delivery | None:
    """Send ``message`` to ``address`` on ``channel`` once; None when ``dedupe_key`` was
    already claimed (nothing is sent). A channel without a messenger, or a messenger
    that raised, is recorded as an ``error`` rather than left unexplained."""
    send = await claim_send(
        db,
        channel=channel,
        address=address,
        kind=kind,
        account_id=account_id,
        dedupe_key=dedupe_key,
    )
    if send is None:
        return None
    messenger = messengers.get(channel)
    if messenger is None:
        delivery = Delivery(ok=False, failure="error", detail=f"no {channel} messenger is set up")
    else:
        try:
            delivery = await messenger.send(channel, send.address, message)
        except Exception as exc:  # a bug or an outage must still leave an outcome
            _log_failure(f"{channel} messenger raised", exc)
            delivery = Delivery(ok=False, failure="error", detail=type(exc).__name__)
    await record_outcome(db, send.id, delivery)
    return delivery


class TurnFailed(Exception):
    """The conversation raised on an event (logged here, without the patient's words)."""


class ChatLocks:
    """One lock per chat, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, channel: str, address: str) -> AsyncIterator[None]:
        key = (channel, address)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


_chats = ChatLocks()


async def respond(ctx: PatientContext, inbound: Inbound, *, source: str, event_id: str) -> bool:
    """Answer one inbound event; False when it was a duplicate (nothing done).

    Replies go out with dedupe keys ``{source}:{event_id}:{n}``: an event taken over
    after a crash does not repeat a reply already sent. If the conversation raises,
    the claim is released, so the provider's redelivery is answered, and
    :class:`TurnFailed` is raised instead (the original's words may quote the patient:
    they are not passed on to whoever logs it)."""
    if not await claim_event(ctx.db, source, event_id):
        return False
    async with _chats.hold(inbound.channel, inbound.address):
        try:
            replies = await ctx.conversation.handle(inbound)
        except Exception as exc:
            _log_failure(f"the conversation failed on a {source} event", exc)
            await release_event(ctx.db, source, event_id)
            raise TurnFailed(f"the conversation failed on {source} event {event_id}") from None
        for n, reply in enumerate(replies):
            await deliver(
                ctx.db,
                ctx.messengers,
                channel=inbound.channel,
                address=inbound.address,
                message=reply,
                kind="reply",
                dedupe_key=f"{source}:{event_id}:{n}",
            )
    await finish_event(ctx.db, source, event_id)
    return True


def _log_failure(what: str, exc: BaseException) -> None:
    """Log where it failed but not the exception's words: they may quote what the
    patient typed."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s: %s\n%s", what, type(exc).__name__, frames)
