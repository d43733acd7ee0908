"""The aged trial balance as a billing office reads it: which bucket each dollar sits in.

Every test builds a small clinic through the same services staff use (post a charge,
record a payment, dispute, write off) and reads the ATB as of 30 June 2026.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.db import Database
from core.errors import ValidationError
from core.ledger.accounts import Account, create_account
from core.ledger.aging import (
    DEFAULT_BOUNDS,
    Atb,
    AtbQuery,
    Basis,
    GroupBy,
    aged_trial_balance,
    bucket_labels,
    parse_bounds,
)
from core.money import Money
from core.services.adjustments import dispute_item, write_off
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, balance_of, open_account, usd

AS_OF = date(2026, 6, 30)
SEVEN = ["0-30", "31-60", "61-90", "91-120", "121-150", "151-180", "over 180"]
_keys = itertools.count(1)


def days_ago(n: int) -> date:
    return AS_OF - timedelta(days=n)


async def charge(
    db: Database, account: Account, amount: str, served: date, **terms: object
) -> int:
    """Post a charge; returns its open item's id."""
    posted = await post_charge(
        db,
        ADMIN,
        account_id=account.id,
        amount=Money.from_decimal(amount, account.currency),
        service_date=served,
        key=f"charge-{next(_keys)}",
        **terms,  # type: ignore[arg-type]
    )
    return posted.item_ids[0]


async def pay(db: Database, account: Account, amount: str, on: date) -> None:
    await record_payment(
        db,
        ADMIN,
        account_id=account.id,
        amount=usd(amount),
        received_on=on,
        key=f"pay-{next(_keys)}",
        method="cash",
    )


async def atb(db: Database, **options: object) -> Atb:
    query = AtbQuery(
        as_of=options.pop("as_of", AS_OF),  # type: ignore[arg-type]
        currency=options.pop("currency", "USD"),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    async with db.read() as conn:
        return await aged_trial_balance(conn, query)


def spread(report: Atb, number: str, group: str | None = None) -> dict[str, str]:
    """An account's nonzero buckets by label, e.g. ``{"31-60": "80.00"}``."""
    labels = bucket_labels(report.query.bounds)
    [row] = [r for r in report.rows if r.number == number and (group is None or r.group == group)]
    cur = report.query.currency
    return {label: str(Money(a, cur)) for label, a in zip(labels, row.amounts, strict=True) if a}


def summary(report: Atb) -> dict[str, tuple[str, str, int]]:
    """Nonzero summary buckets: label -> (amount, percent, number of accounts)."""
    cur = report.query.currency
    return {
        b.label: (str(Money(b.amount_minor, cur)), str(b.percent), b.accounts)
        for b in report.buckets
        if b.amount_minor or b.accounts
    }


# --- buckets -------------------------------------------------------------------------


async def test_default_report_has_the_seven_standard_buckets(db: Database) -> None:
    """AR-198: 0-30, 31-60, 61-90, 91-120, 121-150, 151-180 and over 180 by default."""
    account = await open_account(db)
    for age, amount in zip((0, 45, 75, 100, 130, 160, 200), range(1, 8), strict=True):
        await charge(db, account, f"{amount}0.00", days_ago(age))

    report = await atb(db)

    assert DEFAULT_BOUNDS == (30, 60, 90, 120, 150, 180)
    assert [b.label for b in report.buckets] == SEVEN
    assert spread(report, account.number) == {
        label: f"{n}0.00" for n, label in enumerate(SEVEN, start=1)
    }
    assert report.total_minor == 28_000


async def test_custom_bounds_give_one_bucket_more_than_bounds(db: Database) -> None:
    """AR-192, AR-197: ``30,60,90`` is 0-30, 31-60, 61-90 and over 90."""
    account = await open_account(db)
    await charge(db, account, "10", days_ago(10))
    await charge(db, account, "500", days_ago(150))

    report = await atb(db, bounds=parse_bounds("30,60,90"))

    assert [b.label for b in report.buckets] == ["0-30", "31-60", "61-90", "over 90"]
    assert spread(report, account.number) == {"0-30": "10.00", "over 90": "500.00"}


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("30", (30,)),
        (" 30, 60 ,90 ", (30, 60, 90)),
        ("15,30,45,60,90,120,180,365", (15, 30, 45, 60, 90, 120, 180, 365)),
    ],
)
def test_parse_bounds_accepts_one_to_eight_increasing_bounds(
    text: str, bounds: tuple[int, ...]
) -> None:
    """AR-197: 1 to 8 bounds, so 2 to 9 buckets."""
    assert parse_bounds(text) == bounds
    assert len(bucket_labels(bounds)) == len(bounds) + 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "between 1 and 8 bucket bounds"),
        (" , ", "between 1 and 8 bucket bounds"),
        ("10,20,30,40,50,60,70,80,90", "between 1 and 8 bucket bounds"),
        ("60,30", "must increase"),
        ("30,30", "must increase"),
        ("-5,30", "not be negative"),
        ("30,sixty", "whole days separated by commas"),
        ("30.5,60", "whole days separated by commas"),
    ],
)
def test_parse_bounds_refuses_bad_input_with_a_clear_message(text: str, message: str) -> None:
    """AR-192, AR-197: a clerk typing the buckets is told what is wrong."""
    with pytest.raises(ValidationError, match=message):
        parse_bounds(text)


