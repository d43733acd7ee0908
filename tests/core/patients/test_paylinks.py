"""Pay links (AR-017, BI-08, BI-23): the patient picks what to pay in chat, the link
works out the amount when it is opened, and the gateway sees only opaque ids."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.db import Database
from core.db.audit import audit_log
from core.errors import InvalidState, NotFound, ValidationError
from core.patients.gateway import GatewayPayment, record_gateway_payment
from core.patients.paylinks import (
    PayChoice,
    issue_pay_link,
    open_pay_link,
    pay_link,
    pay_link_chat,
)
from core.plans import PlanPolicy, enrol_plan
from tests.core.billing.helpers import rule, service
from tests.core.helpers import open_account, usd
from tests.core.patients.paying import JUNE, MAY, PATIENT, charge, counts, desk_payment

CHAT = {"channel": "telegram", "address": "4242"}
DIGEST = hashlib.sha256(b"the agreement text shown").hexdigest()


async def link(db: Database, account_id: int, choice: PayChoice, **kwargs: object) -> str:
    return await issue_pay_link(db, account_id=account_id, choice=choice, **CHAT, **kwargs)  # type: ignore[arg-type]


async def test_the_balance_is_worked_out_when_the_link_is_opened(db: Database) -> None:
    """The patient asked to pay the balance; a desk payment came in before they opened
    the link: the page asks for what is owed then, for the open items oldest first."""
    patient = await open_account(db)
    older = await charge(db, patient.id, "100.00", MAY)
    newer = await charge(db, patient.id, "50.00", JUNE)
    token = await link(db, patient.id, PayChoice.BALANCE)
    assert len(token) >= 43  # 256 random bits, url-safe

    await desk_payment(db, patient.id, "30.00", key="desk-1")
    order = await open_pay_link(db, token)

    assert (order.amount, order.choice, order.account_id) == (usd("120.00"), "balance", patient.id)
    assert order.item_ids == (older.item_ids[0], newer.item_ids[0])
    assert order.metadata == {
        "arbot_account": str(patient.id),
        "arbot_items": f"{older.item_ids[0]},{newer.item_ids[0]}",
        "arbot_token": str(order.token_id),
        "arbot_kind": "payment",
    }
    assert "López" not in order.description and "visit" not in order.description.lower()
    assert order.description == f"Payment on account {patient.number}"


async def test_only_the_tokens_hash_is_stored(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "80.00")
    token = await link(db, patient.id, PayChoice.BALANCE)
    async with db.read() as conn:
        [row] = (await conn.execute(select(pay_link))).all()
        trail = " ".join(str(r) for r in (await conn.execute(select(audit_log))).all())
        assert await pay_link_chat(conn, row.id) == ("telegram", "4242")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(row)) and token not in trail
    assert "4242" not in trail


async def test_a_double_click_opens_one_session(db: Database) -> None:
    """The same link, amount and items give the same idempotency key; a payment in
    between changes the amount, and so the key."""
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    token = await link(db, patient.id, PayChoice.BALANCE)
    first, second = await open_pay_link(db, token), await open_pay_link(db, token)
    assert first.idempotency_key == second.idempotency_key
    await desk_payment(db, patient.id, "10.00", key="desk-1")
    third = await open_pay_link(db, token)
    assert third.amount == usd("90.00") and third.idempotency_key != first.idempotency_key
    async with db.read() as conn:
        assert (await conn.execute(select(pay_link.c.opened_count))).scalar_one() == 3


async def test_overdue_asks_only_for_what_is_past_its_due_date(db: Database) -> None:
    """A May visit is overdue on 30 June (NET30), a June visit is not."""
    patient = await open_account(db)
    may = await charge(db, patient.id, "100.00", MAY)
    await charge(db, patient.id, "70.00", JUNE)
    order = await open_pay_link(db, await link(db, patient.id, PayChoice.OVERDUE))
    assert (order.amount, order.item_ids) == (usd("100.00"), (may.item_ids[0],))


async def test_overdue_with_nothing_late_is_refused_when_asked(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "70.00", JUNE)
    before = await counts(db)
    with pytest.raises(InvalidState, match="nothing is owed past its due date"):
        await link(db, patient.id, PayChoice.OVERDUE)
    assert await counts(db) == before


async def test_a_typed_amount_over_the_balance_is_refused(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "100.00")
    before = await counts(db)
    with pytest.raises(ValidationError, match=r"100\.01 is more than the balance of 100\.00"):
        await link(db, patient.id, PayChoice.AMOUNT, amount_minor=100_01)
    with pytest.raises(ValidationError, match="above zero"):
        await link(db, patient.id, PayChoice.AMOUNT, amount_minor=0)
    with pytest.raises(ValidationError, match="above zero"):
        await link(db, patient.id, PayChoice.AMOUNT)
    with pytest.raises(ValidationError, match="only a pay link for a typed amount"):
        await link(db, patient.id, PayChoice.BALANCE, amount_minor=10_00)
    with pytest.raises(ValidationError, match="not a way to pay"):
        await link(db, patient.id, "everything")  # type: ignore[arg-type]
    assert await counts(db) == before


async def test_a_typed_amount_pays_the_oldest_items_and_is_capped_later(db: Database) -> None:
    """BI-08: 40 now, the rest later. The 40 is meant for the oldest item; if the
    balance falls under 40 before the link is opened, the page asks for the balance."""
    patient = await open_account(db)
    may = await charge(db, patient.id, "100.00", MAY)
    await charge(db, patient.id, "50.00", JUNE)
    token = await link(db, patient.id, PayChoice.AMOUNT, amount_minor=40_00)
    order = await open_pay_link(db, token)
    assert (order.amount, order.item_ids) == (usd("40.00"), (may.item_ids[0],))
    await desk_payment(db, patient.id, "125.00", key="desk-1")
    assert (await open_pay_link(db, token)).amount == usd("25.00")


async def test_nothing_owed_when_opened(db: Database) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "60.00")
    token = await link(db, patient.id, PayChoice.BALANCE)
    await desk_payment(db, patient.id, "60.00", key="desk-1")
    with pytest.raises(InvalidState, match="nothing is owed on this account"):
        await open_pay_link(db, token)
    with pytest.raises(InvalidState, match="nothing is owed"):
        await link(db, patient.id, PayChoice.BALANCE)


async def test_links_last_90_days_and_unknown_ones_are_not_found(
    db: Database, clock: FixedClock
) -> None:
    patient = await open_account(db)
    await charge(db, patient.id, "60.00")
    token = await link(db, patient.id, PayChoice.BALANCE)
    clock.advance(days=89, hours=23)
    assert (await open_pay_link(db, token)).amount == usd("60.00")
    clock.advance(hours=1)
    with pytest.raises(NotFound, match="not valid or has expired"):
        await open_pay_link(db, token)
    with pytest.raises(NotFound):
        await open_pay_link(db, token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(NotFound):
        await open_pay_link(db, "short")


async def test_the_next_instalment_of_a_plan(db: Database) -> None:
    """AR-059: 300 over 3 months: the link asks for 100, then after it is paid, the next."""
    patient = await open_account(db)
    await charge(db, patient.id, "300.00")
    with pytest.raises(InvalidState, match="no payment plan"):
        await link(db, patient.id, PayChoice.INSTALMENT)
    await enrol_plan(
        db,
        PATIENT,
        account_id=patient.id,
        count=3,
        policy=PlanPolicy(),
        agreement_version="2026-11-1",
        agreement_digest=DIGEST,
        channel="telegram",
        key="plan-1",
    )
    token = await link(db, patient.id, PayChoice.INSTALMENT)
    first = await open_pay_link(db, token)
    assert first.amount == usd("100.00")
    paid = GatewayPayment("pi_1", first.amount, patient.id, first.item_ids, first.token_id)
    await record_gateway_payment(db, paid)
    second = await open_pay_link(db, token)
    assert (second.amount, second.item_ids) == (first.amount, first.item_ids)
    assert second.idempotency_key != first.idempotency_key, "a new session, not the paid one"
    await desk_payment(db, patient.id, "130.00", key="desk-1")
    assert (await open_pay_link(db, token)).amount == usd("70.00")


async def test_a_prepayment_for_an_offered_service(db: Database) -> None:
    """BI-07: the link for the physiotherapy bundle asks its prepaid price; metadata
    and description never name the service."""
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
    token = await link(db, patient.id, PayChoice.PREPAY, service_code="PHYSIO")
    order = await open_pay_link(db, token)
    assert (order.amount, order.item_ids, order.service_code) == (usd("60.00"), (), "PHYSIO")
    assert order.metadata["arbot_kind"] == "prepay" and order.metadata["arbot_items"] == ""
    assert "PHYSIO" not in str(order.metadata) and "hysio" not in order.description
    prepaid = GatewayPayment("pi_p", order.amount, patient.id, (), order.token_id, kind="prepay")
    await record_gateway_payment(db, prepaid)
    again = await open_pay_link(db, token)
    assert again.amount == order.amount and again.idempotency_key != order.idempotency_key
    with pytest.raises(InvalidState, match="CONS is not offered for prepayment"):
        await link(db, patient.id, PayChoice.PREPAY, service_code="CONS")
    with pytest.raises(ValidationError, match="which service"):
        await link(db, patient.id, PayChoice.PREPAY)


async def test_an_unknown_account_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound):
        await link(db, 999, PayChoice.BALANCE)
