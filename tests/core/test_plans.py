"""Payment plans (AR-059, AR-147, AR-148, BI-22): offers that add up exactly, enrolment
with the signed agreement once per key, and instalments paid in due order."""

from __future__ import annotations

import asyncio
import hashlib
import random
from datetime import date

import pytest
from sqlalchemy import select

from core.auth import Actor
from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from core.money import Money
from core.patients.gateway import GatewayPayment, record_gateway_payment, record_gateway_refund
from core.plans import (
    AGREEMENT_VERSION,
    PlanPolicy,
    add_months,
    enrol_plan,
    plan_of,
    plan_offers,
    set_autopay,
)
from core.plans.tables import plan_agreement
from tests.core.helpers import ADMIN, CLERK, open_account, usd
from tests.core.patients.paying import PATIENT, TODAY, charge, counts, desk_payment

TEXT = "I agree to pay 3 instalments of $100.00 ..."
DIGEST = hashlib.sha256(TEXT.encode()).hexdigest()
POLICY = PlanPolicy()


async def enrol(db: Database, account_id: int, count: int = 3, key: str = "plan-1", **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "account_id": account_id,
        "count": count,
        "policy": POLICY,
        "agreement_version": AGREEMENT_VERSION,
        "agreement_digest": DIGEST,
        "channel": "telegram",
        "key": key,
    }
    args.update(kw)
    actor = args.pop("actor", PATIENT)
    return await enrol_plan(db, actor, **args)  # type: ignore[arg-type]


def test_offers_split_the_balance_exactly() -> None:
    """Largest remainder: 100.00 in 3 is 33.34 + 33.33 + 33.33, never 99.99."""
    [three] = plan_offers(usd("100.00"), PlanPolicy(counts=(3,)), date(2026, 7, 14))
    assert [m for _, m in three.instalments] == [usd("33.34"), usd("33.33"), usd("33.33")]
    assert [d for d, _ in three.instalments] == [
        date(2026, 7, 14),
        date(2026, 8, 14),
        date(2026, 9, 14),
    ]
    rng = random.Random(5)
    for _ in range(500):
        owed = Money(rng.randrange(10_000, 10_000_000), "USD")
        for offer in plan_offers(owed, POLICY, date(2026, 1, 31)):
            parts = [m.minor for _, m in offer.instalments]
            assert sum(parts) == owed.minor == offer.total.minor
            assert len(parts) == offer.count and max(parts) - min(parts) <= 1
            assert min(parts) >= POLICY.min_instalment_minor


def test_what_the_policy_offers() -> None:
    """Under the minimum balance nothing; a count whose instalment would be under the
    minimum instalment is left out."""
    assert plan_offers(usd("99.99"), POLICY, TODAY) == []
    assert [o.count for o in plan_offers(usd("150.00"), POLICY, TODAY)] == [3, 6]
    assert [o.count for o in plan_offers(usd("300.00"), POLICY, TODAY)] == [3, 6, 12]
    quarterly = PlanPolicy(counts=(4,), interval_months=3)
    [offer] = plan_offers(usd("400.00"), quarterly, date(2026, 1, 31))
    assert [d for d, _ in offer.instalments] == [
        date(2026, 1, 31),
        date(2026, 4, 30),
        date(2026, 7, 31),
        date(2026, 10, 31),
    ]
    with pytest.raises(ValidationError):
        PlanPolicy(counts=())


def test_months_end_on_the_last_day() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


async def test_enrolling_twice_with_the_same_key_makes_one_plan(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "300.00")
    first = await enrol(db, patient.id)
    before = await counts(db)
    second = await enrol(db, patient.id)
    assert first == second and await counts(db) == before
    assert before["payment_plan"] == 1 and before["plan_instalment"] == 3
    with pytest.raises(InvalidState, match="already has a payment plan"):
        await enrol(db, patient.id, key="plan-2")
    assert await counts(db) == before


async def test_the_signed_agreement_is_stored(db: Database, clock: FixedClock) -> None:
    """AR-147: version, digest of the text shown, time, channel and who accepted."""
    patient = await open_account(db)
    await charge(db, patient.id, "300.00")
    plan = await enrol(db, patient.id, channel="sms")
    async with db.read() as conn:
        [row] = (await conn.execute(select(plan_agreement))).all()
    assert (row.plan_id, row.version, row.digest) == (plan.id, AGREEMENT_VERSION, DIGEST)
    assert (row.accepted_at, row.channel, row.actor) == (clock.now(), "sms", "patient:chat")
    assert (plan.agreement_version, plan.agreement_digest, plan.channel) == (
        AGREEMENT_VERSION,
        DIGEST,
        "sms",
    )


async def test_the_count_must_be_offered_for_the_live_balance(db: Database) -> None:
    """The offer shown was for 300; a payment since left 140: 12 instalments of 11.67
    are no longer offered, and nothing is written."""
    patient = await open_account(db)
    await charge(db, patient.id, "300.00")
    await desk_payment(db, patient.id, "160.00", key="desk-1")
    before = await counts(db)
    with pytest.raises(InvalidState, match=r"12 instalments is not offered for 140\.00"):
        await enrol(db, patient.id, count=12)
    with pytest.raises(ValidationError, match="SHA-256"):
        await enrol(db, patient.id, agreement_digest="not a digest")
    with pytest.raises(ValidationError, match="idempotency key"):
        await enrol(db, patient.id, key="")
    assert await counts(db) == before
    plan = await enrol(db, patient.id, count=3)
    assert [i.amount for i in plan.instalments] == [usd("46.67"), usd("46.67"), usd("46.66")]


