"""Autopay for a payment plan (issue 5 "Payment plan enrolment"): the patient saves a
card through Checkout in setup mode; when Stripe reports the session completed, the
plan keeps the customer and payment method ids the SetupIntent names -- never card
data -- so the scheduler can charge the instalments."""

from __future__ import annotations

import hashlib

from bot.patient.stripe_gateway import StripeGateway
from core.db import Database
from core.plans import Plan, PlanPolicy, enrol_plan, load_plan
from core.ports import SetupRequest
from tests.bot.patient.stripe_harness import PayApp, StartPayApp, entries, pay_app
from tests.core.helpers import open_account
from tests.core.patients.paying import MAY, PATIENT, charge
from tests.fakes.stripe import FakeStripe, fake_stripe

__all__ = ["fake_stripe", "pay_app"]


async def enrolled(db: Database) -> Plan:
    patient = await open_account(db)
    await charge(db, patient.id, "300.00", MAY)
    return await enrol_plan(
        db,
        PATIENT,
        account_id=patient.id,
        count=3,
        policy=PlanPolicy(),
        agreement_version="2026-11-1",
        agreement_digest=hashlib.sha256(b"agreement").hexdigest(),
        channel="telegram",
        key=f"plan-{patient.id}",
    )


async def setup_session(app: PayApp, plan: Plan) -> str:
    """What the conversation's autopay step asks the gateway for."""
    assert app.ctx.gateway is not None
    session = await app.ctx.gateway.create_setup(
        SetupRequest(
            currency="USD",
            metadata={"arbot_plan": str(plan.id), "arbot_account": str(plan.account_id)},
            idempotency_key=f"autopay:{plan.id}:2026-06-30",
            success_url=f"{app.base}/pay/done",
            cancel_url=f"{app.base}/pay/cancelled",
        )
    )
    return session.id


async def plan_now(db: Database, plan_id: int) -> Plan:
    async with db.read() as conn:
        return await load_plan(conn, plan_id)


async def test_a_completed_setup_session_turns_on_autopay_with_the_saved_card(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app()
    assert isinstance(app.ctx.gateway, StripeGateway)
    plan = await enrolled(db)
    session_id = await setup_session(app, plan)
    params = fake_stripe.session_params[session_id]
    assert params["mode"] == "setup"
    assert params["currency"] == "usd"
    assert params["customer_creation"] == "always"
    assert params["setup_intent_data"]["metadata"]["arbot_plan"] == str(plan.id)
    before = await entries(db)

    events = fake_stripe.complete(session_id)
    done = await fake_stripe.deliver([*events, *reversed(events), *events])

    assert {d.status for d in done} == {200}
    setup = fake_stripe.setup_intents[fake_stripe.sessions[session_id]["setup_intent"]]
    saved = await plan_now(db, plan.id)
    assert saved.autopay
    assert (saved.customer_ref, saved.method_ref) == (setup["customer"], setup["payment_method"])
    assert fake_stripe.called("GET", f"/v1/setup_intents/{setup['id']}")
    assert await entries(db) == before
    assert app.notified == []


async def test_a_setup_that_names_no_plan_of_arbots_changes_nothing(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """A card saved some other way on the same Stripe account: acknowledged, no plan
    touched, and no lookup at Stripe."""
    app = await pay_app()
    plan = await enrolled(db)
    assert app.ctx.gateway is not None
    session = await app.ctx.gateway.create_setup(
        SetupRequest(
            currency="USD",
            metadata={"order_id": "123456789"},
            idempotency_key="not-ours-1",
            success_url=f"{app.base}/pay/done",
            cancel_url=f"{app.base}/pay/cancelled",
        )
    )

    done = await fake_stripe.deliver(fake_stripe.complete(session.id))

    assert {d.status for d in done} == {200}
    assert not (await plan_now(db, plan.id)).autopay
    assert not fake_stripe.called("GET", "/v1/setup_intents")
