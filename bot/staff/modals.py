"""Modals: the charge modal (``/ar charge [account]``, the account view's "Post charge")
and the account view's note modal (AR-064, BI-01, AR-050, AR-103).

Both are run by :mod:`bot.staff.forms`: opened at once and filled in after the reads;
on submission the quick checks (lines, account, permission) are shown on the field
concerned, the modal closes before anything is posted, and the person is told
ephemerally what was posted.

The charge modal posts every line as one invoice under a key made from the view id:
Slack keeps the id for the life of the modal, so a double submit posts once. A note's
text is never repeated back into a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from sqlalchemy import select

from bot.staff import details, ids, rejects, split, workspace
from bot.staff.forms import (
    Form,
    Refused,
    field,
    metadata_of,
    on_field,
    open_for,
    submitting,
)
from bot.staff.lookup import account_by_number
from bot.staff.money import balance_of
from bot.staff.parse import ChargeForm
from bot.staff.turn import Turn
from bot.staff.words import MAX_QUANTITY, account_number, day, whole
from core.auth import Actor, Permission, require
from core.billing.charges import ChargeLine, post_charges
from core.billing.tables import service
from core.ledger.accounts import Account, load_account
from core.money import Money
from core.profile import add_note
from core.profile.notes import NOTE_LIMIT
from core.services import account_for

LINES = 5
CHARGE_TITLE = "Post charges"
OPTIONS = 100
"""Slack's limit on a static_select's options."""


def register(app: AsyncApp) -> None:
    app.view(ids.CHARGE_MODAL)(on_charge_submitted)
    app.view(ids.NOTE_MODAL)(on_note_submitted)
    split.register(app)
    details.register(app)
    rejects.register(app)
    workspace.register(app)


@dataclass(frozen=True, slots=True)
class Offered:
    code: str
    description: str
    price: Money


async def open_charge(turn: Turn, staff: Actor, cmd: ChargeForm) -> None:
    """``/ar charge [account]`` without a service: the charge modal."""
    await open_for(turn, staff, CHARGE_TITLE, show_charge, number=cmd.account)


async def charge_for(turn: Turn, staff: Actor, account_id: int) -> None:
    """The account view's "Post charge": the charge modal for that account."""
    await open_for(turn, staff, CHARGE_TITLE, show_charge, account_id=account_id)


async def show_charge(form: Form, staff: Actor, account: Account | None) -> None:
    # Checked before the modal shows the account's name (review finding).
    require(staff, Permission.POST_CHARGE, account.location if account else None)
    query = select(service).where(service.c.active.is_(True)).order_by(service.c.code)
    async with form.turn.db.read() as conn:
        rows = (await conn.execute(query.limit(OPTIONS + 1))).all()
    offered = [Offered(r.code, r.description, Money(r.price_minor, r.currency)) for r in rows]
    await form.show(
        "charge_modal", account=account, services=offered[:OPTIONS],
        more=len(offered) > OPTIONS, lines=LINES,
        metadata=form.about(account.id if account else "-"),
    )  # fmt: skip


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
        with on_field(f"{ids.CHARGE_QUANTITY}{n}"):
            count = whole(quantity, "quantity", 1, MAX_QUANTITY) if quantity else 1
        with on_field(f"{ids.CHARGE_DATE}{n}"):
            served: date | None = day(on, "service date") if on else None
        lines.append(ChargeLine(code, count, served))
    if not lines:
        raise Refused(f"{ids.CHARGE_SERVICE}0", "pick a service for at least one line")
    return lines


async def charged_account(turn: Turn, view: dict[str, Any]) -> tuple[Account, str]:
    """The account charged and the block its errors are shown on."""
    given = metadata_of(view)[1]
    async with turn.db.read() as conn:
        if given != "-":
            account_id = ids.id_in(given, "an account")
            return await load_account(conn, account_id=account_id), f"{ids.CHARGE_SERVICE}0"
        with on_field(ids.CHARGE_ACCOUNT):
            typed = account_number(field(view, ids.CHARGE_ACCOUNT))
            return await account_by_number(conn, typed), ids.CHARGE_ACCOUNT


async def on_charge_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    first = ids.CHARGE_ACCOUNT if metadata_of(view)[1] == "-" else f"{ids.CHARGE_SERVICE}0"
    async with submitting(context, ack, body, view, first) as done:
        turn, staff = done.turn, await done.turn.staff()
        account, block = await charged_account(turn, view)
        with on_field(block):
            require(staff, Permission.POST_CHARGE, account.location)
        lines = charge_lines(view)
        await done.accept()
        key = f"slack/charge-modal/{(body.get('team') or {}).get('id') or ''}/{view.get('id')}"
        invoice = await post_charges(
            turn.db, staff, account_id=account.id, lines=lines, key=key, source="slack"
        )
        await turn.reply(
            "charged", account=account, total=invoice.total, number=invoice.entry.number,
            replayed=invoice.entry.replayed, balance=await balance_of(turn.db, account),
            warnings=invoice.warnings,
        )  # fmt: skip


async def open_note(turn: Turn, staff: Actor, account_id: int) -> None:
    """The account view's "Add note"."""
    await open_for(turn, staff, "Add note", show_note, account_id=account_id)


async def show_note(form: Form, staff: Actor, account: Account | None) -> None:
    assert account is not None
    require(staff, Permission.VIEW_ACCOUNTS, account.location)
    about = form.about(account.id)
    await form.show("note_modal", account=account, limit=NOTE_LIMIT, metadata=about)


async def on_note_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    async with submitting(context, ack, body, view, ids.NOTE_TEXT) as done:
        turn, staff = done.turn, await done.turn.staff()
        target = ids.id_in(metadata_of(view)[1], "an account")
        if not done.field(ids.NOTE_TEXT):
            raise Refused(ids.NOTE_TEXT, "a note cannot be blank")
        account = await account_for(turn.db, staff, target, Permission.MANAGE_ACCOUNTS)
        await done.accept()
        await add_note(turn.db, staff, account_id=target, text=done.field(ids.NOTE_TEXT))
        await turn.reply("note_added", account=account)
