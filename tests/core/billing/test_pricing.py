"""Pricing: list prices, location price lists, the one rule that sets a price, and
overrides (BI-01, BI-09, BI-26, BI-27).

The first half prices lines on a hand-built PriceBook, with no database; the second
posts visits and checks what a billing clerk sees: the charge lines naming their rule
or reason, what the patient owes, and revenue at list with the discount beside it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from core.billing.catalogue import end_rule, set_location_price
from core.billing.charges import ChargeLine
from core.billing.pricing import Buyer, PriceBook, Priced, Rule, Service
from core.db import Database
from core.errors import NotFound, ValidationError
from core.money import Money
from tests.core.billing.helpers import (
    DAY,
    SEASON,
    charge,
    charge_lines,
    footprint,
    gl_effect,
    rule,
    service,
)
from tests.core.helpers import ADMIN, balance_of, open_account, usd

CONS = Service("CONS", "Consultation", "consultation", 100_00, "USD", None, None, True)
XRAY = Service("XRAY", "X-ray", "imaging", 50_00, "USD", None, None, True)
GONE = Service("GONE", "Retired test", "lab", 10_00, "USD", None, None, False)
PATIENT = 1
INSURER = 9
INSURED = Buyer(PATIENT, "insured", INSURER)


BASE = Rule(
    id=0,
    name="",
    kind="percent",
    percent_bp=1_000,
    amount_minor=None,
    currency=None,
    service_code=None,
    category=None,
    payer_account_id=None,
    financial_class=None,
    account_id=None,
    location=None,
    requires_prepayment=False,
    valid_from=SEASON,
    valid_to=None,
    priority=100,
)
"""A rule for everything, 10% off, valid all season: each test narrows it."""


def make_rule(rule_id: int, **kwargs: Any) -> Rule:
    return replace(BASE, id=rule_id, name=f"rule {rule_id}", **kwargs)


def make_book(*rules: Rule, prices: dict[Any, Any] | None = None) -> PriceBook:
    return PriceBook({s.code: s for s in (CONS, XRAY, GONE)}, prices or {}, rules)


def price_of(book: PriceBook, code: str = "CONS", quantity: int = 1, **kwargs: Any) -> Priced:
    kwargs.setdefault("who", INSURED)
    kwargs.setdefault("on", DAY)
    kwargs.setdefault("location", "main")
    return book.price(code, quantity, **kwargs)


def winner(book: PriceBook, **kwargs: Any) -> int | None:
    rule_ = price_of(book, **kwargs).rule
    return rule_.id if rule_ else None


def test_the_most_specific_rule_wins_whatever_its_age() -> None:
    """BI-26: the patient's deal, then the payer's, then the financial class's, then a
    rule for the service over its category over everything. The more specific rules
    are the newer ones here, so age cannot be what decides."""
    ladder = [
        make_rule(6, account_id=PATIENT),
        make_rule(5, payer_account_id=INSURER),
        make_rule(4, financial_class="insured"),
        make_rule(3, service_code="CONS"),
        make_rule(2, category="consultation"),
        make_rule(1),
    ]
    for i, expected in enumerate(ladder):
        assert winner(make_book(*ladder[i:])) == expected.id


def test_a_patient_deal_for_everything_beats_a_narrow_payer_price() -> None:
    """BI-26: who the deal is for ranks above what it covers, location or priority."""
    deal = make_rule(1, account_id=PATIENT)
    negotiated = make_rule(
        2, payer_account_id=INSURER, service_code="CONS", location="main", priority=1
    )
    assert winner(make_book(negotiated, deal)) == 1


def test_location_breaks_ties_only_after_service_category_and_scope() -> None:
    """BI-26: a category rule at this location loses to a service rule anywhere; among
    service rules, the one for this location wins, and only here."""
    anywhere = make_rule(1, service_code="CONS")
    category_here = make_rule(2, category="consultation", location="main")
    service_here = make_rule(3, service_code="CONS", location="main")
    assert winner(make_book(anywhere, category_here)) == 1
    assert winner(make_book(anywhere, category_here, service_here)) == 3
    assert winner(make_book(anywhere, category_here, service_here), location="north") == 1


def test_ties_go_to_the_lower_priority_number_then_the_older_rule() -> None:
    """BI-26: equally specific rules never stack: priority, then age, picks one."""
    older = make_rule(1, service_code="CONS", percent_bp=1_000)
    twin = make_rule(2, service_code="CONS", percent_bp=5_000)
    urgent = make_rule(3, service_code="CONS", percent_bp=2_000, priority=10)
    assert price_of(make_book(twin, older)).amount_minor == 90_00
    assert price_of(make_book(older, twin, urgent)).amount_minor == 80_00


@pytest.mark.parametrize(
    ("on", "applies"),
    [
        (date(2026, 2, 28), False),
        (date(2026, 3, 1), True),
        (date(2026, 3, 31), True),
        (date(2026, 4, 1), False),
    ],
)
def test_a_rule_applies_on_both_ends_of_its_dates_and_not_outside(on: date, applies: bool) -> None:
    """BI-27: a promotion applies on both its first and last day, not outside them."""
    spring = make_rule(1, valid_from=date(2026, 3, 1), valid_to=date(2026, 3, 31))
    assert (winner(make_book(spring), on=on) == 1) is applies


def test_location_price_lists_follow_their_dates_and_rules_start_from_them() -> None:
    """BI-01: the location's price for the service date, else the catalogue's."""
    prices = {
        ("CONS", "north"): (
            (date(2026, 4, 1), None, 120_00),
            (date(2026, 3, 1), date(2026, 3, 31), 110_00),
        )
    }
    book = make_book(prices=prices)
    for on, unit in [
        (date(2026, 2, 28), 100_00),
        (date(2026, 3, 15), 110_00),
        (date(2026, 3, 31), 110_00),
        (date(2026, 4, 1), 120_00),
    ]:
        assert price_of(book, location="north", on=on).list_unit_minor == unit
    assert price_of(book, location="main", on=date(2026, 3, 15)).list_unit_minor == 100_00
    with_rule = make_book(make_rule(1), prices=prices)
    priced = price_of(with_rule, quantity=2, location="north", on=date(2026, 3, 15))
    assert (priced.list_total_minor, priced.amount_minor) == (220_00, 198_00)


@pytest.mark.parametrize(
    ("kind", "value", "quantity", "unit", "expected"),
    [
        # Percent off rounds half up on the line total, not per unit: 10% of 3 x 0.35.
        ("percent", 1_000, 3, 35, 94),
        ("percent", 1_000, 1, 115, 103),
        ("percent", 1_250, 1, 100_00, 87_50),
        ("percent", 10_000, 2, 100_00, 0),
        ("percent", 1, 1, 49, 49),
        ("amount", 2_50, 3, 10_00, 22_50),
        ("amount", 12_00, 2, 10_00, 0),
        ("fixed", 80_00, 3, 100_00, 240_00),
        ("fixed", 120_00, 1, 100_00, 120_00),
    ],
)
def test_rule_arithmetic(kind: str, value: int, quantity: int, unit: int, expected: int) -> None:
    """BI-26: percent off the line, an amount off each unit (never below zero), or a
    fixed unit price."""
    percent = kind == "percent"
    rule_ = make_rule(
        1,
        kind=kind,
        percent_bp=value if percent else None,
        amount_minor=None if percent else value,
        currency=None if percent else "USD",
    )
    book = make_book(rule_, prices={("CONS", "main"): ((SEASON, None, unit),)})
    priced = price_of(book, quantity=quantity)
    assert (priced.list_total_minor, priced.amount_minor) == (unit * quantity, expected)


def test_an_override_needs_a_reason_and_beats_every_rule() -> None:
    """BI-09: a price typed by staff wins over the patient's own deal, with its reason."""
    book = make_book(make_rule(1, account_id=PATIENT))
    priced = price_of(book, quantity=2, override_minor=70_00, override_reason="goodwill")
    assert (priced.amount_minor, priced.rule, priced.override_reason) == (140_00, None, "goodwill")
    assert priced.list_total_minor == 200_00
    with pytest.raises(ValidationError, match="say why the price of CONS is overridden"):
        price_of(book, override_minor=70_00, override_reason="  ")
    with pytest.raises(ValidationError, match="cannot be negative"):
        price_of(book, override_minor=-1, override_reason="refund")


