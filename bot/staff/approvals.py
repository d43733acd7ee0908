"""``/ar writeoff`` and ``/ar refund``, and the Approve / Reject buttons they bring.

A request goes to core (``core.approvals``), which decides whether it posts at once (a
small balance within ``ARBOT_SMALL_BALANCE``) or waits. A waiting request is posted to
the approvals channel (``SLACK_APPROVALS_CHANNEL``, else the channel the command came
from) with Approve and Reject buttons whose value is the request id and nothing else:
whoever presses is checked by core, and the amounts are read again from the database.
The message is updated in place as the request is approved, escalated or rejected.
Reject asks for the reason in a modal (:mod:`bot.staff.views`).

The message is posted once and found again (:mod:`bot.staff.approval_messages`). An
approved refund is paid back to the card it came from (``core.approvals.payouts``).
"""

from __future__ import annotations

import logging

from bot.staff import ids
from bot.staff.approval_messages import post_request, update_message
from bot.staff.forms import channel_of, opening
from bot.staff.money import balance_of, find_account
from bot.staff.parse import ReverseWriteOff, WriteOff
from bot.staff.services import Services
from bot.staff.turn import Turn
from bot.staff.words import ParseError
from core.approvals import (
    AlreadyDecided,
    Outcome,
    Request,
    RequestKind,
    Status,
    approve,
    load_request,
    request_reversal_of_write_off,
    request_write_off,
)
from core.approvals.model import may_decide
from core.approvals.payouts import Payout, pay_out
from core.auth import Actor
from core.clock import today
from core.ledger.accounts import Account, load_account
from core.money import Money, parse_money

log = logging.getLogger(__name__)


def request_id(value: str) -> int:
    return ids.id_in(value, "an approval request")


def tolerance(services: Services) -> Money | None:
    """The clinic's small-balance tolerance (``ARBOT_SMALL_BALANCE``); ``None`` if zero."""
    small = parse_money(services.settings.small_balance or "0", services.settings.currency)
    return small if small.minor > 0 else None


async def write_off(turn: Turn, staff: Actor, cmd: WriteOff) -> None:
    approvals_channel(turn)
    account = await find_account(turn.db, cmd.account)
    small = tolerance(turn.services)
    request = await request_write_off(
        turn.db,
        staff,
        account_id=account.id,
        amount=cmd.amount,
        reason=cmd.reason,
        note=cmd.note,
        key=turn.key("writeoff"),
        tolerance=small,
        on=today(turn.services.clock),
    )
    if request.status is Status.POSTED:
        await written_off(turn, request, account)
        return
    await send_for_approval(turn, request, account)


async def written_off(turn: Turn, request: Request, account: Account) -> None:
    """A write-off within the small-balance tolerance, posted at once (AR-091)."""
    await turn.reply(
        "written_off", request=request, account=account, tolerance=tolerance(turn.services),
        balance=await balance_of(turn.db, account),
    )  # fmt: skip


async def reverse_write_off(turn: Turn, staff: Actor, cmd: ReverseWriteOff) -> None:
    approvals_channel(turn)
    request = await request_reversal_of_write_off(
        turn.db,
        staff,
        entry_id=cmd.entry_id,
        reason=cmd.reason,
        note=cmd.note,
        key=turn.key("writeoff-reversal"),
    )
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=request.account_id)
    await send_for_approval(turn, request, account)


def approvals_channel(turn: Turn, asked_in: str | None = None) -> str:
    """Where requests go: ``SLACK_APPROVALS_CHANNEL``, else the channel asked in (that of
    the command or button, or ``asked_in`` for a modal). Never a direct message: no
    approver would see it there, and the requester cannot approve their own request
    (review finding). Checked before the request is made."""
    asked_in = asked_in or channel_of(turn.body)
    channel = turn.services.settings.slack_approvals_channel or asked_in or ""
    if not channel or channel.startswith("D"):
        raise ParseError(
            "approvers cannot see a direct message: ask in a channel they read, or have "
            "SLACK_APPROVALS_CHANNEL set"
        )
    return channel


async def send_for_approval(
    turn: Turn,
    request: Request,
    account: Account,
    *,
    replace: bool = False,
    channel: str | None = None,
) -> None:
    """Post the request with its buttons in ``channel`` (else :func:`approvals_channel`),
    once (core hands out the message slot), and tell the requester where it went, or
    that it will be posted later (``replace``: in place of the message whose button
    asked for it)."""
    channel = request.message_channel or channel or approvals_channel(turn)
    try:
        posted = await post_request(turn.services, turn.client, request, channel)
    except Exception:
        log.exception("could not post approval request %s to %s", request.id, channel)
        await turn.reply(
            "approval_unsent", replace=replace, request=request, account=account, channel=channel
        )
        return
    await turn.reply(
        "approval_sent", replace=replace, request=request, account=account, channel=channel,
        posted=posted,
    )  # fmt: skip


async def approve_pressed(turn: Turn, staff: Actor, value: str) -> None:
    """Approve: core posts it (or escalates it, or refuses and the presser is told why)."""
    try:
        decision = await approve(turn.db, staff, request_id(value), on=today(turn.services.clock))
    except AlreadyDecided as exc:
        await update_message(turn.services, turn.client, exc.request, turn.body)
        raise
    if decision.outcome is Outcome.APPROVED and decision.request.kind is RequestKind.REFUND:
        await card_refund(turn, staff, decision.request)
    await update_message(turn.services, turn.client, decision.request, turn.body)
    if decision.outcome is Outcome.ESCALATED:
        await turn.reply("escalated", request=decision.request)


async def card_refund(turn: Turn, staff: Actor, request: Request) -> Payout | None:
    """Pay an approved refund's card shares back through the gateway (AR-058); ``None``
    when no gateway is configured (the refund stays payable)."""
    if turn.services.gateway is None:
        return None
    return await pay_out(turn.db, turn.services.gateway, staff, request.id)


async def retry_pressed(turn: Turn, staff: Actor, value: str) -> None:
    """ "Retry card refund": ask the gateway again for what is still to go back."""
    async with turn.db.read() as conn:
        request = await load_request(conn, request_id(value))
    payout = await card_refund(turn, staff, request)
    await update_message(turn.services, turn.client, request, turn.body)
    if payout is None or payout.unavailable:
        await turn.reply("card_refund_waiting", request=request, configured=payout is not None)


async def reject_pressed(turn: Turn, staff: Actor, value: str) -> None:
    """Reject: ask for the reason in a modal; its submission rejects (``bot.staff.views``)."""
    async with opening(turn, "Reject request") as form:
        request, account = await decidable(turn, staff, request_id(value))
        await form.show(
            "reject_modal", request=request, account=account, metadata=form.about(request.id)
        )


async def decidable(turn: Turn, staff: Actor, request_id: int) -> tuple[Request, Account]:
    """The request and its account, once ``staff`` may decide it (as core checks) and it
    is still pending; a decided request's message is brought up to date."""
    async with turn.db.read() as conn:
        request = await load_request(conn, request_id)
        account = await load_account(conn, account_id=request.account_id)
    may_decide(staff, request, account.location)
    if request.status is not Status.PENDING:
        await update_message(turn.services, turn.client, request, turn.body)
        raise AlreadyDecided(request)
    return request, account
