"""Modals: the charge modal (``/ar charge [account]``) and the account view's note modal.

A submission is checked and posted before it is acknowledged, so that bad input and
core's refusals (a missing permission, an unknown account) come back on the field
concerned (``response_action: errors``) and nothing is posted; only then is the modal
closed and the person told, ephemerally in the channel the modal came from.

The charge modal posts every line as one invoice under a key made from the view id:
Slack keeps the id for the life of the modal, so a double submit posts once. A note's
text is never repeated back into a channel.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.staff import ids
from bot.staff.actions import account_id
from bot.staff.lookup import account_by_number
from bot.staff.parse import MAX_QUANTITY, ChargeForm, ParseError, account_number, day, whole
from bot.staff.render import message
from bot.staff.services import Services, services_of
from bot.staff.turn import Turn, answering
from core.auth import Actor, Permission, load_staff, require
from core.billing.charges import ChargeLine, post_charges
from core.billing.tables import service
from core.errors import ArbotError, NotFound
from core.ledger.accounts import Account, load_account
from core.ledger.items import balance
from core.money import Money
from core.profile import add_note
from core.profile.notes import NOTE_LIMIT

log = logging.getLogger(__name__)
LINES = 5
OPTIONS = 100
"""Slack's limit on a static_select's options."""


class Refused(Exception):
    """Bad input on one field of a modal: shown on that field."""

    def __init__(self, block: str, text: str) -> None:
        super().__init__(text)
        self.block = block


def register(app: AsyncApp) -> None:
    app.view(ids.CHARGE_MODAL)(on_charge_submitted)
    app.action(ids.ADD_NOTE)(on_add_note)
    app.view(ids.NOTE_MODAL)(on_note_submitted)


@dataclass(frozen=True, slots=True)
class Offered:
    code: str
    description: str
    price: Money


async def open_charge(turn: Turn, staff: Actor, cmd: ChargeForm) -> None:
    """``/ar charge [account]`` without a service: open the charge modal."""
    account = None
    async with turn.db.read() as conn:
        if cmd.account is not None:
            account = await account_by_number(conn, cmd.account)
        # Checked before the modal shows the account's name (review finding).
        require(staff, Permission.POST_CHARGE, account.location if account else None)
        query = select(service).where(service.c.active.is_(True)).order_by(service.c.code)
        rows = (await conn.execute(query.limit(OPTIONS + 1))).all()
    offered = [Offered(r.code, r.description, Money(r.price_minor, r.currency)) for r in rows]
    channel = str(turn.body.get("channel_id") or "-")
    metadata = f"{channel}/{account.id if account else '-'}"
    view = message(
        "charge_modal", turn.locale, account=account, services=offered[:OPTIONS],
        more=len(offered) > OPTIONS, lines=LINES, metadata=metadata,
    )  # fmt: skip
    await turn.client.views_open(trigger_id=str(turn.body.get("trigger_id") or ""), view=view)


def field(view: dict[str, Any], block: str) -> str:
    """The value of the one element of input ``block``, whatever its kind."""
    values = (view.get("state") or {}).get("values") or {}
    element = (values.get(block) or {}).get(ids.FIELD) or {}
    picked = element.get("selected_option") or {}
    value = element.get("value") or element.get("selected_date") or picked.get("value")
    return str(value or "").strip()


def metadata_of(view: dict[str, Any]) -> tuple[str | None, str]:
    channel, _, rest = str(view.get("private_metadata") or "").partition("/")
    return (None if channel in ("", "-") else channel), rest


def charge_lines(view: dict[str, Any]) -> list[ChargeLine]:
    lines = []
    for n in range(LINES):
        code = field(view, f"{ids.CHARGE_SERVICE}{n}")
        quantity = field(view, f"{ids.CHARGE_QUANTITY}{n}")
        on = field(view, f"{ids.CHARGE_DATE}{n}")
        if not code:
            if quantity or on:
                raise Refused(f"{ids.CHARGE_SERVICE}{n}", "pick a service for this line")
            continue
        try:
            count = whole(quantity, "quantity", 1, MAX_QUANTITY) if quantity else 1
        except ParseError as exc:
            raise Refused(f"{ids.CHARGE_QUANTITY}{n}", str(exc)) from None
        try:
            served: date | None = day(on, "service date") if on else None
        except ParseError as exc:
            raise Refused(f"{ids.CHARGE_DATE}{n}", str(exc)) from None
        lines.append(ChargeLine(code, count, served))
    if not lines:
        raise Refused(f"{ids.CHARGE_SERVICE}0", "pick a service for at least one line")
    return lines


async def charged_account(services: Services, view: dict[str, Any]) -> tuple[Account, str]:
    """The account charged and the block its errors are shown on."""
    _, given = metadata_of(view)
    async with services.db.read() as conn:
        if given != "-":
            return await load_account(conn, account_id=account_id(given)), f"{ids.CHARGE_SERVICE}0"
        typed = field(view, ids.CHARGE_ACCOUNT)
        try:
            return await account_by_number(conn, account_number(typed)), ids.CHARGE_ACCOUNT
        except (ParseError, NotFound) as exc:
            raise Refused(ids.CHARGE_ACCOUNT, str(exc)) from None


async def post_charge_form(
    services: Services, staff: Actor, body: dict[str, Any], view: dict[str, Any]
) -> dict[str, Any]:
    """Post the modal's lines; the confirmation to send once the modal is closed."""
    account, block = await charged_account(services, view)
    lines = charge_lines(view)
    team = (body.get("team") or {}).get("id") or ""
    key = f"slack/charge-modal/{team}/{view.get('id')}"
    try:
        invoice = await post_charges(
            services.db, staff, account_id=account.id, lines=lines, key=key, source="slack"
        )
    except ArbotError as exc:
        raise Refused(block, str(exc)) from None
    async with services.db.read() as conn:
        owed = Money(await balance(conn, account.id), account.currency)
    return message(
        "charged", services.locale, account=account, total=invoice.total,
        number=invoice.entry.number, replayed=invoice.entry.replayed, balance=owed,
        warnings=invoice.warnings,
    )  # fmt: skip


