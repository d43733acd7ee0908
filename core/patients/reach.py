"""Which chat a message about an account goes to, unasked (issue 6: plan notices,
statements).

The same rule as dunning's (:mod:`core.dunning.reach`), for one account at a time: the
message goes to the responsible party (the guarantor when there is one) on a Telegram
chat linked to them unless it opted out, else by SMS to a linked number or the phone
on file when that number opted in (:func:`core.customers.may_contact`). Whether the
chat is *verified* decides what the message may say: amounts and dates only to a chat
whose person proved who they are; to any other, only that there is something to see.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.customers import may_contact
from core.ledger.tables import chat_link, customer_account, customer_contact


@dataclass(frozen=True, slots=True)
class Reach:
    """Where to send: the channel, the address, whether the chat is verified, and the
    language of the person who reads it."""

    channel: str
    address: str
    verified: bool
    locale: str
    recipient_id: int


async def _link(conn: AsyncConnection, account_id: int, channel: str) -> tuple[str, bool] | None:
    row = (
        await conn.execute(
            select(chat_link.c.address, chat_link.c.verified_at)
            .where(
                chat_link.c.account_id == account_id,
                chat_link.c.channel == channel,
                chat_link.c.unlinked_at.is_(None),
            )
            .order_by(chat_link.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (row.address, row.verified_at is not None)


async def _phone_on_file(conn: AsyncConnection, account_id: int) -> str | None:
    found = await conn.execute(
        select(customer_contact.c.normalized)
        .where(customer_contact.c.account_id == account_id, customer_contact.c.kind == "phone")
        .order_by(customer_contact.c.is_primary.desc(), customer_contact.c.id)
        .limit(1)
    )
    return found.scalar()


async def reach(conn: AsyncConnection, account_id: int) -> Reach | None:
    """The chat to message about ``account_id`` (see the module docstring); None when
    no channel may carry a message."""
    row = (
        await conn.execute(
            select(customer_account.c.guarantor_id).where(customer_account.c.id == account_id)
        )
    ).first()
    if row is None:
        return None
    recipient = row.guarantor_id or account_id
    language = (
        await conn.execute(
            select(customer_account.c.language).where(customer_account.c.id == recipient)
        )
    ).scalar() or "en"
    telegram = await _link(conn, recipient, "telegram")
    if telegram is not None and await may_contact(conn, "telegram", telegram[0]):
        return Reach("telegram", telegram[0], telegram[1], language, recipient)
    sms = await _link(conn, recipient, "sms")
    number = sms[0] if sms is not None else await _phone_on_file(conn, recipient)
    if number is None or not await may_contact(conn, "sms", number):
        return None
    verified = sms is not None and sms[1]
    return Reach("sms", number, verified, language, recipient)
