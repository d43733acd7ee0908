"""``/ar find`` and ``/ar account``: finding an account and showing where it stands.

The account view is built in one place, :func:`account_message`, so that the richer
view of ``core.views`` can replace it without touching the listeners. It shows the
minimum: number, name, balance, status flags and open items with their dates and
amounts, never what the service was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.staff.parse import Find, ShowAccount
from bot.staff.render import message
from bot.staff.turn import Turn
from core.auth import Actor, Permission, require
from core.clock import today
from core.customers import Found, search, status_of
from core.db import Database
from core.errors import NotFound
from core.ledger.accounts import Account, load_account
from core.ledger.items import Item, balance, load_items
from core.ledger.tables import customer_account
from core.money import Money

FOUND_LIMIT = 15
ITEM_LIMIT = 15


async def find(turn: Turn, staff: Actor, cmd: Find) -> None:
    require(staff, Permission.VIEW_ACCOUNTS)
    async with turn.db.read() as conn:
        found = await visible(conn, staff, await search(conn, cmd.text, limit=FOUND_LIMIT + 1))
    shown = found[:FOUND_LIMIT]
    await turn.reply("find", query=cmd.text, found=shown, full=len(found) > FOUND_LIMIT)


async def show_account(turn: Turn, staff: Actor, cmd: ShowAccount) -> None:
    async with turn.db.read() as conn:
        account = await account_by_number(conn, cmd.account)
    await turn.respond(await account_message(turn.db, staff, account.id, turn.locale))


async def view_account(turn: Turn, staff: Actor, account_id: int) -> None:
    """The "View" button on a search result: the same view as ``/ar account``."""
    await turn.respond(await account_message(turn.db, staff, account_id, turn.locale))


async def visible(conn: AsyncConnection, staff: Actor, found: list[Found]) -> list[Found]:
    """Only the accounts of the locations ``staff`` works at."""
    if staff.locations is None or not found:
        return found
    query = select(customer_account.c.id).where(
        customer_account.c.id.in_([f.account_id for f in found]),
        customer_account.c.location.in_(sorted(staff.locations)),
    )
    allowed = set((await conn.execute(query)).scalars())
    return [f for f in found if f.account_id in allowed]


async def account_by_number(conn: AsyncConnection, number: str) -> Account:
    """The account with ``number`` as typed or upper-cased (numbers are kept as issued)."""
    for candidate in dict.fromkeys((number, number.upper())):
        try:
            return await load_account(conn, number=candidate)
        except NotFound:
            continue
    raise NotFound(f"there is no account {number}; /ar find looks accounts up by name")


@dataclass(frozen=True, slots=True)
class ItemLine:
    number: str
    service_date: date
    due_date: date
    amount: Money
    open: Money
    status: str
    disputed: bool
    is_debit: bool
    overdue: bool


@dataclass(frozen=True, slots=True)
class AccountView:
    number: str
    name: str
    status: str
    balance: Money
    items: tuple[ItemLine, ...]
    more: int


def item_line(item: Item, on: date) -> ItemLine:
    return ItemLine(
        number=f"T{item.entry_id:08d}",
        service_date=item.service_date,
        due_date=item.due_date,
        amount=item.amount,
        open=item.open,
        status=item.status.value,
        disputed=item.disputed,
        is_debit=item.is_debit,
        overdue=item.is_debit and item.due_date < on,
    )


async def account_message(
    db: Database, staff: Actor, account_id: int, locale: str
) -> dict[str, Any]:
    """The account view as an ephemeral Slack message, for a staff user allowed to see it."""
    on = today(db.clock)
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        require(staff, Permission.VIEW_ACCOUNTS, account.location)
        items = await load_items(conn, account_id=account.id, only_open=True)
        owed = Money(await balance(conn, account.id), account.currency)
        status = await status_of(conn, account.id)
    view = AccountView(
        number=account.number,
        name=account.name,
        status=status,
        balance=owed,
        items=tuple(item_line(i, on) for i in items[:ITEM_LIMIT]),
        more=max(0, len(items) - ITEM_LIMIT),
    )
    payload = message("account", locale, view=view)
    payload["response_type"] = "ephemeral"
    return payload
