"""Charging a saved card off-session (AR-148): ``StripeGateway.charge_saved`` against the
fake Stripe over HTTP. A success names the PaymentIntent; a decline is a result with the
bank's reason, not an error; the same key asked twice charges once; a card Stripe does
not know is an error the caller retries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.patient.stripe_gateway import GatewayUnavailable, LocalGateway, StripeGateway
from core.ports import ChargeRequest
from core.settings import Settings
from tests.core.helpers import usd
from tests.fakes.stripe import SECRET_KEY, FakeStripe, fake_stripe

__all__ = ["fake_stripe"]


@pytest.fixture
async def gateway(fake_stripe: FakeStripe) -> AsyncIterator[StripeGateway]:
    made = StripeGateway(Settings(stripe_secret_key=SECRET_KEY, stripe_api_base=fake_stripe.base))
    yield made
    await made.close()


def request(customer: str, card: str, key: str = "plan:1:1:1") -> ChargeRequest:
    return ChargeRequest(
        customer_ref=customer,
        method_ref=card,
        amount=usd("100.00"),
        idempotency_key=key,
        metadata={"arbot_account": "7", "arbot_plan": "1"},
        description="Account A0000007 instalment 1 of 3",
    )


async def test_a_saved_card_is_charged_once_per_key(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer, card = fake_stripe.save_card()

    first = await gateway.charge_saved(request(customer, card))
    again = await gateway.charge_saved(request(customer, card))

    assert first.ok and first.payment_ref is not None and first.failure is None
    assert again == first
    assert list(fake_stripe.payment_intents) == [first.payment_ref]
    intent = fake_stripe.payment_intents[first.payment_ref]
    assert (intent["amount_received"], intent["currency"], intent["status"]) == (
        10000,
        "usd",
        "succeeded",
    )
    assert intent["metadata"] == {"arbot_account": "7", "arbot_plan": "1"}
    call = fake_stripe.called("POST", "/v1/payment_intents")[0]
    assert call.params["description"] == "Account A0000007 instalment 1 of 3"


@pytest.mark.parametrize("code", ["insufficient_funds", "expired_card", "authentication_required"])
async def test_a_decline_is_a_result_with_the_banks_reason(
    gateway: StripeGateway, fake_stripe: FakeStripe, code: str
) -> None:
    customer, card = fake_stripe.save_card()
    fake_stripe.decline(card, code)

    result = await gateway.charge_saved(request(customer, card))
    replayed = await gateway.charge_saved(request(customer, card))

    assert (result.ok, result.failure) == (False, code)
    assert result.payment_ref in fake_stripe.payment_intents
    assert replayed == result  # Stripe keeps a decline under its key too
    assert len(fake_stripe.payment_intents) == 1


async def test_a_card_stripe_does_not_know_is_an_error_to_retry(
    gateway: StripeGateway, fake_stripe: FakeStripe
) -> None:
    customer, _ = fake_stripe.save_card()
    with pytest.raises(GatewayUnavailable):
        await gateway.charge_saved(request(customer, "pm_never_saved"))
    assert fake_stripe.payment_intents == {}


async def test_the_local_checkout_charges_once_per_key() -> None:
    local = LocalGateway(Settings())
    first = await local.charge_saved(request("cus_local_x", "pm_local_x"))
    assert first.ok and first.payment_ref is not None
    assert first.payment_ref.startswith("pi_local_")
    assert await local.charge_saved(request("cus_local_x", "pm_local_x")) == first
    other = await local.charge_saved(request("cus_local_x", "pm_local_x", key="plan:1:1:2"))
    assert other.payment_ref != first.payment_ref
