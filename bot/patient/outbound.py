"""From the conversation to the patient: one inbound event answered, each reply delivered.

:func:`respond` is what the Telegram and SMS adapters call for every event: it claims
the provider's event id (a redelivered update or message is answered once), lets the
conversation handle it, and sends each reply the way :func:`deliver` does. Turns of
one chat run one after the other within a process, so two quick messages are answered
in order. A turn commits three times: the event's claim, made while the conversation
reads the chat (it acts only once the claim is known); the chat's new state with the
first reply's claim in the outbox (a conversation that can, :class:`ClaimsWithState`);
the last reply's outcome with the event finished. A second reply is claimed, and the
first one's outcome recorded, in transactions of their own.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.patient.events import Inbound
from core.db import Database, Tx
from core.patients.inbox import claim_event, finish_event_in, release_event
from core.patients.outbox import Send, claim_send, claim_send_in, record_outcome, record_outcome_in
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
    delivery = await _send(messengers, send, message)
    await record_outcome(db, send.id, delivery)
    return delivery


async def _send(
    messengers: Mapping[str, PatientMessenger], send: Send, message: OutboundMessage
) -> Delivery:
    """Hand a claimed send to its channel's messenger; never raises."""
    messenger = messengers.get(send.channel)
    if messenger is None:
        return Delivery(ok=False, failure="error", detail=f"no {send.channel} messenger is set up")
    try:
        return await messenger.send(send.channel, send.address, message)
    except Exception as exc:  # a bug or an outage must still leave an outcome
        _log_failure(f"{send.channel} messenger raised", exc)
        return Delivery(ok=False, failure="error", detail=type(exc).__name__)


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

ClaimFirst = Callable[[Tx, OutboundMessage], Awaitable[Send | None]]
"""Claims the first reply's send inside the transaction that saves the chat's state."""

Gate = asyncio.Future[bool]
"""The event's claim: True to go on, False for a duplicate (do nothing). A future, so
that a conversation retrying its turn may await it again."""


@runtime_checkable
class ClaimsWithState(Protocol):
    """A conversation that saves its state and the first reply's claim in one
    transaction, and reads the chat while the event is being claimed, acting only
    once ``gate`` said to (:class:`bot.patient.conversation.Conversation`)."""

    async def handle_and_claim(
        self, inbound: Inbound, claim: ClaimFirst | None, gate: Gate | None = None
    ) -> tuple[list[OutboundMessage], Send | None] | None:
        """The replies and the first one's send; None when ``gate`` said no."""


async def respond(ctx: PatientContext, inbound: Inbound, *, source: str, event_id: str) -> bool:
    """Answer one inbound event; False when it was a duplicate (nothing done).

    Replies go out with dedupe keys ``{source}:{event_id}:{n}``: an event taken over
    after a crash does not repeat a reply already sent. If the conversation raises,
    the claim is released, so the provider's redelivery is answered, and
    :class:`TurnFailed` is raised instead (the original's words may quote the patient:
    they are not passed on to whoever logs it)."""
    # Claimed in a task of its own: its commit runs while the conversation reads the
    # chat, off the reply's path (make bench); nothing acts before it is known.
    claimed = asyncio.ensure_future(claim_event(ctx.db, source, event_id))
    last: tuple[Send, Delivery] | None = None
    async with _chats.hold(inbound.channel, inbound.address):
        try:
            answered = await _answer(ctx, inbound, f"{source}:{event_id}", claimed)
        except Exception as exc:
            _log_failure(f"the conversation failed on a {source} event", exc)
            if await _claimed(claimed):
                await release_event(ctx.db, source, event_id)
            raise TurnFailed(f"the conversation failed on {source} event {event_id}") from None
        if answered is None:
            return False
        replies, first = answered
        for n, reply in enumerate(replies):
            send = first if n == 0 else await _claim_reply(ctx.db, inbound, source, event_id, n)
            if send is None:  # already claimed: sent before a crash
                continue
            if last is not None:
                await record_outcome(ctx.db, last[0].id, last[1])
            last = (send, await _send(ctx.messengers, send, reply))
    async with ctx.db.transaction() as tx:
        if last is not None:
            await record_outcome_in(tx, last[0].id, last[1])
        await finish_event_in(tx, source, event_id)
    return True


async def _claimed(claim: Gate) -> bool:
    """Whether the claim was made (False when it failed: then nothing is released)."""
    try:
        return await claim
    except Exception:
        return False


async def _answer(
    ctx: PatientContext, inbound: Inbound, key: str, gate: Gate
) -> tuple[list[OutboundMessage], Send | None] | None:
    """The conversation's replies and the first one's claimed send; None for a
    duplicate event."""

    async def claim(tx: Tx, _reply: OutboundMessage) -> Send | None:
        return await claim_send_in(
            tx,
            channel=inbound.channel,
            address=inbound.address,
            kind="reply",
            dedupe_key=f"{key}:0",
        )

    handler = ctx.conversation
    if isinstance(handler, ClaimsWithState):
        return await handler.handle_and_claim(inbound, claim, gate)
    if not await gate:
        return None
    replies = await handler.handle(inbound)
    if not replies:
        return replies, None
    async with ctx.db.transaction() as tx:
        return replies, await claim(tx, replies[0])


async def _claim_reply(
    db: Database, inbound: Inbound, source: str, event_id: str, n: int
) -> Send | None:
    return await claim_send(
        db,
        channel=inbound.channel,
        address=inbound.address,
        kind="reply",
        dedupe_key=f"{source}:{event_id}:{n}",
    )


def _log_failure(what: str, exc: BaseException) -> None:
    """Log where it failed but not the exception's words: they may quote what the
    patient typed."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s: %s\n%s", what, type(exc).__name__, frames)
