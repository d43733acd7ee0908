"""``/ar invoice`` and ``/ar entry``, and the account view's menus that open them: what
an entry number stands for.

``/ar invoice <entry number>`` (and the account view's "Open an invoice" menu) shows
the full invoice behind what was billed (AR-072): the lines of what billing posted,
each payer's part and what is still open (:func:`core.billing.invoice_view.invoice_view`).
Unlike the account view, it names the services: looking at an invoice is asking what
was billed.

``/ar entry <entry number>`` (and the "Open an entry" menu of the activity shown) shows
any entry as a record (:func:`core.entry_view.entry_view`): a payment's reference,
date, the items it paid, what was written off with it and the ledger accounts it was
posted to (AR-036); a charge's payments; a reversal both ways (AR-010). A billed entry
has a button to its invoice.

Both answer only the person who asked, and only staff who may view every account the
entry is on; each account named has a View button to its account view (AR-047).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.staff import ids
from bot.staff.parse import ShowEntry, ShowInvoice
from bot.staff.turn import Turn
from core.auth import Actor, Permission, require
from core.billing.invoice_view import BILLED, invoice_view
from core.clock import today
from core.entry_view import entry_view


def _chosen(action: dict[str, Any]) -> int:
    chosen = action.get("selected_option") or {}
    return ids.id_in(str(chosen.get("value", "")), "an entry")


async def picked(turn: Turn, staff: Actor, action: dict[str, Any]) -> None:
    """An open item picked in the account view's "Open an invoice" menu."""
    await show_invoice(turn, staff, ShowInvoice(_chosen(action)))


async def invoice_pressed(turn: Turn, staff: Actor, value: str) -> None:
    """The entry view's "Open the invoice" button."""
    await show_invoice(turn, staff, ShowInvoice(ids.id_in(value, "an entry")))


async def entry_picked(turn: Turn, staff: Actor, action: dict[str, Any]) -> None:
    """An entry picked in the account view's "Open an entry" menu."""
    await show_entry(turn, staff, ShowEntry(_chosen(action)))


class _Located(Protocol):
    @property
    def locations(self) -> frozenset[str]: ...


V = TypeVar("V", bound=_Located)


async def _visible(
    turn: Turn,
    staff: Actor,
    read: Callable[[AsyncConnection, int, date], Awaitable[V]],
    entry_id: int,
) -> V:
    """The view ``read`` makes of entry ``entry_id``, once ``staff`` may view accounts at
    every location it is on."""
    require(staff, Permission.VIEW_ACCOUNTS)
    async with turn.db.read() as conn:
        view = await read(conn, entry_id, today(turn.db.clock))
    for location in sorted(view.locations):
        require(staff, Permission.VIEW_ACCOUNTS, location)
    return view


async def show_invoice(turn: Turn, staff: Actor, cmd: ShowInvoice) -> None:
    await turn.reply("invoice", view=await _visible(turn, staff, invoice_view, cmd.entry_id))


async def show_entry(turn: Turn, staff: Actor, cmd: ShowEntry) -> None:
    view = await _visible(turn, staff, entry_view, cmd.entry_id)
    await turn.reply("entry", view=view, billed=view.kind in BILLED)