def test_a_bundle_rate_needs_a_prepayment_held_for_that_service() -> None:
    """BI-27, AR-087: the prepaid-bundle rate applies only while the bundle is prepaid."""
    bundle = {"kind": "fixed", "amount_minor": 60_00, "currency": "USD", "service_code": "CONS"}
    book = make_book(make_rule(1, requires_prepayment=True, **bundle))
    assert price_of(book).amount_minor == 100_00
    other = Buyer(PATIENT, "insured", INSURER, frozenset({"XRAY"}))
    assert price_of(book, who=other).amount_minor == 100_00
    held = Buyer(PATIENT, "insured", INSURER, frozenset({"CONS"}))
    assert price_of(book, who=held).amount_minor == 60_00
    euro = make_rule(2, **(bundle | {"currency": "EUR"}))
    assert price_of(make_book(euro), who=held).rule is None, "a rule in EUR never prices USD"


def test_lines_that_cannot_be_priced_are_refused() -> None:
    book = make_book()
    with pytest.raises(ValidationError, match="above zero, not 0"):
        price_of(book, quantity=0)
    with pytest.raises(NotFound, match="no service 'NOPE'"):
        price_of(book, "NOPE")
    with pytest.raises(ValidationError, match="GONE is no longer offered"):
        price_of(book, "GONE")