async def test_bucket_edges_are_inclusive_upper_bounds(db: Database) -> None:
    """AR-198: 30 days old is still 0-30; 31 days is 31-60; over 180 starts at 181."""
    expected = {
        0: "0-30",
        30: "0-30",
        31: "31-60",
        60: "31-60",
        61: "61-90",
        180: "151-180",
        181: "over 180",
    }
    numbers = {}
    for age in expected:
        account = await open_account(db, name=f"Age {age}")
        await charge(db, account, "100", days_ago(age))
        numbers[age] = account.number

    report = await atb(db)

    assert {age: spread(report, numbers[age]) for age in expected} == {
        age: {label: "100.00"} for age, label in expected.items()
    }


# --- as-of dating --------------------------------------------------------------------


async def test_as_of_date_ignores_later_charges_and_payments(db: Database) -> None:
    """AR-183: the ATB as of 30 June is what was owed that day, whatever came after."""
    account = await open_account(db)
    await charge(db, account, "100", date(2026, 6, 1))
    await pay(db, account, "40", date(2026, 7, 5))
    await charge(db, account, "25", date(2026, 7, 6))

    june = await atb(db, as_of=AS_OF)
    july = await atb(db, as_of=date(2026, 7, 10))

    assert spread(june, account.number) == {"0-30": "100.00"}
    assert june.total_minor == 10_000
    assert (await balance_of(db, account.id, AS_OF)) == usd("100")
    assert spread(july, account.number) == {"0-30": "25.00", "31-60": "60.00"}
    assert july.total_minor == 8_500


@pytest.mark.parametrize("by", [None, GroupBy.DOCTOR])
async def test_an_account_settled_since_the_date_is_still_aged_as_of_it(
    db: Database, by: GroupBy | None
) -> None:
    """Issue 2: the ATB reads today's open items and adds back what was applied after
    its date; an account with nothing open today, all paid since, still shows."""
    paid_since, still_open = await open_account(db), await open_account(db, "Luis Pérez")
    await charge(db, paid_since, "80", date(2026, 5, 1), doctor="Dr Ruiz")
    await charge(db, paid_since, "20", date(2026, 6, 20), doctor="Dr Ortega")
    await charge(db, still_open, "50", date(2026, 6, 10), doctor="Dr Ruiz")
    await pay(db, paid_since, "100", date(2026, 7, 2))
    await pay(db, still_open, "10", date(2026, 7, 2))

    june = await atb(db, group_by=by)
    july = await atb(db, as_of=date(2026, 7, 31), group_by=by)

    if by is None:
        assert spread(june, paid_since.number) == {"0-30": "20.00", "31-60": "80.00"}
    else:
        assert spread(june, paid_since.number, "Dr Ruiz") == {"31-60": "80.00"}
        assert spread(june, paid_since.number, "Dr Ortega") == {"0-30": "20.00"}
    assert spread(june, still_open.number, "Dr Ruiz" if by else None) == {"0-30": "50.00"}
    assert june.total_minor == 15_000
    assert [r.number for r in july.rows] == [still_open.number]
    assert spread(july, still_open.number, "Dr Ruiz" if by else None) == {"31-60": "40.00"}


