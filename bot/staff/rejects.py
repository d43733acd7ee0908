"""``/ar rejects [kind]``: the exceptions queue of rows the billing interface rejected,
worked in Slack (AR-067, AR-174).

The list shows each open reject's kind, batch, row, key and reason (never the row's
values: they may name a patient) to anyone who may view reports at every location (a
file is not one location's). *Fix* opens the row in
a modal, one field per column, to whoever may do what the row does (manage accounts for
patients, the catalogue for services, post charges, record payments); what they send
goes through the same import again, with their permissions, and closes the reject when
it is taken. *Dismiss* closes it with a note. A remittance's claim is not sent again:
its fix is in the ledger, then the file is run again.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.staff import ids
from bot.staff.forms import metadata_of, on_field, opening, submitting
from bot.staff.parse_collect import ShowRejects
from bot.staff.turn import Turn
from core.auth import Actor, Permission
from core.errors import InvalidState, ValidationError
from core.imports.rejects import (
    DOING,
    FIXABLE,
    KeptReject,
    close_reject,
    columns_of,
    load_reject,
    rejects,
    resubmit,
)
from core.reports.gl import require_everywhere

SHOWN = 15
"""Rejects listed in one answer, oldest first."""
MAX_VALUE = 3000
"""Slack's longest text input value."""


def register(app: AsyncApp) -> None:
    app.view(ids.IMPORT_FIX_MODAL)(on_fix_submitted)
    app.view(ids.IMPORT_DISMISS_MODAL)(on_dismiss_submitted)


async def everywhere(turn: Turn, staff: Actor, permission: Permission) -> None:
    """The queue holds every location's rows (a file is not one location's): it is for
    staff who hold ``permission`` at every location (BI-18)."""
    async with turn.db.read() as conn:
        await require_everywhere(conn, staff, permission)


async def show_rejects(turn: Turn, staff: Actor, cmd: ShowRejects) -> None:
    await everywhere(turn, staff, Permission.VIEW_REPORTS)
    async with turn.db.read() as conn:
        found = await rejects(conn, kind=cmd.kind)
    await turn.reply(
        "rejects",
        shown=found[:SHOWN],
        total=len(found),
        more=len(found) > SHOWN,
        kind=cmd.kind,
        fixable=FIXABLE,
    )


async def _open(turn: Turn, staff: Actor, value: str, *, fixing: bool) -> KeptReject:
    reject_id = ids.id_in(value, "a rejected row")
    async with turn.db.read() as conn:
        found = await load_reject(conn, reject_id)
    await everywhere(turn, staff, DOING[found.kind])
    if found.status != "open":
        raise InvalidState(f"this row is {found.status} already")
    if fixing and found.kind not in FIXABLE:
        raise ValidationError(
            f"a {found.kind} row is not sent again: fix what it names in the ledger, then "
            "run its file again"
        )
    return found


async def fix_pressed(turn: Turn, staff: Actor, value: str) -> None:
    async with opening(turn, "Fix rejected row") as form:
        found = await _open(turn, staff, value, fixing=True)
        await form.show(
            "import_fix_modal",
            reject=found,
            columns=[(c, found.values.get(c, "")[:MAX_VALUE]) for c in columns_of(found)],
            metadata=form.about(found.id),
        )


async def dismiss_pressed(turn: Turn, staff: Actor, value: str) -> None:
    async with opening(turn, "Dismiss rejected row") as form:
        found = await _open(turn, staff, value, fixing=False)
        await form.show("import_dismiss_modal", reject=found, metadata=form.about(found.id))


async def on_fix_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    """Checks who sends it first (shown in the modal); the modal closes before the row
    goes through the import, whose outcome is told in the channel."""
    first = _first_input(view)
    async with submitting(context, ack, body, view, first) as done:
        turn, staff = done.turn, await done.turn.staff()
        with on_field(first):
            found = await _open(turn, staff, metadata_of(view)[1], fixing=True)
        values = {column: done.field(ids.IMPORT_COLUMN + column) for column in columns_of(found)}
        await done.accept()
        settings = turn.services.settings
        try:
            await resubmit(turn.db, staff, found.id, values, currency=settings.currency,
                           number_format=settings.account_number_format)  # fmt: skip
        except ValidationError as exc:
            await turn.reply("import_resolved", reject=found, outcome="rejected", reason=str(exc))
            return
        await turn.reply("import_resolved", reject=found, outcome="fixed")


def _first_input(view: dict[str, Any]) -> str:
    """The modal's first field, where a refusal of the whole row is shown."""
    for block in view.get("blocks") or ():
        if block.get("type") == "input":
            return str(block.get("block_id"))
    return ids.IMPORT_COLUMN


async def on_dismiss_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    async with submitting(context, ack, body, view, ids.IMPORT_NOTE) as done:
        turn, staff = done.turn, await done.turn.staff()
        note = done.field(ids.IMPORT_NOTE)
        with on_field(ids.IMPORT_NOTE):
            found = await _open(turn, staff, metadata_of(view)[1], fixing=False)
            if not note:
                raise ValidationError("say why the row is dismissed")
        await done.accept()
        await close_reject(turn.db, staff, found.id, "dismissed", note)
        await turn.reply("import_resolved", reject=found, outcome="dismissed", note=note)
