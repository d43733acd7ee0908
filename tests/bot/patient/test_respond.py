"""Each Telegram update is handled once by the real conversation (issue 5, Robustness),
now that the update is claimed while the conversation reads the chat: a redelivered
update is read but never acted on, and a turn that failed leaves the update to be
answered when Telegram delivers it again."""

from __future__ import annotations

from sqlalchemy import select

from bot.patient.events import Inbound
from core.db import Database
from core.links import issue_link_code
from core.patients.chatstate import chat_state
from core.patients.identity import chat_identity
from core.patients.inbox import inbound_event
from core.ports import OutboundMessage
from tests.bot.patient.conftest import StartServed, TelegramPatient
from tests.bot.patient.test_conversation import ana_with_bills
from tests.core.helpers import ADMIN
from tests.fakes.telegram import message_update

CHAT = 61_000_777


async def _asked_for_birth_date(db: Database, served: StartServed) -> TelegramPatient:
    account_id = await ana_with_bills(db)
    code = (await issue_link_code(db, ADMIN, account_id=account_id)).code
    ana = TelegramPatient(await served(), CHAT)
    assert "date of birth" in await ana.send(f"/start {code}")
    return ana


async def _failures(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(chat_identity.c.failures))).scalar_one())


async def _state_version(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(chat_state.c.version))).scalar_one())


async def test_a_wrong_birth_date_delivered_twice_counts_once(
    db: Database, served: StartServed
) -> None:
    """The second delivery finds the update claimed: no second try counted, no second
    reply, the chat's state saved once."""
    ana = await _asked_for_birth_date(db, served)
    version = await _state_version(db)
    update = message_update(CHAT, "1999-01-01")

    first = await ana.app.update(update)
    again = await ana.app.update(update)

    assert (first.status, again.status) == (200, 200)
    assert await _failures(db) == 1
    replies = ana.app.telegram.sent_to(CHAT)
    assert sum("4 tries left" in str(c.params["text"]) for c in replies) == 1
    assert await _state_version(db) == version + 1
    async with db.read() as conn:
        finished = await conn.execute(
            select(inbound_event.c.finished_at).where(
                inbound_event.c.event_id == str(update["update_id"])
            )
        )
        assert finished.scalar_one() is not None


async def test_a_failed_turn_leaves_the_update_to_its_redelivery(
    db: Database, served: StartServed
) -> None:
    """The conversation raised: Telegram is answered 500, nothing was counted or
    saved, and the same update delivered again is answered."""
    ana = await _asked_for_birth_date(db, served)
    version = await _state_version(db)
    update = message_update(CHAT, "1999-01-01")
    ctx = ana.app.ctx
    conversation = ctx.conversation

    class Failing:
        async def handle(self, inbound: Inbound) -> list[OutboundMessage]:
            raise RuntimeError("the database went away")

    ctx.conversation = Failing()
    failed = await ana.app.update(update)
    ctx.conversation = conversation
    again = await ana.app.update(update)

    assert (failed.status, again.status) == (500, 200)
    assert await _failures(db) == 1
    [answer] = ana.app.telegram.sent_to(CHAT)[-1:]
    assert "4 tries left" in str(answer.params["text"])
    assert await _state_version(db) == version + 1
