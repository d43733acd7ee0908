"""What one chat turn reads and writes together (issue 5: state in the database, each
inbound event handled once, every send recorded before and after; make bench):

- the state and the identity lock-out are read in one go (:func:`load_chat`);
- the new state and the first reply's outbox claim commit together, so a turn that
  loses the race for the state leaves no claim behind;
- the last reply's outcome and the finished event commit together.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState
from core.ledger.accounts import create_account
from core.patients.chatstate import ChatState, load_chat, save_state, save_state_in
from core.patients.identity import (
    LOCK_FOR,
    BirthDateWrong,
    IdentityLocked,
    verified_accounts,
    verify_birth_date,
)
from core.patients.inbox import claim_event, finish_event_in, inbound_event
from core.patients.outbox import claim_send, claim_send_in, outbox, record_outcome_in
from core.ports import Delivery
from core.profile.chats import link_chat
from core.profile.relationships import end_relationship, guarantees, relate
from tests.core.helpers import ADMIN
from tests.core.profile.common import on_day, person

PHONE = "+15551234567"
BORN = date(1980, 4, 12)


async def chat(db: Database, address: str = PHONE) -> tuple[ChatState, object]:
    async with db.read() as conn:
        return await load_chat(conn, "sms", address)


async def lock(db: Database, account_id: int) -> None:
    for _ in range(4):
        with pytest.raises(BirthDateWrong):
            await verify_birth_date(
                db, channel="sms", address=PHONE, born=date(1990, 1, 1), candidates=[account_id]
            )
    with pytest.raises(IdentityLocked):
        await verify_birth_date(
            db, channel="sms", address=PHONE, born=date(1990, 1, 1), candidates=[account_id]
        )


async def test_the_state_and_the_lock_out_are_read_together(
    db: Database, clock: FixedClock
) -> None:
    ana = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    assert await chat(db) == (ChatState(), None)

    await lock(db, ana.id)  # locked before the chat ever saved a state
    assert await chat(db) == (ChatState(), clock.now() + LOCK_FOR)

    saved = await save_state(db, "sms", "+1 (555) 123-4567", ChatState("dob", {"n": 1}, "es"))
    assert await chat(db) == (saved, clock.now() + LOCK_FOR)
    assert await chat(db, "+15550000000") == (ChatState(), None)  # another chat


async def test_a_lost_race_for_the_state_leaves_no_claim(db: Database) -> None:
    first = await save_state(db, "telegram", "4242", ChatState("menu"))
    await save_state(db, "telegram", "4242", ChatState("amount", {}, None, first.version))

    with pytest.raises(InvalidState, match="the conversation moved on"):
        async with db.transaction() as tx:
            await save_state_in(tx, "telegram", "4242", ChatState("balance", {}, None, 1))
            await claim_send_in(
                tx, channel="telegram", address="4242", kind="reply", dedupe_key="telegram:9:0"
            )

    async with db.read() as conn:
        assert (await conn.execute(select(outbox))).all() == []
    # The key was never taken: the turn answered on the newer state can claim it.
    assert await claim_send(
        db, channel="telegram", address="4242", kind="reply", dedupe_key="telegram:9:0"
    )


async def test_the_last_outcome_and_the_finished_event_commit_together(db: Database) -> None:
    assert await claim_event(db, "sms", "SM1")
    send = await claim_send(db, channel="sms", address=PHONE, kind="reply", dedupe_key="sms:SM1:0")
    assert send is not None
    sent = Delivery(ok=True, provider_ref="SMabc")

    async with db.transaction() as tx:
        await record_outcome_in(tx, send.id, sent)
        await finish_event_in(tx, "sms", "SM1")

    async with db.read() as conn:
        row = (await conn.execute(select(outbox))).one()
        event = (await conn.execute(select(inbound_event))).one()
    assert (row.status, row.provider_ref) == ("sent", "SMabc")
    assert event.finished_at is not None
    assert not await claim_event(db, "sms", "SM1")  # handled: a redelivery is a duplicate
    async with db.transaction() as tx:  # the same outcome again changes nothing
        await record_outcome_in(tx, send.id, sent)
    with pytest.raises(InvalidState, match="already has its outcome"):
        async with db.transaction() as tx:
            await record_outcome_in(tx, send.id, Delivery(ok=False, failure="blocked"))


async def test_verified_accounts_and_whom_they_guarantee_in_one_read(db: Database) -> None:
    """The chat's accounts and the accounts they guarantee on the day (AR-131), read in
    one statement, agree with core.profile.relationships.guarantees: a guarantor link
    in force, an ended one (not shown), and a guarantor known only from
    ``customer_account.guarantor_id`` (an import)."""
    mum = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    kid = await person(db, "López", "Leo")
    grown = await person(db, "López", "Eva")
    async with db.transaction() as tx:
        imported = await create_account(
            tx, name="Mia López", currency="USD", actor="import", source="csv", guarantor_id=mum.id
        )
    today = on_day(db)
    for child in (kid, grown):
        await relate(
            db,
            ADMIN,
            account_id=child.id,
            related_account_id=mum.id,
            kind="guarantor",
            effective_from=today - timedelta(days=60),
        )
    await end_relationship(
        db,
        ADMIN,
        account_id=grown.id,
        related_account_id=mum.id,
        kind="guarantor",
        last_day=today - timedelta(days=1),
    )
    await link_chat(db, ADMIN, account_id=mum.id, channel="sms", address=PHONE, verified=True)

    async with db.read() as conn:
        shown = await verified_accounts(conn, "sms", PHONE, today)
        earlier = await verified_accounts(conn, "sms", PHONE, today - timedelta(days=5))
        assert shown == [mum.id, *await guarantees(conn, mum.id, today)]
        assert earlier == [mum.id, *await guarantees(conn, mum.id, today - timedelta(days=5))]
        assert await verified_accounts(conn, "sms", "+15550000000", today) == []
    assert shown == [mum.id, kid.id, imported.id]
    assert earlier == [mum.id, kid.id, grown.id, imported.id]
