"""Chat links: which Telegram chats and SMS numbers reach an account.

The patient bot finds the accounts of the chat it is talking to here, and shows
nothing until the person is verified (DESIGN: channels). One chat may reach several
accounts (a parent and their children); a link that ends keeps its row, with the
time it ended.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.customers import phone_number
from core.db import Database, Tx, inserted_id
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.accounts import Account
from core.ledger.tables import chat_link
from core.profile.common import account_to_change, source_of

CHAT_CHANNELS = ("telegram", "sms")
TELEGRAM_CHAT = re.compile(r"^-?[1-9]\d{0,19}$")


def chat_address(channel: str, address: str) -> str:
    """A Telegram chat id (digits, as text) or an SMS number in E.164."""
    if channel not in CHAT_CHANNELS:
        raise ValidationError(f"{channel!r} is not a chat channel; use telegram or sms")
    if channel == "sms":
        return phone_number(address)
    cleaned = address.strip()
    if not TELEGRAM_CHAT.match(cleaned):
        raise ValidationError(f"{address!r} is not a Telegram chat id")
    return cleaned


async def link_chat(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    channel: str,
    address: str,
    verified: bool = False,
) -> int:
    """Link a chat to an account; ``verified`` when the person proved who they are (date
    of birth) in that chat, which also marks an unverified link to the account verified.
    The audit record names the channel, not the number."""
    normal = chat_address(channel, address)
    async with db.transaction() as tx:
        account = await account_to_change(tx, actor, account_id)
        return await link_in(tx, actor, account, channel, normal, verified=verified)


async def link_in(
    tx: Tx, actor: Actor, account: Account, channel: str, normal: str, *, verified: bool
) -> int:
    """Inside ``tx``, with the account locked and the right to link it already settled
    (a staff permission, or a link code staff issued): link the chat at ``normal``."""
    now = tx.db.clock.now()
    active = (
        await tx.conn.execute(
            select(chat_link.c.id, chat_link.c.verified_at).where(
                chat_link.c.account_id == account.id,
                chat_link.c.channel == channel,
                chat_link.c.address == normal,
                chat_link.c.unlinked_at.is_(None),
            )
        )
    ).first()
    if active is not None and (active.verified_at is not None or not verified):
        raise InvalidState(f"that {channel} chat is already linked to {account.number}")
    if active is not None:
        link_id = int(active.id)
        await tx.conn.execute(
            chat_link.update().where(chat_link.c.id == link_id).values(verified_at=now)
        )
    else:
        link_id = await _insert_link(tx, account.id, channel, normal, actor, verified)
    tx.audit(
        actor.label,
        source_of(actor),
        "customer.chat_verify" if active is not None else "customer.chat_link",
        f"account {account.number}",
        channel=channel,
        link_id=link_id,
        verified=verified,
    )
    return link_id


async def _insert_link(
    tx: Tx, account_id: int, channel: str, address: str, actor: Actor, verified: bool
) -> int:
    now = tx.db.clock.now()
    try:
        return inserted_id(
            await tx.conn.execute(
                chat_link.insert().values(
                    account_id=account_id,
                    channel=channel,
                    address=address,
                    linked_at=now,
                    linked_by=actor.label,
                    verified_at=now if verified else None,
                )
            )
        )
    except IntegrityError as exc:  # another request linked it at the same moment
        raise InvalidState(f"that {channel} chat was just linked to the account") from exc


async def unlink_chat(
    db: Database, actor: Actor, *, account_id: int, channel: str, address: str
) -> None:
    """End the chat's link to the account; the row stays, with the time it ended."""
    normal = chat_address(channel, address)
    async with db.transaction() as tx:
        account = await account_to_change(tx, actor, account_id)
        ended = await tx.conn.execute(
            chat_link.update()
            .where(
                chat_link.c.account_id == account.id,
                chat_link.c.channel == channel,
                chat_link.c.address == normal,
                chat_link.c.unlinked_at.is_(None),
            )
            .values(unlinked_at=tx.db.clock.now())
        )
        if ended.rowcount == 0:
            raise NotFound(f"that {channel} chat is not linked to {account.number}")
        tx.audit(
            actor.label,
            source_of(actor),
            "customer.chat_unlink",
            f"account {account.number}",
            channel=channel,
        )


async def accounts_for_chat(conn: AsyncConnection, channel: str, address: str) -> list[int]:
    """The accounts a chat is linked to now, oldest link first."""
    normal = chat_address(channel, address)
    rows = await conn.execute(
        select(chat_link.c.account_id)
        .where(
            chat_link.c.channel == channel,
            chat_link.c.address == normal,
            chat_link.c.unlinked_at.is_(None),
        )
        .order_by(chat_link.c.id)
    )
    return [r[0] for r in rows]
