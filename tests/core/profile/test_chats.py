"""Chat links: which Telegram chats and SMS numbers reach which accounts (AR-033)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from core.ledger.tables import chat_link
from core.profile import accounts_for_chat, link_chat, unlink_chat
from tests.core.helpers import ADMIN, CLERK
from tests.core.profile.common import counts, last_audit, person


async def test_one_phone_reaches_a_familys_accounts_until_unlinked(
    db: Database, clock: FixedClock
) -> None:
    mother, son = await person(db, "Reyes", "Luz"), await person(db, "Reyes", "Tomas")
    for account in (mother, son):
        await link_chat(
            db, ADMIN, account_id=account.id, channel="sms", address="+52 (55) 1234-5678"
        )
    await link_chat(db, ADMIN, account_id=son.id, channel="telegram", address="4242")
    async with db.read() as conn:
        assert await accounts_for_chat(conn, "sms", "+525512345678") == [mother.id, son.id]
        assert await accounts_for_chat(conn, "telegram", " 4242 ") == [son.id]
        assert await accounts_for_chat(conn, "telegram", "4243") == []
    clock.advance(hours=1)
    await unlink_chat(db, ADMIN, account_id=mother.id, channel="sms", address="+525512345678")
    async with db.read() as conn:
        assert await accounts_for_chat(conn, "sms", "+525512345678") == [son.id]
    await link_chat(db, ADMIN, account_id=mother.id, channel="sms", address="+525512345678")
    async with db.read() as conn:  # oldest link first
        assert await accounts_for_chat(conn, "sms", "+525512345678") == [son.id, mother.id]
        rows = (
            await conn.execute(
                select(chat_link.c.linked_at, chat_link.c.unlinked_at)
                .where(chat_link.c.account_id == mother.id)
                .order_by(chat_link.c.id)
            )
        ).all()
    assert [r.unlinked_at is not None for r in rows] == [True, False]
    assert rows[0].unlinked_at is not None and rows[0].unlinked_at > rows[0].linked_at
    raw, detail = await last_audit(db, "customer.chat_link")
    assert detail["channel"] == "sms" and "5512345678" not in raw


async def test_a_link_is_verified_once_the_person_proves_who_they_are(db: Database) -> None:
    account = await person(db, "Haddad")
    first = await link_chat(db, ADMIN, account_id=account.id, channel="telegram", address="-1001")
    again = await link_chat(
        db, ADMIN, account_id=account.id, channel="telegram", address="-1001", verified=True
    )
    async with db.read() as conn:
        verified = (
            await conn.execute(select(chat_link.c.verified_at).where(chat_link.c.id == first))
        ).scalar_one()
    assert again == first and verified is not None
    _, detail = await last_audit(db, "customer.chat_verify")
    assert detail["link_id"] == first
    before = await counts(db)
    for verified_again in (True, False):
        with pytest.raises(InvalidState, match="already linked"):
            await link_chat(
                db,
                ADMIN,
                account_id=account.id,
                channel="telegram",
                address="-1001",
                verified=verified_again,
            )
    assert await counts(db) == before


@pytest.mark.parametrize(
    ("channel", "address", "message"),
    [
        ("email", "a@b.co", "'email' is not a chat channel"),
        ("telegram", "@ana", "'@ana' is not a Telegram chat id"),
        ("telegram", "", "is not a Telegram chat id"),
        ("sms", "555-0100", "not a phone number in international form"),
    ],
)
async def test_bad_chat_addresses_are_refused_and_nothing_written(
    db: Database, channel: str, address: str, message: str
) -> None:
    account = await person(db, "Kim")
    before = await counts(db)
    with pytest.raises(ValidationError, match=message):
        await link_chat(db, ADMIN, account_id=account.id, channel=channel, address=address)
    assert await counts(db) == before
    async with db.read() as conn:
        with pytest.raises(ValidationError, match=message):
            await accounts_for_chat(conn, channel, address)


async def test_links_need_an_account_the_permission_and_a_link_to_end(db: Database) -> None:
    north = await person(db, "Berg", location="north")
    with pytest.raises(NotFound):
        await link_chat(db, ADMIN, account_id=999, channel="telegram", address="7")
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await link_chat(db, CLERK, account_id=north.id, channel="telegram", address="7")
    before = await counts(db)
    with pytest.raises(NotFound, match="that telegram chat is not linked"):
        await unlink_chat(db, ADMIN, account_id=north.id, channel="telegram", address="7")
    assert await counts(db) == before
