"""The patient conversation, written once for every channel (DESIGN: channels).

Each inbound event runs one :class:`~bot.patient.turn.Turn`: card numbers are masked
first; SMS carrier keywords (STOP, START, HELP) are honoured at once whatever the
state; a locked chat hears only that it is locked; a chat with no verified account goes
through identity (:mod:`bot.patient.identity`); a verified one gets the menu
(:mod:`bot.patient.menu`). The chat's state lives in the database, so a restart or a
second web process continues the same conversation. Nothing a patient types can raise
out of here: what is not understood gets a short menu.

A turn reads the chat (state, lock-out, verified accounts and what the patient may see
of them) in one read, and saves the new state in one write transaction, in which
:meth:`Conversation.handle_and_claim` also claims the first reply's send in the
outbox: the state and the claim commit together (:func:`bot.patient.outbound.respond`).
"""

from __future__ import annotations

import logging
import re
from contextlib import suppress
from dataclasses import replace
from datetime import datetime

from bot.patient import identity, menu
from bot.patient.context import PatientContext
from bot.patient.events import Inbound
from bot.patient.labels import KEYWORDS, SMS_HELP, SMS_START, SMS_STOP, plain_word
from bot.patient.outbound import ClaimFirst, Gate
from bot.patient.redact import redact_cards
from bot.patient.texts import language_of
from bot.patient.turn import Turn, answerable
from core.clock import today
from core.customers import record_consent
from core.errors import ArbotError
from core.patients.chatstate import ChatState, StateMovedOn, load_chat, save_state_in
from core.patients.identity import verified_accounts
from core.patients.outbox import Send
from core.patients.summary import PatientAccount, patient_accounts
from core.ports import OutboundMessage

log = logging.getLogger(__name__)
NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


class Conversation:
    """``await Conversation(ctx).handle(inbound)`` -> the replies to send back."""

    def __init__(self, ctx: PatientContext | None = None) -> None:
        self.ctx: PatientContext | None = ctx

    def bind(self, ctx: PatientContext) -> None:
        self.ctx = ctx

    async def handle(self, inbound: Inbound) -> list[OutboundMessage]:
        answered = await self.handle_and_claim(inbound, None)
        return answered[0] if answered else []

    async def handle_and_claim(
        self, inbound: Inbound, claim: ClaimFirst | None, gate: Gate | None = None
    ) -> tuple[list[OutboundMessage], Send | None] | None:
        """The replies, and the first one's send as ``claim`` claimed it in the same
        transaction as the chat's new state (None without a claim or a reply). The
        chat is read while ``gate`` (the event's claim) is pending; None, and nothing
        done, when it says no."""
        for _attempt in range(3):
            with suppress(StateMovedOn):
                return await self._once(inbound, claim, gate)
        return [], None

    async def _once(
        self, inbound: Inbound, claim: ClaimFirst | None, gate: Gate | None
    ) -> tuple[list[OutboundMessage], Send | None] | None:
        assert self.ctx is not None, "Conversation.bind(ctx) before handling"
        db = self.ctx.db
        text, card = redact_cards(inbound.text or "")
        on = today(db.clock)
        # One read without a snapshot (no BEGIN, nothing to roll back): the state is
        # saved optimistically, so nothing here needs the statements to agree.
        async with db.read(snapshot=False) as conn:
            state, locked = await load_chat(conn, inbound.channel, inbound.address)
            ids = await verified_accounts(conn, inbound.channel, inbound.address, on)
            accounts = await patient_accounts(conn, ids, on)
        if gate is not None and not await gate:
            return None
        turn = Turn(
            inbound,
            state,
            on,
            text,
            None,
            language_of(state.locale),
            state.step,
            dict(state.data),
        )
        turn.choice = self._choice(turn)
        try:
            await self._route(turn, card, locked, accounts)
        except ArbotError as exc:  # a refusal from core: say it plainly, change nothing
            log.info("patient turn refused: %s", type(exc).__name__)
            turn.say("refused", "menu", reason=str(exc))
        data = answerable(turn.data, turn.offered())
        new = ChatState(turn.step, data, turn.state.locale, state.version)
        async with db.transaction() as tx:
            await save_state_in(tx, inbound.channel, inbound.address, new)
            first = await claim(tx, turn.replies[0]) if claim and turn.replies else None
        return turn.replies, first

    def _choice(self, turn: Turn) -> str | None:
        if turn.inbound.choice:
            return turn.inbound.choice
        number = NUMBER.match(turn.text)
        offered = turn.state.data.get("offered") or []
        if number and 1 <= int(number[1]) <= len(offered):
            return str(offered[int(number[1]) - 1])
        return KEYWORDS.get(plain_word(turn.text))

    async def _route(
        self, turn: Turn, card: bool, locked: datetime | None, accounts: list[PatientAccount]
    ) -> None:
        assert self.ctx is not None
        if turn.channel == "sms" and await self._carrier_keyword(turn):
            return
        if locked is not None and locked > self.ctx.db.clock.now():
            turn.say("locked")
            return
        if card:
            turn.say("card_warning", *(("pay",) if accounts else ()))
            return
        if accounts and turn.link_typed():
            return
        if turn.choice and turn.choice.startswith("lang:"):
            turn.switch_language(turn.choice.removeprefix("lang:"))
            turn.state = replace(turn.state, locale=turn.language)
            turn.choice = "menu" if accounts else "start"
        if not accounts:
            await identity.identify(self.ctx, turn)
        else:
            await menu.serve(self.ctx, turn, accounts)

    async def _carrier_keyword(self, turn: Turn) -> bool:
        assert self.ctx is not None
        word = plain_word(turn.text)
        if word not in SMS_STOP | SMS_START | SMS_HELP:
            return False
        if word in SMS_HELP:
            turn.say("sms_help")
            return True
        granted = word in SMS_START
        await record_consent(
            self.ctx.db,
            identity.PATIENT,
            channel="sms",
            address=turn.address,
            granted=granted,
            source="sms keyword",
        )
        turn.say("sms_start" if granted else "sms_stop")
        return True
