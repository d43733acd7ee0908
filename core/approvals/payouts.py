"""An approved refund paid back to the card it came from (AR-058, issue 4).

Approving a refund posts it as a refund payable (GL 2200) out of the account's credit
(:mod:`core.approvals.decisions`). The credit it used up may have come from card
payments taken through the payment gateway: that share goes back to the same card, as a
gateway refund of the original payment, and the rest stays payable by cheque. Each card
share is paid out under its own keys, derived from the request and the payment:

- the gateway is asked with the idempotency key ``<entry key>/card/<payment ref>`` and
  the request's id in the refund's metadata (``arbot_refund_request``);
- the payout entry (debit refunds payable, credit card clearing 1010) is posted under
  the same key, with a ``gateway_reversal`` row for the gateway's refund id.

So a second press, a Slack retry or a restart between asking the gateway and recording
its answer asks again with the same key (the gateway answers with the same refund) and
records once; and when the gateway's ``charge.refunded`` event arrives, the webhook sees
the metadata and records the same payout (:func:`record_card_payout`) instead of taking
the money back from the account a second time. A gateway that cannot be asked leaves
the share pending; the approval message offers to try again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.approvals.model import Request, RequestKind, Status, load_request, posted_total
from core.auth import Actor, Permission, require
from core.clock import today
from core.db import Database, Tx
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.accounts import load_account
from core.ledger.items import balance, lock_account, pair_balances
from core.ledger.model import EntryDraft, Line
from core.ledger.posting import load_entry, post_entry
from core.ledger.tables import ar_item, journal_entry
from core.money import Money
from core.patients.clawbacks import CLEARING_GL, Paid, paid_row, reversal_id, taken_back
from core.patients.gateway_tables import gateway_payment, gateway_reversal
from core.ports import PaymentGateway
from core.services import run_once

log = logging.getLogger(__name__)
PAYABLE_GL = "2200"
METADATA_KEY = "arbot_refund_request"
"""The refund metadata naming the approval request a gateway refund pays out."""


@dataclass(frozen=True, slots=True)
class CardShare:
    """What of a refund goes back to one card payment; ``refund_ref`` once it has."""

    payment_ref: str
    amount: Money
    refund_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Payout:
    """How an approved refund is paid out: to cards, and by cheque for the rest.
    ``unavailable`` says the gateway could not be asked this time."""

    request_id: int
    cards: tuple[CardShare, ...]
    by_cheque: Money
    unavailable: bool = False

    @property
    def to_cards(self) -> Money:
        return Money(sum(c.amount.minor for c in self.cards), self.by_cheque.currency)

    @property
    def waiting(self) -> tuple[CardShare, ...]:
        """Card shares not refunded yet."""
        return tuple(c for c in self.cards if c.refund_ref is None)


def payout_key(request: Request, payment_ref: str) -> str:
    assert request.entry_key is not None
    return f"{request.entry_key}/card/{payment_ref}"


async def payout_of(conn: AsyncConnection, request: Request) -> Payout | None:
    """How ``request`` is paid out as things stand; None unless it is an approved refund."""
    if request.kind is not RequestKind.REFUND or request.status is not Status.APPROVED:
        return None
    assert request.entry_key is not None
    entry = await load_entry(conn, key=request.entry_key)
    [refund_item] = entry.item_ids
    used = {c: n for (_, c), n in (await pair_balances(conn, refund_item)).items() if n > 0}
    rows = await conn.execute(
        select(ar_item.c.id, gateway_payment.c.payment_ref)
        .join(gateway_payment, gateway_payment.c.entry_id == ar_item.c.entry_id)
        .where(ar_item.c.id.in_(used), gateway_payment.c.kind == "payment")
        .order_by(ar_item.c.id)
    )
    cards = []
    for credit_id, payment_ref in rows.all():
        done = await _paid_out(conn, payout_key(request, payment_ref))
        if done is not None:
            cards.append(CardShare(payment_ref, Money(done[1], request.currency), done[0]))
            continue
        paid = await paid_row(conn, payment_ref)
        assert paid is not None
        left = paid.amount.minor - await taken_back(conn, paid.id)
        if (share := min(used[credit_id], left)) > 0:
            cards.append(CardShare(payment_ref, Money(share, request.currency)))
    total = posted_total((entry,))
    cheque = Money(total - sum(c.amount.minor for c in cards), request.currency)
    return Payout(request.id, tuple(cards), cheque)


async def pay_out(db: Database, gateway: PaymentGateway, actor: Actor, request_id: int) -> Payout:
    """Refund each card share of the approved refund ``request_id`` through ``gateway``
    and record it; shares already refunded are left alone. Safe to call again."""
    async with db.read() as conn:
        request = await load_request(conn, request_id)
        account = await load_account(conn, account_id=request.account_id)
        require(actor, Permission.REFUND, account.location)
        payout = await payout_of(conn, request)
    if payout is None:
        raise InvalidState(f"request {request_id} is not an approved refund; nothing to pay out")
    unavailable = False
    for share in payout.waiting:
        key = payout_key(request, share.payment_ref)
        metadata = {METADATA_KEY: str(request.id)}
        try:
            refund_ref = await gateway.refund(share.payment_ref, share.amount, key, metadata)
        except Exception:  # not asked, or no answer: the share waits for the next try
            log.warning("card refund of request %s not made now", request.id, exc_info=True)
            unavailable = True
            continue
        await record_card_payout(
            db,
            actor=actor,
            request_id=request.id,
            payment_ref=share.payment_ref,
            refund_ref=refund_ref,
            amount=share.amount,
        )
    async with db.read() as conn:
        fresh = await payout_of(conn, await load_request(conn, request_id))
    assert fresh is not None
    return Payout(fresh.request_id, fresh.cards, fresh.by_cheque, unavailable)


async def record_card_payout(
    db: Database,
    *,
    actor: Actor,
    request_id: int,
    payment_ref: str,
    refund_ref: str,
    amount: Money,
) -> bool:
    """Record the gateway refund ``refund_ref`` that paid out part of the approved refund
    ``request_id`` to the card payment ``payment_ref``: once, whoever reports it first
    (the approver's press or the gateway's event). Whether this call recorded it."""
    if amount.minor <= 0:
        raise ValidationError(f"a card refund must be for more than zero, not {amount}")
    async with db.read() as conn:
        if await reversal_id(conn, refund_ref) is not None:
            return False
        request = await load_request(conn, request_id)
        paid = await paid_row(conn, payment_ref)
    if request.kind is not RequestKind.REFUND or request.status is not Status.APPROVED:
        raise InvalidState(f"request {request_id} is not an approved refund")
    if paid is None or paid.account_id != request.account_id:
        raise NotFound(f"no card payment {payment_ref} on the account of request {request_id}")

    async def work(tx: Tx) -> bool:
        await _record_in(tx, actor, request, paid, refund_ref, amount)
        return True

    async def again(conn: AsyncConnection) -> bool:
        return False

    return await run_once(db, work, again)


async def _record_in(
    tx: Tx, actor: Actor, request: Request, paid: Paid, refund_ref: str, amount: Money
) -> None:
    await lock_account(tx, paid.account_id)
    left = paid.amount.minor - await taken_back(tx.conn, paid.id)
    if amount.minor > left:
        raise InvalidState(
            f"the card refund of {amount} is more than the {Money(left, amount.currency)} "
            f"left of the card payment of {paid.amount}"
        )
    entry = await post_entry(
        tx,
        EntryDraft(
            entry_type="REFUND",
            effective_date=today(tx.db.clock),
            idempotency_key=payout_key(request, paid.payment_ref),
            actor=actor.label,
            source="stripe" if actor.kind == "webhook" else "staff",
            memo=f"refund of request {request.id} paid to the card",
            reason_code="CARD_REFUND",
            reference=refund_ref[:60],
            lines=(Line(PAYABLE_GL, amount), Line(CLEARING_GL, -amount)),
        ),
    )
    await tx.conn.execute(
        gateway_reversal.insert().values(
            ref=refund_ref,
            kind="refund",
            payment_id=paid.id,
            entry_id=entry.id,
            amount_minor=amount.minor,
            reason=f"approval request {request.id}",
            balance_after_minor=await balance(tx.conn, paid.account_id),
            recorded_at=tx.db.clock.now(),
        )
    )
    tx.audit(
        actor.label,
        "staff",
        "refund.card",
        f"request {request.id}",
        account_id=paid.account_id,
        amount_minor=amount.minor,
        refund_ref=refund_ref,
    )


async def _paid_out(conn: AsyncConnection, key: str) -> tuple[str, int] | None:
    """(gateway refund id, amount) of the payout posted under ``key``, if it was."""
    row = (
        await conn.execute(
            select(gateway_reversal.c.ref, gateway_reversal.c.amount_minor)
            .join(journal_entry, journal_entry.c.id == gateway_reversal.c.entry_id)
            .where(journal_entry.c.idempotency_key == key)
        )
    ).first()
    return None if row is None else (row.ref, row.amount_minor)
