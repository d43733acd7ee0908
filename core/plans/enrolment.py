"""Enrolling in a payment plan, and where a plan stands (AR-059, AR-147, AR-148, BI-22).

A patient (or staff for them) picks one of the offers the policy makes for the live
balance and accepts the agreement text in chat. The plan, its schedule and the signed
agreement (the text's version, a SHA-256 of the exact text shown, the time, the channel
and who accepted) are stored together, once per idempotency key. An account has at
most one active plan.

What has been paid on a plan is not stored: it is every payment posted to the account
after enrolment, less refunds and payment reversals posted since, laid over the
instalments in due order. A plan whose instalments are all paid is complete.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.clock import today
from core.db import Database, Tx, inserted_id
from core.errors import IdempotencyConflict, InvalidState, NotFound, ValidationError
from core.ledger.accounts import load_account
from core.ledger.items import balance, lock_account
from core.ledger.model import AR_CONTROL, Kind
from core.ledger.tables import gl_account, journal_entry, journal_line
from core.money import Money
from core.plans.schedule import PlanOffer, PlanPolicy, plan_offers
from core.plans.tables import payment_plan, plan_agreement, plan_instalment

AGREEMENT_VERSION = "2026-11-1"
"""The version of the payment agreement text in ``templates/``; stored with each
signature. Change it whenever the text changes."""

DIGEST = re.compile(r"^[0-9a-f]{64}$")
GATEWAY_REF = re.compile(r"^[A-Za-z0-9_]{3,255}$")
PLAN_PAYMENT_KINDS = (Kind.PAYMENT, Kind.REFUND, Kind.PAYMENT_REVERSAL)
"""What counts as paid on a plan: payments, less refunds and reversed payments."""


@dataclass(frozen=True, slots=True)
class Instalment:
    seq: int
    due_date: date
    amount: Money
    paid_minor: int

    @property
    def open(self) -> Money:
        return Money(self.amount.minor - self.paid_minor, self.amount.currency)

    @property
    def status(self) -> str:
        """``paid``, ``partly_paid`` or ``pending`` (as an item's status, BI-06)."""
        if self.paid_minor >= self.amount.minor:
            return "paid"
        return "partly_paid" if self.paid_minor else "pending"


@dataclass(frozen=True, slots=True)
class Plan:
    id: int
    account_id: int
    count: int
    total: Money
    interval_months: int
    status: str  # active, completed, cancelled or defaulted
    enrolled_at: datetime
    channel: str
    agreement_version: str
    agreement_digest: str
    instalments: tuple[Instalment, ...]
    autopay: bool = False
    customer_ref: str | None = None
    method_ref: str | None = None
    defaulted_on: date | None = None
    """The day the plan went into default (instalments unpaid past the grace period)."""

    @property
    def paid(self) -> Money:
        return Money(sum(i.paid_minor for i in self.instalments), self.total.currency)

    @property
    def next_due(self) -> Instalment | None:
        """The first instalment not yet paid in full (AR-165); None when all are."""
        return next((i for i in self.instalments if i.status != "paid"), None)


def _require_enrol(actor: Actor, location: str) -> None:
    """Patients enrol themselves (the bot has verified them); staff need to manage
    accounts at the location; jobs and webhooks do not enrol anyone."""
    if actor.kind == "patient":
        return
    require(actor, Permission.MANAGE_ACCOUNTS, location)


def _check_terms(version: str, digest: str, channel: str, key: str) -> None:
    if not 0 < len(key) <= 200:
        raise ValidationError("enrolling in a plan needs an idempotency key of 1-200 characters")
    if not version.strip() or len(version) > 40:
        raise ValidationError("the agreement's version is missing or too long")
    if not DIGEST.match(digest):
        raise ValidationError(
            "the agreement's digest must be the SHA-256 of the text shown, in lower-case hex"
        )
    if not channel.strip() or len(channel) > 10:
        raise ValidationError("say in which channel the agreement was accepted")


async def enrol_plan(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    count: int,
    policy: PlanPolicy,
    agreement_version: str,
    agreement_digest: str,
    channel: str,
    key: str,
    first_due: date | None = None,
    agreement_text: str | None = None,
) -> Plan:
    """Enrol the account in the plan of ``count`` instalments the policy offers for its
    balance now (refused when that count is not offered now), with the signed agreement.
    ``agreement_text`` is the exact text accepted, kept for the patient's copy (AR-147):
    its SHA-256 must be the digest. ``first_due`` defaults to the policy's delay after
    today. Idempotent by ``key``."""
    _check_terms(agreement_version, agreement_digest, channel, key)
    if agreement_text is not None and agreement_text_digest(agreement_text) != agreement_digest:
        raise ValidationError("the agreement's digest is not the SHA-256 of its text")
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        done = await _plan_by_key(conn, key)
    _require_enrol(actor, account.location)
    if done is not None:
        if done.account_id != account_id:
            raise IdempotencyConflict(f"key {key!r} already enrolled another account in a plan")
        return done
    start = first_due or policy.first_due(today(db.clock))
    try:
        async with db.transaction() as tx:
            await lock_account(tx, account_id)
            if (done := await _plan_by_key(tx.conn, key)) is None:
                plan_id = await _enrol_in(tx, actor, account_id, count, policy, start, key)
                terms = (agreement_version, agreement_digest, agreement_text)
                await _sign(tx, actor, plan_id, terms, channel)
                tx.audit(
                    actor.label,
                    channel,
                    "plan.enrol",
                    f"account {account.number}",
                    plan=plan_id,
                    count=count,
                    version=agreement_version,
                )
    except IntegrityError as exc:  # SQLite: another enrolment committed between the reads
        async with db.read() as conn:
            done = await _plan_by_key(conn, key)
        if done is None:
            raise InvalidState(f"account {account.number} already has an active plan") from exc
        return done
    if done is not None:
        return done
    async with db.read() as conn:
        found = await _plan_by_key(conn, key)
    assert found is not None
    return found


async def _enrol_in(
    tx: Tx, actor: Actor, account_id: int, count: int, policy: PlanPolicy, start: date, key: str
) -> int:
    current = await plan_of(tx.conn, account_id)
    if current is not None and current.status == "completed":
        await tx.conn.execute(
            payment_plan.update().where(payment_plan.c.id == current.id).values(status="completed")
        )
    elif current is not None:
        raise InvalidState(
            f"the account already has a payment plan ({current.count} instalments, "
            f"{current.paid} of {current.total} paid); it must be completed first"
        )
    account = await load_account(tx.conn, account_id=account_id)
    owed = Money(await balance(tx.conn, account_id), account.currency)
    offer = _offer(plan_offers(owed, policy, start), count, owed)
    watermark = (await tx.conn.execute(select(func.max(journal_entry.c.id)))).scalar() or 0
    plan_id = inserted_id(
        await tx.conn.execute(
            payment_plan.insert().values(
                idempotency_key=key,
                account_id=account_id,
                instalment_count=count,
                total_minor=offer.total.minor,
                currency=offer.total.currency,
                interval_months=policy.interval_months,
                after_entry_id=watermark,
                enrolled_at=tx.db.clock.now(),
                enrolled_by=actor.label,
                channel="",
            )
        )
    )
    await tx.conn.execute(
        plan_instalment.insert(),
        [
            {"plan_id": plan_id, "seq": seq, "due_day": due, "amount_minor": amount.minor}
            for seq, (due, amount) in enumerate(offer.instalments, start=1)
        ],
    )
    return plan_id


def _offer(offers: list[PlanOffer], count: int, owed: Money) -> PlanOffer:
    chosen = next((o for o in offers if o.count == count), None)
    if chosen is None:
        counts = ", ".join(str(o.count) for o in offers)
        offered = f"plans of {counts} instalments are offered" if offers else "no plan is offered"
        raise InvalidState(f"a plan of {count} instalments is not offered for {owed}; {offered}")
    return chosen


def agreement_text_digest(text: str) -> str:
    """The digest an agreement's text is signed under (SHA-256, hex): what the patient
    was shown and what :func:`enrol_plan` stores must both come to it."""
    return hashlib.sha256(text.encode()).hexdigest()


async def _sign(
    tx: Tx, actor: Actor, plan_id: int, terms: tuple[str, str, str | None], channel: str
) -> None:
    version, digest, text = terms
    await tx.conn.execute(
        payment_plan.update().where(payment_plan.c.id == plan_id).values(channel=channel)
    )
    await tx.conn.execute(
        plan_agreement.insert().values(
            plan_id=plan_id,
            version=version,
            digest=digest,
            accepted_at=tx.db.clock.now(),
            channel=channel,
            actor=actor.label,
            text=text,
        )
    )


@dataclass(frozen=True, slots=True)
class SignedAgreement:
    """A plan's agreement as accepted (AR-147): the text, its version and SHA-256, when
    and in which channel. ``text`` is None for agreements signed before it was kept."""

    plan_id: int
    account_id: int
    version: str
    digest: str
    text: str | None
    accepted_at: datetime
    channel: str


async def signed_agreement(conn: AsyncConnection, plan_id: int) -> SignedAgreement | None:
    row = (
        await conn.execute(
            select(plan_agreement, payment_plan.c.account_id)
            .join(payment_plan, payment_plan.c.id == plan_agreement.c.plan_id)
            .where(plan_agreement.c.plan_id == plan_id)
        )
    ).first()
    if row is None:
        return None
    return SignedAgreement(
        row.plan_id,
        row.account_id,
        row.version,
        row.digest,
        row.text,
        row.accepted_at,
        row.channel,
    )


async def _plan_by_key(conn: AsyncConnection, key: str) -> Plan | None:
    plan_id = (
        await conn.execute(select(payment_plan.c.id).where(payment_plan.c.idempotency_key == key))
    ).scalar()
    return None if plan_id is None else await load_plan(conn, plan_id)


async def plan_of(conn: AsyncConnection, account_id: int) -> Plan | None:
    """The account's active plan with its instalments and what is paid on each; None
    when it has none. A plan paid in full shows as ``completed``."""
    plan_id = (
        await conn.execute(
            select(payment_plan.c.id).where(
                payment_plan.c.account_id == account_id, payment_plan.c.status == "active"
            )
        )
    ).scalar()
    return None if plan_id is None else await load_plan(conn, plan_id)


async def load_plan(conn: AsyncConnection, plan_id: int) -> Plan:
    row = (
        await conn.execute(
            select(payment_plan, plan_agreement.c.version, plan_agreement.c.digest)
            .outerjoin(plan_agreement, plan_agreement.c.plan_id == payment_plan.c.id)
            .where(payment_plan.c.id == plan_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"there is no payment plan {plan_id}")
    schedule = (
        await conn.execute(
            select(
                plan_instalment.c.seq, plan_instalment.c.due_day, plan_instalment.c.amount_minor
            )
            .where(plan_instalment.c.plan_id == plan_id)
            .order_by(plan_instalment.c.seq)
        )
    ).all()
    paid = await _paid_since(conn, row.account_id, row.after_entry_id)
    instalments = []
    for seq, due, amount in schedule:
        part = max(0, min(paid, amount))
        paid -= part
        instalments.append(Instalment(seq, due, Money(amount, row.currency), part))
    done = all(i.status == "paid" for i in instalments)
    status = "completed" if done and row.status == "active" else row.status
    return Plan(
        id=row.id,
        account_id=row.account_id,
        count=row.instalment_count,
        total=Money(row.total_minor, row.currency),
        interval_months=row.interval_months,
        status="defaulted" if row.defaulted_on is not None else status,
        enrolled_at=row.enrolled_at,
        channel=row.channel,
        agreement_version=row.version or "",
        agreement_digest=row.digest or "",
        instalments=tuple(instalments),
        autopay=row.autopay_method_ref is not None,
        customer_ref=row.autopay_customer_ref,
        method_ref=row.autopay_method_ref,
        defaulted_on=row.defaulted_on,
    )


async def _paid_since(conn: AsyncConnection, account_id: int, after_entry_id: int) -> int:
    """Payments less refunds and payment reversals on the account's A/R lines, posted
    after the entry ``after_entry_id``, in minor units."""
    query = (
        select(func.coalesce(func.sum(journal_line.c.amount_minor), 0))
        .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
        .join(gl_account, gl_account.c.id == journal_line.c.gl_account_id)
        .where(
            journal_line.c.customer_account_id == account_id,
            gl_account.c.code == AR_CONTROL,
            journal_entry.c.id > after_entry_id,
            journal_entry.c.kind.in_([k.value for k in PLAN_PAYMENT_KINDS]),
        )
    )
    return -int((await conn.execute(query)).scalar_one())


async def set_autopay(db: Database, *, plan_id: int, customer_ref: str, method_ref: str) -> None:
    """Remember the gateway's saved-card references for the plan's instalments (the
    customer and the payment method ids Checkout in setup mode returned); never card data."""
    for ref in (customer_ref, method_ref):
        if not GATEWAY_REF.match(ref):
            raise ValidationError("autopay needs the gateway's customer and payment method ids")
    async with db.transaction() as tx:
        plan = await load_plan(tx.conn, plan_id)
        if plan.status != "active":
            raise InvalidState(f"the payment plan is {plan.status}; autopay cannot be turned on")
        await tx.conn.execute(
            payment_plan.update()
            .where(payment_plan.c.id == plan_id)
            .values(
                autopay_customer_ref=customer_ref,
                autopay_method_ref=method_ref,
                autopay_set_at=tx.db.clock.now(),
            )
        )
        tx.audit("webhook:stripe", "stripe", "plan.autopay", f"plan {plan_id}")
