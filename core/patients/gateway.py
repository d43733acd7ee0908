"""Card payments from the payment gateway, posted exactly once (AR-023, AR-078, AR-093,
AR-119, issue 5).

The gateway (Stripe) tells arbot about a payment in more than one event
(``checkout.session.completed`` and ``payment_intent.succeeded``), delivers each event
at least once, and in no promised order. The bot reads the events into the plain
values below; core knows nothing of their wire format. A payment is anchored on the
gateway's payment id: its journal entry's idempotency key is
``stripe:pi:<payment id>`` and a row in ``gateway_payment`` remembers which entry,
pay link and account it became, in the same transaction. Whichever event comes first
posts it; every later delivery finds it and answers ``first_time=False``, so the
patient gets one receipt. It is posted and applied while the webhook is answered, not
in a later batch: the balance the patient, staff and the ATB read is already the new
one (AR-093).

The money goes first to the items the patient chose to pay (in that order, partly if
it falls short), then by the office's application rules (oldest first by default);
what is left stays on the account as a credit. A prepayment is held for the service it
was paid for (:mod:`core.billing.prepaid`). Refunds and disputes are in
:mod:`core.patients.clawbacks`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Permission
from core.billing.tables import prepayment, service
from core.clock import today
from core.db import Database, Tx
from core.errors import NotFound, ValidationError
from core.ledger.accounts import load_account
from core.ledger.application import DEFAULT_ORDER, Rule
from core.ledger.cash import apply_credits
from core.ledger.items import balance, load_items
from core.ledger.model import PostedEntry
from core.ledger.posting import load_entry, post_entry
from core.money import Money, require_positive
from core.patients.clawbacks import CLEARING_GL, SOURCE, STRIPE, Paid, paid_row, take_back
from core.patients.gateway_tables import gateway_payment, gateway_reversal
from core.patients.paylinks import pay_link, pay_link_chat
from core.services import account_for, run_once
from core.services.memos import receive_prepayment
from core.services.payments import applied_by, payment_draft

PAYMENT_REF = re.compile(r"^[A-Za-z0-9_\-]{3,200}$")
KINDS = ("payment", "prepay")


@dataclass(frozen=True, slots=True)
class GatewayPayment:
    """A payment the gateway reports; ``payment_ref`` (Stripe's payment_intent id) is
    the idempotency anchor. ``received_on`` None is today by the database's clock.
    ``kind`` ``prepay`` holds the money for ``service_code`` (or the pay link's)."""

    payment_ref: str
    amount: Money
    account_id: int
    item_ids: tuple[int, ...] = ()
    token_id: int | None = None
    received_on: date | None = None
    kind: str = "payment"
    service_code: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayOutcome:
    """What a gateway event did. ``first_time`` is False on every later delivery: send
    no second receipt. ``reply_to`` is the (channel, address) of the chat the pay link
    went to; ``entry_number`` the transaction number a receipt shows."""

    first_time: bool
    account_id: int
    amount: Money
    balance_after: Money
    reply_to: tuple[str, str] | None
    entry_number: str | None
    kind: str = "payment"
    """``payment``, ``refund`` or ``dispute``: which notice, if any, the patient gets."""
    payment_ref: str | None = None
    """The gateway's payment id: what the receipt's PDF is looked up by (AR-023)."""


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One item the payment paid: its statement description and what was applied."""

    item_id: int
    description: str
    applied: Money


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a receipt shows (AR-023). ``unapplied`` stays on the account as a credit;
    ``for_service`` is the statement description of a prepaid service."""

    payment_ref: str
    account_id: int
    account_number: str
    date: date
    amount: Money
    entry_number: str
    kind: str
    lines: tuple[ReceiptLine, ...]
    unapplied: Money
    balance_after: Money
    for_service: str | None = None


def _key(payment_ref: str) -> str:
    return f"stripe:pi:{payment_ref}"


async def record_gateway_payment(
    db: Database, payment: GatewayPayment, *, rules: Sequence[Rule] = DEFAULT_ORDER
) -> GatewayOutcome:
    """Post ``payment`` once per ``payment_ref``, whatever event carried it: applied to
    ``item_ids`` first, in that order, then by ``rules``. Later deliveries return the
    first result with ``first_time=False`` and write nothing."""
    if not PAYMENT_REF.match(payment.payment_ref):
        raise ValidationError(f"{payment.payment_ref!r} is not a gateway payment id")
    if payment.kind not in KINDS:
        raise ValidationError(
            f"{payment.kind!r} is not a kind of gateway payment (payment, prepay)"
        )
    require_positive(payment.amount, "payment")
    async with db.read() as conn:
        if (done := await paid_row(conn, payment.payment_ref)) is not None:
            return await _outcome(conn, done, first_time=False)
    await account_for(db, STRIPE, payment.account_id, Permission.RECORD_PAYMENT)
    on = payment.received_on or today(db.clock)
    if payment.kind == "prepay":
        return await _record_prepay(db, payment, on)
    return await _record_card(db, payment, on, rules)


async def _record_card(
    db: Database, payment: GatewayPayment, on: date, rules: Sequence[Rule]
) -> GatewayOutcome:
    draft = payment_draft(
        payment.account_id,
        payment.amount,
        on,
        _key(payment.payment_ref),
        "card",
        STRIPE.label,
        SOURCE,
        reference=payment.payment_ref,
        destination=CLEARING_GL,
    )
    chosen = tuple(dict.fromkeys(payment.item_ids))
    order = (Rule("selected", item_ids=chosen), *rules) if chosen else tuple(rules)

    async def work(tx: Tx) -> bool:
        entry = await post_entry(tx, draft)
        await apply_credits(
            tx,
            account_id=payment.account_id,
            rules=order,
            key=f"{draft.idempotency_key}/apply",
            on=on,
            actor=STRIPE.label,
            source=SOURCE,
            credit_ids=entry.item_ids,
            entry_id=entry.id,
        )
        await _remember(tx, payment, entry)
        return True

    async def again(conn: AsyncConnection) -> bool:
        return False

    first = await run_once(db, work, again)
    async with db.read() as conn:
        row = await paid_row(conn, payment.payment_ref)
        assert row is not None
        return await _outcome(conn, row, first_time=first)


async def _record_prepay(db: Database, payment: GatewayPayment, on: date) -> GatewayOutcome:
    code = payment.service_code
    async with db.read() as conn:
        if code is None and payment.token_id is not None:
            found = await conn.execute(
                select(pay_link.c.service_code).where(pay_link.c.id == payment.token_id)
            )
            code = found.scalar()
        if code is None:
            raise ValidationError("a prepayment must name the service it is for")
        known = await conn.execute(select(service.c.code).where(service.c.code == code))
        if known.first() is None:
            raise NotFound(f"there is no service {code!r} in the catalogue")

    async def hold(tx: Tx, entry: PostedEntry) -> None:
        await tx.conn.execute(
            prepayment.insert().values(
                entry_id=entry.id,
                account_id=payment.account_id,
                service_code=code,
                amount_minor=payment.amount.minor,
                currency=payment.amount.currency,
                received_day=on,
            )
        )
        await _remember(tx, payment, entry, code)

    entry = await receive_prepayment(
        db,
        STRIPE,
        account_id=payment.account_id,
        amount=payment.amount,
        on=on,
        key=_key(payment.payment_ref),
        method="card",
        destination=CLEARING_GL,
        reference=payment.payment_ref,
        source=SOURCE,
        then=hold,
    )
    async with db.read() as conn:
        row = await paid_row(conn, payment.payment_ref)
        assert row is not None
        return await _outcome(conn, row, first_time=not entry.replayed)


async def _remember(
    tx: Tx, payment: GatewayPayment, entry: PostedEntry, service_code: str | None = None
) -> None:
    await tx.conn.execute(
        gateway_payment.insert().values(
            payment_ref=payment.payment_ref,
            kind=payment.kind,
            account_id=payment.account_id,
            entry_id=entry.id,
            token_id=payment.token_id,
            service_code=service_code,
            amount_minor=payment.amount.minor,
            currency=payment.amount.currency,
            balance_after_minor=await balance(tx.conn, payment.account_id),
            recorded_at=tx.db.clock.now(),
        )
    )


async def _outcome(conn: AsyncConnection, paid: Paid, *, first_time: bool) -> GatewayOutcome:
    after = (
        await conn.execute(
            select(gateway_payment.c.balance_after_minor).where(gateway_payment.c.id == paid.id)
        )
    ).scalar_one()
    return GatewayOutcome(
        first_time=first_time,
        account_id=paid.account_id,
        amount=paid.amount,
        balance_after=Money(after, paid.amount.currency),
        reply_to=await _reply_to(conn, paid),
        entry_number=f"T{paid.entry_id:08d}",
        payment_ref=paid.payment_ref,
    )


async def _reply_to(conn: AsyncConnection, paid: Paid) -> tuple[str, str] | None:
    return None if paid.token_id is None else await pay_link_chat(conn, paid.token_id)


async def record_gateway_refund(
    db: Database, *, payment_ref: str, refund_ref: str, amount: Money
) -> GatewayOutcome:
    """A refund made in the gateway (``charge.refunded``): the account owes that money
    again, or its credit shrinks. Once per ``refund_ref``; refunding more than was paid
    is refused; a refund of a payment not recorded yet raises :class:`NotFound`."""
    row_id, first = await take_back(
        db, payment_ref=payment_ref, ref=refund_ref, kind="refund", amount=amount
    )
    return await _taken_outcome(db, row_id, first)


async def record_gateway_dispute(
    db: Database, *, payment_ref: str, dispute_ref: str, amount: Money, reason: str
) -> GatewayOutcome:
    """A card dispute (``charge.dispute.created``): reverse the payment, referring to
    its entry (AR-119), and flag the items it had paid as disputed (AR-078). Once per
    ``dispute_ref``; a dispute of a payment not recorded yet raises :class:`NotFound`
    (the webhook answers 500 and the gateway delivers it again)."""
    row_id, first = await take_back(
        db, payment_ref=payment_ref, ref=dispute_ref, kind="dispute", amount=amount, reason=reason
    )
    return await _taken_outcome(db, row_id, first)


async def _taken_outcome(db: Database, row_id: int, first_time: bool) -> GatewayOutcome:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(gateway_reversal, gateway_payment.c.payment_ref)
                .join(gateway_payment, gateway_payment.c.id == gateway_reversal.c.payment_id)
                .where(gateway_reversal.c.id == row_id)
            )
        ).one()
        paid = await paid_row(conn, row.payment_ref)
        assert paid is not None
        currency = paid.amount.currency
        return GatewayOutcome(
            first_time=first_time,
            account_id=paid.account_id,
            amount=Money(row.amount_minor, currency),
            balance_after=Money(row.balance_after_minor, currency),
            reply_to=await _reply_to(conn, paid),
            entry_number=f"T{row.entry_id:08d}",
            kind=str(row.kind),
            payment_ref=paid.payment_ref,
        )