async def submitted(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    context: AsyncBoltContext,
    work: Callable[[Services, Actor], Awaitable[dict[str, Any]]],
    first_block: str,
) -> None:
    """Run ``work`` for a submission; its refusals on the modal, its answer to the user."""
    services = services_of(context)
    with services.work.track():
        slack_user = str((body.get("user") or {}).get("id") or "")
        try:
            async with services.db.read() as conn:
                staff = await staff_of(conn, slack_user, first_block)
            answer = await work(services, staff)
        except Refused as exc:
            await ack(response_action="errors", errors={exc.block: str(exc)[:300]})
            return
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("Slack request failed (reference %s)", reference)
            text = f"something went wrong; quote reference {reference}"
            await ack(response_action="errors", errors={first_block: text})
            return
        await ack()
        await tell(context.client, metadata_of(view)[0], slack_user, answer)


async def staff_of(conn: AsyncConnection, slack_user: str, block: str) -> Actor:
    try:
        return await load_staff(conn, slack_user_id=slack_user)
    except NotFound:
        raise Refused(block, "arbot does not know your Slack user; ask an administrator") from None


async def tell(
    client: AsyncWebClient, channel: str | None, user: str, answer: dict[str, Any]
) -> None:
    """Ephemerally in the modal's channel, or in a direct message."""
    try:
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user, **answer)
        else:
            await client.chat_postMessage(channel=user, **answer)
    except Exception:
        log.exception("could not tell %s the outcome of a modal", user)


async def on_charge_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    async def work(services: Services, staff: Actor) -> dict[str, Any]:
        return await post_charge_form(services, staff, body, view)

    first = ids.CHARGE_ACCOUNT if metadata_of(view)[1] == "-" else f"{ids.CHARGE_SERVICE}0"
    await submitted(ack, body, view, context, work, first)


async def on_add_note(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    async with answering(context, ack, respond, body) as turn:
        staff = await turn.staff()
        await open_note(turn, staff, account_id(str(action.get("value", ""))))


async def open_note(turn: Turn, staff: Actor, account: int) -> None:
    async with turn.db.read() as conn:
        found = await load_account(conn, account_id=account)
    require(staff, Permission.VIEW_ACCOUNTS, found.location)
    channel = str((turn.body.get("channel") or {}).get("id") or "-")
    metadata = f"{channel}/{found.id}"
    view = message("note_modal", turn.locale, account=found, metadata=metadata, limit=NOTE_LIMIT)
    await turn.client.views_open(trigger_id=str(turn.body.get("trigger_id") or ""), view=view)


async def on_note_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    async def work(services: Services, staff: Actor) -> dict[str, Any]:
        target = account_id(metadata_of(view)[1])
        try:
            await add_note(services.db, staff, account_id=target, text=field(view, ids.NOTE_TEXT))
        except ArbotError as exc:
            raise Refused(ids.NOTE_TEXT, str(exc)) from None
        async with services.db.read() as conn:
            account = await load_account(conn, account_id=target)
        return message("note_added", services.locale, account=account)

    await submitted(ack, body, view, context, work, ids.NOTE_TEXT)
