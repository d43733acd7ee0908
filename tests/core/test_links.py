"""One-time link codes: staff issue one, the patient's chat redeems it once, within
72 hours; only a hash of it is ever stored."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.db import Database
from core.db.audit import audit_log
from core.errors import InvalidState, PermissionDenied, ValidationError
from core.ledger.tables import chat_link
from core.links import CODE, LinkCodeRefused, issue_link_code, link_code, redeem_link_code
from core.profile import accounts_for_chat, link_chat
from tests.core.helpers import ADMIN, CLERK, open_account


async def test_a_code_links_the_chat_unverified(db: Database, clock: FixedClock) -> None:
    account = await open_account(db)
    issued = await issue_link_code(db, ADMIN, account_id=account.id)
    assert CODE.match(issued.code) and 10 <= len(issued.code) <= 12
    assert (issued.expires_at - clock.now()).total_seconds() == 72 * 3600

    linked = await redeem_link_code(db, code=issued.code, channel="telegram", address="4242")
    assert linked == account.id
    async with db.read() as conn:
        assert await accounts_for_chat(conn, "telegram", "4242") == [account.id]
        [link] = (await conn.execute(select(chat_link))).all()
        [row] = (await conn.execute(select(link_code))).all()
        trail = " ".join(str(r) for r in (await conn.execute(select(audit_log))).all())
    assert link.verified_at is None  # the bot still asks for the date of birth
    assert row.used_by_channel == "telegram" and row.used_at == clock.now()
    assert issued.code not in str(tuple(row)) and issued.code not in trail
    assert "4242" not in trail


async def test_a_code_works_once(db: Database) -> None:
    account = await open_account(db)
    issued = await issue_link_code(db, ADMIN, account_id=account.id)
    await redeem_link_code(db, code=issued.code, channel="telegram", address="4242")
    # The same chat sending it again (a retried /start) gets the same answer.
    again = await redeem_link_code(db, code=f" {issued.code} ", channel="telegram", address="4242")
    assert again == account.id
    with pytest.raises(LinkCodeRefused, match="already been used") as refused:
        await redeem_link_code(db, code=issued.code, channel="telegram", address="777")
    assert refused.value.reason == "used"
    async with db.read() as conn:
        assert await accounts_for_chat(conn, "telegram", "777") == []


async def test_a_code_expires_after_72_hours(db: Database, clock: FixedClock) -> None:
    account = await open_account(db)
    first = await issue_link_code(db, ADMIN, account_id=account.id)
    second = await issue_link_code(db, ADMIN, account_id=account.id)
    clock.advance(hours=71, minutes=59)
    assert await redeem_link_code(db, code=first.code, channel="sms", address="+15551234567")
    clock.advance(minutes=1)
    with pytest.raises(LinkCodeRefused, match="expired") as refused:
        await redeem_link_code(db, code=second.code, channel="sms", address="+15550000000")
    assert refused.value.reason == "expired"


async def test_unknown_codes_and_bad_addresses_are_refused(db: Database) -> None:
    account = await open_account(db)
    issued = await issue_link_code(db, ADMIN, account_id=account.id)
    for code in ("nonsense-code", "!!", "", issued.code.upper() + "x"):
        with pytest.raises(LinkCodeRefused, match="not valid") as refused:
            await redeem_link_code(db, code=code, channel="telegram", address="1")
        assert refused.value.reason == "unknown"
    with pytest.raises(ValidationError, match="not a Telegram chat id"):
        await redeem_link_code(db, code=issued.code, channel="telegram", address="me")
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await issue_link_code(db, CLERK, account_id=account.id)
    assert isinstance(refused.value, InvalidState)


async def test_a_chat_already_linked_uses_up_the_code(db: Database) -> None:
    account = await open_account(db)
    await link_chat(db, ADMIN, account_id=account.id, channel="telegram", address="4242")
    issued = await issue_link_code(db, ADMIN, account_id=account.id)
    assert await redeem_link_code(db, code=issued.code, channel="telegram", address="4242")
    async with db.read() as conn:
        assert len((await conn.execute(select(chat_link))).all()) == 1
    with pytest.raises(LinkCodeRefused):
        await redeem_link_code(db, code=issued.code, channel="telegram", address="5")


async def test_two_chats_racing_for_one_code(db: Database) -> None:
    account = await open_account(db)
    issued = await issue_link_code(db, ADMIN, account_id=account.id)
    results = await asyncio.gather(
        redeem_link_code(db, code=issued.code, channel="telegram", address="1001"),
        redeem_link_code(db, code=issued.code, channel="telegram", address="1002"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["LinkCodeRefused", "int"]
    async with db.read() as conn:
        assert len((await conn.execute(select(chat_link))).all()) == 1
