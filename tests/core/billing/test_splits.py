"""Payer splits: a line shared between an insurer, an employer and the patient
(BI-12, AR-066).

Shares are percentages of the line and fixed amounts; the account the visit is
charged to owes the rest. Whatever the numbers, the parts add up to the line exactly,
and each payer gets one open item for the visit, due by its own payment terms."""

from __future__ import annotations

import math
from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from core.billing.charges import ChargeLine
from core.billing.invoice import Split, share_out
from core.billing.tables import charge_share
from core.db import Database
from core.errors import NotFound, ValidationError
from core.money import Money
from tests.core.billing.helpers import DAY, charge, footprint, gl_effect, rule, service
from tests.core.helpers import balance_of, items_of, open_account, usd

PATIENT = 1


@st.composite
def splits(draw: st.DrawFn) -> tuple[Split, ...]:
    """Up to four percentage shares within 100% and up to three fixed amounts."""
    left, payer, found = 10_000, PATIENT, []
    for _ in range(draw(st.integers(0, 4))):
        if left == 0:
            break
        payer += 1
        bp = draw(st.integers(1, left))
        left -= bp
        found.append(Split(payer, percent_bp=bp))
    for minor in draw(st.lists(st.integers(1, 50_000), max_size=3)):
        payer += 1
        found.append(Split(payer, amount=Money(minor, "USD")))
    return tuple(draw(st.permutations(found)))


@given(total=st.integers(0, 100_000) | st.integers(0, 10**12), shares=splits())
def test_parts_always_sum_to_the_line(total: int, shares: tuple[Split, ...]) -> None:
    """BI-12: no cent is lost or made up; no part is negative; a percentage share is
    within one minor unit of the exact share; a fixed amount is exact; the patient
    owes the rest, and the split is refused only when the fixed amounts do not fit."""
    fixed = sum(s.amount.minor for s in shares if s.amount is not None)
    exact = {s.payer_account_id: Fraction(total * (s.percent_bp or 0), 10_000) for s in shares}
    rest = total - sum(exact.values())
    try:
        parts = share_out(total, PATIENT, shares)
    except ValidationError as refused:
        assert "more than the line's" in str(refused)
        assert fixed > math.floor(rest)
        return
    assert fixed <= math.ceil(rest)
    assert sum(parts.values()) == total
    assert all(p >= 0 for p in parts.values())
    assert set(parts) == {PATIENT} | {s.payer_account_id for s in shares}
    for s in shares:
        if s.amount is None:
            assert abs(parts[s.payer_account_id] - exact[s.payer_account_id]) < 1
        else:
            assert parts[s.payer_account_id] == s.amount.minor


def test_odd_cents_go_by_largest_remainder() -> None:
    """BI-12: 0.99 split 50/50 gives 0.50 to the first payer, 0.49 to the patient;
    1.00 shared 33.33% and 33.33% leaves the patient 0.34, the largest remainder."""
    assert share_out(99, PATIENT, (Split(2, percent_bp=5_000),)) == {2: 50, PATIENT: 49}
    thirds = (Split(2, percent_bp=3_333), Split(3, percent_bp=3_333))
    assert share_out(100, PATIENT, thirds) == {2: 33, 3: 33, PATIENT: 34}


