"""An approved refund goes back to the card it was paid with (AR-058, issue 4 "on
approval, a refund against the original Stripe payment where there was one, otherwise a
refund-payable entry").

One ``bot.web.make_app`` serves Slack and the patient side, with the real Stripe SDK
pointed at the fake Stripe: the patient pays twice by card (two pay links opened before
either was paid), a clerk asks for the refund in Slack, a supervisor approves it with the
button, and Stripe gets one refund of the second payment, whatever Stripe's webhook or
the supervisor's second press does after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.patient.context import PatientContext
from bot.staff import ids
from bot.web import PATIENT_KEY, SLACK_KEY, make_app
from core.approvals import load_request
from core.approvals.payouts import METADATA_KEY, payout_key, payout_of
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import gl_account, journal_line
from core.patients.gateway import GatewayOutcome
from core.patients.paylinks import PayChoice, issue_pay_link
from core.services.payments import record_payment
from tests.bot.staff.approval_helpers import DAY, buttons_of, press, words
from tests.bot.staff.conftest import Slack, slack_settings, text_of
from tests.bot.staff.test_approval_refunds import ana
from tests.core.helpers import ADMIN, balance_of, usd
from tests.fakes.slack import FakeSlack
from tests.fakes.stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, fake_stripe

__all__ = ["ana", "fake_stripe"]
pytestmark = pytest.mark.usefixtures("staff", "catalogue")


@dataclass
class Clinic:
    slack: Slack
    stripe: FakeStripe
    patient: PatientContext

    async def pay_by_card(self, account: Account, times: int) -> list[str]:
        """The patient opens ``times`` pay links for the balance, then pays each one:
        the payment intents Stripe made."""
        sessions = []
        for _ in range(times):
            token = await issue_pay_link(
                self.patient.db,
                account_id=account.id,
                choice=PayChoice.BALANCE,
                channel="telegram",
                address="4242",
            )
            response = await self.slack.http.post(f"/pay/{token}", allow_redirects=False)
            assert response.status == 303, await response.text()
            sessions.append(response.headers["Location"].rsplit("/", 1)[1])
        for session in sessions:
            done = await self.stripe.deliver(self.stripe.complete(session))
            assert {d.status for d in done} == {200}
        return [self.stripe.sessions[s]["payment_intent"] for s in sessions]

    async def ask_and_approve(self, account: Account, amount: str) -> int:
        reply = await self.slack.command(
            f"refund {account.number} {amount} CREDIT_BALANCE paid twice", "U0CLERK"
        )
        assert "Sent for approval: refund request" in text_of(reply), text_of(reply)
        posted = self.slack.fake.called("chat.postMessage")[-1]
        request_id = int(buttons_of(posted)[0]["value"])
        await press(self.slack, ids.APPROVE_REQUEST, request_id, "U0SUPER")
        return request_id

    def refunds(self) -> list[dict[str, Any]]:
        return list(self.stripe.refunds.values())

    def shown(self) -> str:
        """The approval message as it reads now."""
        return words(self.slack.fake.called("chat.update")[-1])


@pytest.fixture
async def clinic(
    db: Database, fake_slack: FakeSlack, fake_stripe: FakeStripe
) -> AsyncIterator[Clinic]:
    settings = slack_settings(
        db,
        fake_slack,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base,
        public_base_url="https://pay.clinic.example",
    )
    app = make_app(settings, db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:
        fake_stripe.webhook_url = str(http.make_url("/stripe/webhook"))
        patient_side = app[PATIENT_KEY]

        async def no_receipts(outcome: GatewayOutcome) -> None:
            return None

        patient_side.notify = no_receipts
        yield Clinic(Slack(http, fake_slack, app[SLACK_KEY]), fake_stripe, patient_side)


async def gl(db: Database, code: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(
            select(func.coalesce(func.sum(journal_line.c.amount_minor), 0))
            .join(gl_account, gl_account.c.id == journal_line.c.gl_account_id)
            .where(gl_account.c.code == code)
        )
        return int(found.scalar_one())


async def test_a_double_card_payment_is_refunded_to_the_card_once(
    clinic: Clinic, db: Database, ana: Account
) -> None:
    first, second = await clinic.pay_by_card(ana, times=2)
    assert await balance_of(db, ana.id) == usd("-80.00")

    request_id = await clinic.ask_and_approve(ana, "80")

    [refund] = clinic.refunds()
    assert refund["payment_intent"] == second and refund["amount"] == 8000
    assert refund["metadata"]["arbot_refund_request"] == str(request_id)
    assert await balance_of(db, ana.id) == usd("0.00")
    assert await gl(db, "2200") == 0  # nothing left payable: it went back to the card
    shown = clinic.shown()
    assert "Approved by Sam Supervisor" in shown
    assert f"$80.00 refunded to the card it was paid with (gateway refund {refund['id']})" in (
        shown
    )
    assert "payable by cheque" not in shown
    assert buttons_of(clinic.slack.fake.called("chat.update")[-1]) == []

    # Stripe reports the refund (twice), and the supervisor presses again: nothing moves.
    done = await clinic.stripe.deliver(clinic.stripe.refund_events(refund["id"]) * 2)
    assert {d.status for d in done} == {200}
    await press(clinic.slack, ids.APPROVE_REQUEST, request_id, "U0SUPER")
    assert len(clinic.refunds()) == 1
    assert await balance_of(db, ana.id) == usd("0.00")
    assert await gl(db, "2200") == 0
    assert first != second


async def test_credit_from_card_and_cash_goes_back_each_way_it_came(
    clinic: Clinic, db: Database, ana: Account
) -> None:
    """$80 paid twice by card and $20 too much in cash: $80 back to the card, $20 payable
    by cheque."""
    await clinic.pay_by_card(ana, times=2)
    await record_payment(
        db, ADMIN, account_id=ana.id, amount=usd("20.00"), received_on=DAY, key="cash",
        method="cash",
    )  # fmt: skip

    await clinic.ask_and_approve(ana, "100")

    [refund] = clinic.refunds()
    assert refund["amount"] == 8000
    assert await balance_of(db, ana.id) == usd("0.00")
    assert await gl(db, "2200") == -2000
    shown = clinic.shown()
    assert "$80.00 refunded to the card" in shown
    assert "$20.00 is payable by cheque" in shown


async def test_a_refund_stripe_refuses_waits_and_is_retried_with_the_button(
    clinic: Clinic, db: Database, ana: Account
) -> None:
    await clinic.pay_by_card(ana, times=2)
    clinic.stripe.refund_refusal = "lock_timeout"

    request_id = await clinic.ask_and_approve(ana, "80")

    assert clinic.refunds() == []
    assert await balance_of(db, ana.id) == usd("0.00")  # approved: the credit is used up
    assert await gl(db, "2200") == -8000  # and held as payable until the card gets it
    shown = clinic.shown()
    assert "$80.00 is still to go back to the card" in shown
    [retry] = buttons_of(clinic.slack.fake.called("chat.update")[-1])
    assert retry["action_id"] == ids.RETRY_CARD_REFUND and retry["value"] == str(request_id)

    # Still refused: the presser is told, and nothing is refunded.
    told = await clinic.slack.press(ids.RETRY_CARD_REFUND, str(request_id), "U0SUPER")
    assert "could not be asked to refund request" in text_of(told)
    assert clinic.refunds() == []

    clinic.stripe.refund_refusal = None
    await press(clinic.slack, ids.RETRY_CARD_REFUND, request_id, "U0SUPER2")
    [refund] = clinic.refunds()
    assert refund["amount"] == 8000
    assert await gl(db, "2200") == 0
    assert "$80.00 refunded to the card" in clinic.shown()
    assert buttons_of(clinic.slack.fake.called("chat.update")[-1]) == []


async def test_only_staff_who_may_refund_can_retry_a_card_refund(
    clinic: Clinic, db: Database, ana: Account
) -> None:
    await clinic.pay_by_card(ana, times=2)
    clinic.stripe.refund_refusal = "lock_timeout"
    request_id = await clinic.ask_and_approve(ana, "80")
    clinic.stripe.refund_refusal = None

    told = await clinic.slack.press(ids.RETRY_CARD_REFUND, str(request_id), "U0CLERK")

    assert "refund" in text_of(told) and "permission" in text_of(told).lower()
    assert clinic.refunds() == []


async def asked_before_a_crash(clinic: Clinic, db: Database, request_id: int) -> str:
    """What ``pay_out`` had done when arbot stopped: Stripe asked, the answer unrecorded."""
    async with db.read() as conn:
        request = await load_request(conn, request_id)
        payout = await payout_of(conn, request)
    assert payout is not None and clinic.patient.gateway is not None
    [share] = payout.waiting
    key = payout_key(request, share.payment_ref)
    metadata = {METADATA_KEY: str(request_id)}
    return await clinic.patient.gateway.refund(share.payment_ref, share.amount, key, metadata)


async def test_a_refund_stripe_reports_before_arbot_recorded_it_is_its_payout(
    clinic: Clinic, db: Database, ana: Account
) -> None:
    """Stripe's ``charge.refunded`` arrives before arbot recorded the refund it asked for:
    the event records the payout (not a second take-back from the account), and the
    retry finds it done."""
    await clinic.pay_by_card(ana, times=2)
    clinic.stripe.refund_refusal = "lock_timeout"
    request_id = await clinic.ask_and_approve(ana, "80")
    clinic.stripe.refund_refusal = None
    refund_id = await asked_before_a_crash(clinic, db, request_id)

    done = await clinic.stripe.deliver(clinic.stripe.refund_events(refund_id))

    assert {d.status for d in done} == {200}
    assert await balance_of(db, ana.id) == usd("0.00")
    assert await gl(db, "2200") == 0
    await press(clinic.slack, ids.RETRY_CARD_REFUND, request_id, "U0SUPER")
    assert [r["id"] for r in clinic.refunds()] == [refund_id]
    assert f"(gateway refund {refund_id})" in clinic.shown()
    assert await gl(db, "2200") == 0


async def test_a_retry_after_stripe_forgot_the_key_finds_the_refund_made(
    clinic: Clinic, db: Database, ana: Account
) -> None:
    """Stripe keeps idempotency keys for 24 hours; a retry days after a crash must not
    refund again: the refund is found by the key in its metadata."""
    await clinic.pay_by_card(ana, times=2)
    clinic.stripe.refund_refusal = "lock_timeout"
    request_id = await clinic.ask_and_approve(ana, "80")
    clinic.stripe.refund_refusal = None
    refund_id = await asked_before_a_crash(clinic, db, request_id)
    clinic.stripe.forget_idempotency_keys()

    await press(clinic.slack, ids.RETRY_CARD_REFUND, request_id, "U0SUPER")

    assert [r["id"] for r in clinic.refunds()] == [refund_id]
    assert await gl(db, "2200") == 0
    assert await balance_of(db, ana.id) == usd("0.00")
