"""The staff screens' queries: the account view (AR-104, AR-129..132, AR-011), today's
totals (BI-15, BI-20), unapplied payments (AR-139), accounts in credit (AR-143) and
delinquent accounts (AR-140)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.approvals import request_write_off
from core.customers import set_status
from core.db import Database
from core.errors import ValidationError
from core.ledger.accounts import Account, create_account
from core.ledger.model import Kind
from core.money import Money
from core.services.adjustments import dispute_item, reverse_entry
from core.services.charges import post_charge
from core.services.memos import receive_prepayment
from core.services.payments import record_payment
from core.views import (
    account_view,
    credit_balances,
    delinquent_accounts,
    today_totals,
    unapplied_payments,
)
from tests.core.helpers import ADMIN, open_account, usd

AS_OF = date(2026, 6, 30)


async def charge(db: Database, account: Account, amount: str, day: date, key: str) -> int:
    entry = await post_charge(
        db, ADMIN, account_id=account.id, amount=usd(amount), service_date=day, key=key
    )
    return entry.item_ids[0]


async def pay(db: Database, account: Account, amount: str, day: date, key: str) -> int:
    result = await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd(amount),
        received_on=day,
        key=key,
        method="card",
        reference=f"ref-{key}",
    )
    return result.entry.id


async def test_the_account_at_a_glance(db: Database) -> None:
    """Balance, aging, open items with their state, last payment, flags, activity."""
    account = await open_account(db)
    await charge(db, account, "100", date(2026, 2, 1), "feb")
    await charge(db, account, "200", date(2026, 4, 15), "apr")
    june = await charge(db, account, "50", date(2026, 6, 20), "jun")
    await pay(db, account, "120", date(2026, 6, 25), "p")  # pays February, 20 of April
    await receive_prepayment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd("40"),
        on=date(2026, 6, 26),
        key="pre",
        method="cash",
    )
    await dispute_item(db, ADMIN, item_id=june, disputed=True, on=AS_OF, reason="not seen")
    await set_status(
        db, ADMIN, account_id=account.id, status="credit_hold", reason="risk", on=AS_OF
    )
    await request_write_off(
        db, ADMIN, account_id=account.id, amount=usd("5"), reason="ADMIN", note="x", key="w"
    )
    async with db.read() as conn:
        view = await account_view(conn, account.id, as_of=AS_OF)

    assert (view.number, view.balance, view.unapplied) == (account.number, usd("230"), usd("0"))
    assert [(label, str(m)) for label, m in view.buckets] == [
        ("0-30", "50.00"),
        ("31-60", "0.00"),
        ("61-90", "180.00"),
        ("91-120", "0.00"),
        ("over 120", "0.00"),
    ]
    assert [(i.status, i.open, i.due_date) for i in view.open_items] == [
        ("partly_paid", usd("180"), date(2026, 5, 15)),
        ("disputed", usd("50"), date(2026, 7, 20)),
    ]
    assert view.last_payment is not None
    assert (view.last_payment.date, view.last_payment.amount) == (date(2026, 6, 25), usd("120"))
    assert view.flags == ("credit_hold", "disputed") and view.status == "credit_hold"
    assert view.pending_requests == 1 and view.plan is None
    assert [(a.date.isoformat(), a.kind, str(a.amount), str(a.held)) for a in view.activity] == [
        ("2026-06-26", Kind.PREPAYMENT, "0.00", "40.00"),
        ("2026-06-25", Kind.PAYMENT, "-120.00", "0.00"),
        ("2026-06-20", Kind.CHARGE, "50.00", "0.00"),
        ("2026-04-15", Kind.CHARGE, "200.00", "0.00"),
        ("2026-02-01", Kind.CHARGE, "100.00", "0.00"),
    ]
    assert view.activity[1].reference == "ref-p" and not view.has_more

    async with db.read() as conn:  # as it stood in April
        april = await account_view(conn, account.id, as_of=date(2026, 4, 30))
    assert april.balance == usd("300") and april.last_payment is None and april.flags == ()
    assert [a.date.month for a in april.activity] == [4, 2]


async def busy(db: Database) -> Account:
    """25 charges on 1-25 May and a payment every fifth day."""
    account = await open_account(db, name="Busy Bee")
    for n in range(1, 26):
        day = date(2026, 5, n)
        await charge(db, account, str(n), day, f"c{n}")
        if n % 5 == 0:
            await pay(db, account, "1", day, f"p{n}")
    return account


async def test_activity_pages_forward_and_back(db: Database) -> None:
    """AR-130: 30 lines, ten a page, newest first, no line twice, none missed."""
    account = await busy(db)
    seen, pages = [], []
    async with db.read() as conn:
        for page in range(4):
            view = await account_view(conn, account.id, as_of=AS_OF, page=page)
            pages.append((len(view.activity), view.has_more))
            seen.extend(a.entry_id for a in view.activity)
        back = await account_view(conn, account.id, as_of=AS_OF, page=1)
    assert pages == [(10, True), (10, True), (10, False), (0, False)]
    assert len(set(seen)) == 30
    dates = [(a.date, a.entry_id) for a in back.activity]
    assert dates == sorted(dates, reverse=True) and back.activity[0].entry_id == seen[10]
    with pytest.raises(ValidationError, match="pages start at 0"):
        async with db.read() as conn:
            await account_view(conn, account.id, as_of=AS_OF, page=-1)


async def test_activity_by_kind_and_from_a_date(db: Database) -> None:
    """AR-011: payments only; AR-132: straight to 10 May and older."""
    account = await busy(db)
    async with db.read() as conn:
        payments = await account_view(conn, account.id, as_of=AS_OF, kinds={"payments"})
        charges = await account_view(conn, account.id, as_of=AS_OF, kinds={"charge"}, page=2)
        jump = await account_view(conn, account.id, as_of=AS_OF, before=date(2026, 5, 10))
        both = await account_view(
            conn, account.id, as_of=AS_OF, before=date(2026, 5, 10), kinds={"payments"}
        )
        with pytest.raises(ValidationError, match="'fees' is not a kind of activity"):
            await account_view(conn, account.id, as_of=AS_OF, kinds={"fees"})
    assert [a.date.day for a in payments.activity] == [25, 20, 15, 10, 5]
    assert {a.kind for a in charges.activity} == {Kind.CHARGE} and len(charges.activity) == 5
    assert jump.activity[0].date == date(2026, 5, 10) and jump.has_more
    assert jump.activity[0].kind is Kind.PAYMENT  # posted after that day's charge
    assert [a.date.day for a in both.activity] == [10, 5] and not both.has_more
    assert jump.balance == payments.balance  # the jump moves the activity, not the figures


async def test_todays_totals_by_location(db: Database) -> None:
    """BI-15, BI-20: billed, collected and outstanding, for one location or all."""
    main, north = await open_account(db), await open_account(db, name="Nor", location="north")
    yesterday = AS_OF - timedelta(days=1)
    await charge(db, main, "70", yesterday, "m0")
    await charge(db, main, "100", AS_OF, "m1")
    await charge(db, north, "50", AS_OF, "n1")
    await pay(db, main, "30", AS_OF, "mp")
    bounced = await pay(db, north, "20", AS_OF, "np")
    await reverse_entry(db, ADMIN, entry_id=bounced, on=AS_OF, key="nsf", reason="NSF")
    await receive_prepayment(
        db, ADMIN, account_id=main.id, amount=usd("10"), on=AS_OF, key="pre", method="cash"
    )
    async with db.read() as conn:
        everything = await today_totals(conn, day=AS_OF)
        mains = await today_totals(conn, day=AS_OF, locations=frozenset({"main"}))
        norths = await today_totals(conn, day=AS_OF, locations=frozenset({"north"}))
        before = await today_totals(conn, day=yesterday)
    figures = [(t.billed, t.collected, t.outstanding) for t in (everything, mains, norths)]
    assert figures == [
        (usd("150"), usd("40"), usd("190")),
        (usd("100"), usd("40"), usd("140")),
        (usd("50"), usd("0"), usd("50")),
    ]
    assert (before.billed, before.collected, before.outstanding) == (
        usd("70"),
        usd("0"),
        usd("70"),
    )


async def test_payments_left_unapplied(db: Database) -> None:
    """AR-139: what cash application could not place, oldest first."""
    credit = await open_account(db, name="Cred It")
    await pay(db, credit, "80", date(2026, 6, 1), "a")
    north = await open_account(db, name="Over Paid", location="north")
    await charge(db, north, "50", date(2026, 6, 2), "nc")
    await pay(db, north, "70", date(2026, 6, 3), "b")
    settled = await open_account(db, name="Paid Up")
    await charge(db, settled, "100", date(2026, 6, 1), "sc")
    await pay(db, settled, "100", date(2026, 6, 4), "c")
    early = await open_account(db, name="Paid Early")
    await pay(db, early, "30", date(2026, 6, 5), "d")
    await charge(db, early, "40", date(2026, 6, 6), "ec")  # posted after: not applied
    async with db.read() as conn:
        found = await unapplied_payments(conn)
        norths = await unapplied_payments(conn, locations=frozenset({"north"}))
        first = await unapplied_payments(conn, limit=1)
    assert [(u.account_name, u.amount, u.unapplied, u.account_balance) for u in found] == [
        ("Cred It", usd("80"), usd("80"), usd("-80")),
        ("Over Paid", usd("70"), usd("20"), usd("-20")),
        ("Paid Early", usd("30"), usd("30"), usd("10")),
    ]
    assert found[0].reference == "ref-a" and found[0].date == date(2026, 6, 1)
    assert [u.account_name for u in norths] == ["Over Paid"]
    assert [u.account_name for u in first] == ["Cred It"]


async def test_accounts_in_credit_largest_first(db: Database) -> None:
    """AR-143: accounts whose open items add up to a credit, with the day of the oldest
    credit still open; a payment still unapplied on an account that owes more is not a
    credit balance, nor is an account paid exactly."""
    small = await open_account(db, name="Small Credit")
    await charge(db, small, "50", date(2026, 6, 2), "sc")
    await pay(db, small, "60", date(2026, 6, 3), "s")
    large = await open_account(db, name="Large Credit", location="north")
    await pay(db, large, "80", date(2026, 6, 1), "l1")
    await pay(db, large, "20", date(2026, 6, 9), "l2")
    owing = await open_account(db, name="Paid Early")
    await pay(db, owing, "30", date(2026, 6, 5), "o")
    await charge(db, owing, "40", date(2026, 6, 6), "oc")  # unapplied, but owes 10
    even = await open_account(db, name="Paid Up")
    await charge(db, even, "100", date(2026, 6, 1), "ec")
    await pay(db, even, "100", date(2026, 6, 4), "e")
    async with db.read() as conn:
        found = await credit_balances(conn)
        norths = await credit_balances(conn, locations=frozenset({"north"}))
        first = await credit_balances(conn, limit=1)
    assert [(c.account_name, c.credit, c.since) for c in found] == [
        ("Large Credit", usd("100"), date(2026, 6, 1)),
        ("Small Credit", usd("10"), date(2026, 6, 3)),
    ]
    assert found[0].account_number == large.number
    assert [c.account_name for c in norths] == ["Large Credit"]
    assert [c.account_name for c in first] == ["Large Credit"]


async def test_delinquent_accounts_most_past_due_first(db: Database) -> None:
    """AR-140, AR-099: charges due more than 90 days ago still open, at least the amount
    asked; what is not yet that late, or paid, does not count."""
    old = await open_account(db, name="Old Debt")  # NET30: due 30 days after service
    await charge(db, old, "300", AS_OF - timedelta(days=200), "o1")
    await charge(db, old, "50", AS_OF - timedelta(days=10), "o2")  # not late: balance only
    await pay(db, old, "100", AS_OF - timedelta(days=20), "op")
    older = await open_account(db, name="Older Debt", location="north")
    await charge(db, older, "500", AS_OF - timedelta(days=400), "d1")
    recent = await open_account(db, name="Recent Debt")
    await charge(db, recent, "900", AS_OF - timedelta(days=100), "r1")  # 70 days past due
    settled = await open_account(db, name="Paid Up")
    await charge(db, settled, "100", AS_OF - timedelta(days=300), "s1")
    await pay(db, settled, "100", AS_OF - timedelta(days=250), "sp")
    async with db.read() as conn:
        found = await delinquent_accounts(conn, AS_OF)
        over_60 = await delinquent_accounts(conn, AS_OF, over_days=60)
        large = await delinquent_accounts(conn, AS_OF, at_least_minor=30_000)
        norths = await delinquent_accounts(conn, AS_OF, locations=frozenset({"north"}))
    assert [(d.account_name, d.past_due, d.balance) for d in found] == [
        ("Older Debt", usd("500"), usd("500")),
        ("Old Debt", usd("200"), usd("250")),
    ]
    assert found[1].oldest_due == AS_OF - timedelta(days=170)
    assert (found[1].last_payment, found[0].last_payment) == (AS_OF - timedelta(days=20), None)
    assert [d.account_name for d in over_60] == ["Recent Debt", "Older Debt", "Old Debt"]
    assert [d.account_name for d in large] == ["Older Debt"]
    assert [d.account_name for d in norths] == ["Older Debt"]


async def test_lists_of_several_currencies_keep_each_currency_together(db: Database) -> None:
    """Amounts of different currencies are not compared: each currency's accounts come
    together, the largest first within it."""
    small_usd = await open_account(db, name="Small Usd")
    await pay(db, small_usd, "10", date(2026, 6, 1), "su")
    async with db.transaction() as tx:
        euro = await create_account(tx, name="Some Euro", currency="EUR", actor="t", source="t")
    await record_payment(db, ADMIN, account_id=euro.id, amount=Money.from_decimal("50", "EUR"),
                         received_on=date(2026, 6, 1), key="eu", method="cash")  # fmt: skip
    large_usd = await open_account(db, name="Large Usd")
    await pay(db, large_usd, "900", date(2026, 6, 1), "lu")
    async with db.read() as conn:
        found = await credit_balances(conn)
    assert [c.account_name for c in found] == ["Some Euro", "Large Usd", "Small Usd"]