async def test_aging_is_computed_not_stored(db: Database) -> None:
    """AR-183: with no new posting, the same charge is older on a later as-of date."""
    account = await open_account(db)
    await charge(db, account, "70", date(2026, 6, 1))

    assert spread(await atb(db, as_of=AS_OF), account.number) == {"0-30": "70.00"}
    assert spread(await atb(db, as_of=date(2026, 7, 31)), account.number) == {"31-60": "70.00"}
    assert spread(await atb(db, as_of=date(2026, 11, 15)), account.number) == {"151-180": "70.00"}
    assert spread(await atb(db, as_of=date(2026, 12, 31)), account.number) == {"over 180": "70.00"}
    assert (await atb(db, as_of=date(2026, 5, 31))).rows == []


# --- basis ---------------------------------------------------------------------------


async def test_basis_service_bill_and_due_date(db: Database) -> None:
    """AR-195, AR-189: the same charge ages by service, bill or due date (NET30 terms)."""
    account = await open_account(db)
    # Served 1 April, billed 20 May, due 19 June: 90, 41 and 11 days old on 30 June.
    await charge(db, account, "100", date(2026, 4, 1), bill_date=date(2026, 5, 20))

    by_service = await atb(db, basis=Basis.SERVICE)
    by_bill = await atb(db, basis=Basis.BILL)
    by_due = await atb(db, basis=Basis.DUE)

    assert spread(by_service, account.number) == {"61-90": "100.00"}
    assert spread(by_bill, account.number) == {"31-60": "100.00"}
    assert spread(by_due, account.number) == {"0-30": "100.00"}


async def test_due_basis_puts_items_not_yet_due_in_the_first_bucket(db: Database) -> None:
    """AR-195: an old service billed late and not yet due counts as current."""
    account = await open_account(db, terms_code="NET60")
    # Served 1 March (121 days), billed 20 June, due 19 August: due in 50 days.
    await charge(db, account, "300", date(2026, 3, 1), bill_date=date(2026, 6, 20))

    assert spread(await atb(db, basis=Basis.SERVICE), account.number) == {"121-150": "300.00"}
    assert spread(await atb(db, basis=Basis.DUE), account.number) == {"0-30": "300.00"}
    assert spread(await atb(db, basis=Basis.BILL), account.number) == {"0-30": "300.00"}


# --- disputes ------------------------------------------------------------------------


async def test_disputed_items_age_as_current_only_when_asked(db: Database) -> None:
    """AR-196: a disputed charge moves to 0-30 with disputed_current, else keeps its age."""
    account = await open_account(db)
    disputed = await charge(db, account, "200", days_ago(165))
    await charge(db, account, "50", days_ago(100))
    await dispute_item(
        db, ADMIN, item_id=disputed, disputed=True, on=date(2026, 5, 1), reason="wrong code"
    )

    current = await atb(db, disputed_current=True)
    plain = await atb(db, disputed_current=False)

    assert spread(current, account.number) == {"0-30": "200.00", "91-120": "50.00"}
    assert spread(plain, account.number) == {"91-120": "50.00", "151-180": "200.00"}
    assert current.total_minor == plain.total_minor == 25_000


