"""A pay link that a staff member passes on to the patient (AR-017, AR-050).

Staff looking at an account can hand the patient a link to pay its balance through the
hosted payment page (``core.patients.paylinks``): the amount is worked out when the
patient opens it, so it never goes stale. A pay link names the chat its receipt goes
back to; here that is the patient's most recently verified chat with the bot, so the
patient hears that the payment arrived. An account with no verified chat gets no link:
a receipt sent anywhere else could tell a stranger about the account (DESIGN: nothing
is disclosed before the person is verified), so the patient first needs a link code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.auth import Actor, Permission
from core.db import Database
from core.errors import InvalidState
from core.ledger.accounts import Account
from core.ledger.tables import chat_link
from core.patients.paylinks import PayChoice, issue_pay_link
from core.services import account_for


@dataclass(frozen=True, slots=True)
class StaffPayLink:
    """The link's token (shown once, never stored) and the chat its receipt goes to."""

    token: str
    account: Account
    receipt_channel: str


async def pay_link_for(db: Database, actor: Actor, *, account_id: int) -> StaffPayLink:
    """A new link to pay the account's balance, for ``actor`` to pass on; needs
    ``record_payment`` at the account's location (it collects money). Refused when the
    patient has no verified chat for the receipt, or nothing is owed."""
    account = await account_for(db, actor, account_id, Permission.RECORD_PAYMENT)
    query = (
        select(chat_link.c.channel, chat_link.c.address)
        .where(
            chat_link.c.account_id == account_id,
            chat_link.c.unlinked_at.is_(None),
            chat_link.c.verified_at.is_not(None),
        )
        .order_by(chat_link.c.verified_at.desc(), chat_link.c.id.desc())
        .limit(1)
    )
    async with db.read() as conn:
        chat = (await conn.execute(query)).first()
    if chat is None:
        raise InvalidState(
            f"account {account.number} has no verified chat with the bot to send the "
            "receipt to; give the patient a link code first"
        )
    token = await issue_pay_link(
        db, account_id=account_id, choice=PayChoice.BALANCE, channel=chat.channel,
        address=chat.address,
    )  # fmt: skip
    async with db.transaction() as tx:
        tx.audit(actor.label, "staff", "paylink.issue", f"account {account.number}")
    return StaffPayLink(token, account, chat.channel)
