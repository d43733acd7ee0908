"""Payments arriving by Stripe's signed webhook (AR-023, issue 5 "Payment arrives",
"Robustness"): pay link, page, Checkout, the fake Stripe completes the session and
delivers its events -- several times, in any order, at once -- and the ledger records
the payment once, applied to the items the patient chose, with one receipt."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.patient.stripe_gateway import StripeGateway
from core.db import Database
from core.money import Money
from core.patients.gateway_tables import gateway_payment
from core.patients.paylinks import PayChoice
from core.ports import CheckoutRequest
from tests.bot.patient.stripe_harness import (
    PayApp,
    StartPayApp,
    entries,
    gateway_rows,
    open_of,
    pay_app,
)
from tests.core.billing.helpers import rule, service
from tests.core.helpers import balance_of, items_of, open_account, usd
from tests.core.patients.paying import JUNE, MAY, charge
from tests.fakes.stripe import WEBHOOK_SECRET, FakeStripe, fake_stripe
from tests.fakes.stripe_objects import FIXTURES
from tests.fakes.stripe_webhooks import sign

__all__ = ["fake_stripe", "pay_app"]


async def paid_session(app: PayApp, token: str) -> tuple[str, list[dict[str, Any]]]:
    """Press Pay, then pay on Stripe's page: the session id and the events Stripe sends."""
    session_id = await app.checkout(token)
    assert app.stripe is not None
    return session_id, app.stripe.complete(session_id)


