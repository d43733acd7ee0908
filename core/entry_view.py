"""One ledger entry as a record, for staff: what it was, what it did, where it went.

Any entry number (``T00000012``) opens it. A payment's record holds what AR-036 asks
of it: the reference (a cheque number, the card processor's payment id), the date,
the items it paid and how much of each, the small balances written off with it (the
discount taken) and the ledger accounts it was posted to (AR-010: an account's history
in full, whatever its status). The same record serves every other kind: an
adjustment names what it was set against, a refund the credit it paid out, a reversal
the entry it undid.

*Applied to* lists, for each item the entry made, the items it was matched with in
cash application (AR-018): a payment's charges, a write-off's charge, a refund's
credit, with the net amount and the day it was first applied. A match later undone
nets to nothing and is not listed. Items are named by entry number and service date,
never by what the service was (as the account view): the invoice behind a charge is
``/ar invoice``, and a billed entry's memo (what it billed) is left to it too.

Where an entry is comes from every customer account its lines name, whatever the
entry's date and whether it made an A/R item (a prepayment is held outside A/R): who
may see it is decided on their locations. Reading writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.invoice_view import (
    EntryAccount,
    InvoicePayer,
    entry_accounts,
    entry_items,
    owed_items,
)
from core.ledger.model import PostedEntry, entry_number
from core.ledger.posting import load_entry, reversed_by
from core.ledger.tables import allocation, ar_item, customer_account, gl_account
from core.ledger.tables import journal_entry as je
from core.money import Money
from core.services import entries_under


@dataclass(frozen=True, slots=True)
class Applied:
    """An item the entry's items were matched with, and the net amount matched."""

    entry_number: str
    kind: str
    account_number: str
    service_date: date
    amount: Money
    on: date


@dataclass(frozen=True, slots=True)
class Posted:
    """One line of the entry in the general ledger: the account charged or credited."""

    code: str
    name: str
    amount: Money


@dataclass(frozen=True, slots=True)
class FollowUp:
    """An entry posted with this one, under its key (a small balance written off)."""

    entry_number: str
    kind: str
    amount: Money


@dataclass(frozen=True, slots=True)
class EntryView:
    entry_id: int
    entry_number: str
    kind: str
    entry_type: str
    effective: date
    posted_at: datetime
    actor: str
    source: str
    memo: str
    reason_code: str | None
    reference: str | None
    reverses: str | None
    reversed_by: str | None
    accounts: tuple[EntryAccount, ...]
    """Every customer account its lines name: those of ``items``, and one it holds money
    for outside A/R (a prepayment)."""
    items: tuple[InvoicePayer, ...]
    applied: tuple[Applied, ...]
    posted: tuple[Posted, ...]
    with_it: tuple[FollowUp, ...]

    @property
    def locations(self) -> frozenset[str]:
        """Where the entry is: who may see it is decided on these."""
        return frozenset(a.location for a in self.accounts)

    @property
    def held(self) -> tuple[EntryAccount, ...]:
        """Accounts it names without an A/R item of theirs: money held for them."""
        in_ar = {i.account_id for i in self.items}
        return tuple(a for a in self.accounts if a.account_id not in in_ar)


async def entry_view(conn: AsyncConnection, entry_id: int, as_of: date) -> EntryView:
    """Entry ``entry_id`` as a record, its items' open amounts as of ``as_of`` (or of
    the entry's own day, when it is dated later)."""
    entry = await load_entry(conn, entry_id=entry_id)
    items = await entry_items(conn, entry, as_of)
    named = await entry_accounts(conn, entry)
    follow_ups = await entries_under(conn, f"{entry.idempotency_key}/")
    return EntryView(
        entry.id,
        entry.number,
        entry.kind.value,
        entry.entry_type,
        entry.effective_date,
        entry.posted_at,
        entry.actor,
        entry.source,
        entry.memo,
        entry.reason_code,
        entry.reference,
        entry_number(entry.reverses_id) if entry.reverses_id is not None else None,
        await reversed_by(conn, entry.id),
        named,
        owed_items(items, named),
        await _applied(conn, [i.id for i in items]),
        await _posted(conn, entry),
        tuple(FollowUp(f.number, f.kind.value, _on_accounts(f)) for f in follow_ups),
    )


def _on_accounts(entry: PostedEntry) -> Money:
    """What ``entry`` moved on customer accounts, as a positive amount."""
    lines = [ln.amount for ln in entry.lines if ln.account_id is not None]
    return Money(abs(sum(a.minor for a in lines)), entry.lines[0].amount.currency)


async def _applied(conn: AsyncConnection, item_ids: list[int]) -> tuple[Applied, ...]:
    if not item_ids:
        return ()
    mine = allocation.alias("mine")
    other = allocation.alias("other")
    matches = (
        select(mine.c.application_id, mine.c.match_no)
        .where(mine.c.item_id.in_(item_ids))
        .distinct()
        .subquery("matches")
    )
    rows = await conn.execute(
        select(
            ar_item.c.entry_id,
            je.c.kind,
            customer_account.c.number,
            ar_item.c.service_day,
            ar_item.c.currency,
            func.sum(other.c.amount_minor).label("net"),
            func.min(other.c.effective_day).label("first"),
        )
        .select_from(matches)
        .join(
            other,
            (other.c.application_id == matches.c.application_id)
            & (other.c.match_no == matches.c.match_no),
        )
        .join(ar_item, ar_item.c.id == other.c.item_id)
        .join(je, je.c.id == ar_item.c.entry_id)
        .join(customer_account, customer_account.c.id == ar_item.c.account_id)
        .where(other.c.item_id.not_in(item_ids))
        # The item's, its entry's and its account's keys: PostgreSQL then lets the
        # query select their other columns.
        .group_by(ar_item.c.id, je.c.id, customer_account.c.id)
        .having(func.sum(other.c.amount_minor) != 0)
        .order_by(func.min(other.c.effective_day), ar_item.c.id)
    )
    return tuple(
        Applied(
            entry_number(r.entry_id),
            r.kind,
            r.number,
            r.service_day,
            Money(abs(int(r.net)), r.currency),  # PostgreSQL's sum is a numeric
            r.first,
        )
        for r in rows
    )


async def _posted(conn: AsyncConnection, entry: PostedEntry) -> tuple[Posted, ...]:
    """``entry``'s lines with their ledger accounts' names."""
    codes = {ln.gl for ln in entry.lines}
    found = await conn.execute(
        select(gl_account.c.code, gl_account.c.name).where(gl_account.c.code.in_(codes))
    )
    names = {code: name for code, name in found}
    return tuple(Posted(ln.gl, names[ln.gl], ln.amount) for ln in entry.lines)
