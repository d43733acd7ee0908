"""Small builders shared by the core tests."""

from __future__ import annotations

from datetime import date

from core.auth import Actor, StaffRole
from core.db import Database
from core.ledger.accounts import Account, create_account
from core.ledger.items import Item, balance, load_items
from core.money import Money

ADMIN = Actor("staff", "1", "Alex Admin", StaffRole.ADMIN)
SUPERVISOR = Actor(
    "staff", "2", "Sam Supervisor", StaffRole.SUPERVISOR, approval_limit_minor=50_000
)
CLERK = Actor("staff", "3", "Chris Clerk", StaffRole.CLERK, locations=frozenset({"north"}))


def usd(text: str) -> Money:
    return Money.from_decimal(text, "USD")


async def open_account(db: Database, name: str = "Ana López", **kwargs: object) -> Account:
    async with db.transaction() as tx:
        return await create_account(
            tx, name=name, currency="USD", actor=ADMIN.label, source="test", **kwargs
        )  # type: ignore[arg-type]


async def balance_of(db: Database, account_id: int, as_of: date | None = None) -> Money:
    async with db.read() as conn:
        return Money(await balance(conn, account_id, as_of), "USD")


async def items_of(db: Database, account_id: int, as_of: date | None = None) -> list[Item]:
    async with db.read() as conn:
        return await load_items(conn, account_id=account_id, as_of=as_of)
