"""Money the gateway takes back from a card payment: refunds and disputes (AR-078,
AR-119).

A refund made in the gateway's dashboard, or a card dispute (chargeback), sends part or
all of a payment back to the card. The account then owes that money again, or its
credit shrinks: the entry debits the account and credits the gateway clearing account,
refers to the payment's entry, and is matched to the payment's credit. Whatever of the
payment was still unapplied is taken first; beyond that the payment is unapplied from
the items it had paid, the most recent first, so those items are open again with
their own dates. A dispute for the whole of an untouched payment is its reversal
(``reverses_id`` points at it); a dispute also flags the items the payment had paid as
disputed, so dunning leaves them alone while it runs (AR-078).

A prepayment taken back comes out of what the account still holds for treatment; what
was already used for treatment becomes a charge the account owes again.

Each refund and dispute is recorded once by its gateway id; the total taken back never
exceeds the payment. One that arrives before its payment is refused with
:class:`~core.errors.NotFound` and nothing is written: the gateway delivers it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission
from core.billing.prepaid import PREPAYMENTS_GL
from core.clock import today
from core.db import Database, Tx, inserted_id
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.items import (
    Item,
    Match,
    allocate,
    balance,
    gl_balance,
    load_items,
    lock_account,
    pair_balances,
    set_disputed,
)
from core.ledger.model import AR_CONTROL, EntryDraft, ItemTerms, Line, PostedEntry
from core.ledger.posting import load_entry, post_entry
from core.ledger.tables import ar_item
from core.money import Money
from core.patients.gateway_tables import gateway_payment, gateway_reversal
from core.services import account_for, run_once

STRIPE = Actor.webhook("stripe")
SOURCE = "stripe"
CLEARING_GL = "1010"
"""Cash - card gateway clearing: where card money arrives and leaves."""
KEY_PREFIX = {"refund": "stripe:re:", "dispute": "stripe:dp:"}


@dataclass(frozen=True, slots=True)
class Paid:
    """A recorded gateway payment, as its row says."""

    id: int
    payment_ref: str
    kind: str
    account_id: int
    entry_id: int
    token_id: int | None
    amount: Money


async def paid_row(conn: AsyncConnection, payment_ref: str) -> Paid | None:
    row = (
        await conn.execute(
            select(gateway_payment).where(gateway_payment.c.payment_ref == payment_ref)
        )
    ).first()
    if row is None:
        return None
    return Paid(
        row.id,
        row.payment_ref,
        row.kind,
        row.account_id,
        row.entry_id,
        row.token_id,
        Money(row.amount_minor, row.currency),
    )


async def reversal_id(conn: AsyncConnection, ref: str) -> int | None:
    found = await conn.execute(select(gateway_reversal.c.id).where(gateway_reversal.c.ref == ref))
    value: int | None = found.scalar()
    return value


async def take_back(
    db: Database, *, payment_ref: str, ref: str, kind: str, amount: Money, reason: str = ""
) -> tuple[int, bool]:
    """Record the refund or dispute ``ref`` of ``amount`` on the payment ``payment_ref``
    once; returns its ``gateway_reversal`` id and whether this call recorded it."""
    if not ref.strip() or len(ref) > 200:
        raise ValidationError(f"a {kind} needs the gateway's id for it")
    if amount.minor <= 0:
        raise ValidationError(f"a {kind} must be for more than zero, not {amount}")
    async with db.read() as conn:
        if (done := await reversal_id(conn, ref)) is not None:
            return done, False
        paid = await paid_row(conn, payment_ref)
    if paid is None:
        raise NotFound(f"no card payment {payment_ref} has been recorded yet; the {kind} waits")
    if amount.currency != paid.amount.currency:
        raise ValidationError(
            f"the {kind} is in {amount.currency}, the payment in {paid.amount.currency}"
        )
    permission = Permission.REVERSE_ENTRY if kind == "dispute" else Permission.REFUND
    await account_for(db, STRIPE, paid.account_id, permission)

    async def work(tx: Tx) -> tuple[int, bool]:
        return await _take_back_in(tx, paid, ref, kind, amount, reason), True

    async def again(conn: AsyncConnection) -> tuple[int, bool]:
        found = await reversal_id(conn, ref)
        assert found is not None
        return found, False

    return await run_once(db, work, again)


async def _take_back_in(
    tx: Tx, paid: Paid, ref: str, kind: str, amount: Money, reason: str
) -> int:
    await lock_account(tx, paid.account_id)
    taken = await taken_back(tx.conn, paid.id)
    left = paid.amount.minor - taken
    if amount.minor > left:
        raise InvalidState(
            f"the {kind} of {amount} is more than the {Money(left, amount.currency)} left of "
            f"the card payment of {paid.amount}: refunding more than was paid is refused"
        )
    original = await load_entry(tx.conn, entry_id=paid.entry_id)
    on = max(today(tx.db.clock), original.effective_date)
    whole = kind == "dispute" and taken == 0 and amount == paid.amount
    draft = EntryDraft(
        entry_type="PAYMENT_REVERSAL" if kind == "dispute" else "REFUND",
        effective_date=on,
        idempotency_key=f"{KEY_PREFIX[kind]}{ref}",
        actor=STRIPE.label,
        source=SOURCE,
        memo=f"card {kind} of {original.number}",
        reason_code="CARD_DISPUTE" if kind == "dispute" else "CARD_REFUND",
        reference=original.number,
        reverses_id=original.id if whole else None,
        lines=await _lines(tx, paid, original, amount, f"card {kind}"),
    )
    entry = await post_entry(tx, draft)
    if paid.kind == "payment":
        flagged = await _give_back(tx, paid, original, entry, amount, kind)
    else:
        flagged = list(entry.item_ids)
    if kind == "dispute":
        await _flag(tx, flagged, on, reason)
    return inserted_id(
        await tx.conn.execute(
            gateway_reversal.insert().values(
                ref=ref,
                kind=kind,
                payment_id=paid.id,
                entry_id=entry.id,
                amount_minor=amount.minor,
                reason=reason[:60],
                balance_after_minor=await balance(tx.conn, paid.account_id),
                recorded_at=tx.db.clock.now(),
            )
        )
    )


async def _flag(tx: Tx, item_ids: list[int], on: date, reason: str) -> None:
    """Flag the items a disputed payment had paid, so dunning leaves them alone (AR-078)."""
    for item_id in item_ids:
        await set_disputed(
            tx,
            item_id,
            True,
            effective_date=on,
            actor=STRIPE.label,
            source=SOURCE,
            reason=f"card payment disputed ({reason or 'no reason given'})"[:200],
        )


async def taken_back(conn: AsyncConnection, payment_id: int) -> int:
    query = select(func.coalesce(func.sum(gateway_reversal.c.amount_minor), 0)).where(
        gateway_reversal.c.payment_id == payment_id
    )
    return int((await conn.execute(query)).scalar_one())


async def _lines(
    tx: Tx, paid: Paid, original: PostedEntry, amount: Money, memo: str
) -> tuple[Line, ...]:
    """Credit clearing; debit the account's A/R against the payment's credit, or, for a
    prepayment, what it still holds and then A/R for what treatment already used."""
    out = Line(CLEARING_GL, -amount)
    if paid.kind == "payment":
        [credit_id] = original.item_ids
        terms = ItemTerms(ref_item_id=credit_id, description=memo)
        return (Line(AR_CONTROL, amount, paid.account_id, terms), out)
    held = max(0, -await gl_balance(tx.conn, PREPAYMENTS_GL, paid.account_id))
    from_held = min(held, amount.minor)
    lines = []
    if from_held:
        lines.append(Line(PREPAYMENTS_GL, Money(from_held, amount.currency), paid.account_id))
    if amount.minor > from_held:
        owed = Money(amount.minor - from_held, amount.currency)
        lines.append(Line(AR_CONTROL, owed, paid.account_id, ItemTerms(description=memo)))
    return (*lines, out)


async def _give_back(
    tx: Tx, paid: Paid, original: PostedEntry, entry: PostedEntry, amount: Money, kind: str
) -> list[int]:
    """Match the take-back to the payment's credit, unapplying the payment from the
    items it paid (most recent first) as far as its unapplied rest does not cover it.
    Returns the items the payment had paid."""
    [credit_id] = original.item_ids
    [debit_id] = entry.item_ids
    [credit] = await load_items(tx.conn, item_ids=[credit_id])
    own = await _own_items(tx.conn, paid.id)
    pairs = await pair_balances(tx.conn, credit_id)
    paid_ids = [d for (d, c), n in pairs.items() if c == credit_id and n > 0 and d not in own]
    items = await load_items(tx.conn, item_ids=paid_ids) if paid_ids else []
    need = amount.minor + credit.open.minor  # credit.open is minus what is unapplied
    matches = []
    for item in sorted(items, key=_age, reverse=True):
        if need <= 0:
            break
        take = min(need, pairs[(item.id, credit_id)])
        matches.append(Match(item.id, credit_id, -take))
        need -= take
    matches.append(Match(debit_id, credit_id, amount.minor))
    await allocate(
        tx,
        account_id=paid.account_id,
        matches=matches,
        key=f"{entry.idempotency_key}/apply",
        method=f"card_{kind}",
        effective_date=entry.effective_date,
        actor=STRIPE.label,
        source=SOURCE,
        entry_id=entry.id,
    )
    return [i.id for i in items]


def _age(item: Item) -> tuple[object, ...]:
    return (item.service_date, item.entry_id, item.id)


async def _own_items(conn: AsyncConnection, payment_id: int) -> set[int]:
    """The A/R items of earlier refunds and disputes of this payment."""
    rows = await conn.execute(
        select(ar_item.c.id)
        .join(gateway_reversal, gateway_reversal.c.entry_id == ar_item.c.entry_id)
        .where(gateway_reversal.c.payment_id == payment_id)
    )
    return set(rows.scalars().all())
