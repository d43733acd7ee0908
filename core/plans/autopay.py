"""Autopay: charging a plan's instalments to the card the patient saved (AR-148).

On an instalment's due date the saved card is charged off-session through the payment
gateway; a declined charge is tried again on a schedule (by default 3 and 7 days after
the due date), and the patient is told each time with a link to pay another way. Only
the oldest unpaid instalment of a plan is charged: once its tries are used up, autopay
waits for the patient (or the plan's default).

Exactly once, end to end:

* each attempt is a row in ``plan_charge``, claimed before the gateway is asked, under
  the key ``plan:<plan>:<instalment>:<attempt>``: one row per attempt, so no second
  scheduler or re-run makes another; at most one attempt a day;
* the gateway gets the same key, so asking again for an attempt that was cut off after
  the question (the row still ``charging``) charges once: Stripe answers the first
  result for a key for 24 hours, so an older cut-off attempt is given up, not re-asked
  (its payment, if it went through, still arrives through the webhook, which posts it
  from the metadata);
* the payment is posted with :func:`core.patients.gateway.record_gateway_payment`,
  once per gateway payment id, whichever of this job and the webhook comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.money import Money
from core.patients.gateway import GatewayPayment, record_gateway_payment
from core.patients.gateway_tables import gateway_payment
from core.plans.instalments import PlanInstalment, oldest_unpaid_due
from core.plans.tables import payment_plan, plan_charge
from core.ports import ChargeRequest, ChargeResult, PaymentGateway

RETRY_DAYS = (3, 7)
"""Days after the due date a declined instalment is charged again."""
RESUME_WITHIN = timedelta(hours=23)
"""How long an attempt cut off mid-question may be asked again under its key (the
gateway keeps a key's answer for 24 hours)."""


@dataclass(frozen=True, slots=True)
class ChargeAttempt:
    id: int
    plan_id: int
    seq: int
    attempt: int
    key: str
    amount: Money
    charge_day: date
    status: str  # charging, succeeded or failed
    payment_ref: str | None
    failure: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Charged:
    """What one attempt came to: ``status`` ``succeeded``, ``failed``, or
    ``unavailable`` (the gateway could not be asked; the attempt is asked again on the
    next run)."""

    due: PlanInstalment
    attempt: ChargeAttempt
    status: str


def attempt_key(plan_id: int, seq: int, attempt: int) -> str:
    return f"plan:{plan_id}:{seq}:{attempt}"


def _attempt(r: Any) -> ChargeAttempt:
    """A ``plan_charge`` row as a value."""
    return ChargeAttempt(
        id=r.id,
        plan_id=r.plan_id,
        seq=r.seq,
        attempt=r.attempt,
        key=r.idempotency_key,
        amount=Money(int(r.amount_minor), r.currency),
        charge_day=r.charge_day,
        status=r.status,
        payment_ref=r.payment_ref,
        failure=r.failure,
        created_at=r.created_at,
    )


async def attempts_of(conn: AsyncConnection, plan_id: int, seq: int) -> list[ChargeAttempt]:
    rows = await conn.execute(
        select(plan_charge)
        .where(plan_charge.c.plan_id == plan_id, plan_charge.c.seq == seq)
        .order_by(plan_charge.c.attempt)
    )
    return [_attempt(r) for r in rows]


def next_attempt(
    due: PlanInstalment, attempts: Sequence[ChargeAttempt], on: date, retry_days: Sequence[int]
) -> int | None:
    """The attempt to make on ``on`` for ``due``: the one cut off mid-question, else the
    next one whose day has come (never two on one day, none after a success); None
    when there is nothing to do today."""
    if attempts and attempts[-1].status == "charging":
        return attempts[-1].attempt
    if any(a.status == "succeeded" for a in attempts):
        return None
    made = len(attempts)
    if made > len(retry_days) or (attempts and attempts[-1].charge_day >= on):
        return None
    day = due.instalment.due_date + timedelta(days=retry_days[made - 1] if made else 0)
    return made + 1 if day <= on else None


def retry_on(due_date: date, attempt: int, retry_days: Sequence[int]) -> date | None:
    """When the attempt after ``attempt`` is made; None when it was the last."""
    if attempt > len(retry_days):
        return None
    return due_date + timedelta(days=retry_days[attempt - 1])


async def claim_charge(
    db: Database, due: PlanInstalment, attempt: int, amount: Money, on: date
) -> ChargeAttempt | None:
    """Claim attempt ``attempt`` at ``amount``; the attempt cut off earlier (still
    ``charging``, recent enough to ask again under its key) is handed back as it was.
    None when the attempt is finished, or was cut off too long ago (then it is given
    up as ``failed``/``interrupted``)."""
    plan_id, seq = due.plan.id, due.instalment.seq
    async with db.transaction() as tx:
        insert = postgresql.insert if tx.is_postgres else sqlite.insert
        await tx.conn.execute(
            insert(plan_charge)
            .values(
                plan_id=plan_id,
                seq=seq,
                attempt=attempt,
                idempotency_key=attempt_key(plan_id, seq, attempt),
                amount_minor=amount.minor,
                currency=amount.currency,
                charge_day=on,
                created_at=tx.db.clock.now(),
            )
            .on_conflict_do_nothing()
        )
        row = (
            await tx.conn.execute(
                select(plan_charge).where(
                    plan_charge.c.plan_id == plan_id,
                    plan_charge.c.seq == seq,
                    plan_charge.c.attempt == attempt,
                )
            )
        ).one()
        claimed = _attempt(row)
        if claimed.status != "charging":
            return None
        if tx.db.clock.now() - claimed.created_at <= RESUME_WITHIN:
            return claimed
        await tx.conn.execute(
            plan_charge.update()
            .where(plan_charge.c.id == claimed.id, plan_charge.c.status == "charging")
            .values(status="failed", failure="interrupted", finished_at=tx.db.clock.now())
        )
        tx.audit(
            "system:plans",
            "scheduler",
            "plan.charge_interrupted",
            f"plan {plan_id}",
            key=claimed.key,
        )
        return None


async def finish_charge(
    db: Database, attempt: ChargeAttempt, result: ChargeResult
) -> ChargeAttempt:
    """Record the gateway's answer for a claimed attempt (once: a second answer for an
    attempt already finished changes nothing)."""
    async with db.transaction() as tx:
        await tx.conn.execute(
            plan_charge.update()
            .where(plan_charge.c.id == attempt.id, plan_charge.c.status == "charging")
            .values(
                status="succeeded" if result.ok else "failed",
                payment_ref=result.payment_ref,
                failure=None if result.ok else (result.failure or "declined")[:60],
                finished_at=tx.db.clock.now(),
            )
        )
        tx.audit(
            "system:plans",
            "scheduler",
            "plan.charge",
            f"plan {attempt.plan_id}",
            instalment=attempt.seq,
            attempt=attempt.attempt,
            ok=result.ok,
            failure=result.failure,
        )
        row = (
            await tx.conn.execute(select(plan_charge).where(plan_charge.c.id == attempt.id))
        ).one()
    return _attempt(row)


def charge_request(due: PlanInstalment, attempt: ChargeAttempt) -> ChargeRequest:
    """What the gateway is asked for an attempt: always the same for the same attempt."""
    plan = due.plan
    assert plan.customer_ref is not None and plan.method_ref is not None
    return ChargeRequest(
        customer_ref=plan.customer_ref,
        method_ref=plan.method_ref,
        amount=attempt.amount,
        idempotency_key=attempt.key,
        metadata={
            "arbot_account": str(plan.account_id),
            "arbot_kind": "payment",
            "arbot_plan": str(plan.id),
            "arbot_instalment": str(attempt.seq),
            "arbot_attempt": str(attempt.attempt),
        },
        description=f"Account {due.account_number} instalment {attempt.seq} of {plan.count}",
    )


async def post_charge(db: Database, due_account: int, attempt: ChargeAttempt) -> None:
    """Post a succeeded attempt's payment (once per gateway payment id)."""
    assert attempt.payment_ref is not None
    await record_gateway_payment(
        db,
        GatewayPayment(
            payment_ref=attempt.payment_ref,
            amount=attempt.amount,
            account_id=due_account,
            received_on=attempt.charge_day,
        ),
    )


async def charge_one(
    db: Database, gateway: PaymentGateway, due: PlanInstalment, attempt: ChargeAttempt
) -> Charged:
    """Ask the gateway for a claimed attempt, record the answer, post a success."""
    try:
        result = await gateway.charge_saved(charge_request(due, attempt))
    except Exception:  # not asked, or no answer: the claim stays for the next run
        return Charged(due, attempt, "unavailable")
    finished = await finish_charge(db, attempt, result)
    if finished.status == "succeeded":
        await post_charge(db, due.plan.account_id, finished)
    return Charged(due, finished, finished.status)


async def run_autopay(
    db: Database, gateway: PaymentGateway, on: date, retry_days: Sequence[int] = RETRY_DAYS
) -> list[Charged]:
    """Make the day's attempts: every autopay plan's oldest unpaid instalment due by
    ``on`` whose attempt has come (see :func:`next_attempt`); first, post any success
    whose posting was cut off."""
    await post_unposted(db)
    async with db.read() as conn:
        dues = await oldest_unpaid_due(conn, on, autopay=True)
        plans = [(d, await attempts_of(conn, d.plan.id, d.instalment.seq)) for d in dues]
    done = []
    for due, attempts in plans:
        number = next_attempt(due, attempts, on, retry_days)
        if number is None:
            continue
        amount = due.instalment.open
        claimed = await claim_charge(db, due, number, amount, on)
        if claimed is not None:
            done.append(await charge_one(db, gateway, due, claimed))
    return done


async def post_unposted(db: Database) -> int:
    """Post succeeded attempts whose payment the ledger does not have (the job stopped
    between the gateway's answer and the posting); returns how many."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(plan_charge, payment_plan.c.account_id)
                .join(payment_plan, payment_plan.c.id == plan_charge.c.plan_id)
                .outerjoin(
                    gateway_payment, gateway_payment.c.payment_ref == plan_charge.c.payment_ref
                )
                .where(plan_charge.c.status == "succeeded", gateway_payment.c.id.is_(None))
            )
        ).all()
    for row in rows:
        await post_charge(db, row.account_id, _attempt(row))
    return len(rows)


async def recent_charges(conn: AsyncConnection, since: date) -> list[ChargeAttempt]:
    """Finished attempts made on or after ``since``, oldest first: what patients are
    told about (each once, by the notice's key)."""
    rows = await conn.execute(
        select(plan_charge)
        .where(and_(plan_charge.c.charge_day >= since, plan_charge.c.status != "charging"))
        .order_by(plan_charge.c.id)
    )
    return [_attempt(r) for r in rows]