async def test_disputed_current_respects_when_the_dispute_was_raised_and_cleared(
    db: Database,
) -> None:
    """AR-196, AR-046: a dispute counts from its date and stops when it is cleared."""
    account = await open_account(db)
    item = await charge(db, account, "80", days_ago(100))
    await dispute_item(db, ADMIN, item_id=item, disputed=True, on=date(2026, 5, 1), reason="r")
    await dispute_item(db, ADMIN, item_id=item, disputed=False, on=date(2026, 6, 15), reason="ok")

    on_june_1 = await atb(db, as_of=date(2026, 6, 1), disputed_current=True)
    on_june_30 = await atb(db, disputed_current=True)
    on_april_30 = await atb(db, as_of=date(2026, 4, 30), disputed_current=True)

    assert spread(on_june_1, account.number) == {"0-30": "80.00"}
    assert spread(on_june_30, account.number) == {"91-120": "80.00"}
    assert spread(on_april_30, account.number) == {"31-60": "80.00"}


async def test_a_partly_paid_disputed_item_shows_only_what_is_open_as_current(
    db: Database,
) -> None:
    """AR-196: the payments on a disputed item age with it, so only the rest is current."""
    account = await open_account(db)
    item = await charge(db, account, "200", days_ago(165))
    await pay(db, account, "30", days_ago(100))
    await dispute_item(db, ADMIN, item_id=item, disputed=True, on=days_ago(20), reason="r")

    report = await atb(db, disputed_current=True)

    assert spread(report, account.number) == {"0-30": "170.00"}
    assert report.total_minor == (await balance_of(db, account.id)).minor


# --- credits and totals --------------------------------------------------------------


async def test_unapplied_credit_shows_negative_and_rows_equal_balances(db: Database) -> None:
    """AR-021, AR-183: an overpayment ages by its own date; each row total is the balance."""
    over = await open_account(db, name="Olga Overpaid")
    owes = await open_account(db, name="Otto Owes")
    settled = await open_account(db, name="Sara Settled")
    await charge(db, over, "100", days_ago(130))
    await pay(db, over, "150", days_ago(10))
    await charge(db, owes, "90", days_ago(45))
    await pay(db, owes, "20", days_ago(5))
    await charge(db, settled, "60", days_ago(70))
    await pay(db, settled, "60", days_ago(50))
    await write_off(
        db,
        ADMIN,
        account_id=owes.id,
        key="wo",
        on=days_ago(3),
        reason="ADMIN",
        note="agreed discount",
        amount=usd("10"),
    )

    report = await atb(db)

    assert spread(report, over.number) == {"0-30": "-50.00"}
    assert spread(report, owes.number) == {"31-60": "60.00"}
    assert settled.number not in {r.number for r in report.rows}
    for row in report.rows:
        assert row.total == (await balance_of(db, row.account_id, AS_OF)).minor
    assert report.total_minor == 1_000
    assert sum(b.amount_minor for b in report.buckets) == report.total_minor


async def test_summary_gives_amount_percent_and_accounts_per_bucket(db: Database) -> None:
    """AR-192: each bucket's share of the total and how many accounts have money in it."""
    a = await open_account(db, name="Ann A")
    b = await open_account(db, name="Ben B")
    c = await open_account(db, name="Cy C")
    await charge(db, a, "100", days_ago(5))
    await charge(db, b, "50", days_ago(20))
    await charge(db, b, "50", days_ago(70))
    await charge(db, c, "200", days_ago(400))

    report = await atb(db)

    assert summary(report) == {
        "0-30": ("150.00", "37.50", 2),
        "61-90": ("50.00", "12.50", 1),
        "over 180": ("200.00", "50.00", 1),
    }
    assert report.total_minor == 40_000
    assert [b.percent for b in report.buckets if not b.amount_minor] == [Decimal("0.00")] * 4


async def test_percent_rounds_to_cents_and_an_empty_ledger_is_all_zero(db: Database) -> None:
    """AR-192: thirds round to 33.33; with nothing owed every percent is 0.00."""
    assert summary(await atb(db)) == {}
    assert (await atb(db)).total_minor == 0
    account = await open_account(db)
    for age in (10, 40, 70):
        await charge(db, account, "1", days_ago(age))

    report = await atb(db)

    assert [str(b.percent) for b in report.buckets[:3]] == ["33.33"] * 3


# --- filters, groups and order -------------------------------------------------------


