"""Without Stripe keys (the demo), the pay link leads to a local test checkout, marked
"TEST — no real money", that completes through the webhook's own code path (issue 5
"Without Stripe keys"): the event is claimed like Stripe's, the payment posted once,
the receipt handed to notify once."""

from __future__ import annotations

import base64
import hashlib
import json

from sqlalchemy import select

from bot.patient.stripe_gateway import LocalGateway
from core.db import Database
from core.patients.inbox import inbound_event
from core.patients.paylinks import PayChoice
from core.plans import PlanPolicy, enrol_plan, load_plan
from core.ports import CheckoutRequest, SetupRequest
from core.settings import Settings
from tests.bot.patient.stripe_harness import (
    PayApp,
    StartPayApp,
    entries,
    gateway_rows,
    open_of,
    pay_app,
)
from tests.bot.patient.test_payweb import assert_no_card_fields, assert_private
from tests.core.helpers import balance_of, open_account, usd
from tests.core.patients.paying import JUNE, MAY, PATIENT, charge
from tests.fakes.stripe import FakeStripe, fake_stripe

__all__ = ["fake_stripe", "pay_app"]
TEST_MARK = "TEST — no real money"


async def to_test_checkout(app: PayApp, token: str) -> str:
    """Press Pay on the link's page: the local test checkout's path."""
    response = await app.post(f"/pay/{token}")
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith(f"{app.base}/pay/test/cs_local_")
    return location.removeprefix(app.base)


async def test_the_local_checkout_pays_through_the_webhook_path_once(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app(local=True)
    patient = await open_account(db)
    older = await charge(db, patient.id, "100.00", MAY)
    await charge(db, patient.id, "50.00", JUNE)
    token = await app.link(patient.id, PayChoice.AMOUNT, amount_minor=6_000)
    before = await entries(db)

    path = await to_test_checkout(app, token)
    page = await app.get(path)
    html = await page.text()
    assert page.status == 200
    assert html.count(TEST_MARK) >= 2
    assert "$60.00" in html
    assert_no_card_fields(html)
    assert_private(page.headers)
    assert await entries(db) == before

    paid = [await app.post(path) for _ in range(3)]

    assert {r.status for r in paid} == {303}
    assert {r.headers["Location"] for r in paid} == {f"{app.base}/pay/done"}
    assert await entries(db) == before + 1
    assert await gateway_rows(db) == (1, 0)
    assert await balance_of(db, patient.id) == usd("90.00")
    assert (await open_of(db, patient.id))[older.item_ids[0]] == 4_000
    (receipt,) = app.notified
    assert (receipt.first_time, receipt.amount) == (True, usd("60.00"))
    assert receipt.reply_to == ("telegram", "4242")
    async with db.read() as conn:
        claims = list(await conn.execute(select(inbound_event)))
    assert [(c.source, c.event_id.startswith("evt_local_")) for c in claims] == [("stripe", True)]
    assert claims[0].finished_at is not None
    assert fake_stripe.calls == []


async def test_the_test_page_says_test_on_the_pay_page_too(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app(local=True)
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)

    html = await (await app.get(f"/pay/{token}")).text()

    assert TEST_MARK in html
    assert "moves no money" in html
    assert "Stripe" not in html


def altered(path: str) -> list[str]:
    """The same session id with its amount changed but the old signature, with a
    signature cut short, and one made up."""
    session_id = path.rsplit("/", 1)[1]
    body, mac = session_id.removeprefix("cs_local_").rsplit(".", 1)
    fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    fields["amount"] = 1
    forged = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    return [f"cs_local_{forged}.{mac}", f"cs_local_{body}.{mac[:-1]}", "cs_local_made.up"]


async def test_an_altered_or_made_up_test_session_is_404_and_pays_nothing(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app(local=True)
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    token = await app.link(patient.id, PayChoice.BALANCE)
    path = await to_test_checkout(app, token)
    before = await entries(db)

    for session_id in altered(path):
        for method in (app.get, app.post):
            response = await method(f"/pay/test/{session_id}")
            assert response.status == 404
            assert TEST_MARK in await response.text()

    assert await entries(db) == before
    assert app.notified == []


async def test_a_test_session_of_another_deployment_is_refused(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    """Sessions are signed with a key from DATABASE_URL: another database's are not ours."""
    app = await pay_app(local=True)
    patient = await open_account(db)
    await charge(db, patient.id, "100.00", MAY)
    other = LocalGateway(Settings(database_url="sqlite+aiosqlite:///elsewhere.db"))
    made = await other.create_checkout(
        CheckoutRequest(
            amount=usd("100.00"),
            description="Payment",
            metadata={"arbot_account": str(patient.id)},
            idempotency_key="elsewhere-1",
            success_url=f"{app.base}/pay/done",
            cancel_url=f"{app.base}/pay/cancelled",
        )
    )

    assert (await app.post(f"/pay/test/{made.id}")).status == 404
    assert await balance_of(db, patient.id) == usd("100.00")
    assert app.notified == []


async def test_saving_a_card_locally_turns_on_autopay(
    db: Database, pay_app: StartPayApp, fake_stripe: FakeStripe
) -> None:
    app = await pay_app(local=True)
    patient = await open_account(db)
    await charge(db, patient.id, "300.00", MAY)
    plan = await enrol_plan(
        db,
        PATIENT,
        account_id=patient.id,
        count=3,
        policy=PlanPolicy(),
        agreement_version="2026-11-1",
        agreement_digest=hashlib.sha256(b"agreement").hexdigest(),
        channel="sms",
        key="plan-local",
    )
    assert app.ctx.gateway is not None
    session = await app.ctx.gateway.create_setup(
        SetupRequest(
            currency="USD",
            metadata={"arbot_plan": str(plan.id)},
            idempotency_key="autopay-local",
            success_url=f"{app.base}/pay/done",
            cancel_url=f"{app.base}/pay/cancelled",
        )
    )
    path = session.url.removeprefix(app.base)

    html = await (await app.get(path)).text()
    assert "Save a test card" in html and TEST_MARK in html
    response = await app.post(path)

    assert response.status == 303
    async with db.read() as conn:
        saved = await load_plan(conn, plan.id)
    assert saved.autopay
    assert saved.customer_ref is not None and saved.customer_ref.startswith("cus_local_")
    assert app.notified == []
