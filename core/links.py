"""One-time link codes: how a patient's chat comes to reach their account.

Staff issue a code for an account (``/ar link A0000123`` in Slack) and hand it to the
patient, who sends it to the bot (Telegram's ``/start <code>``). Redeeming it links
that chat to the account, unverified: the bot still asks for the date of birth before
it shows anything (DESIGN: channels). A code works once, for 72 hours. Only a SHA-256
of it is stored, so a copy of the database cannot be used to link anyone's chat.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, select

from core.auth import Actor, Permission, require
from core.db import Database, inserted_id
from core.db.metadata import UtcDateTime, metadata
from core.errors import InvalidState
from core.ledger.accounts import load_account
from core.ledger.items import lock_account
from core.profile.chats import accounts_for_chat, chat_address, link_in

LINK_CODE_TTL = timedelta(hours=72)
CODE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
REDEEMER = Actor("patient", "link-code", "patient with a link code")
"""Who links the chat: the code, issued by staff, is the authority (not a permission)."""

link_code = Table(
    "link_code",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Column("used_by_channel", String(10)),
    Column("used_by_address", String(64)),
    Index("ix_link_code_account", "account_id"),
)


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """The code to give the patient (shown once, never stored) and when it stops working."""

    code: str
    account_id: int
    expires_at: datetime


REFUSALS = {
    "unknown": "that link code is not valid; check it or ask the clinic",
    "used": "that link code has already been used; ask the clinic for a new one",
    "expired": "that link code has expired (codes last 72 hours); ask the clinic for a new one",
}


class LinkCodeRefused(InvalidState):
    """A code that cannot link: ``reason`` is ``unknown``, ``expired`` or ``used``; the
    message is the plain sentence in :data:`REFUSALS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSALS[reason])
        self.reason = reason


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def issue_link_code(db: Database, actor: Actor, *, account_id: int) -> IssuedCode:
    """A new one-time code for the account, valid for 72 hours. Needs ``manage_accounts``
    at the account's location: a code lets a chat reach the account, as linking one
    directly does (:func:`core.profile.link_chat`)."""
    async with db.transaction() as tx:
        account = await load_account(tx.conn, account_id=account_id)
        require(actor, Permission.MANAGE_ACCOUNTS, account.location)
        code = secrets.token_urlsafe(8)  # 11 characters, 64 random bits
        now = tx.db.clock.now()
        code_id = inserted_id(
            await tx.conn.execute(
                link_code.insert().values(
                    code_hash=code_hash(code),
                    account_id=account.id,
                    created_by=actor.label,
                    created_at=now,
                    expires_at=now + LINK_CODE_TTL,
                )
            )
        )
        tx.audit(
            actor.label, "staff", "customer.link_code", f"account {account.number}", id=code_id
        )
    return IssuedCode(code, account.id, now + LINK_CODE_TTL)


async def redeem_link_code(db: Database, *, code: str, channel: str, address: str) -> int:
    """Link the chat at ``address`` to the code's account, unverified; returns the account
    id. The same chat sending the same code again gets the same answer (a retried
    ``/start``); any other use of a used code, an expired or an unknown one is refused
    with :class:`LinkCodeRefused`."""
    normal = chat_address(channel, address)
    cleaned = code.strip()
    if not CODE.match(cleaned):
        raise LinkCodeRefused("unknown")
    async with db.transaction() as tx:
        row = (
            await tx.conn.execute(
                select(link_code).where(link_code.c.code_hash == code_hash(cleaned))
            )
        ).first()
        if row is None:
            raise LinkCodeRefused("unknown")
        if row.used_at is not None:
            if (row.used_by_channel, row.used_by_address) == (channel, normal):
                return int(row.account_id)
            raise LinkCodeRefused("used")
        now = tx.db.clock.now()
        if row.expires_at <= now:
            raise LinkCodeRefused("expired")
        claimed = await tx.conn.execute(
            link_code.update()
            .where(link_code.c.id == row.id, link_code.c.used_at.is_(None))
            .values(used_at=now, used_by_channel=channel, used_by_address=normal)
        )
        if claimed.rowcount != 1:  # another chat claimed it a moment ago
            raise LinkCodeRefused("used")
        await lock_account(tx, row.account_id)
        account = await load_account(tx.conn, account_id=row.account_id)
        if account.id not in await accounts_for_chat(tx.conn, channel, normal):
            await link_in(tx, REDEEMER, account, channel, normal, verified=False)
        tx.audit(
            REDEEMER.label,
            "patient",
            "customer.link_code_used",
            f"account {account.number}",
            id=row.id,
            channel=channel,
        )
    return account.id