async def post_raw(app: PayApp, payload: str, signature: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    response = await app.http.post("/stripe/webhook", data=payload.encode(), headers=headers)
    return response.status, await response.text()


Events = list[dict[str, Any]]
ORDERS: dict[str, Callable[[Events], Events]] = {
    "as Stripe sent them, three times over": lambda e: e * 3,
    "session first, intent last": lambda e: [e[2], e[2], e[0], e[2], e[0], e[0], e[1], e[1], e[1]],
    "intent first, session last": lambda e: [e[1], e[0], e[1], e[1], e[0], e[0], e[2], e[2], e[2]],
}


@pytest.mark.parametrize("order", [*ORDERS, "all at once"])
async def test_a_payment_delivered_three_times_in_any_order_is_posted_once(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe, order: str
) -> None:
    app = await pay_app()
    patient = await open_account(db)
    older = await charge(db, patient.id, "100.00", MAY)
    newer = await charge(db, patient.id, "50.00", JUNE)
    token = await app.link(patient.id, PayChoice.BALANCE)
    before = await entries(db)

    _, events = await paid_session(app, token)
    if order == "all at once":
        done = await fake_stripe.deliver(events * 3, concurrently=True)
    else:
        done = await fake_stripe.deliver(ORDERS[order](events))

    assert [d.status for d in done] == [200] * 9
    assert await entries(db) == before + 1
    assert await gateway_rows(db) == (1, 0)
    assert await balance_of(db, patient.id) == usd("0.00")
    opened = await open_of(db, patient.id)
    assert (opened[older.item_ids[0]], opened[newer.item_ids[0]]) == (0, 0)
    (receipt,) = app.notified
    assert receipt.first_time
    assert receipt.amount == usd("150.00")
    assert receipt.balance_after == usd("0.00")
    assert receipt.reply_to == ("telegram", "4242")


async def test_a_partial_payment_pays_the_items_named_in_its_metadata_first(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """Oldest first is the office's default; the items the payment names come before
    it. A session naming the newer visit pays that one, the older stays open."""
    app = await pay_app()
    patient = await open_account(db)
    older = await charge(db, patient.id, "100.00", MAY)
    newer = await charge(db, patient.id, "50.00", JUNE)
    assert isinstance(app.ctx.gateway, StripeGateway)
    session = await app.ctx.gateway.create_checkout(
        CheckoutRequest(
            amount=usd("30.00"),
            description=f"Payment on account {patient.number}",
            metadata={"arbot_account": str(patient.id), "arbot_items": str(newer.item_ids[0])},
            idempotency_key="chosen-items-1",
            success_url=f"{app.base}/pay/done",
            cancel_url=f"{app.base}/pay/cancelled",
        )
    )

    await fake_stripe.deliver(fake_stripe.complete(session.id))

    opened = await open_of(db, patient.id)
    assert opened[newer.item_ids[0]] == 2_000
    assert opened[older.item_ids[0]] == 10_000
    assert await balance_of(db, patient.id) == usd("120.00")


async def test_without_chosen_items_the_oldest_is_paid_first(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """The counterpart of the test above: the metadata decides, not the default."""
    app = await pay_app()
    patient = await open_account(db)
    older = await charge(db, patient.id, "100.00", MAY)
    newer = await charge(db, patient.id, "50.00", JUNE)
    token = await app.link(patient.id, PayChoice.AMOUNT, amount_minor=3_000)

    _, events = await paid_session(app, token)
    await fake_stripe.deliver(events)

    opened = await open_of(db, patient.id)
    assert (opened[older.item_ids[0]], opened[newer.item_ids[0]]) == (7_000, 5_000)


async def test_a_prepayment_is_held_for_its_service_and_stripe_never_sees_it(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """BI-07, AR-087: the link for a prepaid bundle; the service stays out of Stripe."""
    app = await pay_app()
    patient = await open_account(db)
    await service(db, "PHYSIO", "80.00", "procedure", description="Physiotherapy session")
    await rule(
        db,
        "Physio prepaid",
        "fixed",
        amount=usd("60.00"),
        service_code="PHYSIO",
        requires_prepayment=True,
    )
    token = await app.link(patient.id, PayChoice.PREPAY, service_code="PHYSIO")

    session_id, events = await paid_session(app, token)
    done = await fake_stripe.deliver(events * 2)

    assert {d.status for d in done} == {200}
    assert "hysio" not in str(fake_stripe.session_params[session_id]).lower()
    async with db.read() as conn:
        (row,) = list(await conn.execute(select(gateway_payment)))
    assert (row.kind, row.service_code, row.amount_minor) == ("prepay", "PHYSIO", 6_000)
    (receipt,) = app.notified
    assert receipt.amount == usd("60.00")


def intent_payload(events: list[dict[str, Any]]) -> str:
    """The ``payment_intent.succeeded`` event as Stripe would POST it."""
    return json.dumps(next(e for e in events if e["type"] == "payment_intent.succeeded"))


BAD_SIGNATURES: dict[str, Callable[[str], str | None]] = {
    "forged with another secret": lambda p: sign(p, "whsec_not_ours"),
    "stale by more than 300 seconds": lambda p: sign(p, WEBHOOK_SECRET, int(time.time()) - 301),
    "missing": lambda p: None,
    "empty": lambda p: "",
    "not a signature": lambda p: "v1=abc",
    "for another body": lambda p: sign(p.replace("15000", "1500000"), WEBHOOK_SECRET),
}


@pytest.mark.parametrize("how", BAD_SIGNATURES)
async def test_an_unverified_delivery_is_401_and_changes_nothing(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe, how: str
) -> None:
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "150.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    _, events = await paid_session(app, token)
    payload = intent_payload(events)
    before = await entries(db)

    status, _ = await post_raw(app, payload, BAD_SIGNATURES[how](payload))

    assert status == 401
    assert await entries(db) == before
    assert await gateway_rows(db) == (0, 0)
    assert app.notified == []
    # The refused delivery claimed nothing: Stripe's genuine one still posts.
    assert (await post_raw(app, payload, sign(payload, WEBHOOK_SECRET)))[0] == 200
    assert await gateway_rows(db) == (1, 0)


async def test_a_signature_within_the_tolerance_is_accepted(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "150.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    _, events = await paid_session(app, token)
    payload = intent_payload(events)

    status, _ = await post_raw(app, payload, sign(payload, WEBHOOK_SECRET, int(time.time()) - 280))

    assert status == 200
    assert await balance_of(db, patient.id) == usd("0.00")


async def test_without_a_webhook_secret_nothing_is_accepted(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """An empty secret would verify a body signed with an empty key: refuse everything."""
    app = await pay_app(stripe_webhook_secret="")
    patient = await open_account(db)
    await charge(db, patient.id, "150.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    _, events = await paid_session(app, token)
    payload = intent_payload(events)

    assert (await post_raw(app, payload, sign(payload, "")))[0] == 401
    assert await gateway_rows(db) == (0, 0)


@pytest.mark.parametrize("payload", ["not json", "[]", '{"id": "evt_1"}', '{"id": 1, "type": 2}'])
async def test_a_signed_body_that_is_not_an_event_is_400(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe, payload: str
) -> None:
    app = await pay_app()
    before = await entries(db)

    status, _ = await post_raw(app, payload, sign(payload, WEBHOOK_SECRET))

    assert status == 400
    assert await entries(db) == before


async def test_event_types_arbot_does_not_handle_are_acknowledged(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """Stripe's example event (``plan.created``) as published: 200, nothing done."""
    await pay_app()
    before = await entries(db)

    (delivery,) = await fake_stripe.deliver([FIXTURES["event"]])

    assert delivery.status == 200
    assert json.loads(delivery.body)["result"] == "ignored"
    assert await entries(db) == before


async def _session_with(app: PayApp, metadata: dict[str, str], key: str) -> str:
    assert isinstance(app.ctx.gateway, StripeGateway)
    session = await app.ctx.gateway.create_checkout(
        CheckoutRequest(
            amount=usd("25.00"),
            description="Payment",
            metadata=metadata,
            idempotency_key=key,
            success_url=f"{app.base}/pay/done",
            cancel_url=f"{app.base}/pay/cancelled",
        )
    )
    return session.id


async def test_a_payment_that_is_not_arbots_is_acknowledged_and_not_posted(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """A payment taken some other way on the same Stripe account carries no arbot metadata."""
    app = await pay_app()
    session_id = await _session_with(app, {"order_id": "123456789"}, "other-1")

    done = await fake_stripe.deliver(fake_stripe.complete(session_id))

    assert {d.status for d in done} == {200}
    assert await gateway_rows(db) == (0, 0)
    assert app.notified == []


async def test_a_payment_for_an_unknown_account_is_logged_by_id_and_acknowledged(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    """Retrying cannot make the account exist: 200, so Stripe keeps the endpoint on, and
    an error naming the PaymentIntent for staff to find the money."""
    app = await pay_app()
    session_id = await _session_with(app, {"arbot_account": "999999"}, "unknown-1")
    events = fake_stripe.complete(session_id)
    intent = fake_stripe.sessions[session_id]["payment_intent"]

    with caplog.at_level(logging.ERROR, logger="bot.patient.stripe_webhook"):
        done = await fake_stripe.deliver(events)

    assert {d.status for d in done} == {200}
    assert await gateway_rows(db) == (0, 0)
    assert any(intent in r.getMessage() for r in caplog.records)


async def test_a_refund_in_the_dashboard_is_posted_once_per_refund(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """``charge.refunded`` lists every refund of the charge: each is posted once."""
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    session_id, events = await paid_session(app, token)
    await fake_stripe.deliver(events)
    intent = fake_stripe.sessions[session_id]["payment_intent"]

    first = fake_stripe.refund(intent, 4_000)
    done = await fake_stripe.deliver(first * 2)
    second = fake_stripe.refund(intent, 1_000)
    done += await fake_stripe.deliver([*second, *first, *second])

    assert {d.status for d in done} == {200}
    assert await gateway_rows(db) == (1, 2)
    assert await balance_of(db, patient.id) == usd("50.00")
    assert [o.amount for o in app.notified[1:]] == [usd("40.00"), usd("10.00")]
    assert all(o.first_time for o in app.notified)


async def test_a_pending_refund_is_posted_when_it_succeeds(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """A refund still pending gave nothing back yet; ``charge.refund.updated`` settles it.
    A failed one never moves the balance."""
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    session_id, events = await paid_session(app, token)
    await fake_stripe.deliver(events)
    intent = fake_stripe.sessions[session_id]["payment_intent"]

    refunded = fake_stripe.refund(intent, 2_000, status="pending")
    await fake_stripe.deliver(refunded)
    assert await balance_of(db, patient.id) == usd("0.00")
    (pending,) = fake_stripe.refunds
    done = await fake_stripe.deliver(fake_stripe.settle_refund(pending) * 2)
    failing = fake_stripe.refund(intent, 500, status="pending")
    failed_id = next(r for r in fake_stripe.refunds if r != pending)
    done += await fake_stripe.deliver([*failing, *fake_stripe.settle_refund(failed_id, "failed")])

    assert {d.status for d in done} == {200}
    assert await balance_of(db, patient.id) == usd("20.00")
    assert await gateway_rows(db) == (1, 1)


async def test_a_refund_asked_through_the_gateway_is_posted_when_stripe_reports_it(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """``PaymentGateway.refund`` (an approved refund) asks Stripe once per key; the ledger
    moves when ``charge.refunded`` arrives, as for a dashboard refund."""
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    session_id, events = await paid_session(app, token)
    await fake_stripe.deliver(events)
    intent = fake_stripe.sessions[session_id]["payment_intent"]
    assert app.ctx.gateway is not None

    first = await app.ctx.gateway.refund(intent, usd("15.00"), "approval-7")
    again = await app.ctx.gateway.refund(intent, usd("15.00"), "approval-7")
    await fake_stripe.deliver(fake_stripe.refund_events(first) * 2)

    assert first == again
    assert list(fake_stripe.refunds) == [first]
    assert await balance_of(db, patient.id) == usd("15.00")


async def test_a_refund_event_without_its_refunds_list_fetches_them(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """Newer API versions leave ``refunds`` out of the charge: arbot lists them."""
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    session_id, events = await paid_session(app, token)
    await fake_stripe.deliver(events)
    (refunded,) = fake_stripe.refund(fake_stripe.sessions[session_id]["payment_intent"], 2_500)
    del refunded["data"]["object"]["refunds"]

    (done,) = await fake_stripe.deliver([refunded])

    assert done.status == 200
    assert await balance_of(db, patient.id) == usd("25.00")
    assert fake_stripe.called("GET", "/v1/refunds")


async def test_a_refund_before_its_payment_is_500_until_the_payment_is_posted(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """Stripe retries a 500: the refund waits for its payment and then posts once."""
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    session_id, events = await paid_session(app, token)
    refund = fake_stripe.refund(fake_stripe.sessions[session_id]["payment_intent"], 3_000)
    before = await entries(db)

    (early,) = await fake_stripe.deliver(refund)
    assert early.status == 500
    assert await entries(db) == before

    done = await fake_stripe.deliver([*events, *refund, *refund])

    assert {d.status for d in done} == {200}
    assert await gateway_rows(db) == (1, 1)
    assert await balance_of(db, patient.id) == usd("30.00")


@pytest.mark.parametrize("shape", ["with its payment_intent", "naming only the charge"])
async def test_a_dispute_reverses_the_payment_and_flags_its_items(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe, shape: str
) -> None:
    """AR-078, AR-119. Stripe's published dispute has ``payment_intent: null``; then
    the charge says which payment it was."""
    app = await pay_app()
    patient = await open_account(db)
    visit = await charge(db, patient.id, "100.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    session_id, events = await paid_session(app, token)
    await fake_stripe.deliver(events)
    dispute = fake_stripe.dispute(fake_stripe.sessions[session_id]["payment_intent"])
    if shape == "naming only the charge":
        dispute[0]["data"]["object"]["payment_intent"] = None

    done = await fake_stripe.deliver(dispute * 3)

    assert {d.status for d in done} == {200}
    assert await gateway_rows(db) == (1, 1)
    assert await balance_of(db, patient.id) == usd("100.00")
    (item,) = [i for i in await items_of(db, patient.id) if i.id == visit.item_ids[0]]
    assert item.disputed
    assert [o.first_time for o in app.notified] == [True, True]
    assert app.notified[1].amount == Money(10_000, "USD")
