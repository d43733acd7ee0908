"""The pay page as a patient opens it (AR-017, BI-23, issue 5 "Pay"): GET shows the
amount and a Pay button and creates nothing; POST opens a Stripe Checkout Session for
the amount due now and answers 303 to it."""

from __future__ import annotations

import re

import pytest

from core.clock import FixedClock
from core.db import Database
from core.patients.paylinks import PayChoice
from tests.bot.patient.stripe_harness import CHAT, StartPayApp, entries, pay_app
from tests.core.helpers import open_account
from tests.core.patients.paying import JUNE, MAY, charge, counts, desk_payment
from tests.fakes.stripe import FakeStripe, fake_stripe

__all__ = ["fake_stripe", "pay_app"]

NO_STORE = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}


def assert_private(headers: object) -> None:
    for name, value in NO_STORE.items():
        assert headers[name] == value, name  # type: ignore[index]


def assert_no_card_fields(html: str) -> None:
    """Card data never touches arbot: no field to type into, no card widget embedded."""
    assert not re.search(r"<(input|select|textarea|iframe|script)\b", html, re.IGNORECASE)


async def test_opening_the_link_shows_the_amount_and_creates_no_session(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """SMS and Telegram fetch a link to preview it: a GET must open no Checkout Session."""
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    await charge(db, patient.id, "50.25", JUNE)
    token = await app.link(patient.id, PayChoice.BALANCE)

    for _ in range(3):
        response = await app.get(f"/pay/{token}")
        html = await response.text()
        assert response.status == 200
        assert "$150.25" in html
        assert patient.number in html
        assert f'<form method="post" action="/pay/{token}">' in html
        assert_private(response.headers)
        assert '<meta name="robots" content="noindex, nofollow">' in html
        assert_no_card_fields(html)

    assert fake_stripe.calls == []
    assert "Office visit" not in html


async def test_a_typed_amount_shows_that_amount(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "300.00", MAY)
    token = await app.link(patient.id, PayChoice.AMOUNT, amount_minor=4_250)

    html = await (await app.get(f"/pay/{token}")).text()

    assert "$42.50" in html
    assert "$300.00" not in html
    assert "The amount you chose to pay." in html


async def test_pay_opens_a_checkout_session_for_the_amount_due_now(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """The session carries the amount, the account and the chosen items in its metadata
    and on the PaymentIntent, an opaque description and the order's idempotency key."""
    app = await pay_app()
    patient = await open_account(db)
    older = await charge(db, patient.id, "100.00", MAY)
    newer = await charge(db, patient.id, "50.00", JUNE)
    token = await app.link(patient.id, PayChoice.BALANCE)
    await desk_payment(db, patient.id, "30.00", key="desk-1")

    response = await app.post(f"/pay/{token}")

    assert response.status == 303
    assert_private(response.headers)
    (session_id,) = fake_stripe.sessions
    assert response.headers["Location"] == fake_stripe.sessions[session_id]["url"]
    params = fake_stripe.session_params[session_id]
    price = params["line_items"][0]["price_data"]
    assert price["unit_amount"] == "12000"  # the balance when opened, after the desk payment
    assert price["currency"] == "usd"
    assert price["product_data"]["name"] == f"Payment on account {patient.number}"
    metadata = params["metadata"]
    assert metadata["arbot_account"] == str(patient.id)
    assert metadata["arbot_items"] == f"{older.item_ids[0]},{newer.item_ids[0]}"
    assert params["payment_intent_data"]["metadata"] == metadata
    assert params["mode"] == "payment"
    assert params["adaptive_pricing"] == {"enabled": "false"}
    assert params["success_url"] == f"{app.base}/pay/done"
    assert params["cancel_url"] == f"{app.base}/pay/cancelled"
    assert token not in str(params)
    assert "Office visit" not in str(params)
    (call,) = fake_stripe.created_sessions
    assert call.idempotency_key is not None
    assert call.idempotency_key.startswith("paylink:")


async def test_pressing_pay_twice_opens_one_session(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "80.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)

    first = await app.post(f"/pay/{token}")
    second = await app.post(f"/pay/{token}")

    assert first.headers["Location"] == second.headers["Location"]
    assert len(fake_stripe.sessions) == 1
    keys = {c.idempotency_key for c in fake_stripe.created_sessions}
    assert len(fake_stripe.created_sessions) == 2 and len(keys) == 1


async def test_an_unknown_or_expired_link_is_a_404_page_with_a_plain_sentence(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe, clock: FixedClock
) -> None:
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "80.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    clock.advance(days=91)

    for path in ("/pay/" + "x" * 43, f"/pay/{token}", "/pay/short"):
        for method in (app.get, app.post):
            response = await method(path)
            html = await response.text()
            assert response.status == 404, path
            assert "This payment link is not valid or has expired." in html
            assert "Traceback" not in html
            assert_private(response.headers)
    assert fake_stripe.calls == []


async def test_nothing_owed_says_so_and_opens_nothing(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app()
    patient = await open_account(db)
    await charge(db, patient.id, "80.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    await desk_payment(db, patient.id, "80.00", key="desk-all")

    for method in (app.get, app.post):
        response = await method(f"/pay/{token}")
        assert response.status == 200
        assert "There is nothing to pay on this account now." in await response.text()
    assert fake_stripe.calls == []


FAILURES = {
    "refused key": {"stripe_secret_key": "sk_test_revoked"},
    "unreachable": {"stripe_api_base": "http://127.0.0.1:1"},
}


@pytest.mark.parametrize("failure", FAILURES)
async def test_a_stripe_failure_shows_try_again_and_changes_nothing(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe, failure: str
) -> None:
    """Stripe refusing the key, or not answering, is a page asking to try again."""
    app = await pay_app(**FAILURES[failure])
    patient = await open_account(db)
    await charge(db, patient.id, "80.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    before = (await counts(db), await entries(db))

    response = await app.post(f"/pay/{token}")

    assert response.status == 502
    assert "nothing was charged" in await response.text()
    assert fake_stripe.sessions == {}
    assert (await counts(db), await entries(db)) == before


async def test_the_pages_stripe_returns_to_carry_no_token(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app()
    done = await app.get("/pay/done")
    cancelled = await app.get("/pay/cancelled")

    assert done.status == cancelled.status == 200
    assert "receipt arrives in your chat" in await done.text()
    assert "Nothing was charged." in await cancelled.text()
    assert_private(done.headers)


async def test_the_local_test_checkout_does_not_exist_when_stripe_is_configured(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app()
    for method in (app.get, app.post):
        assert (await method("/pay/test/cs_local_abc.def")).status == 404


async def test_a_channel_the_link_was_sent_to_is_not_shown(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """The page shows the account number and the amount, not the chat it went to."""
    app = await pay_app()
    patient = await open_account(db, name="Ana Secret-Surname")
    await charge(db, patient.id, "80.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)

    html = await (await app.get(f"/pay/{token}")).text()

    assert "Secret-Surname" not in html
    assert CHAT["address"] not in html
