"""Late fees (AR-107, AR-151): which accounts a policy charges, how much, once a month,
and what is left out (disputed, paused, on a plan, handled by someone else, fees on
fees, other locations)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.customers import set_status
from core.db import Database
from core.dunning import pause_dunning
from core.errors import ValidationError
from core.latefees import (
    LateFeePolicy,
    assessment_day,
    charge_late_fee,
    fees_posted,
    late_fee_key,
    late_fees_due,
    parse_fee,
)
from core.ledger.posting import load_entry
from core.services.adjustments import dispute_item
from core.services.memos import post_memo, transfer_item
from core.services.payments import record_payment
from tests.core.dunning_helpers import AS_OF, item_of, owes, patient
from tests.core.helpers import ADMIN, balance_of, items_of, usd
from tests.scheduler.plan_helpers import enrol

# 1.5% a month of what is 30+ days overdue on the 1st, at least $10.00 of it.
POLICY = LateFeePolicy(currency="USD", rate_bp=150)
JUNE_1 = date(2026, 6, 1)


async def due_on(db: Database, policy: LateFeePolicy = POLICY, as_of: date = AS_OF) -> dict:
    async with db.read() as conn:
        return {d.number: d for d in await late_fees_due(conn, as_of, policy)}


def test_a_fee_is_a_percentage_or_a_flat_amount_and_nonsense_is_refused() -> None:
    assert parse_fee("1.5%", "USD") == (150, 0)
    assert parse_fee(" 2 % ", "USD") == (200, 0)
    assert parse_fee("10.00", "USD") == (0, 1000)
    assert parse_fee("15", "USD") == (0, 1500)  # an amount: $15.00
    for bad, said in (
        ("30%", "at most 25%"),
        ("0.005%", "up to two decimals"),
        ("0%", "above 0"),
        ("-5.00", "neither a percentage"),
        ("0.00", "not above zero"),
        ("lots", "neither a percentage"),
    ):
        with pytest.raises(ValidationError, match=said):
            parse_fee(bad, "USD")
    with pytest.raises(ValidationError, match="either a percentage or a flat amount"):
        LateFeePolicy(currency="USD", rate_bp=150, flat_minor=500)
    with pytest.raises(ValidationError, match="day of the month from 1 to 28"):
        LateFeePolicy(currency="USD", flat_minor=500, day_of_month=31)


def test_the_percentage_rounds_half_up_to_the_cent_and_stops_at_the_cap() -> None:
    assert POLICY.fee(usd("200.00")) == usd("3.00")
    assert POLICY.fee(usd("10.30")) == usd("0.15")  # 15.45 cents
    assert POLICY.fee(usd("10.50")) == usd("0.16")  # 15.75 cents
    capped = LateFeePolicy(currency="USD", rate_bp=150, max_minor=2500)
    assert capped.fee(usd("5000.00")) == usd("25.00")
    assert LateFeePolicy(currency="USD", flat_minor=1000).fee(usd("12.00")) == usd("10.00")


async def test_long_overdue_balances_are_charged_net_of_credit_and_not_mid_month(
    db: Database,
) -> None:
    old = await patient(db, "Old")
    await owes(db, old, "200.00", 60)  # due 1 May: 31 days late on 1 June
    await owes(db, old, "50.00", 10)  # due 20 June: not late enough
    credited = await patient(db, "Credited")
    await owes(db, credited, "300.00", 60)
    await record_payment(
        db, ADMIN, account_id=credited.id, amount=usd("100.00"), received_on=AS_OF,
        key="credit", method="cash", rules=(),
    )  # fmt: skip
    mid_month = await patient(db, "MidMonth")
    await owes(db, mid_month, "400.00", 45)  # due 16 May: 30 days late on 15 June
    small = await patient(db, "Small")
    await owes(db, small, "9.99", 90)

    found = await due_on(db)

    assert (found[old.number].overdue, found[old.number].fee) == (usd("200.00"), usd("3.00"))
    assert found[credited.number].overdue == usd("200.00")  # 300 owed, 100 unapplied
    assert mid_month.number not in found  # waits for 1 July
    assert small.number not in found
    assert mid_month.number in await due_on(db, as_of=date(2026, 7, 2))
    # Before the month's day nothing is assessed; a later day assesses as of that day.
    assert assessment_day(date(2026, 6, 9), LateFeePolicy("USD", 150, day_of_month=10)) is None
    later = LateFeePolicy("USD", 150, day_of_month=16)
    assert mid_month.number in await due_on(db, later)


async def test_what_dunning_leaves_alone_is_never_charged_a_fee(db: Database) -> None:
    disputed = await patient(db, "Disputed")
    entry = await owes(db, disputed, "200.00", 60)
    await dispute_item(
        db, ADMIN, item_id=item_of(entry), disputed=True, on=AS_OF, reason="wrong bill"
    )
    item_paused = await patient(db, "ItemPaused")
    entry = await owes(db, item_paused, "200.00", 60)
    await owes(db, item_paused, "80.00", 45)  # not late enough on its own
    await pause_dunning(
        db, ADMIN, account_id=item_paused.id, item_id=item_of(entry), reason="hardship",
        from_day=AS_OF,
    )  # fmt: skip
    promised = await patient(db, "Promised")
    await owes(db, promised, "200.00", 60)
    await pause_dunning(
        db, ADMIN, account_id=promised.id, reason="promise_to_pay", from_day=AS_OF,
        until_day=AS_OF + timedelta(days=3),
    )  # fmt: skip
    on_plan = await patient(db, "OnPlan")
    await owes(db, on_plan, "300.00", 60)
    await enrol(db, on_plan, first_due=AS_OF + timedelta(days=14))
    handled = []
    for status in ("in_collections", "bad_debt", "disputed"):
        account = await patient(db, status.title())
        await owes(db, account, "200.00", 60)
        await set_status(db, ADMIN, account_id=account.id, status=status, reason="t", on=AS_OF)
        handled.append(account.number)
    insurer = await patient(db, "Acme Insurance", customer_type="insurer")
    await owes(db, insurer, "900.00", 60)
    fee_only = await patient(db, "FeeOnly")
    await post_memo(
        db, ADMIN, memo_type="FINANCE_CHARGE", account_id=fee_only.id, amount=usd("40.00"),
        on=date(2026, 4, 1), key="old-fee", reason="LATE_FEE", note="May's fee",
    )  # fmt: skip
    north = await patient(db, "North", location="north")
    await owes(db, north, "200.00", 60)

    found = await due_on(db)

    left_out = {disputed, item_paused, promised, on_plan, insurer, fee_only}
    assert not {a.number for a in left_out} & set(found)
    assert not set(handled) & set(found)
    assert north.number in found
    only_main = LateFeePolicy("USD", 150, locations=frozenset({"main"}))
    assert north.number not in await due_on(db, only_main)
    # The promise to pay has ended four days later: the account is charged again.
    assert promised.number in await due_on(db, as_of=AS_OF + timedelta(days=4))


async def test_a_fee_is_posted_once_a_month_as_an_open_charge(db: Database) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "200.00", 60)
    [due] = (await due_on(db)).values()

    first = await charge_late_fee(db, ADMIN, due, AS_OF, POLICY)
    again = await charge_late_fee(db, ADMIN, due, AS_OF - timedelta(days=2), POLICY)

    assert again.id == first.id  # same month, same key: nothing more
    assert first.idempotency_key == late_fee_key(ana.id, AS_OF) == f"late-fee:{ana.id}:2026-06"
    assert (first.entry_type, first.reason_code) == ("FINANCE_CHARGE", "LATE_FEE")
    assert await balance_of(db, ana.id) == usd("203.00")
    async with db.read() as conn:
        [fee] = await fees_posted(conn, JUNE_1, AS_OF)
        entry = await load_entry(conn, entry_id=first.id)
    assert (fee.account_id, fee.fee, fee.key) == (ana.id, usd("3.00"), first.idempotency_key)
    assert fee.due_date == AS_OF + timedelta(days=30)  # the account's terms
    assert sum(line.amount.minor for line in entry.lines) == 0

    # July: the June fee is not charged a fee; the charge, 61 days later, is.
    july = date(2026, 7, 1)
    [due] = (await due_on(db, as_of=july)).values()
    assert due.overdue == usd("200.00")
    await charge_late_fee(db, ADMIN, due, july, POLICY)
    assert await balance_of(db, ana.id, july) == usd("206.00")
    async with db.read() as conn:
        assert len(await fees_posted(conn, july, july)) == 1
        assert len(await fees_posted(conn, JUNE_1, july)) == 2


async def test_a_fee_moved_to_the_guarantor_is_still_not_charged_a_fee(db: Database) -> None:
    """Review finding: a transfer (AR-074) makes the fee a TRANSFER item on the
    guarantor's account, which was then charged a fee of its own."""
    guarantor = await patient(db, "Garcia", telegram=False, customer_type="guarantor")
    ana = await patient(db, "Ana", telegram=False, guarantor_id=guarantor.id)
    await owes(db, ana, "200.00", 60, as_of=JUNE_1)
    async with db.read() as conn:
        [due] = await late_fees_due(conn, JUNE_1, POLICY)
    await charge_late_fee(db, ADMIN, due, JUNE_1, POLICY)
    for item in await items_of(db, ana.id):  # everything to the guarantor
        await transfer_item(db, ADMIN, item_id=item.id, to_account_id=guarantor.id,
                            on=JUNE_1, key=f"t-{item.id}")  # fmt: skip
    bea = await patient(db, "Bea", telegram=False)
    [moved_fee] = [i for i in await items_of(db, guarantor.id) if i.open == usd("3.00")]
    await transfer_item(db, ADMIN, item_id=moved_fee.id, to_account_id=bea.id, on=JUNE_1,
                        amount=usd("1.00"), key="on-again")  # fmt: skip

    async with db.read() as conn:
        found = {d.number: d for d in await late_fees_due(conn, date(2026, 8, 1), POLICY)}

    assert found[guarantor.number].overdue == usd("200.00")  # not 202.00
    assert bea.number not in found  # a dollar of the fee, moved twice: still a fee
