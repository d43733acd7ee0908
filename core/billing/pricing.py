"""Pricing: what one charge line costs, and why.

A line starts from the service's list price: the location's price list where it has
one for the service date, else the catalogue price. Then at most one pricing rule
sets the price (BI-09, BI-26, BI-27). A rule is a percent off, an amount off per unit,
or a fixed unit price (a payer's negotiated price, a package price, a prepaid-bundle
rate), limited to a service or a category, a patient, a payer, a financial class or a
location, and valid between two dates. Where several rules match, the most specific
wins, in this order: the patient's own deal, then the payer's, then the financial
class's, then one for the service over one for its category over one for everything,
then one for the location; ties go to the lower ``priority`` number, then the older
rule. Rules never stack, so staff can always say which deal a price came from.

A price typed by staff (an override) needs a reason and beats every rule. The rule or
reason is kept on the charge line, so its effect on revenue can be reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.tables import pricing_rule, service, service_price
from core.errors import NotFound, ValidationError


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    description: str
    category: str
    price_minor: int
    currency: str
    revenue_gl: str | None
    stock_item: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    name: str
    kind: str
    percent_bp: int | None
    amount_minor: int | None
    currency: str | None
    service_code: str | None
    category: str | None
    payer_account_id: int | None
    financial_class: str | None
    account_id: int | None
    location: str | None
    requires_prepayment: bool
    valid_from: date
    valid_to: date | None
    priority: int

    def matches(self, who: Buyer, svc: Service, on: date, location: str) -> bool:
        scope = (
            (self.service_code, svc.code),
            (self.category, svc.category),
            (self.account_id, who.account_id),
            (self.payer_account_id, who.payer_account_id),
            (self.financial_class, who.financial_class),
            (self.location, location),
        )
        return (
            all(wanted is None or wanted == actual for wanted, actual in scope)
            and self.valid_from <= on
            and (self.valid_to is None or on <= self.valid_to)
            and (self.currency is None or self.currency == svc.currency)
            and (not self.requires_prepayment or svc.code in who.prepaid_services)
        )

    def rank(self) -> tuple[int, ...]:
        """Sort key: the most specific rule first (see the module docstring)."""
        target = 2 if self.service_code else 1 if self.category else 0
        return (
            -(self.account_id is not None),
            -(self.payer_account_id is not None),
            -(self.financial_class is not None),
            -target,
            -(self.location is not None),
            self.priority,
            self.id,
        )

    def total(self, list_total: int, quantity: int) -> int:
        """The line's price under this rule, from its list total."""
        if self.kind == "percent":
            assert self.percent_bp is not None
            return list_total - (list_total * self.percent_bp + 5_000) // 10_000
        assert self.amount_minor is not None
        if self.kind == "amount":
            return max(0, list_total - self.amount_minor * quantity)
        return self.amount_minor * quantity


@dataclass(frozen=True, slots=True)
class Buyer:
    """Who a line is billed to, as pricing rules see it."""

    account_id: int
    financial_class: str
    payer_account_id: int
    prepaid_services: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Priced:
    service: Service
    quantity: int
    list_unit_minor: int
    amount_minor: int
    rule: Rule | None
    override_reason: str | None

    @property
    def list_total_minor(self) -> int:
        return self.list_unit_minor * self.quantity


@dataclass(frozen=True, slots=True)
class PriceBook:
    """The services, location prices and rules a set of charges can need."""

    services: dict[str, Service]
    location_prices: dict[tuple[str, str], tuple[tuple[date, date | None, int], ...]]
    rules: tuple[Rule, ...]

    def service(self, code: str) -> Service:
        found = self.services.get(code)
        if found is None:
            raise NotFound(f"there is no service {code!r} in the catalogue")
        if not found.active:
            raise ValidationError(f"service {code} is no longer offered")
        return found

    def list_price(self, svc: Service, location: str, on: date) -> int:
        for start, end, price in self.location_prices.get((svc.code, location), ()):
            if start <= on and (end is None or on <= end):
                return price
        return svc.price_minor

    def price(
        self,
        code: str,
        quantity: int,
        *,
        who: Buyer,
        on: date,
        location: str,
        override_minor: int | None = None,
        override_reason: str | None = None,
    ) -> Priced:
        if quantity <= 0:
            raise ValidationError(f"quantity must be a whole number above zero, not {quantity}")
        svc = self.service(code)
        unit = self.list_price(svc, location, on)
        if override_minor is not None:
            if override_minor < 0:
                raise ValidationError("a price cannot be negative")
            if not (override_reason or "").strip():
                raise ValidationError(f"say why the price of {code} is overridden")
            return Priced(svc, quantity, unit, override_minor * quantity, None, override_reason)
        matching = [r for r in self.rules if r.matches(who, svc, on, location)]
        if not matching:
            return Priced(svc, quantity, unit, unit * quantity, None, None)
        best = min(matching, key=Rule.rank)
        return Priced(svc, quantity, unit, best.total(unit * quantity, quantity), best, None)


def _service(row: object) -> Service:
    r = row._mapping  # type: ignore[attr-defined]
    return Service(
        r["code"],
        r["description"],
        r["category"],
        r["price_minor"],
        r["currency"],
        r["revenue_gl"],
        r["stock_item_code"],
        r["active"],
    )


async def load_price_book(conn: AsyncConnection, codes: Iterable[str]) -> PriceBook:
    """Everything needed to price the services ``codes``, in three queries."""
    wanted = sorted(set(codes))
    services = {
        r.code: _service(r)
        for r in await conn.execute(select(service).where(service.c.code.in_(wanted)))
    }
    prices: dict[tuple[str, str], list[tuple[date, date | None, int]]] = {}
    rows = await conn.execute(
        select(service_price)
        .where(service_price.c.service_code.in_(wanted))
        .order_by(service_price.c.valid_from.desc(), service_price.c.id.desc())
    )
    for p in rows:
        prices.setdefault((p.service_code, p.location), []).append(
            (p.valid_from, p.valid_to, p.price_minor)
        )
    categories = sorted({s.category for s in services.values()})
    rule_rows = await conn.execute(
        select(pricing_rule).where(
            pricing_rule.c.active.is_(True),
            or_(pricing_rule.c.service_code.is_(None), pricing_rule.c.service_code.in_(wanted)),
            or_(pricing_rule.c.category.is_(None), pricing_rule.c.category.in_(categories)),
        )
    )
    rules = tuple(
        Rule(
            r.id,
            r.name,
            r.kind,
            r.percent_bp,
            r.amount_minor,
            r.currency,
            r.service_code,
            r.category,
            r.payer_account_id,
            r.financial_class,
            r.account_id,
            r.location,
            r.requires_prepayment,
            r.valid_from,
            r.valid_to,
            r.priority,
        )
        for r in rule_rows
    )
    return PriceBook(services, {k: tuple(v) for k, v in prices.items()}, rules)