async def test_over_keeps_only_accounts_with_something_older_than_n_days(db: Database) -> None:
    """AR-191: ``--over 90`` lists accounts owing something 91 days old or more."""
    recent = await open_account(db, name="Rita Recent")
    old = await open_account(db, name="Olaf Old")
    paid_old = await open_account(db, name="Paul Paid")
    edge = await open_account(db, name="Ed Ninety")
    just_over = await open_account(db, name="Joy NinetyOne")
    await charge(db, recent, "20", days_ago(20))
    await charge(db, old, "100", days_ago(100))
    await charge(db, old, "15", days_ago(10))
    await charge(db, paid_old, "40", days_ago(120))
    await pay(db, paid_old, "40", days_ago(60))
    await charge(db, paid_old, "35", days_ago(5))
    await charge(db, edge, "30", days_ago(90))
    await charge(db, just_over, "30", days_ago(91))

    report = await atb(db, over_days=90)

    assert {r.number for r in report.rows} == {old.number, just_over.number}
    assert spread(report, old.number) == {"0-30": "15.00", "91-120": "100.00"}
    assert report.total_minor == 14_500


async def test_group_by_financial_class_and_location(db: Database) -> None:
    """AR-188: subtotals per financial class and per location."""
    a = await open_account(db, name="Ann Self", financial_class="self_pay", location="main")
    b = await open_account(db, name="Bo Comm", financial_class="commercial", location="north")
    c = await open_account(db, name="Cy Self", financial_class="self_pay", location="north")
    await charge(db, a, "100", days_ago(10))
    await charge(db, b, "200", days_ago(40))
    await charge(db, c, "300", days_ago(40))

    by_class = await atb(db, group_by=GroupBy.FINANCIAL_CLASS)
    by_location = await atb(db, group_by=GroupBy.LOCATION)

    assert {r.number: r.group for r in by_class.rows} == {
        a.number: "self_pay",
        b.number: "commercial",
        c.number: "self_pay",
    }
    assert list(by_class.groups) == ["commercial", "self_pay"]
    self_pay = {g.label: (g.amount_minor, g.accounts) for g in by_class.groups["self_pay"]}
    assert (self_pay["0-30"], self_pay["31-60"]) == ((10_000, 1), (30_000, 1))
    north = {g.label: g.amount_minor for g in by_location.groups["north"]}
    assert north["31-60"] == 50_000 and north["0-30"] == 0
    assert sum(g.amount_minor for g in by_location.groups["main"]) == 10_000


async def test_group_by_patient_type_gives_inpatient_and_outpatient_their_own_atb(
    db: Database,
) -> None:
    """AR-185: inpatient and outpatient A/R apart; an account with no type on file is
    shown as such, not dropped."""
    inpatient = await open_account(db, name="Ida Ward", patient_type="IP")
    outpatient = await open_account(db, name="Oli Clinic", patient_type="OP")
    unknown = await open_account(db, name="Una Known")
    await charge(db, inpatient, "900", days_ago(100))
    await charge(db, outpatient, "80", days_ago(5))
    await charge(db, unknown, "20", days_ago(5))

    report = await atb(db, group_by=GroupBy.PATIENT_TYPE)

    assert {r.number: r.group for r in report.rows} == {
        inpatient.number: "IP",
        outpatient.number: "OP",
        unknown.number: "(none)",
    }
    totals = {k: sum(g.amount_minor for g in v) for k, v in report.groups.items()}
    assert totals == {"(none)": 2_000, "IP": 90_000, "OP": 8_000}
    assert report.total_minor == 100_000


async def test_location_filter_keeps_one_location(db: Database) -> None:
    """AR-188: ``--location north`` is the north clinic's ATB only."""
    main = await open_account(db, name="Mia Main", location="main")
    north = await open_account(db, name="Ned North", location="north")
    await charge(db, main, "10", days_ago(1))
    await charge(db, north, "20", days_ago(1))

    report = await atb(db, location="north")

    assert [r.number for r in report.rows] == [north.number]
    assert report.total_minor == 2_000


