"""Importing charges: each row is one service on one account, posted as its own
invoice with the same pricing, stock and prepayment rules as a charge staff enter
(:mod:`core.billing.charges`), through the ledger's bulk path.

The row's ``external_id`` is its idempotency key (``import/charge/<external_id>``): a
row already imported is counted as such and not looked at again, so the rerun of a
file after a crash, or of a file sent twice, posts only what is new.

The batch's control amount is the list value of its rows: quantity times the row's
``unit_price`` where it has one, else the catalogue (or location) price on the
service date, before pricing rules: a figure the sending system can compute too.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from core.auth import Actor, Permission, require
from core.billing.catalogue import service_code
from core.billing.charges import Context, consume_prepaid
from core.billing.invoice import InvoicePlan, PlannedLine, plan_invoice
from core.billing.prepaid import held_prepayments
from core.billing.pricing import Buyer, load_price_book
from core.billing.tables import charge_line
from core.clock import today
from core.customers import refuse_charges
from core.db import Database, Tx
from core.db.bulk import MultiRowInsert, collector_paused, insert_columns
from core.errors import ArbotError
from core.imports import (
    BatchRefused,
    Control,
    Reject,
    Report,
    Row,
    RowError,
    check_control,
    check_header,
    day,
    duplicate_keys,
    money,
    required,
    whole,
)
from core.imports.lookup import (
    accounts_by_number,
    closed_periods,
    in_closed_period,
    statuses,
)
from core.inventory import StockItem, load_stock_items, move_stock_many, on_hand_many
from core.ledger.accounts import Account
from core.ledger.bulk import existing_keys, post_batch
from core.ledger.posting import revenue_code
from core.money import Money
from core.profile.credit import TermsBook

REQUIRED = ("external_id", "account_number", "service_code", "quantity", "service_date")
OPTIONAL = ("doctor", "location", "unit_price")
IMPORTED_PRICE = "price from the billing system"
_INSERT_DETAILS = MultiRowInsert(charge_line, insert_columns(charge_line))


def charge_key(external_id: str) -> str:
    return f"import/charge/{external_id}"


@dataclass(slots=True)
class _Batch:
    """What validation found: the plans to post, in row order."""

    plans: list[InvoicePlan]
    accounts: dict[int, Account]
    ctx: Context
    list_value: dict[str, int]


async def import_charges(
    db: Database,
    actor: Actor,
    header: Sequence[str],
    rows: Sequence[Row],
    *,
    control: Control | None = None,
    label: str = "charges",
) -> Report:
    """Validate every row, check the control totals, then post the valid rows in one
    transaction; returns what was written, what was in already, what was rejected."""
    with collector_paused():
        return await _import_charges(db, actor, header, rows, control=control, label=label)


async def _import_charges(
    db: Database,
    actor: Actor,
    header: Sequence[str],
    rows: Sequence[Row],
    *,
    control: Control | None = None,
    label: str = "charges",
) -> Report:
    require(actor, Permission.POST_CHARGE)
    check_header("charges", header, REQUIRED, OPTIONAL)
    report = Report("charges", rows=len(rows))
    batch = await _validate(db, actor, duplicate_keys(rows, "external_id", report), report)
    currencies = sorted(batch.list_value) or ["USD"]
    if control is not None and control.amount is not None and len(currencies) > 1:
        raise BatchRefused(f"a control amount needs one currency, not {currencies}", report)
    report.amount = Money(batch.list_value.get(currencies[0], 0), currencies[0])
    check_control(report, control, report.amount)
    if batch.plans:
        async with db.transaction() as tx:
            report.written = await _post(tx, actor, batch, label)
            report.audit(tx, actor, label)
    report.rejects.sort(key=lambda r: r.row)
    return report


async def _validate(db: Database, actor: Actor, rows: Sequence[Row], report: Report) -> _Batch:
    async with db.read() as conn:
        done = await existing_keys(conn, [charge_key(r.get("external_id")) for r in rows])
        accounts = await accounts_by_number(conn, {r.get("account_number") for r in rows})
        status = await statuses(conn, [a.id for a in accounts.values()])
        codes = _codes(rows)
        book = await load_price_book(conn, set(codes.values()))
        stock = await load_stock_items(
            conn, [s.stock_item for s in book.services.values() if s.stock_item]
        )
        held = await held_prepayments(conn, [a.id for a in accounts.values()])
        categories = {s.category for s in book.services.values()}
        revenue = {c: await revenue_code(conn, db, c) for c in categories}
        levels = await on_hand_many(conn, stock.keys())
        closed = await closed_periods(conn)
        terms = await TermsBook.load(conn, [a.id for a in accounts.values()])
    ctx = Context(book, stock, {a.id: a for a in accounts.values()}, held)
    batch = _Batch([], ctx.payers, ctx, defaultdict(int))
    check = _Checks(accounts, ctx, revenue, today(db.clock), batch, codes)
    label, allowed = actor.label, set[str]()
    for row in rows:
        check.count(row)
        external_id = row.get("external_id")
        key = charge_key(external_id)
        if key in done:
            report.already += 1
            continue
        try:
            account, line = check.line(row)
            if account.location not in allowed:
                require(actor, Permission.POST_CHARGE, account.location)
                allowed.add(account.location)
            refuse_charges(account.number, status.get(account.id, "active"))
            if in_closed_period(line.service_date, closed):
                raise RowError(f"service_date {line.service_date} falls in a closed period")
            plan = plan_invoice(
                terms.on(account, line.service_date),
                ctx.payers,
                [line],
                stock,
                bill_date=line.service_date,
                key=key,
                actor=label,
                source="import",
                reference=external_id,
            )
            _take_stock(line, stock, levels)  # last: a rejected row takes nothing
        except ArbotError as exc:
            report.rejects.append(Reject(row.number, external_id, str(exc)))
            continue
        check.spend(account, line)
        batch.plans.append(plan)
    return batch


def _codes(rows: Sequence[Row]) -> dict[str, str]:
    """Each service code as typed -> as the catalogue keeps it (the readable ones)."""
    codes: dict[str, str] = {}
    for text in {r.get("service_code") for r in rows}:
        with contextlib.suppress(ArbotError):
            codes[text] = service_code(text)
    return codes


@dataclass(slots=True)
class _Checks:
    accounts: dict[str, Account]
    ctx: Context
    revenue: dict[str, str]
    today: date
    batch: _Batch
    codes: dict[str, str]
    buyers: dict[int, Buyer] = field(default_factory=dict)
    held: dict[int, dict[str, int]] = field(default_factory=dict)
    """Per account, what it still holds prepaid per service as the rows are planned."""

    def __post_init__(self) -> None:
        for account_id, found in self.ctx.held.items():
            for h in found:
                if h.service_code is not None:
                    bucket = self.held.setdefault(account_id, {})
                    bucket[h.service_code] = bucket.get(h.service_code, 0) + h.remaining_minor

    def buyer(self, account: Account) -> Buyer:
        """Who pays an imported line: the account itself (a file carries no splits),
        holding a prepayment for the services it has not used up on earlier rows."""
        held = self.held.get(account.id)
        if held is not None:
            prepaid = frozenset(code for code, left in held.items() if left > 0)
            return Buyer(account.id, account.financial_class, account.id, prepaid)
        found = self.buyers.get(account.id)
        if found is None:
            found = Buyer(account.id, account.financial_class, account.id, frozenset())
            self.buyers[account.id] = found
        return found

    def spend(self, account: Account, line: PlannedLine) -> None:
        """An accepted row uses up what the account holds prepaid for its service."""
        held = self.held.get(account.id)
        code = line.priced.service.code
        if held is not None and code in held:
            held[code] -= line.priced.amount_minor

    def count(self, row: Row) -> None:
        """Add the row's list value to the batch's counted amount, whatever happens to
        the row later: quantity times its ``unit_price`` or the list price (at the row's
        location, else its account's). Rows whose service, quantity, date or price cannot
        be read count nothing: they are rejected and the control amount will disagree."""
        with contextlib.suppress(ArbotError):
            values = row.values
            code = self.codes.get(values.get("service_code") or "")
            served = day(row, "service_date")
            if code is None or served is None:
                return
            svc = self.ctx.book.service(code)
            quantity = whole(row, "quantity")
            account = self.accounts.get(values.get("account_number") or "")
            location = values.get("location") or (account.location if account else "")
            if values.get("unit_price"):
                unit = money(row, "unit_price", svc.currency).minor
            else:
                unit = self.ctx.book.list_price(svc, location, served)
            self.batch.list_value[svc.currency] += unit * quantity

    def line(self, row: Row) -> tuple[Account, PlannedLine]:
        """Price one row for its account, or say what is wrong with it."""
        values = row.values  # the hot path: one dict lookup per column
        if len(required(row, "external_id")) > 150:
            raise RowError("external_id is longer than 150 characters")
        number = values.get("account_number") or required(row, "account_number")
        account = self.accounts.get(number)
        if account is None:
            raise RowError(f"there is no account {number}")
        text = values.get("service_code") or required(row, "service_code")
        code = self.codes.get(text) or service_code(text)
        quantity = whole(row, "quantity")
        served = day(row, "service_date")
        assert served is not None
        if served > self.today:
            raise RowError(f"service_date {served} is in the future")
        location = values.get("location") or account.location
        book = self.ctx.book
        svc = book.service(code)
        override = money(row, "unit_price", account.currency) if values.get("unit_price") else None
        priced = book.price(
            code,
            quantity,
            who=self.buyer(account),
            on=served,
            location=location,
            override_minor=override.minor if override else None,
            override_reason=IMPORTED_PRICE if override else None,
        )
        gl = svc.revenue_gl or self.revenue[svc.category]
        doctor = (values.get("doctor") or "")[:60] or None
        return account, PlannedLine(
            priced, served, doctor, location, gl, {account.id: priced.amount_minor}
        )


def _take_stock(
    line: PlannedLine, stock: dict[str, StockItem], levels: dict[tuple[str, str], int]
) -> None:
    code = line.priced.service.stock_item
    if code is None:
        return
    item = stock[code]
    store = item.store(line.location)
    left = levels.get((code, store), 0) - line.priced.quantity
    if left < 0 and item.negative_policy == "refuse":
        raise RowError(
            f"only {levels.get((code, store), 0)} {item.unit} of {code} left at {store}; "
            f"{line.priced.quantity} needed"
        )
    levels[(code, store)] = left


async def _post(tx: Tx, actor: Actor, batch: _Batch, label: str) -> int:
    posted = await post_batch(tx, [p.draft for p in batch.plans], label=label)
    ids = posted.entry_ids
    details: list[dict[str, object]] = []
    moves: list[tuple[int, str, str, int]] = []
    for plan in batch.plans:
        key = plan.draft.idempotency_key
        entry_id = ids.get(key)
        if entry_id is None:  # another run posted it since validation
            continue
        lines, _ = plan.detail_rows(entry_id)
        details.extend(lines)
        moves.extend((entry_id, code, store, d) for (code, store), d in plan.stock.items())
        account_id = next(iter(plan.lines[0].shares))
        if batch.ctx.held.get(account_id):
            entry = posted.entry(key)
            await consume_prepaid(tx, batch.ctx, batch.accounts[account_id], plan, entry)
    await _INSERT_DETAILS.run(tx.conn, details)
    if moves:
        await move_stock_many(tx, batch.ctx.stock, moves, reason="charge", actor=actor.label)
    return len(posted)
