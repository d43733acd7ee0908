"""The outbox (issue 6, AR-179): each message is recorded with its dedupe key before it
is sent and with its outcome after; a key is sent once; failures make the report; the
text itself is never stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState, NotFound, ValidationError
from core.patients.outbox import FailedSend, Send, claim_send, failed_sends, outbox, record_outcome
from core.ports import Delivery
from tests.core.helpers import open_account

PHONE = "+15551234567"


async def test_a_send_is_recorded_before_and_after(db: Database, clock: FixedClock) -> None:
    account = await open_account(db)
    send = await claim_send(
        db,
        channel="sms",
        address="+1 555 123 4567",
        kind="receipt",
        account_id=account.id,
        dedupe_key="receipt:pay_1",
    )
    assert send == Send(send.id, "sms", PHONE, "receipt", account.id, "receipt:pay_1")
    async with db.read() as conn:
        [before] = (await conn.execute(select(outbox))).all()
    assert before.status == "claimed" and before.finished_at is None
    clock.advance(seconds=2)
    await record_outcome(db, send.id, Delivery(ok=True, provider_ref="SM0001"))
    async with db.read() as conn:
        [after] = (await conn.execute(select(outbox))).all()
    assert (after.status, after.provider_ref, after.failure) == ("sent", "SM0001", None)
    assert after.finished_at == clock.now() and after.created_at == clock.now() - timedelta(
        seconds=2
    )
    assert set(outbox.c.keys()).isdisjoint({"text", "body", "message"})


async def test_a_dedupe_key_is_sent_once(db: Database) -> None:
    first = await claim_send(
        db, channel="telegram", address="4242", kind="reminder", dedupe_key="reminder:7:2026-07-01"
    )
    assert first is not None
    await record_outcome(db, first.id, Delivery(ok=False, failure="error", detail="timeout"))
    # A re-run of the job, even after a failure, does not message the patient again.
    again = await claim_send(
        db, channel="telegram", address="4242", kind="reminder", dedupe_key="reminder:7:2026-07-01"
    )
    assert again is None
    # Sends without a key are never deduplicated (each answer to the patient).
    a = await claim_send(db, channel="telegram", address="4242", kind="menu")
    b = await claim_send(db, channel="telegram", address="4242", kind="menu")
    assert a is not None and b is not None and a.id != b.id


async def test_simultaneous_claims_of_one_key_one_wins(db: Database) -> None:
    other = Database(db.url, clock=db.clock)
    try:
        results = await asyncio.gather(
            *(
                claim_send(d, channel="sms", address=PHONE, kind="receipt", dedupe_key="r:1")
                for d in (db, other, db, other, db)
            )
        )
    finally:
        await other.dispose()
    assert [r is not None for r in results].count(True) == 1
    async with db.read() as conn:
        assert len((await conn.execute(select(outbox))).all()) == 1


async def test_failed_sends_make_the_report(db: Database, clock: FixedClock) -> None:
    account = await open_account(db)
    start = clock.now()
    blocked = await claim_send(
        db, channel="telegram", address="4242", kind="statement", account_id=account.id
    )
    ok = await claim_send(db, channel="sms", address=PHONE, kind="statement")
    clock.advance(hours=1)
    invalid = await claim_send(db, channel="sms", address="+15550000000", kind="reminder")
    unfinished = await claim_send(db, channel="sms", address=PHONE, kind="reminder")
    assert blocked and ok and invalid and unfinished
    await record_outcome(
        db, blocked.id, Delivery(ok=False, failure="blocked", detail="Forbidden: bot was blocked")
    )
    await record_outcome(db, ok.id, Delivery(ok=True, provider_ref="SM1"))
    await record_outcome(
        db, invalid.id, Delivery(ok=False, failure="invalid_address", detail="x" * 500)
    )
    clock.advance(hours=1)
    async with db.read() as conn:
        report = await failed_sends(conn, start, clock.now())
        first_hour = await failed_sends(conn, start, start + timedelta(hours=1))
        before = await failed_sends(conn, start - timedelta(days=1), start)
    assert [(f.id, f.kind, f.failure, f.account_id) for f in report] == [
        (blocked.id, "statement", "blocked", account.id),
        (invalid.id, "reminder", "invalid_address", None),
    ]
    assert report[0] == FailedSend(
        blocked.id,
        "telegram",
        "4242",
        "statement",
        account.id,
        "blocked",
        "Forbidden: bot was blocked",
        start,
        start + timedelta(hours=1),
    )
    assert report[1].detail == "x" * 300  # the provider's words, cut to the column
    assert [f.id for f in first_hour] == [blocked.id] and before == []
    with pytest.raises(ValidationError, match="end must come after"):
        async with db.read() as conn:
            await failed_sends(conn, start, start)


async def test_outcomes_are_recorded_once(db: Database) -> None:
    send = await claim_send(db, channel="sms", address=PHONE, kind="receipt")
    assert send is not None
    await record_outcome(db, send.id, Delivery(ok=True, provider_ref="SM9"))
    await record_outcome(db, send.id, Delivery(ok=True, provider_ref="SM9"))  # a retry: same
    with pytest.raises(InvalidState, match=f"send {send.id} already has its outcome"):
        await record_outcome(db, send.id, Delivery(ok=False, failure="blocked"))
    with pytest.raises(NotFound, match="no outbox send 999"):
        await record_outcome(db, 999, Delivery(ok=True))
    with pytest.raises(ValidationError, match="'lost' is not a delivery failure"):
        await record_outcome(db, send.id, Delivery(ok=False, failure="lost"))
    async with db.read() as conn:
        [row] = (await conn.execute(select(outbox))).all()
    assert (row.status, row.provider_ref) == ("sent", "SM9")


async def test_bad_sends_are_refused_and_nothing_is_recorded(db: Database) -> None:
    with pytest.raises(ValidationError, match="not a message kind"):
        await claim_send(db, channel="sms", address=PHONE, kind="")
    with pytest.raises(ValidationError, match="dedupe key needs 1 to 200"):
        await claim_send(db, channel="sms", address=PHONE, kind="receipt", dedupe_key="k" * 201)
    with pytest.raises(ValidationError, match="not a phone number"):
        await claim_send(db, channel="sms", address="nobody", kind="receipt")
    with pytest.raises(NotFound, match="no customer account with id 424242"):
        await claim_send(db, channel="sms", address=PHONE, kind="receipt", account_id=424242)
    async with db.read() as conn:
        assert (await conn.execute(select(outbox))).all() == []
