"""``/ar refund`` and the question it may ask first (AR-058, AR-057).

When the patient's relatives owe on other accounts (same guarantor, or accounts this one
guarantees), core holds the refund as an offer instead of asking for it
(``core.approvals.offers``): the asker sees who owes, with a button per relative that
moves the credit there and one that asks for the refund anyway. The buttons carry only
the offer's token (and the relative's account id); what is moved, and how much, is
decided in core from the database. Without relatives who owe, the refund request goes
for approval at once, as a write-off does.
"""

from __future__ import annotations

from datetime import date
from typing import TypedDict

from bot.staff import ids
from bot.staff.approvals import approvals_channel, send_for_approval
from bot.staff.money import balance_of, find_account
from bot.staff.parse import Refund
from bot.staff.turn import Turn, request_digest
from core.approvals import offer_refund, refund_anyway, request_refund, transfer_instead
from core.auth import Actor
from core.clock import today
from core.ledger.accounts import load_account
from core.money import Money

SHOWN = 5
"""Relatives offered at most (the most owed first)."""


class _Asked(TypedDict):
    """What the refund asks for, the same to the offer and to the request."""

    account_id: int
    amount: Money
    reason: str
    note: str
    key: str
    on: date


async def refund(turn: Turn, staff: Actor, cmd: Refund) -> None:
    approvals_channel(turn)
    account = await find_account(turn.db, cmd.account)
    asked = _Asked(
        account_id=account.id,
        amount=cmd.amount,
        reason=cmd.reason,
        note=cmd.note,
        key=turn.key("refund"),
        on=today(turn.services.clock),
    )
    offered = await offer_refund(turn.db, staff, token=request_digest(turn.body), **asked)
    if offered is not None:
        await turn.reply("refund_offer", offer=offered, account=account, shown=SHOWN)
        return
    request = await request_refund(turn.db, staff, **asked)
    await send_for_approval(turn, request, account)


async def transfer_pressed(turn: Turn, staff: Actor, value: str) -> None:
    """ "Move to ...": core moves the credit; the offer is replaced by what was done."""
    token, _, relative = value.partition("/")
    on = today(turn.services.clock)
    moved = await transfer_instead(turn.db, staff, token, ids.id_in(relative, "an account"), on=on)
    await turn.reply(
        "credit_moved", replace=True, moved=moved,
        source_balance=await balance_of(turn.db, moved.source),
        target_balance=await balance_of(turn.db, moved.target),
    )  # fmt: skip


async def anyway_pressed(turn: Turn, staff: Actor, token: str) -> None:
    """ "Refund anyway": the refund request, sent for approval in place of the offer."""
    request = await refund_anyway(turn.db, staff, token)
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=request.account_id)
    await send_for_approval(turn, request, account, replace=True)
