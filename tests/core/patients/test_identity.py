"""Identity in a patient chat (AR-131, issue 5 "Identity before anything is disclosed"):
the date of birth verifies the chat, five wrong answers lock it for 30 minutes, and a
verified guarantor sees the accounts they guarantee -- nothing else."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.customers import set_status
from core.db import Database
from core.db.audit import audit_log
from core.errors import ValidationError
from core.ledger.tables import chat_link
from core.links import issue_link_code, redeem_link_code
from core.patients.identity import (
    LOCK_FOR,
    MAX_FAILURES,
    BirthDateWrong,
    IdentityLocked,
    accounts_on_file,
    chat_identity,
    locked_until,
    unverified_accounts,
    verified_accounts,
    verify_birth_date,
)
from core.profile.chats import link_chat
from core.profile.relationships import relate
from tests.core.helpers import ADMIN
from tests.core.profile.common import on_day, person

PHONE = "+15551234567"
BORN = date(1980, 4, 12)
KID_BORN = date(2012, 9, 3)
WRONG = date(1980, 12, 4)


async def on_file(db: Database, phone: str = PHONE) -> list[int]:
    async with db.read() as conn:
        return await accounts_on_file(conn, phone)


async def verified(db: Database, channel: str = "sms", address: str = PHONE) -> list[int]:
    async with db.read() as conn:
        return await verified_accounts(conn, channel, address, on_day(db))


async def sms_verify(db: Database, born: date, address: str = PHONE) -> list[int]:
    return await verify_birth_date(
        db, channel="sms", address=address, born=born, candidates=await on_file(db, address)
    )


async def trail(db: Database) -> str:
    async with db.read() as conn:
        return " ".join(str(tuple(r)) for r in await conn.execute(select(audit_log)))


async def test_accounts_on_file_match_the_normalised_phone(db: Database) -> None:
    ana = await person(db, "López", phone="+1 (555) 123-4567", date_of_birth=BORN)
    leo = await person(db, "López", "Leo", phone="+1.555.123.4567", date_of_birth=KID_BORN)
    await person(db, "Other", phone="+15559999999")
    closed = await person(db, "Gone", phone=PHONE)
    await set_status(
        db, ADMIN, account_id=closed.id, status="inactive", reason="moved", on=on_day(db)
    )
    assert await on_file(db, "+1 555 123 4567") == [ana.id, leo.id]
    assert await on_file(db, "+15550000000") == []
    with pytest.raises(ValidationError, match="not a phone number"):
        await on_file(db, "call me")


async def test_the_right_birth_date_verifies_the_sms_chat(db: Database) -> None:
    ana = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    assert await verified(db) == []
    assert await sms_verify(db, BORN) == [ana.id]
    assert await verified(db) == [ana.id]
    async with db.read() as conn:
        [link] = (await conn.execute(select(chat_link))).all()
    assert link.verified_at is not None and link.address == PHONE
    # Verifying again (a second session) keeps the one link.
    assert await sms_verify(db, BORN) == [ana.id]
    audit = await trail(db)
    assert "patient.identity_verified" in audit
    assert "5551234567" not in audit and "1980" not in audit and BORN.isoformat() not in audit


async def test_only_the_accounts_with_that_birth_date_are_verified(db: Database) -> None:
    """A mother and her adult son share a phone; each sees only their own account."""
    ana = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    leo = await person(db, "López", "Leo", phone=PHONE, date_of_birth=KID_BORN)
    await person(db, "Nobody", phone=PHONE)  # no birth date on file: never matches
    assert await sms_verify(db, KID_BORN) == [leo.id]
    assert ana.id not in await verified(db)
    assert await sms_verify(db, BORN) == [leo.id, ana.id]


async def test_a_telegram_link_code_is_verified_by_the_birth_date(db: Database) -> None:
    ana = await person(db, "López", date_of_birth=BORN)
    code = await issue_link_code(db, ADMIN, account_id=ana.id)
    await redeem_link_code(db, code=code.code, channel="telegram", address="4242")
    async with db.read() as conn:
        candidates = await unverified_accounts(conn, "telegram", "4242")
    assert candidates == [ana.id]
    assert await verified(db, "telegram", "4242") == []  # linked, but nothing disclosed yet
    with pytest.raises(BirthDateWrong):
        await verify_birth_date(
            db, channel="telegram", address="4242", born=WRONG, candidates=candidates
        )
    got = await verify_birth_date(
        db, channel="telegram", address="4242", born=BORN, candidates=candidates
    )
    assert got == [ana.id]
    async with db.read() as conn:
        assert await unverified_accounts(conn, "telegram", "4242") == []
        assert len((await conn.execute(select(chat_link))).all()) == 1  # the link, verified


async def test_five_wrong_answers_lock_the_chat_for_30_minutes(
    db: Database, clock: FixedClock
) -> None:
    ana = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    for left in (4, 3, 2, 1):
        with pytest.raises(BirthDateWrong, match=f"{left} more tr") as wrong:
            await sms_verify(db, WRONG)
        assert wrong.value.attempts_left == left
    with pytest.raises(IdentityLocked, match="locked until 15:30 UTC") as locked:
        await sms_verify(db, WRONG)
    assert locked.value.first_time and locked.value.until == clock.now() + LOCK_FOR
    assert "patient.identity_locked" in await trail(db)
    clock.advance(minutes=29)
    # While locked even the right date is not checked, and staff are told only once.
    with pytest.raises(IdentityLocked) as again:
        await sms_verify(db, BORN)
    assert not again.value.first_time and again.value.until == locked.value.until
    assert await verified(db) == []
    async with db.read() as conn:
        assert await locked_until(conn, "sms", PHONE, clock.now()) == locked.value.until
        assert await locked_until(conn, "sms", "+1 555 123 4567") == locked.value.until
    clock.advance(minutes=2)
    async with db.read() as conn:
        assert await locked_until(conn, "sms", PHONE, clock.now()) is None
    with pytest.raises(BirthDateWrong) as fresh:  # a fresh set of tries after the lock
        await sms_verify(db, WRONG)
    assert fresh.value.attempts_left == MAX_FAILURES - 1
    assert await sms_verify(db, BORN) == [ana.id]


async def test_success_resets_the_count(db: Database) -> None:
    await person(db, "López", phone=PHONE, date_of_birth=BORN)
    for _ in range(3):
        with pytest.raises(BirthDateWrong):
            await sms_verify(db, WRONG)
    await sms_verify(db, BORN)
    with pytest.raises(BirthDateWrong) as wrong:
        await sms_verify(db, WRONG)
    assert wrong.value.attempts_left == 4
    async with db.read() as conn:
        [row] = (await conn.execute(select(chat_identity))).all()
    assert row.failures == 1 and str(BORN) not in str(tuple(row))


async def test_wrong_answers_at_the_same_moment_all_count(db: Database) -> None:
    await person(db, "López", phone=PHONE, date_of_birth=BORN)
    candidates = await on_file(db)
    other = Database(db.url, clock=db.clock)  # a second web process
    try:
        outcomes = await asyncio.gather(
            *(
                verify_birth_date(
                    d, channel="sms", address=PHONE, born=WRONG, candidates=candidates
                )
                for d in (db, other, db, other, db, other)
            ),
            return_exceptions=True,
        )
    finally:
        await other.dispose()
    wrong = sorted(o.attempts_left for o in outcomes if isinstance(o, BirthDateWrong))
    locks = [o for o in outcomes if isinstance(o, IdentityLocked)]
    assert wrong == [1, 2, 3, 4]
    assert sorted(lock.first_time for lock in locks) == [False, True]


async def test_a_guarantor_sees_every_account_they_guarantee(db: Database) -> None:
    mum = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    kid = await person(db, "López", "Leo", date_of_birth=KID_BORN)
    baby = await person(db, "López", "Mia", date_of_birth=date(2020, 1, 5))
    stranger = await person(db, "Other", phone="+15559999999", date_of_birth=BORN)
    for child in (baby, kid):
        await relate(
            db,
            ADMIN,
            account_id=child.id,
            related_account_id=mum.id,
            kind="guarantor",
            effective_from=on_day(db) - timedelta(days=30),
        )
    assert await sms_verify(db, BORN) == [mum.id, kid.id, baby.id]
    # The chat verified for the child as well: each account once, the same order.
    await link_chat(db, ADMIN, account_id=kid.id, channel="sms", address=PHONE, verified=True)
    assert await verified(db) == [mum.id, kid.id, baby.id]
    assert stranger.id not in await verified(db)
    assert await verified(db, "sms", "+15559999999") == []


async def test_bad_input_is_refused_and_changes_nothing(db: Database) -> None:
    ana = await person(db, "López", phone=PHONE, date_of_birth=BORN)
    with pytest.raises(ValidationError, match="no account to check"):
        await verify_birth_date(db, channel="sms", address=PHONE, born=BORN, candidates=[])
    with pytest.raises(ValidationError, match="not a Telegram chat id"):
        await verify_birth_date(
            db, channel="telegram", address="@ana", born=BORN, candidates=[ana.id]
        )
    with pytest.raises(ValidationError, match="not a chat channel"):
        await verify_birth_date(
            db, channel="email", address="a@b.c", born=BORN, candidates=[ana.id]
        )
    async with db.read() as conn:
        assert (await conn.execute(select(chat_identity))).all() == []
        assert (await conn.execute(select(chat_link))).all() == []
