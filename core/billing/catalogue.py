"""The service catalogue, its price lists and pricing rules: master data staff keep.

Every change is checked before it is written and goes into the audit trail with what
it was before (BI-01, BI-26).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.billing.tables import CATEGORIES, pricing_rule, service, service_price, stock_item
from core.db import Database, Tx, inserted_id
from core.errors import NotFound, ValidationError
from core.ledger.tables import customer_account, gl_account
from core.money import Money, currency_exponent

CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def service_code(text: str) -> str:
    """Codes are kept upper case: ``xr-chest`` and ``XR-CHEST`` are one service."""
    code = text.strip().upper()
    if not code or len(code) > 30 or not set(code) <= CODE_CHARS:
        raise ValidationError(
            f"{text!r} is not a service code (letters, digits, '-', '_' or '.', at most 30)"
        )
    return code


@dataclass(frozen=True, slots=True)
class NewService:
    code: str
    description: str
    category: str
    price: Money
    revenue_gl: str | None = None
    stock_item: str | None = None
    active: bool = True


async def _exists(conn: AsyncConnection, column: Any, value: object) -> bool:
    return (await conn.execute(select(column).where(column == value))).first() is not None


async def check_service(conn: AsyncConnection, new: NewService) -> dict[str, Any]:
    """The row ``new`` would write, or a ValidationError saying what is wrong with it."""
    code = service_code(new.code)
    if not new.description.strip():
        raise ValidationError(f"service {code} needs a description")
    if new.category not in CATEGORIES:
        raise ValidationError(
            f"{new.category!r} is not a category; use one of {', '.join(CATEGORIES)}"
        )
    if new.price.minor < 0:
        raise ValidationError(f"the price of {code} cannot be negative")
    currency_exponent(new.price.currency)
    if new.revenue_gl is not None and not await _exists(conn, gl_account.c.code, new.revenue_gl):
        raise ValidationError(f"there is no GL account {new.revenue_gl} for {code}'s revenue")
    stock = service_code(new.stock_item) if new.stock_item else None
    if stock is not None and not await _exists(conn, stock_item.c.code, stock):
        raise ValidationError(f"there is no stock item {stock} (define it first)")
    return {
        "code": code,
        "description": new.description.strip()[:200],
        "category": new.category,
        "price_minor": new.price.minor,
        "currency": new.price.currency,
        "revenue_gl": new.revenue_gl,
        "stock_item_code": stock,
        "active": new.active,
    }


async def save_service(tx: Tx, actor: Actor, row: dict[str, Any]) -> bool:
    """Insert or update one checked service row; True when it changed anything."""
    found = (
        (await tx.conn.execute(select(service).where(service.c.code == row["code"])))
        .mappings()
        .first()
    )
    if found is not None and dict(found) == row:
        return False
    if found is None:
        await tx.conn.execute(service.insert().values(**row))
    else:
        await tx.conn.execute(service.update().where(service.c.code == row["code"]).values(**row))
    before = None if found is None else {k: v for k, v in found.items() if row[k] != v}
    after = {k: v for k, v in row.items() if before is None or k in before}
    tx.audit(
        actor.label,
        "staff",
        "catalogue.service",
        f"service {row['code']}",
        before=before,
        after=after,
    )
    return True


async def define_service(db: Database, actor: Actor, new: NewService) -> str:
    """Add a service to the catalogue, or change it; returns its code (BI-01)."""
    require(actor, Permission.MANAGE_CATALOGUE)
    async with db.transaction() as tx:
        row = await check_service(tx.conn, new)
        await save_service(tx, actor, row)
    return str(row["code"])


async def set_location_price(
    db: Database,
    actor: Actor,
    *,
    code: str,
    location: str,
    price: Money,
    valid_from: date,
    valid_to: date | None = None,
) -> int:
    """A location's own price for a service from ``valid_from`` (until ``valid_to``)."""
    require(actor, Permission.MANAGE_CATALOGUE, location)
    code = service_code(code)
    if price.minor < 0:
        raise ValidationError("a price cannot be negative")
    if valid_to is not None and valid_to < valid_from:
        raise ValidationError(f"the price ends ({valid_to}) before it starts ({valid_from})")
    async with db.transaction() as tx:
        currency = (
            await tx.conn.execute(select(service.c.currency).where(service.c.code == code))
        ).scalar()
        if currency is None:
            raise NotFound(f"there is no service {code!r} in the catalogue")
        if currency != price.currency:
            raise ValidationError(f"service {code} is priced in {currency}, not {price.currency}")
        new_id = inserted_id(
            await tx.conn.execute(
                service_price.insert().values(
                    service_code=code,
                    location=location,
                    price_minor=price.minor,
                    valid_from=valid_from,
                    valid_to=valid_to,
                )
            )
        )
        tx.audit(
            actor.label,
            "staff",
            "catalogue.price",
            f"service {code}",
            location=location,
            price=str(price),
            valid_from=valid_from.isoformat(),
        )
    return new_id


