"""``/ar invoice <entry number>`` and the account view's "Open an invoice" menu: the
full invoice behind what was billed (AR-072).

The lines of what billing posted, each payer's part and what is still open
(:func:`core.billing.invoice_view.invoice_view`), answered only to the person who
asked. Unlike the account view, it names the services: looking at an invoice is
asking what was billed. It is shown only to staff who may view every account the
invoice is owed by.
"""

from __future__ import annotations

from typing import Any

from bot.staff import ids
from bot.staff.parse import ShowInvoice
from bot.staff.turn import Turn
from core.auth import Actor, Permission, require
from core.billing.invoice_view import invoice_view
from core.clock import today


async def picked(turn: Turn, staff: Actor, action: dict[str, Any]) -> None:
    """An open item picked in the account view's "Open an invoice" menu."""
    chosen = action.get("selected_option") or {}
    await show_invoice(
        turn, staff, ShowInvoice(ids.id_in(str(chosen.get("value", "")), "an entry"))
    )


async def show_invoice(turn: Turn, staff: Actor, cmd: ShowInvoice) -> None:
    require(staff, Permission.VIEW_ACCOUNTS)
    async with turn.db.read() as conn:
        view = await invoice_view(conn, cmd.entry_id, today(turn.db.clock))
    for location in sorted(view.locations):
        require(staff, Permission.VIEW_ACCOUNTS, location)
    await turn.reply("invoice", view=view)