async def test_posted_lines_name_their_rule_and_revenue_is_credited_at_list(db: Database) -> None:
    """BI-26, BI-27: each charge line keeps the rule or override reason that set its
    price; revenue is credited at list and Discounts (4900) debited by what came off,
    so a report can sum each rule's effect."""
    await service(db, "CONS", "100.00")
    await service(db, "XRAY", "50.00", "imaging")
    staff = await open_account(db, "Sam Staff", financial_class="staff")
    discount = await rule(db, "Staff 10%", "percent", percent="10", financial_class="staff")
    invoice = await charge(
        db,
        staff.id,
        ChargeLine("CONS"),
        ChargeLine("xray", 2, unit_price=usd("40.00"), override_reason="repeat view"),
    )
    fields = ("service_code", "list_unit_minor", "amount_minor", "rule_id", "override_reason")
    lines = [tuple(ln[f] for f in fields) for ln in await charge_lines(db, invoice.entry.id)]
    assert lines == [
        ("CONS", 100_00, 90_00, discount, None),
        ("XRAY", 50_00, 80_00, None, "repeat view"),
    ]
    assert invoice.owed == {staff.id: usd("170.00")}
    assert gl_effect(invoice.entry) == {
        "1100": usd("170.00"),
        "4000": usd("-100.00"),
        "4010": usd("-100.00"),
        "4900": usd("30.00"),
    }
    assert await balance_of(db, staff.id) == usd("170.00")


async def test_location_prices_by_service_date(db: Database) -> None:
    """BI-01: the newest price that has started on the service date, for that location."""
    await service(db, "CONS", "100.00")
    await set_location_price(
        db, ADMIN, code="cons", location="north", price=usd("120.00"), valid_from=date(2026, 3, 1)
    )
    await set_location_price(
        db, ADMIN, code="CONS", location="north", price=usd("130.00"), valid_from=date(2026, 3, 15)
    )
    patient = await open_account(db, location="north")
    visits = [(date(2026, 2, 27), "north"), (date(2026, 3, 10), "north")]
    visits += [(date(2026, 3, 20), "north"), (date(2026, 3, 20), "main")]
    owed = []
    for n, (on, location) in enumerate(visits):
        invoice = await charge(
            db, patient.id, ChargeLine("CONS", 1, on, location=location), key=f"v{n}", on=on
        )
        owed.append(invoice.total)
    assert owed == [usd("100.00"), usd("120.00"), usd("130.00"), usd("100.00")]
    assert await balance_of(db, patient.id) == usd("450.00")


async def test_an_ended_rule_stops_but_past_charges_keep_naming_it(db: Database) -> None:
    """BI-27: rules are ended, never edited."""
    await service(db, "CONS", "100.00")
    patient = await open_account(db)
    promo = await rule(db, "March promo", "amount", amount=usd("15.00"), service_code="CONS")
    first = await charge(db, patient.id, ChargeLine("CONS", 1, date(2026, 3, 5)), key="a")
    await end_rule(db, ADMIN, promo, last_day=date(2026, 3, 5))
    late = await charge(db, patient.id, ChargeLine("CONS", 1, date(2026, 3, 6)), key="b")
    assert (first.total, first.lines[0]["rule_id"]) == (usd("85.00"), promo)
    assert (late.total, late.lines[0]["rule_id"]) == (usd("100.00"), None)
    before = await footprint(db)
    with pytest.raises(ValidationError, match="starts on 2026-01-01"):
        await end_rule(db, ADMIN, promo, last_day=date(2025, 12, 31))
    assert await footprint(db) == before


async def test_an_override_without_a_reason_or_in_another_currency_posts_nothing(
    db: Database,
) -> None:
    """BI-09: staff must say why they typed a price, in the account's currency."""
    await service(db, "CONS", "100.00")
    patient = await open_account(db)
    before = await footprint(db)
    with pytest.raises(ValidationError, match="say why the price of CONS"):
        await charge(db, patient.id, ChargeLine("CONS", unit_price=usd("10.00")))
    euros = ChargeLine("CONS", unit_price=Money(10_00, "EUR"), override_reason="tourist")
    with pytest.raises(ValidationError, match="is kept in USD"):
        await charge(db, patient.id, euros)
    assert await footprint(db) == before
    assert await balance_of(db, patient.id) == usd("0.00")
