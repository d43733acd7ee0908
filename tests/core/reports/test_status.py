"""The A/R status report (AR-160, AR-009): each account counted once where it stands
(credit, collections, bad debt, plan, active inpatient / outpatient / not set), adding
up to the ATB's total; unbilled and disputed beside them."""

from __future__ import annotations

from datetime import date, timedelta

from core.customers import NewCustomer, register_customer, set_status
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.aging import AtbQuery, aged_trial_balance
from core.reports.status import ar_status
from core.services.adjustments import dispute_item
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.core.helpers import ADMIN, items_of, usd
from tests.scheduler.plan_helpers import enrol

DAY = date(2026, 6, 30)


async def person(db: Database, last: str, **kwargs: object) -> Account:
    new = NewCustomer(last, "Al", "USD", **kwargs)  # type: ignore[arg-type]
    return await register_customer(db, ADMIN, new)


async def owes(db: Database, account: Account, amount: str, **kwargs: object) -> None:
    await post_charge(db, ADMIN, account_id=account.id, amount=usd(amount),
                      service_date=DAY - timedelta(days=40), key=f"c-{account.id}-{amount}",
                      **kwargs)  # type: ignore[arg-type]  # fmt: skip


async def test_each_account_once_where_it_stands_adding_up_to_the_atb(db: Database) -> None:
    ip = await person(db, "Inpat", patient_type="IP")
    await owes(db, ip, "500.00")
    await owes(db, ip, "120.00", bill_date=DAY + timedelta(days=3))  # billed on 3 July
    op = await person(db, "Outpat", patient_type="OP")
    await owes(db, op, "80.00")
    [item] = await items_of(db, op.id)
    await dispute_item(db, ADMIN, item_id=item.id, disputed=True, on=DAY, reason="wrong")
    plain = await person(db, "Plain")
    await owes(db, plain, "40.00")
    planned = await person(db, "Planned", patient_type="OP")
    await owes(db, planned, "300.00")
    await enrol(db, planned, first_due=DAY + timedelta(days=14))
    sent = await person(db, "Sent")
    await owes(db, sent, "90.00")
    await set_status(db, ADMIN, account_id=sent.id, status="in_collections", reason="t", on=DAY)
    bad = await person(db, "Bad")
    await owes(db, bad, "60.00")
    await set_status(db, ADMIN, account_id=bad.id, status="bad_debt", reason="t", on=DAY)
    ahead = await person(db, "Ahead", location="north")
    await record_payment(db, ADMIN, account_id=ahead.id, amount=usd("25.00"), received_on=DAY,
                         key="p", method="cash")  # fmt: skip
    await person(db, "Nothing")

    async with db.read() as conn:
        found = await ar_status(conn, DAY, "USD")
        north = await ar_status(conn, DAY, "USD", locations=["north"])
        atb = await aged_trial_balance(conn, AtbQuery(as_of=DAY, currency="USD"))

    assert [(ln.key, ln.accounts, str(ln.amount)) for ln in found.lines] == [
        ("active_ip", 1, "500.00"),  # the July bill is not A/R yet
        ("active_op", 1, "80.00"),
        ("active", 1, "40.00"),
        ("plan", 1, "300.00"),
        ("collections", 1, "90.00"),
        ("bad_debt", 1, "60.00"),
        ("credit", 1, "-25.00"),
    ]
    assert found.total.minor == atb.total_minor == 104500 and found.accounts == 7
    assert (found.unbilled.accounts, str(found.unbilled.amount)) == (1, "120.00")
    assert (found.disputed.accounts, str(found.disputed.amount)) == (1, "80.00")
    assert [(ln.key, ln.accounts) for ln in north.lines if ln.accounts] == [("credit", 1)]
    # A week on, the July bill is billed: in A/R, and nothing waits to be billed.
    async with db.read() as conn:
        later = await ar_status(conn, DAY + timedelta(days=7), "USD")
        atb = await aged_trial_balance(
            conn, AtbQuery(as_of=DAY + timedelta(days=7), currency="USD")
        )
    assert later.unbilled.accounts == 0 and later.lines[0].amount == usd("620.00")
    assert later.total.minor == atb.total_minor


async def test_a_past_day_shows_the_plans_in_force_then(db: Database) -> None:
    """Review finding: plans were today's whatever the day asked for."""
    later = await person(db, "Later", patient_type="OP")
    await owes(db, later, "300.00")
    await enrol(db, later, first_due=DAY + timedelta(days=14))  # enrolled 30 June

    async with db.read() as conn:
        before = await ar_status(conn, date(2026, 6, 1), "USD")
        now = await ar_status(conn, DAY, "USD")

    assert [(ln.key, ln.accounts) for ln in before.lines if ln.accounts] == [("active_op", 1)]
    assert [(ln.key, ln.accounts) for ln in now.lines if ln.accounts] == [("plan", 1)]
