"""The full invoice behind an A/R item, for staff (AR-072).

The entry number of what was billed (``T00000012``, as the account view lists open
items and activity) opens what billing posted: each line's service, description,
quantity, list price and amount, the pricing rule or the reason a price was set by
hand, the doctor and location, how a line was split between payers (``charge_share``),
and for each payer the item it owes with what is still open. A charge, a debit memo, a
finance charge and a chargeback bill an account; what was billed as a plain amount (a
late fee, a charge posted as an amount) has no lines, and says so. An entry that bills
nothing (a payment, an adjustment) is refused with what it is. Reading writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.tables import charge_line, charge_share, pricing_rule
from core.errors import ValidationError
from core.ledger.items import Item, load_items
from core.ledger.model import Kind, PostedEntry
from core.ledger.posting import load_entry, reversed_by
from core.ledger.tables import customer_account
from core.money import Money

BILLED = frozenset({Kind.CHARGE, Kind.DEBIT_MEMO, Kind.FINANCE_CHARGE, Kind.CHARGEBACK})
"""The kinds of entry that bill an account: what has an invoice behind it."""


@dataclass(frozen=True, slots=True)
class EntryAccount:
    """A customer account one of an entry's lines names (in A/R or held outside it)."""

    account_id: int
    number: str
    name: str
    location: str


async def entry_accounts(conn: AsyncConnection, entry: PostedEntry) -> tuple[EntryAccount, ...]:
    """Every customer account ``entry``'s lines name, in line order: where the entry is,
    whatever its date and whether or not it made an A/R item (a prepayment is held
    outside A/R). Who may see the entry is decided on their locations."""
    ids = list(dict.fromkeys(ln.account_id for ln in entry.lines if ln.account_id is not None))
    ca = customer_account
    rows = await conn.execute(
        select(ca.c.id, ca.c.number, ca.c.name, ca.c.location).where(ca.c.id.in_(ids))
    )
    found = {r.id: EntryAccount(*r) for r in rows}
    return tuple(found[i] for i in ids)


def owed_items(items: list[Item], named: tuple[EntryAccount, ...]) -> tuple[InvoicePayer, ...]:
    """``items`` with the accounts that owe them (``named``: :func:`entry_accounts`)."""
    accounts = {a.account_id: a for a in named}
    return tuple(
        InvoicePayer(
            i.account_id,
            accounts[i.account_id].number,
            accounts[i.account_id].name,
            accounts[i.account_id].location,
            i.amount,
            i.open,
            i.due_date,
            "disputed" if i.disputed and i.open.minor else i.status.value,
        )
        for i in items
    )


async def entry_items(conn: AsyncConnection, entry: PostedEntry, as_of: date) -> list[Item]:
    """``entry``'s A/R items, open as of ``as_of``, or of the entry's own day when it is
    dated later (billed ahead, it still shows)."""
    return await load_items(conn, item_ids=entry.item_ids, as_of=max(as_of, entry.effective_date))


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    seq: int
    service_code: str
    description: str
    quantity: int
    list_unit: Money
    amount: Money
    service_date: date
    doctor: str | None
    location: str
    rule: str | None
    """The pricing rule that set the price, by name."""
    override_reason: str | None
    """Why the price was set by hand, when it was."""
    shares: tuple[tuple[str, Money], ...]
    """Each payer's account number and part, when the line was split."""


@dataclass(frozen=True, slots=True)
class InvoicePayer:
    """An A/R item an entry made on an account: what it asks and what is open of it."""

    account_id: int
    number: str
    name: str
    location: str
    amount: Money
    open: Money
    due_date: date
    status: str  # pending, partly_paid, paid or disputed


@dataclass(frozen=True, slots=True)
class InvoiceView:
    entry_id: int
    entry_number: str
    kind: str
    billed: date
    reference: str | None
    total: Money
    lines: tuple[InvoiceLine, ...]
    payers: tuple[InvoicePayer, ...]
    reversed_by: str | None
    """The entry number of the reversal, when the charge was reversed."""
    locations: frozenset[str]
    """Where the entry is: every location of an account its lines name."""


async def invoice_view(conn: AsyncConnection, entry_id: int, as_of: date) -> InvoiceView:
    """What entry ``entry_id`` billed, with each payer's open amount on ``as_of``."""
    entry = await load_entry(conn, entry_id=entry_id)
    if entry.kind not in BILLED:
        raise ValidationError(
            f"{entry.number} is a {entry.kind.value.replace('_', ' ')}, which bills nothing: "
            "only a charge, a debit memo, a finance charge or a chargeback has an invoice "
            "behind it"
        )
    items = await entry_items(conn, entry, as_of)
    named = await entry_accounts(conn, entry)
    payers = owed_items(items, named)
    lines = await _lines(conn, entry_id)
    currency = items[0].amount.currency if items else (lines[0].amount.currency if lines else "")
    return InvoiceView(
        entry_id,
        entry.number,
        entry.kind.value,
        entry.effective_date,
        entry.reference,
        Money(sum(p.amount.minor for p in payers), currency),
        lines,
        payers,
        await reversed_by(conn, entry_id),
        frozenset(a.location for a in named),
    )


async def _lines(conn: AsyncConnection, entry_id: int) -> tuple[InvoiceLine, ...]:
    shares: dict[int, list[tuple[str, int]]] = {}
    for r in await conn.execute(
        select(charge_share.c.seq, customer_account.c.number, charge_share.c.amount_minor)
        .join(customer_account, customer_account.c.id == charge_share.c.payer_account_id)
        .where(charge_share.c.entry_id == entry_id)
        .order_by(charge_share.c.seq, charge_share.c.payer_account_id)
    ):
        shares.setdefault(r.seq, []).append((r.number, r.amount_minor))
    rows = await conn.execute(
        select(charge_line, pricing_rule.c.name.label("rule_name"))
        .outerjoin(pricing_rule, pricing_rule.c.id == charge_line.c.rule_id)
        .where(charge_line.c.entry_id == entry_id)
        .order_by(charge_line.c.seq)
    )
    return tuple(
        InvoiceLine(
            r.seq,
            r.service_code,
            r.description,
            r.quantity,
            Money(r.list_unit_minor, r.currency),
            Money(r.amount_minor, r.currency),
            r.service_day,
            r.doctor,
            r.location,
            r.rule_name,
            r.override_reason,
            tuple((n, Money(m, r.currency)) for n, m in shares.get(r.seq, ())),
        )
        for r in rows
    )
