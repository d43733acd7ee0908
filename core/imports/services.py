"""Importing the service catalogue: each row adds a service or updates it, and may name
the stock item it uses and how many are on hand (BI-01, BI-11, BI-25).

A stock item first named by this import is kept centrally; ``stock`` is its opening
quantity in the central store, logged as a movement. Once an item has stock
movements, ``stock`` is ignored: importing the file again must not undo what billing
has taken since (later counts are stock movements of their own). A row for a service that is
already in the catalogue exactly as the row says counts as already imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from core.auth import Actor, Permission, require
from core.billing.catalogue import NewService, check_service, save_service, service_code
from core.billing.tables import CATEGORIES, stock_movement
from core.db import Database, Tx
from core.errors import ArbotError, ValidationError
from core.imports import (
    Control,
    Reject,
    Report,
    Row,
    RowError,
    check_count,
    check_header,
    duplicate_keys,
    required,
)
from core.inventory import CENTRAL, load_stock_items, move_stock, save_stock_item
from core.money import currency_exponent, parse_money

REQUIRED = ("code", "description", "category", "price", "currency")
OPTIONAL = ("inventory_item", "stock")


@dataclass(frozen=True, slots=True)
class _Service:
    row: int
    new: NewService
    stock: int | None


def _service(row: Row) -> _Service:
    code = service_code(required(row, "code"))
    category = required(row, "category").lower()
    if category not in CATEGORIES:
        raise RowError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    currency = required(row, "currency").upper()
    try:
        currency_exponent(currency)
        price = parse_money(required(row, "price"), currency)
    except RowError:
        raise
    except ValidationError as exc:
        raise RowError(f"price: {exc}") from exc
    item = service_code(row.get("inventory_item")) if row.get("inventory_item") else None
    stock_text = row.get("stock")
    if stock_text and item is None:
        raise RowError("stock is given but inventory_item is empty")
    if stock_text and not stock_text.lstrip("-").isdigit():
        raise RowError(f"stock {stock_text!r} is not a whole number")
    description = required(row, "description")
    new = NewService(code, description, category, price, stock_item=item)
    return _Service(row.number, new, int(stock_text) if stock_text else None)


async def import_services(
    db: Database,
    actor: Actor,
    header: Sequence[str],
    rows: Sequence[Row],
    *,
    control: Control | None = None,
) -> Report:
    """Add or update every valid service in one transaction; a row count in
    ``control`` that disagrees refuses the batch."""
    require(actor, Permission.MANAGE_CATALOGUE)
    check_header("services", header, REQUIRED, OPTIONAL)
    report = Report("services", rows=len(rows))
    check_count(report, control)
    valid: list[_Service] = []
    for row in duplicate_keys(rows, "code", report):
        try:
            valid.append(_service(row))
        except ArbotError as exc:
            report.rejects.append(Reject(row.number, row.get("code"), str(exc)))
    if valid:
        async with db.transaction() as tx:
            for item in valid:
                audited = len(tx.pending_audit)
                try:
                    async with tx.conn.begin_nested():  # a refused row leaves nothing
                        changed = await _save(tx, actor, item)
                except ArbotError as exc:
                    del tx.pending_audit[audited:]
                    report.rejects.append(Reject(item.row, item.new.code, str(exc)))
                    continue
                report.written += changed
                report.already += not changed
            if report.written:  # a rerun that changed nothing leaves no trace
                report.audit(tx, actor, "services")
    report.rejects.sort(key=lambda r: r.row)
    return report


async def _has_moved(tx: Tx, code: str) -> bool:
    found = await tx.conn.execute(
        select(stock_movement.c.id).where(stock_movement.c.item_code == code).limit(1)
    )
    return found.first() is not None


async def _save(tx: Tx, actor: Actor, item: _Service) -> bool:
    """Write one service (and its stock item and level); True if anything changed."""
    code = item.new.stock_item
    changed = False
    if code is not None:
        known = await load_stock_items(tx.conn, [code])
        if code not in known:
            await save_stock_item(tx, actor, code, item.new.description, central=True)
            known = await load_stock_items(tx.conn, [code])
            changed = True
        if item.stock is not None and not await _has_moved(tx, code):
            if not known[code].central:
                raise RowError(
                    f"{code} is kept per location: count its stock at each location instead"
                )
            await move_stock(
                tx, known, {(code, CENTRAL): item.stock}, reason="import", actor=actor.label
            )
            changed = True
    row = await check_service(tx.conn, item.new)
    return await save_service(tx, actor, row) or changed
