"""Card payments from the gateway (AR-023, AR-078, AR-119, issue 5): posted exactly once
however many times and in whatever order the gateway delivers them; refunds and
disputes taken back once, never more than was paid, and only once the payment is in."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import select

from core.billing.charges import ChargeLine
from core.billing.prepaid import held_prepayments
from core.clock import FixedClock
from core.db import Database
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.items import ItemStatus
from core.ledger.posting import load_entry
from core.ledger.tables import journal_entry
from core.money import Money
from core.patients.gateway import (
    GatewayPayment,
    receipt_for,
    record_gateway_dispute,
    record_gateway_payment,
    record_gateway_refund,
)
from core.patients.paylinks import PayChoice, issue_pay_link, open_pay_link
from tests.core.billing.helpers import charge as bill
from tests.core.billing.helpers import rule, service
from tests.core.helpers import balance_of, items_of, open_account, usd
from tests.core.patients.paying import JUNE, MAY, TODAY, charge, counts


async def entries(db: Database) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(select(journal_entry.c.idempotency_key).order_by("id"))
        return [k for k in rows.scalars() if k.startswith("stripe:")]


async def paid_by_link(
    db: Database, account_id: int, choice: PayChoice, ref: str
) -> GatewayPayment:
    """What the webhook reads from Stripe after the patient paid through a pay link."""
    token = await issue_pay_link(
        db, account_id=account_id, choice=choice, channel="telegram", address="4242"
    )
    order = await open_pay_link(db, token)
    return GatewayPayment(ref, order.amount, account_id, order.item_ids, order.token_id)


async def test_a_payment_delivered_three_times_is_posted_once(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    paid = await paid_by_link(db, patient.id, PayChoice.BALANCE, "pi_3Ab")
    outcomes = [await record_gateway_payment(db, paid) for _ in range(3)]

    assert [o.first_time for o in outcomes] == [True, False, False]
    assert len({o for o in outcomes if o.first_time}) == 1
    assert {(o.balance_after, o.reply_to, o.entry_number) for o in outcomes} == {
        (usd("0"), ("telegram", "4242"), outcomes[0].entry_number)
    }
    assert await entries(db) == ["stripe:pi:pi_3Ab"]
    assert await balance_of(db, patient.id) == usd("0")


@pytest.mark.parametrize("session_first", [True, False])
async def test_either_event_may_come_first(
    db: Database, clock: FixedClock, session_first: bool
) -> None:
    """checkout.session.completed carries the pay link; payment_intent.succeeded only the
    payment and its metadata; either may arrive first, one even a day later."""
    patient = await open_account(db)
    older = await charge(db, patient.id, "60.00", MAY)
    newer = await charge(db, patient.id, "40.00", JUNE)
    token = await issue_pay_link(
        db,
        account_id=patient.id,
        choice=PayChoice.BALANCE,
        channel="sms",
        address="+15551234567",
    )
    order = await open_pay_link(db, token)
    from_session = GatewayPayment("pi_9", order.amount, patient.id, order.item_ids, order.token_id)
    # The payment intent carries the same metadata (the adapter sets it on both) and the
    # day Stripe created it.
    from_intent = replace(from_session, received_on=TODAY)
    first, second = (from_session, from_intent) if session_first else (from_intent, from_session)

    one = await record_gateway_payment(db, first)
    clock.advance(days=1)
    two = await record_gateway_payment(db, second)

    assert (one.first_time, two.first_time) == (True, False)
    assert one.entry_number == two.entry_number and await entries(db) == ["stripe:pi:pi_9"]
    statuses = {i.id: i.status for i in await items_of(db, patient.id)}
    assert statuses[older.item_ids[0]] == statuses[newer.item_ids[0]] == ItemStatus.PAID
    assert await balance_of(db, patient.id) == usd("0")
    assert one.reply_to == ("sms", "+15551234567") == two.reply_to


async def test_deliveries_at_the_same_moment_post_once(db: Database) -> None:
    """Two web processes handle the same payment at once: one entry, one receipt."""
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    paid = GatewayPayment("pi_race", usd("100.00"), patient.id)
    outcomes = await asyncio.gather(*(record_gateway_payment(db, paid) for _ in range(4)))
    assert sorted(o.first_time for o in outcomes) == [False, False, False, True]
    assert await entries(db) == ["stripe:pi:pi_race"]
    assert await balance_of(db, patient.id) == usd("0")


async def test_the_chosen_items_are_paid_first_and_the_receipt_says_so(db: Database) -> None:
    """AR-017, AR-023: the patient pays 80 towards the June visit; the rest goes to the
    oldest item. The receipt lists both, the transaction number and the balance after."""
    patient = await open_account(db)
    may = await charge(db, patient.id, "100.00", MAY)
    june = await charge(db, patient.id, "50.00", JUNE)
    paid = GatewayPayment("pi_1", usd("80.00"), patient.id, item_ids=(june.item_ids[0],))
    outcome = await record_gateway_payment(db, paid)
    async with db.read() as conn:
        receipt = await receipt_for(conn, "pi_1")
        assert await receipt_for(conn, "pi_unknown") is None
    assert receipt is not None
    assert [(ln.item_id, ln.description, ln.applied) for ln in receipt.lines] == [
        (june.item_ids[0], "Office visit", usd("50.00")),
        (may.item_ids[0], "Office visit", usd("30.00")),
    ]
    assert (receipt.amount, receipt.unapplied, receipt.balance_after) == (
        usd("80.00"),
        usd("0"),
        usd("70.00"),
    )
    assert (receipt.date, receipt.entry_number, receipt.account_number) == (
        TODAY,
        outcome.entry_number,
        patient.number,
    )
    assert outcome.balance_after == usd("70.00") and outcome.reply_to is None


async def test_an_overpayment_stays_as_a_credit(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    outcome = await record_gateway_payment(db, GatewayPayment("pi_2", usd("120.00"), patient.id))
    async with db.read() as conn:
        receipt = await receipt_for(conn, "pi_2")
    assert receipt is not None and receipt.unapplied == usd("20.00")
    assert outcome.balance_after == usd("-20.00") == await balance_of(db, patient.id)


async def test_bad_payments_are_refused_and_change_nothing(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    before = await counts(db)
    good = GatewayPayment("pi_ok", usd("10.00"), patient.id)
    with pytest.raises(ValidationError, match="not a gateway payment id"):
        await record_gateway_payment(db, replace(good, payment_ref="pi 1; drop"))
    with pytest.raises(ValidationError, match="not a kind of gateway payment"):
        await record_gateway_payment(db, replace(good, kind="gift"))
    with pytest.raises(ValidationError):
        await record_gateway_payment(db, replace(good, amount=usd("0")))
    with pytest.raises(ValidationError, match="USD"):
        await record_gateway_payment(db, replace(good, amount=Money(1000, "EUR")))
    with pytest.raises(NotFound):
        await record_gateway_payment(db, replace(good, account_id=999))
    assert await counts(db) == before


async def test_a_refund_reopens_the_most_recent_item(db: Database) -> None:
    """A 100 card payment paid the May (60) and June (40) visits; 30 refunded in Stripe:
    the June visit owes 30 again; a second delivery changes nothing; refunding more
    than is left of the payment is refused."""
    patient = await open_account(db)
    may = await charge(db, patient.id, "60.00", MAY)
    june = await charge(db, patient.id, "40.00", JUNE)
    await record_gateway_payment(db, GatewayPayment("pi_r", usd("100.00"), patient.id))

    refund = await record_gateway_refund(
        db, payment_ref="pi_r", refund_ref="re_1", amount=usd("30")
    )
    again = await record_gateway_refund(
        db, payment_ref="pi_r", refund_ref="re_1", amount=usd("30")
    )

    assert (refund.first_time, again.first_time) == (True, False)
    assert refund.balance_after == again.balance_after == usd("30.00")
    assert refund.entry_number == again.entry_number
    items = {i.id: i for i in await items_of(db, patient.id)}
    assert items[may.item_ids[0]].open == usd("0")
    assert items[june.item_ids[0]].open == usd("30.00")
    before = await counts(db)
    with pytest.raises(InvalidState, match="refunding more than was paid is refused"):
        await record_gateway_refund(db, payment_ref="pi_r", refund_ref="re_2", amount=usd("70.01"))
    assert await counts(db) == before
    await record_gateway_refund(db, payment_ref="pi_r", refund_ref="re_3", amount=usd("70.00"))
    assert await balance_of(db, patient.id) == usd("100.00")
    assert await entries(db) == ["stripe:pi:pi_r", "stripe:re:re_1", "stripe:re:re_3"]


async def test_a_refund_of_an_overpayment_takes_the_credit_first(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    await record_gateway_payment(db, GatewayPayment("pi_o", usd("120.00"), patient.id))
    refund = await record_gateway_refund(
        db, payment_ref="pi_o", refund_ref="re_o", amount=usd("20")
    )
    assert refund.balance_after == usd("0")
    assert [i.open for i in await items_of(db, patient.id)] == [usd("0")] * 3


async def test_a_refund_before_its_payment_waits(db: Database) -> None:
    """Stripe may deliver charge.refunded first: it is refused, nothing is written, and
    the redelivery after the payment posts it."""
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    before = await counts(db)
    with pytest.raises(NotFound, match="no card payment pi_late has been recorded yet"):
        await record_gateway_refund(db, payment_ref="pi_late", refund_ref="re_l", amount=usd("5"))
    assert await counts(db) == before
    await record_gateway_payment(db, GatewayPayment("pi_late", usd("100.00"), patient.id))
    retried = await record_gateway_refund(
        db, payment_ref="pi_late", refund_ref="re_l", amount=usd("5")
    )
    assert retried.first_time and retried.balance_after == usd("5.00")


async def test_a_dispute_reverses_the_payment_and_flags_its_items(db: Database) -> None:
    """AR-119, AR-078: the reversal refers to the payment's entry, the items it paid are
    open again and disputed (dunning skips them); delivered twice, it posts once."""
    patient = await open_account(db)
    may = await charge(db, patient.id, "60.00", MAY)
    june = await charge(db, patient.id, "40.00", JUNE)
    paid = await record_gateway_payment(db, GatewayPayment("pi_d", usd("100.00"), patient.id))
    args = {
        "payment_ref": "pi_d",
        "dispute_ref": "dp_1",
        "amount": usd("100"),
        "reason": "fraudulent",
    }
    dispute = await record_gateway_dispute(db, **args)  # type: ignore[arg-type]
    again = await record_gateway_dispute(db, **args)  # type: ignore[arg-type]

    assert (dispute.first_time, again.first_time) == (True, False)
    assert dispute.balance_after == usd("100.00") == await balance_of(db, patient.id)
    async with db.read() as conn:
        reversal = await load_entry(conn, key="stripe:dp:dp_1")
        original = await load_entry(conn, key="stripe:pi:pi_d")
    assert reversal.reverses_id == original.id and reversal.reference == paid.entry_number
    assert reversal.reason_code == "CARD_DISPUTE"
    items = {i.id: i for i in await items_of(db, patient.id)}
    for charged in (may, june):
        item = items[charged.item_ids[0]]
        assert item.disputed and item.status is ItemStatus.PENDING
    with pytest.raises(InvalidState, match="nothing is owed past its due date"):
        await issue_pay_link(
            db,
            account_id=patient.id,
            choice=PayChoice.OVERDUE,
            channel="sms",
            address="+15551234567",
        )


async def test_a_dispute_before_its_payment_is_not_found(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    before = await counts(db)
    with pytest.raises(NotFound):
        await record_gateway_dispute(
            db, payment_ref="pi_x", dispute_ref="dp_x", amount=usd("100"), reason="general"
        )
    assert await counts(db) == before
    await record_gateway_payment(db, GatewayPayment("pi_x", usd("100.00"), patient.id))
    done = await record_gateway_dispute(
        db, payment_ref="pi_x", dispute_ref="dp_x", amount=usd("100"), reason="general"
    )
    assert done.first_time and done.balance_after == usd("100.00")


async def test_a_dispute_after_a_partial_refund_takes_back_the_rest(db: Database) -> None:
    """30 refunded, then the remaining 70 disputed: the patient owes the whole 100 again,
    not 130; the dispute is not a whole reversal (part was refunded)."""
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    await record_gateway_payment(db, GatewayPayment("pi_p", usd("100.00"), patient.id))
    await record_gateway_refund(db, payment_ref="pi_p", refund_ref="re_p", amount=usd("30"))
    with pytest.raises(InvalidState, match=r"more than the 70\.00 left"):
        await record_gateway_dispute(
            db, payment_ref="pi_p", dispute_ref="dp_big", amount=usd("100"), reason="fraudulent"
        )
    done = await record_gateway_dispute(
        db, payment_ref="pi_p", dispute_ref="dp_p", amount=usd("70"), reason="fraudulent"
    )
    assert done.balance_after == usd("100.00") == await balance_of(db, patient.id)
    async with db.read() as conn:
        assert (await load_entry(conn, key="stripe:dp:dp_p")).reverses_id is None


async def test_a_prepayment_is_held_for_its_service_and_refunded_from_it(db: Database) -> None:
    """BI-07, AR-087: a card prepayment for the physio bundle is held, not taken off
    A/R; the first session uses it; refunding the rest after that makes the account owe
    what treatment used."""
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
    token = await issue_pay_link(
        db,
        account_id=patient.id,
        choice=PayChoice.PREPAY,
        channel="telegram",
        address="4242",
        service_code="PHYSIO",
    )
    order = await open_pay_link(db, token)
    paid = GatewayPayment("pi_pre", usd("120.00"), patient.id, (), order.token_id, kind="prepay")
    outcome = await record_gateway_payment(db, paid)
    assert (outcome.first_time, outcome.balance_after) == (True, usd("0"))
    assert not (await record_gateway_payment(db, paid)).first_time
    async with db.read() as conn:
        receipt = await receipt_for(conn, "pi_pre")
        held = await held_prepayments(conn, [patient.id])
    assert receipt is not None and receipt.for_service == "Physiotherapy session"
    assert [(h.service_code, h.remaining_minor) for h in held[patient.id]] == [("PHYSIO", 120_00)]

    session = await bill(db, patient.id, ChargeLine("PHYSIO"), key="physio-1")
    assert session.prepaid_used == usd("60.00") and await balance_of(db, patient.id) == usd("0")
    refund = await record_gateway_refund(
        db, payment_ref="pi_pre", refund_ref="re_pre", amount=usd("100.00")
    )
    assert refund.balance_after == usd("40.00") == await balance_of(db, patient.id)
    async with db.read() as conn:
        assert (await held_prepayments(conn, [patient.id])).get(patient.id, []) == []


async def test_worked_example_paying_the_overdue_part_by_text(
    db: Database, clock: FixedClock
) -> None:
    """Ana owes 120.00 for a May visit (overdue) and 80.00 for a June one. By SMS she
    asks to pay what is overdue and opens the link the next morning. Stripe reports the
    payment three times: payment_intent.succeeded first, then checkout.session.completed
    twice. One entry is posted, the May visit is paid, one receipt goes to her number
    and shows the May visit, the transaction number and the 80.00 still owed."""
    ana = await open_account(db)
    may = await charge(db, ana.id, "120.00", MAY)
    await charge(db, ana.id, "80.00", JUNE)
    token = await issue_pay_link(
        db, account_id=ana.id, choice=PayChoice.OVERDUE, channel="sms", address="+15551234567"
    )
    clock.advance(hours=18)
    order = await open_pay_link(db, token)
    assert (order.amount, order.item_ids) == (usd("120.00"), (may.item_ids[0],))

    # What the webhook reads from either event's metadata.
    items = tuple(int(i) for i in order.metadata["arbot_items"].split(","))
    token_id = int(order.metadata["arbot_token"])
    intent = GatewayPayment("pi_ana", order.amount, ana.id, items, token_id, received_on=TODAY)
    session = replace(intent, received_on=None)
    deliveries = [intent, session, session]
    outcomes = [await record_gateway_payment(db, d) for d in deliveries]
    receipts = [o for o in outcomes if o.first_time]

    assert len(receipts) == 1 and await entries(db) == ["stripe:pi:pi_ana"]
    assert await balance_of(db, ana.id) == usd("80.00") == outcomes[-1].balance_after
    assert {o.reply_to for o in outcomes} == {("sms", "+15551234567")}
    async with db.read() as conn:
        receipt = await receipt_for(conn, "pi_ana")
    assert receipt is not None
    assert [(ln.description, ln.applied) for ln in receipt.lines] == [
        ("Office visit", usd("120.00"))
    ]
    assert (receipt.entry_number, receipt.balance_after) == (receipts[0].entry_number, usd("80"))
