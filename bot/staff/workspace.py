"""The account view as a workspace (AR-050): its action buttons act on the account.

"Post charge" and "Record payment" open the charge and payment modals for the account
(:mod:`bot.staff.modals`, :mod:`bot.staff.split`); "Add note" opens the note modal.
"Request write-off" opens the write-off modal here: amount (or "all"), reason code and
note, sent for approval as ``/ar writeoff`` is (AR-026, AR-091). "Send pay link" issues
a link to pay the balance, shown only to the person who pressed, to pass on (AR-017).
"Link code" gives the one-time code ``/ar link`` gives.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from sqlalchemy import select

from bot.staff import approvals, ids, links
from bot.staff.forms import Form, metadata_of, on_field, open_for, submitting
from bot.staff.money import balance_of
from bot.staff.parse import Link
from bot.staff.turn import Turn
from bot.staff.words import amount, note_of, reason_code
from core.approvals import Status, request_write_off
from core.auth import Actor, Permission, require
from core.clock import today
from core.errors import ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.tables import reason_code as reason_codes
from core.services.staff_paylinks import pay_link_for

REASONS = 100
"""Slack's limit on a static_select's options."""


def register(app: AsyncApp) -> None:
    app.view(ids.WRITEOFF_MODAL)(on_write_off_submitted)


async def open_write_off(turn: Turn, staff: Actor, account_id: int) -> None:
    await open_for(turn, staff, "Request write-off", show_write_off, account_id=account_id)


async def show_write_off(form: Form, staff: Actor, account: Account | None) -> None:
    assert account is not None
    require(staff, Permission.REQUEST_WRITE_OFF, account.location)
    query = select(reason_codes).where(reason_codes.c.active.is_(True))
    async with form.turn.db.read() as conn:
        reasons = (await conn.execute(query.order_by(reason_codes.c.code).limit(REASONS))).all()
    await form.show(
        "writeoff_modal", account=account, reasons=reasons, metadata=form.about(account.id),
        balance=await balance_of(form.turn.db, account),
    )  # fmt: skip


async def on_write_off_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    async with submitting(context, ack, body, view, ids.WRITEOFF_AMOUNT) as done:
        turn, staff = done.turn, await done.turn.staff()
        asked_in, about = metadata_of(view)
        account = await load_account_checked(turn, staff, ids.id_in(about, "an account"))
        with on_field(ids.WRITEOFF_AMOUNT):
            typed = done.field(ids.WRITEOFF_AMOUNT)
            asked = None if typed.casefold() == "all" else amount(typed, account.currency)
            channel = approvals.approvals_channel(turn, asked_in)
        with on_field(ids.WRITEOFF_REASON):
            reason = reason_code(done.field(ids.WRITEOFF_REASON))
        with on_field(ids.WRITEOFF_NOTE):
            note = note_of([done.field(ids.WRITEOFF_NOTE)], "it stays with the request")
        await done.accept()
        team = (body.get("team") or {}).get("id") or ""
        request = await request_write_off(
            turn.db, staff, account_id=account.id, amount=asked, reason=reason, note=note,
            key=f"slack/writeoff-modal/{team}/{view.get('id')}",
            tolerance=approvals.tolerance(turn.services), on=today(turn.services.clock),
        )  # fmt: skip
        if request.status is Status.POSTED:
            await approvals.written_off(turn, request, account)
            return
        await approvals.send_for_approval(turn, request, account, channel=channel)


async def load_account_checked(turn: Turn, staff: Actor, account_id: int) -> Account:
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=account_id)
    with on_field(ids.WRITEOFF_AMOUNT):
        require(staff, Permission.REQUEST_WRITE_OFF, account.location)
    return account


async def send_pay_link(turn: Turn, staff: Actor, account_id: int) -> None:
    """ "Send pay link": a link to pay the balance, for the presser's eyes only."""
    base = turn.services.settings.public_base_url.rstrip("/")
    if not base:
        raise ValidationError("PUBLIC_BASE_URL is not set, so arbot cannot make pay links")
    issued = await pay_link_for(turn.db, staff, account_id=account_id)
    await turn.reply("pay_link", issued=issued, url=f"{base}/pay/{issued.token}")


async def link_code(turn: Turn, staff: Actor, account_id: int) -> None:
    """ "Link code": what ``/ar link`` gives."""
    async with turn.db.read() as conn:
        account = await load_account(conn, account_id=account_id)
    await links.link(turn, staff, Link(account.number))
