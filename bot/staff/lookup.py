"""``/ar find`` and ``/ar account``: finding an account and showing where it stands.

The account view is built in one place, :func:`account_message`, from
``core.views.account_view``: balance, aging, open items, last payment, flags, pending
requests and the activity newest first, a page at a time, filtered by kind and from a
date (AR-011, AR-130, AR-132). Never what the service was: no descriptions or memos.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.staff import ids
from bot.staff.parse import Find, ShowAccount
from bot.staff.render import message
from bot.staff.turn import Turn
from bot.staff.words import ParseError, day
from core.auth import Actor, Permission, require
from core.clock import today
from core.db import Database
from core.errors import NotFound
from core.ledger.accounts import Account, load_account
from core.search import search
from core.views import account_view

FOUND_LIMIT = 15


async def find(turn: Turn, staff: Actor, cmd: Find) -> None:
    require(staff, Permission.VIEW_ACCOUNTS)
    async with turn.db.read() as conn:
        # Only the accounts of the locations the person works at, before the limit.
        found = await search(conn, cmd.text, limit=FOUND_LIMIT + 1, locations=staff.locations)
    shown = found[:FOUND_LIMIT]
    await turn.reply("find", query=cmd.text, found=shown, full=len(found) > FOUND_LIMIT)


async def show_account(turn: Turn, staff: Actor, cmd: ShowAccount) -> None:
    async with turn.db.read() as conn:
        account = await account_by_number(conn, cmd.account)
    await turn.respond(await account_message(turn.db, staff, account.id, turn.locale))


async def view_account(turn: Turn, staff: Actor, account_id: int) -> None:
    """The "View" button on a search result: the same view as ``/ar account``."""
    await turn.respond(await account_message(turn.db, staff, account_id, turn.locale))


async def account_by_number(conn: AsyncConnection, number: str) -> Account:
    """The account with ``number`` as typed or upper-cased (numbers are kept as issued)."""
    for candidate in dict.fromkeys((number, number.upper())):
        try:
            return await load_account(conn, number=candidate)
        except NotFound:
            continue
    raise NotFound(f"there is no account {number}; /ar find looks accounts up by name")


KINDS = ("charges", "payments", "adjustments", "refunds")
"""The activity filters offered as buttons (AR-011); ``None`` is everything."""
PAGE_SIZE = 10


@dataclass(frozen=True, slots=True)
class Where:
    """Which part of an account's activity is shown: what the paging, filter and date
    buttons carry, as ``<account id>/<page>/<kind or all>/<YYYY-MM-DD or ->``."""

    account_id: int
    page: int = 0
    kind: str | None = None
    before: date | None = None

    def value(self, **changes: Any) -> str:
        w = replace(self, **changes)
        before = w.before.isoformat() if w.before else "-"
        return f"{w.account_id}/{w.page}/{w.kind or 'all'}/{before}"

    @classmethod
    def read(cls, value: str) -> Where:
        parts = value.split("/")
        if len(parts) != 4 or len(parts[1]) > 5 or (parts[2] != "all" and parts[2] not in KINDS):
            raise ParseError("this button does not name an account")
        account, page, kind, before = parts
        on = None if before == "-" else day(before)
        number = ids.id_in(account, "an account"), ids.id_in(page, "an account")
        return cls(*number, None if kind == "all" else kind, on)


async def account_message(
    db: Database, staff: Actor, account_id: int | Where, locale: str
) -> dict[str, Any]:
    """The account view as an ephemeral Slack message, for a staff user allowed to see it."""
    where = account_id if isinstance(account_id, Where) else Where(account_id)
    async with db.read() as conn:
        account = await load_account(conn, account_id=where.account_id)
        require(staff, Permission.VIEW_ACCOUNTS, account.location)
        view = await account_view(
            conn, account.id, as_of=today(db.clock), page=where.page, page_size=PAGE_SIZE,
            kinds={where.kind} if where.kind else None, before=where.before,
        )  # fmt: skip
    payload = message("account", locale, view=view, where=where, kinds=KINDS)
    payload["response_type"] = "ephemeral"
    return payload


async def move(turn: Turn, staff: Actor, where: Where) -> None:
    """A paging, filter or date button: the same view, in place of the one pressed."""
    payload = await account_message(turn.db, staff, where, turn.locale)
    payload["replace_original"] = True
    await turn.respond(payload)
