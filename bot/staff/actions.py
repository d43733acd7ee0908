"""Buttons: View, payment Confirm/Cancel, Approve/Reject, Apply, account-view paging,
a worklist's Done and Snooze.

A button's value is an id (an account id, a pending-payment token); what it stands
for is read again on the server, with the permissions of whoever pressed it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond

from bot.staff import (
    approvals,
    cash,
    collect,
    details,
    ids,
    invoices,
    lookup,
    modals,
    money,
    refunds,
    rejects,
    split,
    workspace,
)
from bot.staff.turn import Turn, answering
from bot.staff.words import day
from core.auth import Actor

Action = dict[str, Any]
Pressed = Callable[[Turn, Actor, Action], Awaitable[None]]


def value(action: Action) -> str:
    return str(action.get("value", ""))


def account_id(value: str) -> int:
    return ids.id_in(value, "an account")


async def account_date(turn: Turn, staff: Actor, action: Action) -> None:
    where = lookup.Where.read(str(action.get("block_id", "")))
    picked = day(str(action.get("selected_date") or ""))
    await lookup.move(turn, staff, replace(where, page=0, before=picked))


BUTTONS: dict[str | re.Pattern[str], Pressed] = {
    ids.VIEW_ACCOUNT: lambda t, s, a: lookup.view_account(t, s, account_id(value(a))),
    ids.CONFIRM_PAYMENT: lambda t, s, a: money.confirm(t, s, value(a)),
    ids.CANCEL_PAYMENT: lambda t, s, a: money.cancel(t, s, value(a)),
    ids.APPROVE_REQUEST: lambda t, s, a: approvals.approve_pressed(t, s, value(a)),
    ids.REJECT_REQUEST: lambda t, s, a: approvals.reject_pressed(t, s, value(a)),
    ids.RETRY_CARD_REFUND: lambda t, s, a: approvals.retry_pressed(t, s, value(a)),
    ids.APPLY_UNAPPLIED: lambda t, s, a: cash.apply(t, s, value(a)),
    ids.FOLLOW_UP_DONE: lambda t, s, a: collect.done_pressed(t, s, value(a)),
    ids.FOLLOW_UP_SNOOZE: lambda t, s, a: collect.snooze_pressed(t, s, value(a)),
    ids.IMPORT_FIX: lambda t, s, a: rejects.fix_pressed(t, s, value(a)),
    ids.IMPORT_DISMISS: lambda t, s, a: rejects.dismiss_pressed(t, s, value(a)),
    re.compile(f"^({ids.ACCOUNT_NEWER}|{ids.ACCOUNT_OLDER}|{ids.ACCOUNT_KIND}[a-z]+)$"): (
        lambda t, s, a: lookup.move(t, s, lookup.Where.read(value(a)))
    ),
    ids.ACCOUNT_DATE: account_date,
    ids.ACCOUNT_INVOICE: invoices.picked,
    ids.ACCOUNT_ENTRY: invoices.entry_picked,
    ids.ENTRY_INVOICE: lambda t, s, a: invoices.invoice_pressed(t, s, value(a)),
    ids.ACCOUNT_CHARGE: lambda t, s, a: modals.charge_for(t, s, account_id(value(a))),
    ids.ACCOUNT_PAYMENT: lambda t, s, a: split.payment_for(t, s, account_id(value(a))),
    ids.ACCOUNT_WRITEOFF: lambda t, s, a: workspace.open_write_off(t, s, account_id(value(a))),
    ids.ACCOUNT_PAYLINK: lambda t, s, a: workspace.send_pay_link(t, s, account_id(value(a))),
    ids.ACCOUNT_LINK: lambda t, s, a: workspace.link_code(t, s, account_id(value(a))),
    ids.ADD_NOTE: lambda t, s, a: modals.open_note(t, s, account_id(value(a))),
    ids.ACCOUNT_DETAILS: lambda t, s, a: details.open_details(t, s, account_id(value(a))),
    ids.TRANSFER_CREDIT: lambda t, s, a: refunds.transfer_pressed(t, s, value(a)),
    ids.REFUND_ANYWAY: lambda t, s, a: refunds.anyway_pressed(t, s, value(a)),
}
"""Every button: what it runs once the presser is known as staff."""


def listener(pressed: Pressed) -> Callable[..., Awaitable[None]]:
    """The bolt listener for one kind of button: acknowledge, map the presser to a staff
    user, run ``pressed`` (bolt passes arguments by these parameter names)."""

    async def on_press(
        ack: AsyncAck,
        body: dict[str, Any],
        action: Action,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        async with answering(context, ack, respond, body) as turn:
            await pressed(turn, await turn.staff(), action)

    return on_press


def register(app: AsyncApp) -> None:
    for action_id, pressed in BUTTONS.items():
        app.action(action_id)(listener(pressed))
