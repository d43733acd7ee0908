"""Credit profiles with their dates, user-defined payment terms and the credit-limit
warning (AR-035, AR-043, AR-044)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import Database
from core.errors import NotFound, PermissionDenied, ValidationError
from core.ledger.accounts import load_account
from core.money import Money
from core.profile import (
    add_note,
    credit_profile_of,
    define_payment_terms,
    over_credit_limit,
    set_credit_profile,
)
from core.services.charges import post_charge
from tests.core.helpers import ADMIN, CLERK, SUPERVISOR, items_of, usd
from tests.core.profile.common import counts, last_audit, on_day, person

JAN, APR, JUL = date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1)


async def test_each_profile_applies_for_its_dates(db: Database) -> None:
    """AR-035: a ceiling and terms with the days they apply from and to."""
    account = await person(db, "Mensah")
    await set_credit_profile(
        db,
        ADMIN,
        account_id=account.id,
        credit_limit=usd("500"),
        terms_code="net30",
        risk_class="Low",
        effective_from=JAN,
        effective_to=APR - timedelta(days=1),
        reason="new patient",
    )
    await set_credit_profile(
        db,
        ADMIN,
        account_id=account.id,
        credit_limit=None,
        terms_code="DUE",
        risk_class=None,
        effective_from=APR,
        reason="missed two payments",
    )
    async with db.read() as conn:
        assert await credit_profile_of(conn, account.id, JAN - timedelta(days=1)) is None
        first = await credit_profile_of(conn, account.id, date(2026, 3, 31))
        later = await credit_profile_of(conn, account.id, date(2027, 1, 1))
    assert first is not None and later is not None
    assert (first.credit_limit, first.terms_code, first.net_days, first.risk_class) == (
        usd("500"),
        "NET30",
        30,
        "low",
    )
    assert (later.credit_limit, later.terms_code, later.net_days, later.reason) == (
        None,
        "DUE",
        0,
        "missed two payments",
    )
    _, detail = await last_audit(db, "customer.credit_profile")
    assert detail["terms"] == "DUE" and detail["effective_from"] == "2026-04-01"


async def test_a_later_decision_overrides_earlier_ones_for_the_days_it_covers(
    db: Database,
) -> None:
    account = await person(db, "Adeyemi")
    for limit, start, end in (("1000", JAN, None), ("250", date(2026, 2, 1), date(2026, 2, 28))):
        await set_credit_profile(
            db,
            ADMIN,
            account_id=account.id,
            credit_limit=usd(limit),
            terms_code="NET30",
            risk_class="medium",
            effective_from=start,
            effective_to=end,
            reason="review",
        )
    async with db.read() as conn:
        limits = [
            p.credit_limit if p else None
            for p in [await credit_profile_of(conn, account.id, d) for d in (JAN, APR)]
        ]
        february = await credit_profile_of(conn, account.id, date(2026, 2, 14))
    assert limits == [usd("1000"), usd("1000")]
    assert february is not None and february.credit_limit == usd("250")


async def test_own_terms_in_force_today_give_charges_their_due_dates(db: Database) -> None:
    """AR-043: an office defines net 45 and assigns it to a customer."""
    assert (
        await define_payment_terms(db, ADMIN, code="net45", description="Net 45 days", net_days=45)
        == "NET45"
    )
    account = await person(db, "Nakamura")
    today = on_day(db)
    await set_credit_profile(
        db,
        ADMIN,
        account_id=account.id,
        credit_limit=None,
        terms_code="NET45",
        risk_class=None,
        effective_from=today + timedelta(days=10),
        reason="from next month",
    )
    async with db.read() as conn:
        assert (await load_account(conn, account_id=account.id)).terms_code == "NET30"
    await set_credit_profile(
        db,
        ADMIN,
        account_id=account.id,
        credit_limit=None,
        terms_code="NET45",
        risk_class=None,
        effective_from=today,
        reason="agreed today",
    )
    _, detail = await last_audit(db, "customer.credit_profile")
    assert (detail["terms_before"], detail["terms"]) == ("NET30", "NET45")
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("80"), service_date=today, key="c1"
    )
    (item,) = await items_of(db, account.id)
    assert item.due_date == today + timedelta(days=45)


async def test_a_charge_that_passes_the_ceiling_is_reported_by_how_much(db: Database) -> None:
    account = await person(db, "Kowalski")
    async with db.read() as conn:
        assert await over_credit_limit(conn, account.id, JUL, usd("1000000")) is None
    await set_credit_profile(
        db,
        ADMIN,
        account_id=account.id,
        credit_limit=usd("100"),
        terms_code="NET30",
        risk_class="high",
        effective_from=JAN,
        reason="payment plan",
    )
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("80"), service_date=JUL, key="c1"
    )
    async with db.read() as conn:
        assert await over_credit_limit(conn, account.id, JUL, usd("20")) is None
        assert await over_credit_limit(conn, account.id, JUL, usd("30.50")) == usd("10.50")
        with pytest.raises(ValidationError, match="the amount is in EUR"):
            await over_credit_limit(conn, account.id, JUL, Money(100, "EUR"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"credit_limit": usd("-1")}, "cannot be negative"),
        ({"credit_limit": Money(100, "EUR")}, "the credit limit is in EUR; account .* USD"),
        ({"terms_code": "NET999"}, "no payment terms 'NET999'; define them first"),
        ({"effective_to": date(2025, 12, 31)}, "cannot end \\(2025-12-31\\) before it starts"),
        ({"reason": "  "}, "a reason .* is required"),
        ({"risk_class": "very risky!"}, "is not a risk class"),
    ],
)
async def test_bad_profiles_are_refused_and_nothing_written(
    db: Database, change: dict[str, Any], message: str
) -> None:
    account = await person(db, "Novak")
    before = await counts(db)
    values: dict[str, Any] = {
        "credit_limit": usd("100"),
        "terms_code": "NET30",
        "risk_class": "low",
        "effective_from": JAN,
        "reason": "review",
    }
    with pytest.raises(ValidationError, match=message):
        await set_credit_profile(db, ADMIN, account_id=account.id, **(values | change))
    assert await counts(db) == before


async def test_profiles_need_an_account_and_the_permission(db: Database) -> None:
    north = await person(db, "Berg", location="north")
    values: dict[str, Any] = {
        "credit_limit": None,
        "terms_code": "NET30",
        "risk_class": None,
        "effective_from": JAN,
        "reason": "review",
    }
    with pytest.raises(NotFound):
        await set_credit_profile(db, ADMIN, account_id=999, **values)
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await set_credit_profile(db, CLERK, account_id=north.id, **values)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"code": "NET30"}, ValidationError, "payment terms NET30 already exist"),
        ({"code": "net 90"}, ValidationError, "is not a terms code"),
        ({"code": "X" * 21}, ValidationError, "is not a terms code"),
        ({"description": " "}, ValidationError, "need a description"),
        ({"net_days": -1}, ValidationError, "-1 is not a number of days"),
        ({"net_days": True}, ValidationError, "True is not a number of days"),
        ({"actor": SUPERVISOR}, PermissionDenied, "'close_period'"),
    ],
)
async def test_bad_payment_terms_are_refused_and_nothing_written(
    db: Database, change: dict[str, Any], error: type[Exception], message: str
) -> None:
    before = await counts(db)
    values: dict[str, Any] = {"code": "NET90", "description": "Net 90", "net_days": 90}
    fields = {k: v for k, v in change.items() if k != "actor"}
    with pytest.raises(error, match=message):
        await define_payment_terms(db, change.get("actor", ADMIN), **(values | fields))
    assert await counts(db) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE credit_profile SET credit_limit_minor = 99999999",
        "DELETE FROM credit_profile",
        "UPDATE customer_note SET text = 'edited'",
        "DELETE FROM customer_note",
    ],
)
async def test_credit_history_and_notes_cannot_be_changed(db: Database, statement: str) -> None:
    """AR-035, AR-037: the database refuses to edit either history, in any database."""
    account = await person(db, "Tanaka")
    await set_credit_profile(
        db,
        ADMIN,
        account_id=account.id,
        credit_limit=usd("10"),
        terms_code="NET30",
        risk_class=None,
        effective_from=JAN,
        reason="review",
    )
    await add_note(db, ADMIN, account_id=account.id, text="Called about the bill.")
    with pytest.raises(DBAPIError, match="immutable"):
        async with db.engine.begin() as conn:
            await conn.execute(text(statement))