async def test_group_by_doctor_splits_an_account_by_who_served(db: Database) -> None:
    """AR-188: per doctor; charges without a doctor go under "(none)"."""
    account = await open_account(db)
    await charge(db, account, "100", days_ago(10), doctor="Dr. Rivera")
    await charge(db, account, "40", days_ago(50), doctor="Dr. Chen")
    await charge(db, account, "5", days_ago(10))

    report = await atb(db, group_by=GroupBy.DOCTOR)

    assert sorted(report.groups) == ["(none)", "Dr. Chen", "Dr. Rivera"]
    assert spread(report, account.number, "Dr. Rivera") == {"0-30": "100.00"}
    assert spread(report, account.number, "Dr. Chen") == {"31-60": "40.00"}
    assert spread(report, account.number, "(none)") == {"0-30": "5.00"}
    assert report.total_minor == 14_500


async def test_grouped_summary_counts_accounts_not_rows(db: Database) -> None:
    """AR-192: one patient seen by two doctors is one account in the 0-30 bucket."""
    account = await open_account(db)
    await charge(db, account, "100", days_ago(10), doctor="Dr. Rivera")
    await charge(db, account, "40", days_ago(12), doctor="Dr. Chen")

    ungrouped = await atb(db)
    by_doctor = await atb(db, group_by=GroupBy.DOCTOR)

    assert summary(ungrouped) == {"0-30": ("140.00", "100.00", 1)}
    assert summary(by_doctor) == summary(ungrouped)


async def test_group_by_guarantor_rolls_patients_up_under_the_guarantor(db: Database) -> None:
    """AR-199, AR-190: a child's balance is listed under the parent's (guarantor's)
    account number."""
    parent = await open_account(db, name="Pat Parent", customer_type="guarantor")
    child = await open_account(db, name="Kim Child", guarantor_id=parent.id)
    alone = await open_account(db, name="Al Alone")
    await charge(db, parent, "10", days_ago(5))
    await charge(db, child, "90", days_ago(40))
    await charge(db, alone, "20", days_ago(5))

    report = await atb(db, group_by=GroupBy.GUARANTOR)

    assert {r.number: r.group for r in report.rows} == {
        parent.number: parent.number,
        child.number: parent.number,
        alone.number: alone.number,
    }
    family = {g.label: (g.amount_minor, g.accounts) for g in report.groups[parent.number]}
    assert (family["0-30"], family["31-60"]) == ((1_000, 1), (9_000, 1))
    assert sum(g.amount_minor for g in report.groups[alone.number]) == 2_000


async def test_sort_by_balance_or_by_surname(db: Database) -> None:
    """AR-186, AR-187: biggest balances first by default; by surname on request."""
    zoe = await open_account(db, name="Zoe Adams")
    ana = await open_account(db, name="Ana Young")
    bob = await open_account(db, name="Bob Miller")
    await charge(db, zoe, "50", days_ago(1))
    await charge(db, ana, "300", days_ago(1))
    await charge(db, bob, "100", days_ago(1))

    by_balance = await atb(db)
    by_name = await atb(db, sort="name")

    assert [r.name for r in by_balance.rows] == ["Ana Young", "Bob Miller", "Zoe Adams"]
    assert [r.name for r in by_name.rows] == ["Zoe Adams", "Bob Miller", "Ana Young"]


async def test_currency_filter_excludes_other_currencies(db: Database) -> None:
    """AR-183: a USD report leaves out the EUR account and its charge, and vice versa."""
    dollars = await open_account(db, name="Dee Dollar")
    async with db.transaction() as tx:
        euros = await create_account(
            tx, name="Eva Euro", currency="EUR", actor=ADMIN.label, source="test"
        )
    await charge(db, dollars, "100", days_ago(10))
    await charge(db, euros, "70", days_ago(40))

    in_usd = await atb(db)
    in_eur = await atb(db, currency="EUR")

    assert [r.number for r in in_usd.rows] == [dollars.number]
    assert in_usd.total_minor == 10_000
    assert [r.number for r in in_eur.rows] == [euros.number]
    assert spread(in_eur, euros.number) == {"31-60": "70.00"}