@pytest.mark.parametrize(
    ("shares", "error"),
    [
        ((Split(2, percent_bp=6_000), Split(3, percent_bp=5_000)), "more than 100"),
        ((Split(2, amount=Money(100_01, "USD")),), "more than the line's"),
        ((Split(2, percent_bp=8_000), Split(3, amount=Money(30_00, "USD"))), "more than the"),
        ((Split(2, percent_bp=10), Split(2, amount=Money(1, "USD"))), "each payer may appear"),
        ((Split(PATIENT, percent_bp=5_000),), "each payer may appear once"),
    ],
)
def test_impossible_splits_are_refused(shares: tuple[Split, ...], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        share_out(100_00, PATIENT, shares)


@pytest.mark.parametrize(
    ("percent_bp", "amount", "error"),
    [
        (5_000, Money(1, "USD"), "not both"),
        (None, None, "not both"),
        (0, None, "above 0 and at most 100"),
        (10_001, None, "above 0 and at most 100"),
        (None, Money(0, "USD"), "above zero"),
    ],
)
def test_a_share_is_a_percentage_or_an_amount(
    percent_bp: int | None, amount: Money | None, error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        Split(2, percent_bp, amount)


async def test_each_payer_gets_one_item_due_by_its_own_terms(db: Database) -> None:
    """BI-12, AR-066: a visit shared by an insurer (net 60), an employer (due on
    receipt) and the patient (net 30) leaves one open item per payer for the visit."""
    await service(db, "CONS", "100.00")
    await service(db, "XRAY", "50.00", "imaging")
    await service(db, "LAB", "33.33", "lab")
    patient = await open_account(db)
    insurer = await open_account(db, "Acme Health", customer_type="insurer", terms_code="NET60")
    employer = await open_account(db, "Mill Co", customer_type="business", terms_code="DUE")
    invoice = await charge(
        db,
        patient.id,
        ChargeLine("CONS", splits=(Split(insurer.id, percent_bp=8_000),)),
        ChargeLine(
            "XRAY",
            splits=(Split(insurer.id, percent_bp=5_000), Split(employer.id, amount=usd("10"))),
        ),
        ChargeLine("LAB"),
    )
    owed = {patient.id: usd("68.33"), insurer.id: usd("105.00"), employer.id: usd("10.00")}
    assert invoice.owed == owed
    assert gl_effect(invoice.entry)["1100"] == usd("183.33")
    for payer, days in ((patient, 30), (insurer, 60), (employer, 0)):
        (item,) = await items_of(db, payer.id)
        assert (item.amount, item.open) == (owed[payer.id], owed[payer.id])
        assert (item.bill_date, item.due_date) == (DAY, DAY + timedelta(days=days))
        assert item.description == "Cons, Xray, Lab"  # the catalogue's words (helpers.service)
        assert await balance_of(db, payer.id) == owed[payer.id]
    async with db.read() as conn:
        rows = await conn.execute(
            select(
                charge_share.c.seq, charge_share.c.payer_account_id, charge_share.c.amount_minor
            )
            .where(charge_share.c.entry_id == invoice.entry.id)
            .order_by(charge_share.c.seq, charge_share.c.payer_account_id)
        )
        shares = [tuple(r) for r in rows]
    assert shares == [
        (1, patient.id, 20_00),
        (1, insurer.id, 80_00),
        (2, patient.id, 15_00),
        (2, insurer.id, 25_00),
        (2, employer.id, 10_00),
    ], "a line its own account owes alone (the lab) needs no share rows"


async def test_a_payer_owing_the_whole_visit_leaves_the_patient_nothing(db: Database) -> None:
    """BI-12: a line the insurer pays in full leaves the patient no item at all."""
    await service(db, "CONS", "100.00")
    patient = await open_account(db)
    insurer = await open_account(db, "Acme Health", customer_type="insurer")
    full = (Split(insurer.id, percent_bp=10_000),)
    invoice = await charge(db, patient.id, ChargeLine("CONS", splits=full))
    assert invoice.owed == {insurer.id: usd("100.00")}
    assert await items_of(db, patient.id) == []
    assert await balance_of(db, insurer.id) == usd("100.00")


async def test_the_patient_deal_beats_the_payers_price_the_payer_is_billed(db: Database) -> None:
    """BI-12, BI-26: the insurer's negotiated price applies when it pays the line, unless
    the patient has a deal of their own."""
    await service(db, "CONS", "100.00")
    patient = await open_account(db)
    insurer = await open_account(db, "Acme Health", customer_type="insurer")
    await rule(db, "Acme", "fixed", amount=usd("80.00"), payer_account_id=insurer.id)
    insured = ChargeLine("CONS", splits=(Split(insurer.id, percent_bp=10_000),))
    assert (await charge(db, patient.id, insured, key="a")).owed == {insurer.id: usd("80.00")}
    assert (await charge(db, patient.id, ChargeLine("CONS"), key="b")).total == usd("100.00")
    await rule(db, "Hardship", "percent", percent="50", account_id=patient.id)
    assert (await charge(db, patient.id, insured, key="c")).owed == {insurer.id: usd("50.00")}


@pytest.mark.parametrize(
    ("shares", "error"),
    [
        (((1, 6_000, None), (2, 5_000, None)), "more than 100"),
        (((1, None, "100.01"),), "more than the line's"),
        (((1, 8_000, None), (2, None, "30.00")), "more than the line's"),
        (((1, 1_000, None), (1, None, "1.00")), "each payer may appear once"),
        (((0, 5_000, None),), "each payer may appear once"),
    ],
)
async def test_a_visit_with_an_impossible_split_posts_nothing(
    db: Database, shares: tuple[tuple[int, int | None, str | None], ...], error: str
) -> None:
    """BI-12: the whole visit is refused; no item, no revenue, no share is written."""
    await service(db, "CONS", "100.00")
    patient = await open_account(db)
    payers = [patient, await open_account(db, "Acme"), await open_account(db, "Mill Co")]
    line = ChargeLine(
        "CONS",
        splits=tuple(
            Split(payers[n].id, bp, usd(amount) if amount else None) for n, bp, amount in shares
        ),
    )
    before = await footprint(db)
    with pytest.raises(ValidationError, match=error):
        await charge(db, patient.id, ChargeLine("CONS"), line)
    assert await footprint(db) == before
    assert await balance_of(db, patient.id) == usd("0.00")


async def test_a_split_to_an_unknown_payer_or_in_another_currency_posts_nothing(
    db: Database,
) -> None:
    """BI-12: a fixed share in euros is not taken as dollars."""
    await service(db, "CONS", "100.00")
    patient = await open_account(db)
    insurer = await open_account(db, "Acme Health", customer_type="insurer")
    before = await footprint(db)
    with pytest.raises(NotFound, match="no account 999"):
        await charge(db, patient.id, ChargeLine("CONS", splits=(Split(999, percent_bp=10),)))
    euros = (Split(insurer.id, amount=Money(10_00, "EUR")),)
    with pytest.raises(ValidationError, match=f"account {patient.number} is kept in USD"):
        await charge(db, patient.id, ChargeLine("CONS", splits=euros))
    assert await footprint(db) == before


async def test_a_visit_reads_as_its_services_within_200_characters(db: Database) -> None:
    """An item's description (what the patient's balance and statement show) and the
    entry's memo are the catalogue's words; a long visit is cut to 200 with "…"."""
    patient = await open_account(db)
    codes = [await service(db, f"S{n:02d}", "10.00", description=f"Service number {n:02d}")
             for n in range(12)]  # fmt: skip
    invoice = await charge(
        db, patient.id, *(ChargeLine(c, 1 + n % 2) for n, c in enumerate(codes))
    )
    (item,) = await items_of(db, patient.id)
    assert item.description.startswith(
        "Service number 00, Service number 01 x2, Service number 02,"
    )
    assert len(item.description) == 200 and item.description.endswith("…")
    assert invoice.entry.memo == item.description