async def test_who_may_enrol(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "300.00")
    with pytest.raises(PermissionDenied):
        await enrol(db, patient.id, actor=CLERK)
    with pytest.raises(PermissionDenied):
        await enrol(db, patient.id, actor=Actor.webhook("stripe"))
    plan = await enrol(db, patient.id, actor=ADMIN)
    assert plan.count == 3


async def test_payments_reduce_instalments_in_due_order(db: Database) -> None:
    """Paid before enrolment does not count; each payment since fills the earliest
    instalment first; a refund gives it back; the first due date is the policy's."""
    patient = await open_account(db)
    await charge(db, patient.id, "400.00")
    await desk_payment(db, patient.id, "100.00", key="before")
    plan = await enrol(db, patient.id)
    assert [i.due_date for i in plan.instalments] == [
        date(2026, 7, 14),
        date(2026, 8, 14),
        date(2026, 9, 14),
    ]
    assert plan.next_due is not None and plan.next_due.seq == 1 and plan.paid == usd("0")

    await record_gateway_payment(db, GatewayPayment("pi_1", usd("150.00"), patient.id))
    async with db.read() as conn:
        now = await plan_of(conn, patient.id)
    assert now is not None
    assert [(i.paid_minor, i.status) for i in now.instalments] == [
        (100_00, "paid"),
        (50_00, "partly_paid"),
        (0, "pending"),
    ]
    assert now.next_due is not None and (now.next_due.seq, now.next_due.open) == (2, usd("50"))

    await record_gateway_refund(db, payment_ref="pi_1", refund_ref="re_1", amount=usd("60"))
    async with db.read() as conn:
        now = await plan_of(conn, patient.id)
    assert now is not None and [i.paid_minor for i in now.instalments] == [90_00, 0, 0]


async def test_a_plan_paid_in_full_is_complete_and_another_may_follow(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "300.00")
    await enrol(db, patient.id)
    await desk_payment(db, patient.id, "300.00", key="all")
    async with db.read() as conn:
        done = await plan_of(conn, patient.id)
    assert done is not None and done.status == "completed" and done.next_due is None
    await charge(db, patient.id, "150.00", key="later")
    second = await enrol(db, patient.id, key="plan-2")
    assert second.status == "active" and second.total == usd("150.00")


async def test_autopay_keeps_only_the_gateways_references(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "300.00")
    plan = await enrol(db, patient.id)
    with pytest.raises(ValidationError, match="customer and payment method ids"):
        await set_autopay(db, plan_id=plan.id, customer_ref="4242 4242", method_ref="pm_1")
    with pytest.raises(NotFound):
        await set_autopay(db, plan_id=999, customer_ref="cus_1", method_ref="pm_1")
    await set_autopay(db, plan_id=plan.id, customer_ref="cus_Q1", method_ref="pm_Z9")
    async with db.read() as conn:
        now = await plan_of(conn, patient.id)
    assert now is not None and (now.autopay, now.customer_ref, now.method_ref) == (
        True,
        "cus_Q1",
        "pm_Z9",
    )


async def test_worked_example_a_plan_from_offer_to_last_instalment(db: Database) -> None:
    """Ana owes 250.00 after a procedure. She asks for a plan in chat: 3 or 6 payments
    are offered (12 would be under 25.00 each). She picks 3 (83.34, 83.33, 83.33),
    accepts the agreement, pays the first by card, then the rest at the desk; the plan
    is complete and she owes nothing."""
    ana = await open_account(db)
    await charge(db, ana.id, "250.00")
    offers = plan_offers(usd("250.00"), POLICY, POLICY.first_due(TODAY))
    assert [o.count for o in offers] == [3, 6]
    plan = await enrol(db, ana.id, count=3)
    assert [(i.due_date, i.amount) for i in plan.instalments] == list(offers[0].instalments)
    await record_gateway_payment(db, GatewayPayment("pi_ana", usd("83.34"), ana.id))
    await desk_payment(db, ana.id, "166.66", key="desk-ana")
    async with db.read() as conn:
        done = await plan_of(conn, ana.id)
    assert done is not None and done.status == "completed" and done.paid == usd("250.00")


async def test_two_enrolments_at_once_make_one_plan(db: Database) -> None:
    """Two chats of one guarantor accept a plan for the same account at the same moment."""
    patient = await open_account(db)
    await charge(db, patient.id, "300.00")
    results = await asyncio.gather(
        enrol(db, patient.id, key="plan-a"),
        enrol(db, patient.id, key="plan-b"),
        return_exceptions=True,
    )
    plans = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(plans) == 1 and len(refused) == 1
    assert isinstance(refused[0], InvalidState), refused[0]
    assert (await counts(db))["payment_plan"] == 1
