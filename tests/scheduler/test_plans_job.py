"""The payment plans job on fixed dates (AR-148, AR-162): reminders ahead of each
instalment with its pay link, autopay charged off-session through (a fake) Stripe once
per attempt, retries after a decline with the patient told each time, and a plan
missed past its grace period put in default so that dunning takes the account up again
at the level its age calls for."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from core.clock import FixedClock
from core.customers import record_consent
from core.db import Database
from core.dunning import plan_dunning
from core.ledger.items import balance
from core.patients.outbox import outbox
from core.patients.paylinks import PayChoice
from core.plans import plan_of, set_autopay
from core.plans.autopay import charge_request, claim_charge
from core.plans.instalments import oldest_unpaid_due
from core.plans.tables import plan_charge
from scheduler.plans import plans_job
from scheduler.runner import run_job
from tests.bot.patient.stripe_harness import StartPayApp, pay_app
from tests.core.dunning_helpers import AS_OF, owes, patient
from tests.core.helpers import ADMIN, usd
from tests.fakes.stripe import FakeStripe, fake_stripe
from tests.scheduler.conftest import FakeMessenger, ports_for
from tests.scheduler.plan_helpers import (
    chat_of,
    enrol,
    entry_count,
    order_in,
    plan_now,
    run_on,
)

__all__ = ["fake_stripe", "pay_app"]


async def test_an_instalment_is_reminded_days_ahead_once_with_its_pay_link(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "300.00", 5)
    plan = await enrol(db, ana, first_due=AS_OF + timedelta(days=4))
    ports = ports_for(db, messenger)

    # Four days ahead: not yet (ARBOT_PLAN_REMINDER_DAYS is 3 by default).
    report = await run_on(db, clock, ports, "plans", AS_OF)
    assert report is not None and messenger.sent == []

    tomorrow = AS_OF + timedelta(days=1)
    report = await run_on(db, clock, ports, "plans", tomorrow)
    assert report is not None and "; 1 notices sent" in report.summary
    [text] = messenger.to(await chat_of(db, ana))
    assert text.startswith(
        f"Reminder: instalment 1 of 3 of your payment plan on account {ana.number}, "
        "$100.00, is due on Jul 4, 2026."
    )
    order = await order_in(db, text)
    assert (order.account_id, order.choice, order.amount) == (
        ana.id,
        PayChoice.INSTALMENT,
        usd("100.00"),
    )
    # The same hour is claimed; later hours and days find the reminder sent.
    assert await run_on(db, clock, ports, "plans", tomorrow) is None
    for hour in (15, 16):
        await run_on(db, clock, ports, "plans", tomorrow, hour)
    await run_on(db, clock, ports, "plans", tomorrow + timedelta(days=1))
    assert len(messenger.sent) == 1
    assert (await plan_now(db, plan.id)).instalments[0].status == "pending"


async def test_reminders_speak_the_patients_language_and_hide_amounts_from_strangers(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    luis = await patient(db, "Luis", language="es")
    await owes(db, luis, "300.00", 5)
    await enrol(db, luis, first_due=AS_OF + timedelta(days=2))
    sam = await patient(db, "Sam", telegram=False, phone="+15550003333")
    await record_consent(
        db, ADMIN, channel="sms", address="+15550003333", granted=True, source="form"
    )
    await owes(db, sam, "300.00", 5)
    await enrol(db, sam, first_due=AS_OF + timedelta(days=2))

    await run_on(db, clock, ports_for(db, messenger), "plans", AS_OF)

    [spanish] = messenger.to(await chat_of(db, luis))
    assert spanish.startswith(
        f"Recordatorio: la cuota 1 de 3 de su plan de pagos de la cuenta {luis.number}, "
        "$100.00, vence el 2 jul 2026."
    )
    # The phone on file was never verified in chat: no amount, no account number.
    [sms] = messenger.to("+15550003333")
    assert sms.startswith("You have a balance with the billing office.")
    assert "$" not in sms and sam.number not in sms and "STOP" in sms


async def test_autopay_charges_the_saved_card_once_and_posts_it_once(
    db: Database,
    clock: FixedClock,
    messenger: FakeMessenger,
    pay_app: StartPayApp,
    fake_stripe: FakeStripe,
) -> None:
    app = await pay_app()
    ana = await patient(db, "Ana")
    await owes(db, ana, "300.00", 5)
    plan = await enrol(db, ana, first_due=AS_OF)
    customer, card = fake_stripe.save_card()
    await set_autopay(db, plan_id=plan.id, customer_ref=customer, method_ref=card)
    ports = ports_for(db, messenger, gateway=app.ctx.gateway)
    payments = await entry_count(db, "payment")

    report = await run_on(db, clock, ports, "plans", AS_OF)

    assert report is not None
    assert report.summary.startswith("0 plans defaulted; 1 instalments charged, 0 declined")
    [call] = fake_stripe.called("POST", "/v1/payment_intents")
    assert call.idempotency_key == f"plan:{plan.id}:1:1"
    assert call.params["off_session"] == "true" and call.params["confirm"] == "true"
    assert (call.params["amount"], call.params["customer"], call.params["payment_method"]) == (
        "10000",
        customer,
        card,
    )
    assert call.params["metadata"]["arbot_account"] == str(ana.id)
    assert await entry_count(db, "payment") == payments + 1
    after = await plan_now(db, plan.id)
    assert [i.status for i in after.instalments] == ["paid", "pending", "pending"]
    [text] = messenger.to(await chat_of(db, ana))
    assert text.startswith(
        "Payment received: we charged $100.00 to your saved card for instalment 1 of 3 of "
        f"your payment plan on account {ana.number}. Thank you!"
    )
    assert "Next instalment: $100.00 on Jul 30, 2026." in text

    # Stripe's own events about the charge, delivered twice, post nothing more.
    events = list(fake_stripe.pending_events)
    delivered = await fake_stripe.deliver(events + events)
    assert {d.status for d in delivered} == {200}
    assert await entry_count(db, "payment") == payments + 1
    # Later runs that day, and the next day, charge nothing and say nothing more.
    await run_on(db, clock, ports, "plans", AS_OF, 18)
    await run_on(db, clock, ports, "plans", AS_OF + timedelta(days=1))
    assert len(fake_stripe.called("POST", "/v1/payment_intents")) == 1
    assert len(messenger.sent) == 1
    async with db.read() as conn:
        assert await balance(conn, ana.id) == usd("200.00").minor


async def test_a_declined_card_is_retried_on_schedule_and_the_patient_told_each_time(
    db: Database,
    clock: FixedClock,
    messenger: FakeMessenger,
    pay_app: StartPayApp,
    fake_stripe: FakeStripe,
) -> None:
    app = await pay_app()
    ana = await patient(db, "Ana")
    await owes(db, ana, "300.00", 5)
    plan = await enrol(db, ana, first_due=AS_OF)
    customer, card = fake_stripe.save_card()
    await set_autopay(db, plan_id=plan.id, customer_ref=customer, method_ref=card)
    fake_stripe.decline(card, "insufficient_funds")
    ports = ports_for(db, messenger, gateway=app.ctx.gateway)
    chat = await chat_of(db, ana)

    report = await run_on(db, clock, ports, "plans", AS_OF)
    assert report is not None and "0 instalments charged, 1 declined" in report.summary
    [told] = messenger.to(chat)
    assert told.startswith(
        "We could not charge your saved card $100.00 for instalment 1 of 3 of your payment "
        f"plan on account {ana.number}, due on Jun 30, 2026."
    )
    assert "We will try the card again on Jul 3, 2026." in told
    order = await order_in(db, told)
    assert (order.choice, order.amount) == (PayChoice.INSTALMENT, usd("100.00"))

    for day in (1, 2):  # no retry before its day
        await run_on(db, clock, ports, "plans", AS_OF + timedelta(days=day))
    assert len(fake_stripe.called("POST", "/v1/payment_intents")) == 1

    await run_on(db, clock, ports, "plans", AS_OF + timedelta(days=3))
    second = messenger.to(chat)[-1]
    assert "We will try the card again on Jul 7, 2026." in second

    fake_stripe.accept(card)  # the patient topped up their account
    await run_on(db, clock, ports, "plans", AS_OF + timedelta(days=7))
    keys = [c.idempotency_key for c in fake_stripe.called("POST", "/v1/payment_intents")]
    assert keys == [f"plan:{plan.id}:1:{n}" for n in (1, 2, 3)]
    assert messenger.to(chat)[-1].startswith("Payment received: we charged $100.00")
    assert (await plan_now(db, plan.id)).instalments[0].status == "paid"
    async with db.read() as conn:
        attempts = (
            await conn.execute(
                select(
                    plan_charge.c.attempt, plan_charge.c.status, plan_charge.c.failure
                ).order_by(plan_charge.c.attempt)
            )
        ).all()
    assert [tuple(a) for a in attempts] == [
        (1, "failed", "insufficient_funds"),
        (2, "failed", "insufficient_funds"),
        (3, "succeeded", None),
    ]
    assert len(messenger.to(chat)) == 3


async def test_the_last_retry_says_no_more_tries_and_a_card_needing_the_patient_fails(
    db: Database,
    clock: FixedClock,
    messenger: FakeMessenger,
    pay_app: StartPayApp,
    fake_stripe: FakeStripe,
) -> None:
    app = await pay_app()
    ana = await patient(db, "Ana")
    await owes(db, ana, "300.00", 5)
    plan = await enrol(db, ana, first_due=AS_OF)
    customer, card = fake_stripe.save_card()
    await set_autopay(db, plan_id=plan.id, customer_ref=customer, method_ref=card)
    fake_stripe.decline(card, "authentication_required")
    ports = ports_for(db, messenger, gateway=app.ctx.gateway, plan_retry_days=(3,))

    for day in (0, 3, 4, 10):
        await run_on(db, clock, ports, "plans", AS_OF + timedelta(days=day))

    assert len(fake_stripe.called("POST", "/v1/payment_intents")) == 2
    last = messenger.to(await chat_of(db, ana))[-1]
    assert "try the card again" not in last and "You can pay now another way here:" in last
    async with db.read() as conn:
        failures = (await conn.execute(select(plan_charge.c.failure))).scalars().all()
    assert failures == ["authentication_required", "authentication_required"]


async def test_a_missed_instalment_past_the_grace_period_puts_the_plan_in_default(
    db: Database, clock: FixedClock, messenger: FakeMessenger
) -> None:
    ana = await patient(db, "Ana")
    await owes(db, ana, "300.00", 30)  # due 31 May
    plan = await enrol(db, ana, first_due=AS_OF + timedelta(days=1))  # 1 July
    ports = ports_for(db, messenger, plan_grace_days=10)
    last_day = date(2026, 7, 11)  # ten days late: still in grace

    await run_on(db, clock, ports, "plans", last_day)
    assert (await plan_now(db, plan.id)).status == "active"
    async with db.read() as conn:
        # A plan in good standing holds dunning back (AR-162).
        assert [m.account_id for m in await plan_dunning(conn, last_day + timedelta(days=1))] == []

    day = last_day + timedelta(days=1)
    report = await run_on(db, clock, ports, "plans", day)

    assert report is not None and report.summary.startswith("1 plans defaulted")
    defaulted = await plan_now(db, plan.id)
    assert (defaulted.status, defaulted.defaulted_on) == ("defaulted", day)
    async with db.read() as conn:
        assert await plan_of(conn, ana.id) is None
        # Dunning takes it up again at the level the debt's age calls for: due 31 May,
        # 42 days on 12 July, the 30-day reminder (level 3).
        [dunned] = await plan_dunning(conn, day)
    assert (dunned.account_id, dunned.level, dunned.template) == (ana.id, 3, "reminder")
    told = messenger.to(await chat_of(db, ana))[-1]
    assert told.startswith(
        f"Your payment plan on account {ana.number} has ended: the instalment of $100.00 "
        "due on Jul 1, 2026 was not paid. The balance of $300.00 is due now."
    )
    order = await order_in(db, told)
    assert (order.choice, order.amount) == (PayChoice.BALANCE, usd("300.00"))
    # Defaulted once: later runs neither default again nor tell again.
    await run_on(db, clock, ports, "plans", day + timedelta(days=1))
    async with db.read() as conn:
        sent = (
            await conn.execute(select(outbox.c.kind).where(outbox.c.kind == "plan_defaulted"))
        ).all()
    assert len(sent) == 1


async def test_the_dry_run_lists_and_changes_nothing(
    db: Database,
    clock: FixedClock,
    messenger: FakeMessenger,
    pay_app: StartPayApp,
    fake_stripe: FakeStripe,
) -> None:
    app = await pay_app()
    ana = await patient(db, "Ana")
    await owes(db, ana, "300.00", 5)
    plan = await enrol(db, ana, first_due=AS_OF)
    customer, card = fake_stripe.save_card()
    await set_autopay(db, plan_id=plan.id, customer_ref=customer, method_ref=card)
    ports = ports_for(db, messenger, gateway=app.ctx.gateway)

    report = await plans_job(db, clock, ports, AS_OF, True)

    assert report.summary.startswith(f"dry run for {AS_OF.isoformat()}: 0 plans would default, 1")
    assert f"would charge: {ana.number} instalment 1 attempt 1 100.00" in report.lines
    assert fake_stripe.called("POST", "/v1/payment_intents") == [] and messenger.sent == []


async def test_a_run_killed_after_stripe_charged_is_resumed_without_a_second_charge(
    db: Database,
    clock: FixedClock,
    messenger: FakeMessenger,
    pay_app: StartPayApp,
    fake_stripe: FakeStripe,
) -> None:
    """The attempt was claimed and Stripe charged the card, then the process died before
    the answer was recorded: the re-run asks again under the same key, Stripe answers
    the first charge, and it is posted once."""
    app = await pay_app()
    ana = await patient(db, "Ana")
    await owes(db, ana, "300.00", 5)
    plan = await enrol(db, ana, first_due=AS_OF)
    customer, card = fake_stripe.save_card()
    await set_autopay(db, plan_id=plan.id, customer_ref=customer, method_ref=card)
    clock.moment = clock.moment.replace(hour=14)
    async with db.read() as conn:
        [due] = await oldest_unpaid_due(conn, AS_OF, autopay=True)
    claimed = await claim_charge(db, due, 1, usd("100.00"), AS_OF)
    assert claimed is not None
    gateway = app.ctx.gateway
    assert gateway is not None
    first = await gateway.charge_saved(charge_request(due, claimed))
    assert first.ok
    payments = await entry_count(db, "payment")

    ports = ports_for(db, messenger, gateway=gateway)
    report = await run_job(db, clock, ports, "plans", as_of=AS_OF, rerun=True)

    assert report is not None and "1 instalments charged" in report.summary
    calls = fake_stripe.called("POST", "/v1/payment_intents")
    assert [c.idempotency_key for c in calls] == [f"plan:{plan.id}:1:1"] * 2
    assert len(fake_stripe.payment_intents) == 1  # one charge at Stripe
    assert await entry_count(db, "payment") == payments + 1
    async with db.read() as conn:
        [row] = (await conn.execute(select(plan_charge.c.status, plan_charge.c.payment_ref))).all()
    assert row == ("succeeded", first.payment_ref)


async def test_a_claim_cut_off_over_a_day_ago_is_given_up_not_asked_again(
    db: Database,
    clock: FixedClock,
    messenger: FakeMessenger,
    pay_app: StartPayApp,
    fake_stripe: FakeStripe,
) -> None:
    """Stripe keeps a key's answer for 24 hours: an attempt left ``charging`` longer is
    not asked again under its key (it could charge twice); the next attempt follows the
    retry schedule."""
    app = await pay_app()
    ana = await patient(db, "Ana")
    await owes(db, ana, "300.00", 5)
    plan = await enrol(db, ana, first_due=AS_OF)
    customer, card = fake_stripe.save_card()
    await set_autopay(db, plan_id=plan.id, customer_ref=customer, method_ref=card)
    async with db.read() as conn:
        [due] = await oldest_unpaid_due(conn, AS_OF, autopay=True)
    clock.moment = clock.moment.replace(hour=14)
    assert await claim_charge(db, due, 1, usd("100.00"), AS_OF) is not None
    ports = ports_for(db, messenger, gateway=app.ctx.gateway)

    await run_on(db, clock, ports, "plans", AS_OF + timedelta(days=2))
    assert fake_stripe.called("POST", "/v1/payment_intents") == []
    await run_on(db, clock, ports, "plans", AS_OF + timedelta(days=3))
    keys = [c.idempotency_key for c in fake_stripe.called("POST", "/v1/payment_intents")]
    assert keys == [f"plan:{plan.id}:1:2"]
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    plan_charge.c.attempt, plan_charge.c.status, plan_charge.c.failure
                ).order_by(plan_charge.c.attempt)
            )
        ).all()
    assert [tuple(r) for r in rows] == [(1, "failed", "interrupted"), (2, "succeeded", None)]