async def receipt_for(conn: AsyncConnection, payment_ref: str) -> Receipt | None:
    """The receipt of the gateway payment ``payment_ref`` as it was posted: date,
    amount, transaction number, the items it paid with what each got, and the balance
    after it; None when no such payment is recorded."""
    paid = await paid_row(conn, payment_ref)
    if paid is None:
        return None
    entry = await load_entry(conn, entry_id=paid.entry_id)
    account = await load_account(conn, account_id=paid.account_id)
    row = (
        await conn.execute(select(gateway_payment).where(gateway_payment.c.id == paid.id))
    ).one()
    currency = paid.amount.currency
    placements = await applied_by(conn, f"{_key(payment_ref)}/apply")
    described = {
        i.id: i.description
        for i in await load_items(conn, item_ids=[p.item_id for p in placements])
    }
    lines = tuple(
        ReceiptLine(p.item_id, described.get(p.item_id, ""), Money(p.amount_minor, currency))
        for p in placements
    )
    applied = sum(p.amount_minor for p in placements)
    for_service = None
    if row.service_code is not None:
        found = await conn.execute(
            select(service.c.description).where(service.c.code == row.service_code)
        )
        for_service = found.scalar()
    return Receipt(
        payment_ref=payment_ref,
        account_id=paid.account_id,
        account_number=account.number,
        date=entry.effective_date,
        amount=paid.amount,
        entry_number=entry.number,
        kind=paid.kind,
        lines=lines,
        unapplied=Money(paid.amount.minor - applied if paid.kind == "payment" else 0, currency),
        balance_after=Money(row.balance_after_minor, currency),
        for_service=for_service,
    )


__all__ = [
    "GatewayOutcome",
    "GatewayPayment",
    "Receipt",
    "ReceiptLine",
    "receipt_for",
    "record_gateway_dispute",
    "record_gateway_payment",
    "record_gateway_refund",
]