@dataclass(frozen=True, slots=True)
class NewRule:
    """A pricing rule; exactly one of ``percent`` (e.g. ``"10"`` or ``"12.5"``) and
    ``amount`` (off per unit, or the fixed unit price) goes with its ``kind``."""

    name: str
    kind: str
    valid_from: date
    percent: str | None = None
    amount: Money | None = None
    service_code: str | None = None
    category: str | None = None
    payer_account_id: int | None = None
    financial_class: str | None = None
    account_id: int | None = None
    location: str | None = None
    requires_prepayment: bool = False
    valid_to: date | None = None
    priority: int = 100


def _percent_bp(text: str) -> int:
    whole, _, fraction = text.strip().rstrip("%").partition(".")
    if not whole.isdigit() or (fraction and (not fraction.isdigit() or len(fraction) > 2)):
        raise ValidationError(f"{text!r} is not a percentage (10, 12.5 or 12.25)")
    bp = int(whole) * 100 + int(fraction.ljust(2, "0") or 0)
    if not 0 < bp <= 10_000:
        raise ValidationError(f"a percentage must be above 0 and at most 100, not {text}")
    return bp


async def _check_rule(conn: AsyncConnection, rule: NewRule) -> dict[str, Any]:
    if not rule.name.strip():
        raise ValidationError("a pricing rule needs a name")
    if rule.kind not in ("percent", "amount", "fixed"):
        raise ValidationError(f"{rule.kind!r} is not a kind of rule; use percent, amount or fixed")
    if (rule.kind == "percent") != (rule.percent is not None) or (rule.amount is None) == (
        rule.kind != "percent"
    ):
        raise ValidationError(
            "a percent rule takes a percentage; amount and fixed rules take an amount"
        )
    if rule.amount is not None and rule.amount.minor < 0:
        raise ValidationError("a rule's amount cannot be negative")
    if rule.valid_to is not None and rule.valid_to < rule.valid_from:
        raise ValidationError(f"the rule ends ({rule.valid_to}) before it starts")
    code = service_code(rule.service_code) if rule.service_code else None
    if code is not None and not await _exists(conn, service.c.code, code):
        raise NotFound(f"there is no service {code!r} in the catalogue")
    if rule.category is not None and rule.category not in CATEGORIES:
        raise ValidationError(f"{rule.category!r} is not a category")
    for account_id in (rule.account_id, rule.payer_account_id):
        if account_id is not None and not await _exists(conn, customer_account.c.id, account_id):
            raise NotFound(f"there is no account {account_id}")
    if rule.requires_prepayment and code is None:
        raise ValidationError("a prepaid-bundle rule must name the service that is prepaid")
    row = asdict(rule)
    row.pop("percent")
    row.pop("amount")
    return row | {
        "name": rule.name.strip(),
        "service_code": code,
        "percent_bp": _percent_bp(rule.percent) if rule.percent is not None else None,
        "amount_minor": rule.amount.minor if rule.amount is not None else None,
        "currency": rule.amount.currency if rule.amount is not None else None,
    }


async def define_rule(db: Database, actor: Actor, rule: NewRule) -> int:
    """Add a pricing rule (BI-26, BI-27); rules are ended, never edited, so the rule a
    past charge names still says what it did."""
    require(actor, Permission.MANAGE_CATALOGUE)
    async with db.transaction() as tx:
        row = await _check_rule(tx.conn, rule)
        rule_id = inserted_id(
            await tx.conn.execute(
                pricing_rule.insert().values(
                    **row, created_at=tx.db.clock.now(), actor=actor.label
                )
            )
        )
        tx.audit(
            actor.label,
            "staff",
            "catalogue.rule",
            f"rule {rule_id}",
            name=row["name"],
            kind=row["kind"],
            service=row["service_code"],
        )
    return rule_id


async def end_rule(db: Database, actor: Actor, rule_id: int, *, last_day: date) -> None:
    """Stop a rule after ``last_day``; charges it priced keep naming it."""
    require(actor, Permission.MANAGE_CATALOGUE)
    async with db.transaction() as tx:
        start = (
            await tx.conn.execute(
                select(pricing_rule.c.valid_from).where(pricing_rule.c.id == rule_id)
            )
        ).scalar()
        if start is None:
            raise NotFound(f"there is no pricing rule {rule_id}")
        if last_day < start:
            raise ValidationError(f"rule {rule_id} starts on {start}, after {last_day}")
        await tx.conn.execute(
            pricing_rule.update().where(pricing_rule.c.id == rule_id).values(valid_to=last_day)
        )
        tx.audit(
            actor.label,
            "staff",
            "catalogue.rule_end",
            f"rule {rule_id}",
            last_day=last_day.isoformat(),
        )
