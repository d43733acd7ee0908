"""The account view's "Edit details": the patient's names, date of birth, language,
financial class and patient type, changed in a modal (AR-007, AR-039).

Whoever may manage accounts at the account's location sees the details as on file and
changes them; only what they changed is written, and it applies at once (the account
view, search by the new name, the patient bot's language). Each field is checked on
its own before the modal closes, and a refusal is shown on that field: an implausible
date of birth, a language arbot does not know, a name too long. Then
:func:`core.profile.demographics.update_customer` writes what changed, with its audit
record, and the person is told which fields changed, never their values: a date of
birth is not repeated into a channel.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from sqlalchemy import select

from bot.staff import ids
from bot.staff.forms import Form, Submission, metadata_of, on_field, open_for, submitting
from bot.staff.turn import Turn
from bot.staff.words import day
from core.auth import Actor, Permission, require
from core.clock import today
from core.ledger.accounts import Account, load_account
from core.ledger.tables import customer_account
from core.profile.demographics import checked_edits, update_customer
from core.services import account_for

FIELDS = {
    ids.DETAILS_FIRST: "first_name",
    ids.DETAILS_LAST: "last_name",
    ids.DETAILS_BORN: "date_of_birth",
    ids.DETAILS_LANGUAGE: "language",
    ids.DETAILS_CLASS: "financial_class",
    ids.DETAILS_TYPE: "patient_type",
}
"""Each block of the modal and the field of ``update_customer`` it sets."""


FIELD_NAMES = {
    "first_name": "first name",
    "last_name": "last name",
    "date_of_birth": "date of birth",
    "language": "language",
    "financial_class": "financial class",
    "patient_type": "patient type",
}
"""How the person is told which fields changed (never their values)."""


def register(app: AsyncApp) -> None:
    app.view(ids.DETAILS_MODAL)(on_details_submitted)


async def open_details(turn: Turn, staff: Actor, account_id: int) -> None:
    """The account view's "Edit details"."""
    await open_for(turn, staff, "Edit details", show_details, account_id=account_id)


async def show_details(form: Form, staff: Actor, account: Account | None) -> None:
    assert account is not None
    # The modal shows the date of birth: only to those who may change it.
    require(staff, Permission.MANAGE_ACCOUNTS, account.location)
    async with form.turn.db.read() as conn:
        found = await conn.execute(
            select(customer_account).where(customer_account.c.id == account.id)
        )
        row = found.one()
    await form.show("details_modal", account=account, row=row, metadata=form.about(account.id))


def shown(view: dict[str, Any], block: str) -> str:
    """What the modal showed in ``block`` when it opened (Slack sends the view back)."""
    for b in view.get("blocks") or ():
        if b.get("block_id") == block:
            element = b.get("element") or {}
            picked = element.get("initial_option") or {}
            return str(element.get("initial_value") or element.get("initial_date") or
                       picked.get("value") or "")  # fmt: skip
    return ""


def edits(done: Submission, born_before: date) -> dict[str, Any]:
    """The fields changed from what the modal showed, each checked on its own and
    refused on its block. A field left as shown is not written: it may have been
    changed meanwhile by someone else, or be on file in a form of its own."""
    given: dict[str, Any] = {}
    for block, name in FIELDS.items():
        text = done.field(block)
        if not text or text == shown(done.view, block):
            continue
        with on_field(block):
            value: Any = day(text, "date of birth") if name == "date_of_birth" else text
            given |= checked_edits({name: value}, born_before)
    return given


async def on_details_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    async with submitting(context, ack, body, view, ids.DETAILS_LAST) as done:
        turn, staff = done.turn, await done.turn.staff()
        target = ids.id_in(metadata_of(view)[1], "an account")
        with on_field(ids.DETAILS_LAST):
            await account_for(turn.db, staff, target, Permission.MANAGE_ACCOUNTS)
        given = edits(done, today(turn.db.clock))
        await done.accept()
        changed = await update_customer(turn.db, staff, target, **given) if given else ()
        async with turn.db.read() as conn:
            account = await load_account(conn, account_id=target)
        shown = [FIELD_NAMES[name] for name in changed]
        await turn.reply("details_changed", account=account, changed=shown)
