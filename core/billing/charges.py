"""Charging a visit: price its lines, split them between payers, post one entry, take
the stock it used and use up what was prepaid for it, all in one transaction
(AR-002, AR-064, AR-066, BI-01, BI-04, BI-10..12, BI-26, AR-087)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.billing.catalogue import service_code
from core.billing.invoice import InvoicePlan, PlannedLine, Split, plan_invoice, share_out
from core.billing.prepaid import Held, held_prepayments, use_held
from core.billing.pricing import Buyer, PriceBook, load_price_book
from core.billing.tables import charge_line, charge_share, stock_movement
from core.clock import today
from core.customers import refuse_charges, status_of
from core.db import Database, Tx
from core.errors import ValidationError
from core.inventory import StockItem, load_stock_items, move_stock
from core.ledger.accounts import Account, load_account
from core.ledger.items import lock_account
from core.ledger.model import PostedEntry
from core.ledger.posting import post_entry, replay, revenue_code
from core.money import Money
from core.profile import over_credit_limit
from core.profile.credit import TermsBook
from core.services import FollowUp, account_for, entries_under, prior_entry, run_once


@dataclass(frozen=True, slots=True)
class ChargeLine:
    """One service on a visit. ``unit_price`` overrides the catalogue and the rules and
    needs ``override_reason``; ``splits`` give parts of the line to other payers."""

    service_code: str
    quantity: int = 1
    service_date: date | None = None
    doctor: str | None = None
    location: str | None = None
    unit_price: Money | None = None
    override_reason: str | None = None
    splits: tuple[Split, ...] = ()

    @property
    def amounts(self) -> list[Money]:
        """The money typed on the line: its price override and fixed payer shares."""
        shares = [s.amount for s in self.splits if s.amount is not None]
        return shares if self.unit_price is None else [self.unit_price, *shares]


@dataclass(frozen=True, slots=True)
class Invoice:
    entry: PostedEntry
    lines: tuple[dict[str, object], ...]
    """The charge lines as posted (``charge_line`` rows)."""
    owed: dict[int, Money]
    """What each payer account owes on this visit."""
    prepaid_used: Money
    flagged_stock: tuple[str, ...]
    """Stock that went below zero under the ``allow`` policy, for review."""
    warnings: tuple[str, ...] = ()
    """What staff should know but that does not stop a charge (a credit limit passed)."""

    @property
    def total(self) -> Money:
        return sum(self.owed.values(), Money.zero(self.entry.lines[0].amount.currency))


async def refuse_closed(conn: AsyncConnection, account: Account) -> None:
    refuse_charges(account.number, await status_of(conn, account.id))


@dataclass(slots=True)
class Context:
    """Everything about the accounts and catalogue that pricing a visit reads."""

    book: PriceBook
    stock: dict[str, StockItem]
    payers: dict[int, Account]
    held: dict[int, list[Held]]


async def load_context(
    conn: AsyncConnection, codes: Sequence[str], account_ids: Sequence[int]
) -> Context:
    book = await load_price_book(conn, codes)
    items = [s.stock_item for s in book.services.values() if s.stock_item]
    payers = {a: await load_account(conn, account_id=a) for a in sorted(set(account_ids))}
    held = await held_prepayments(conn, sorted(payers))
    return Context(book, await load_stock_items(conn, items), payers, held)


async def plan_lines(
    conn: AsyncConnection,
    db: Database,
    ctx: Context,
    account: Account,
    lines: Sequence[ChargeLine],
    bill_date: date,
) -> list[PlannedLine]:
    prepaid = frozenset(h.service_code for h in ctx.held.get(account.id, ()) if h.service_code)
    planned = []
    for line in lines:
        location = line.location or account.location
        on = line.service_date or bill_date
        first_payer = line.splits[0].payer_account_id if line.splits else account.id
        who = Buyer(account.id, account.financial_class, first_payer, prepaid)
        override = line.unit_price
        if any(m.currency != account.currency for m in line.amounts):
            raise ValidationError(f"account {account.number} is kept in {account.currency}")
        priced = ctx.book.price(
            service_code(line.service_code),
            line.quantity,
            who=who,
            on=on,
            location=location,
            override_minor=override.minor if override is not None else None,
            override_reason=line.override_reason,
        )
        svc = priced.service
        gl = svc.revenue_gl or await revenue_code(conn, db, svc.category)
        shares = share_out(priced.amount_minor, account.id, line.splits)
        planned.append(PlannedLine(priced, on, line.doctor, location, gl, shares))
    return planned


async def write_details(tx: Tx, plan: InvoicePlan, entry_id: int) -> None:
    lines, shares = plan.detail_rows(entry_id)
    await tx.conn.execute(charge_line.insert(), lines)
    if shares:
        await tx.conn.execute(charge_share.insert(), shares)


async def post_charges(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    lines: Sequence[ChargeLine],
    key: str,
    bill_date: date | None = None,
    source: str = "staff",
    reference: str | None = None,
    memo: str = "",
    then: FollowUp | None = None,
) -> Invoice:
    """Post a visit's lines as one invoice: one open item per payer, due by each
    payer's terms. Asking again with the same ``key`` returns the first invoice and
    writes nothing, even if prices or stock have changed since. ``then`` runs in the
    same transaction (a draft marks itself final)."""
    await account_for(db, actor, account_id, Permission.POST_CHARGE)
    if (done := await prior_entry(db, key)) is not None:
        return await load_invoice(db, done)
    bill = bill_date or max((ln.service_date or today(db.clock) for ln in lines), default=None)
    if bill is None:
        raise ValidationError("a charge needs at least one line")
    codes = [service_code(ln.service_code) for ln in lines]
    split_payers = [s.payer_account_id for ln in lines for s in ln.splits]
    async with db.read() as conn:
        ctx = await load_context(conn, codes, [account_id, *split_payers])
        terms = await TermsBook.load(conn, ctx.payers)
        ctx.payers = {i: terms.on(payer, bill) for i, payer in ctx.payers.items()}
        account = ctx.payers[account_id]
        require(actor, Permission.POST_CHARGE, account.location)
        for payer in ctx.payers.values():
            await refuse_closed(conn, payer)
        planned = await plan_lines(conn, db, ctx, account, lines, bill)
    plan = plan_invoice(
        account,
        ctx.payers,
        planned,
        ctx.stock,
        bill_date=bill,
        key=key,
        actor=actor.label,
        source=source,
        reference=reference,
        memo=memo,
    )

    async with db.read() as conn:
        warnings = await credit_warnings(conn, plan, ctx, bill)

    async def work(tx: Tx) -> PostedEntry:
        entry = await post_entry(tx, plan.draft)
        await write_details(tx, plan, entry.id)
        await move_stock(
            tx, ctx.stock, plan.stock, reason="charge", actor=actor.label, entry_id=entry.id
        )
        await consume_prepaid(tx, ctx, account, plan, entry)
        if then is not None:
            await then(tx, entry)
        return entry

    async def again(conn: AsyncConnection) -> PostedEntry:
        return await replay(conn, key, plan.draft.fingerprint())

    invoice = await load_invoice(db, await run_once(db, work, again))
    return replace(invoice, warnings=warnings)


async def credit_warnings(
    conn: AsyncConnection, plan: InvoicePlan, ctx: Context, on: date
) -> tuple[str, ...]:
    """A warning for each payer the visit takes past its credit limit (AR-035): the
    hospital still treats and bills, but staff see it at once."""
    found = []
    for payer_id, line_no in plan.payer_lines.items():
        adding = plan.draft.lines[line_no - 1].amount
        over = await over_credit_limit(conn, payer_id, on, adding)
        if over is not None:
            number = ctx.payers[payer_id].number
            found.append(f"account {number} goes {over} over its credit limit")
    return tuple(found)


async def consume_prepaid(
    tx: Tx, ctx: Context, account: Account, plan: InvoicePlan, entry: PostedEntry
) -> int:
    """Use what ``account`` holds in prepayments against its share of ``entry``."""
    line_no = plan.payer_lines.get(account.id)
    if not ctx.held.get(account.id) or line_no is None:
        return 0
    # Another visit may have used the prepayment since this one was priced: read what is
    # held again under the account's lock, so one prepayment is never used twice.
    await lock_account(tx, account.id)
    held = (await held_prepayments(tx.conn, [account.id])).get(account.id)
    if not held:
        return 0
    wanted: dict[str, int] = defaultdict(int)
    for pl in plan.lines:
        wanted[pl.priced.service.code] += pl.shares.get(account.id, 0)
    item_id = entry.lines[line_no - 1].item_id
    assert item_id is not None
    return await use_held(
        tx,
        held,
        account_id=account.id,
        item_id=item_id,
        wanted=dict(wanted),
        on=entry.effective_date,
        key=entry.idempotency_key,
        actor=entry.actor,
        source=entry.source,
    )


async def load_invoice(db: Database, entry: PostedEntry) -> Invoice:
    """A posted charge as its invoice: lines, what each payer owes, prepayment used."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(charge_line)
            .where(charge_line.c.entry_id == entry.id)
            .order_by(charge_line.c.seq)
        )
        lines = tuple(dict(r._mapping) for r in rows)
        flagged = await conn.execute(
            select(stock_movement.c.item_code).where(
                stock_movement.c.entry_id == entry.id, stock_movement.c.flagged.is_(True)
            )
        )
        uses = await entries_under(conn, f"{entry.idempotency_key}/prepaid/")
    currency = entry.lines[0].amount.currency
    owed = {
        ln.account_id: ln.amount
        for ln in entry.lines
        if ln.account_id is not None and ln.item_id is not None
    }
    used = sum((u.lines[0].amount.minor for u in uses), 0)
    return Invoice(entry, lines, owed, Money(used, currency), tuple(flagged.scalars()))
