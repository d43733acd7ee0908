"""Buttons: "View" on a search result, Confirm and Cancel on a payment question.

A button's value is an id (an account id, a pending-payment token); what it stands
for is read again on the server, with the permissions of whoever pressed it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond

from bot.staff import approvals, cash, ids, lookup, money
from bot.staff.parse import ParseError, day
from bot.staff.turn import answering


def register(app: AsyncApp) -> None:
    app.action(ids.VIEW_ACCOUNT)(on_view_account)
    app.action(ids.CONFIRM_PAYMENT)(on_confirm_payment)
    app.action(ids.CANCEL_PAYMENT)(on_cancel_payment)
    app.action(ids.APPROVE_REQUEST)(on_approve_request)
    app.action(ids.REJECT_REQUEST)(on_reject_request)
    app.action(ids.APPLY_UNAPPLIED)(on_apply_unapplied)
    app.action(
        re.compile(f"^({ids.ACCOUNT_NEWER}|{ids.ACCOUNT_OLDER}|{ids.ACCOUNT_KIND}[a-z]+)$")
    )(on_account_move)
    app.action(ids.ACCOUNT_DATE)(on_account_date)
    app.action(re.compile(f"^{ids.ACCOUNT_HOWTO}[a-z]+$"))(on_account_howto)


def account_id(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ParseError("this button does not name an account")
    return int(value)


async def on_view_account(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        await lookup.view_account(turn, staff, account_id(str(action.get("value", ""))))


async def on_confirm_payment(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        await money.confirm(turn, staff, str(action.get("value", "")))


async def on_cancel_payment(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        await money.cancel(turn, staff, str(action.get("value", "")))


async def on_apply_unapplied(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        await cash.apply(turn, staff, str(action.get("value", "")))


async def on_approve_request(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        await approvals.approve_pressed(turn, staff, str(action.get("value", "")))


async def on_reject_request(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        await approvals.reject_pressed(turn, staff, str(action.get("value", "")))


async def on_account_move(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        await lookup.move(turn, staff, lookup.Where.read(str(action.get("value", ""))))


async def on_account_date(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        where = lookup.Where.read(str(action.get("block_id", "")))
        picked = day(str(action.get("selected_date") or ""))
        await lookup.move(turn, staff, replace(where, page=0, before=picked))


async def on_account_howto(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        what = str(action.get("action_id", "")).removeprefix(ids.ACCOUNT_HOWTO)
        await lookup.howto(turn, staff, what, account_id(str(action.get("value", ""))))
