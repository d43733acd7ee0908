"""Receiving money: payments with automatic cash application, and refunds of credits.

Posting a receipt and applying it is one step (AR-003, AR-080): the payment entry and
its application are one transaction under one idempotency key, so a webhook delivered
twice, or a clerk pressing twice, records one payment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission
from core.db import Database, Tx
from core.errors import InvalidState
from core.ledger.application import DEFAULT_ORDER, Placement, Plan, Rule
from core.ledger.cash import apply_credits
from core.ledger.items import Match, allocate, load_items, lock_account
from core.ledger.model import AR_CONTROL, EntryDraft, ItemTerms, Kind, Line, PostedEntry
from core.ledger.posting import entry_kind, post_entry, replay
from core.ledger.tables import allocation, application
from core.money import Money, require_positive
from core.services import account_for, entries_under, match_credit, run_once


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Leftovers at or below this are written off as small balances (AR-024, AR-091)."""

    amount_minor: int = 0
    percent: int = 0

    def allows(self, leftover_minor: int, payment_minor: int) -> bool:
        by_percent = leftover_minor * 100 <= payment_minor * self.percent
        return leftover_minor > 0 and (leftover_minor <= self.amount_minor or by_percent)


@dataclass(frozen=True, slots=True)
class PaymentResult:
    entry: PostedEntry
    placements: tuple[Placement, ...]
    exceptions: tuple[str, ...] = ()
    write_offs: tuple[PostedEntry, ...] = field(default_factory=tuple)

    @property
    def applied(self) -> Money:
        currency = self.entry.lines[0].amount.currency
        return Money(sum(p.amount_minor for p in self.placements), currency)

    @property
    def unapplied(self) -> Money:
        received = abs(self.entry.lines[0].amount)
        return received - self.applied


def payment_draft(
    account_id: int,
    amount: Money,
    received_on: date,
    key: str,
    method: str,
    actor: str,
    source: str,
    *,
    reference: str | None = None,
    destination: str = "1000",
    entry_type: str = "PAYMENT",
) -> EntryDraft:
    """The entry of a receipt: debit cash, credit the account (an unapplied credit)."""
    return EntryDraft(
        entry_type=entry_type,
        effective_date=received_on,
        idempotency_key=key,
        actor=actor,
        source=source,
        memo=method,
        reference=reference,
        lines=(
            Line(destination, amount),
            Line(AR_CONTROL, -amount, account_id, ItemTerms(description=method)),
        ),
    )


async def record_payment(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    amount: Money,
    received_on: date,
    key: str,
    method: str,
    reference: str | None = None,
    destination: str = "1000",
    rules: Sequence[Rule] = DEFAULT_ORDER,
    tolerance: Tolerance | None = None,
    source: str = "staff",
    entry_type: str = "PAYMENT",
) -> PaymentResult:
    """Post a receipt and apply it by ``rules``; what no rule places stays unapplied."""
    require_positive(amount, "payment")
    await account_for(db, actor, account_id, Permission.RECORD_PAYMENT)
    draft = payment_draft(
        account_id,
        amount,
        received_on,
        key,
        method,
        actor.label,
        source,
        reference=reference,
        destination=destination,
        entry_type=entry_type,
    )

    async def work(tx: Tx) -> PaymentResult:
        return await payment_in(tx, actor, draft, account_id, rules=rules, tolerance=tolerance)

    async def again(conn: AsyncConnection) -> PaymentResult:
        return await payment_replay(conn, key, draft.fingerprint())

    return await run_once(db, work, again)


async def payment_in(
    tx: Tx,
    actor: Actor,
    draft: EntryDraft,
    account_id: int,
    *,
    rules: Sequence[Rule] = DEFAULT_ORDER,
    tolerance: Tolerance | None = None,
) -> PaymentResult:
    """Inside ``tx``: post the receipt ``draft`` (see :func:`payment_draft`) and apply it
    by ``rules``, for callers that record a payment together with other writes (a held
    payment's confirmation, the parts of a split cheque). The caller checks permissions."""
    key, on, source = draft.idempotency_key, draft.effective_date, draft.source
    entry = await post_entry(tx, draft)
    _, plan = await apply_credits(
        tx,
        account_id=account_id,
        rules=rules,
        key=f"{key}/apply",
        on=on,
        actor=actor.label,
        source=source,
        credit_ids=entry.item_ids,
        entry_id=entry.id,
    )
    amount = -draft.lines[1].amount
    write_offs = await _small_balances(
        tx, actor, account_id, plan, amount, tolerance, key, on, source
    )
    return PaymentResult(entry, tuple(plan.placements), tuple(plan.exceptions), write_offs)


async def payment_replay(
    conn: AsyncConnection, key: str, fingerprint: str | None = None
) -> PaymentResult:
    """The payment first recorded under ``key``, as :func:`payment_in` returned it; with a
    ``fingerprint``, refused if the key was used for another entry."""
    entry = await replay(conn, key, fingerprint)
    placements = tuple(await applied_by(conn, f"{key}/apply"))
    write_offs = tuple(await entries_under(conn, f"{key}/small-balance/"))
    return PaymentResult(entry, placements, write_offs=write_offs)


async def applied_by(conn: AsyncConnection, key: str) -> list[Placement]:
    """What the application written under ``key`` placed on which debit items."""
    rows = await conn.execute(
        select(allocation.c.item_id, allocation.c.amount_minor, application.c.method)
        .join(application, application.c.id == allocation.c.application_id)
        .where(application.c.idempotency_key == key, allocation.c.amount_minor < 0)
        .order_by(allocation.c.id)
    )
    return [Placement(item_id, -amount, method) for item_id, amount, method in rows]


async def _small_balances(
    tx: Tx,
    actor: Actor,
    account_id: int,
    plan: Plan,
    payment: Money,
    tolerance: Tolerance | None,
    key: str,
    on: date,
    source: str,
) -> tuple[PostedEntry, ...]:
    if tolerance is None or not plan.placements:
        return ()
    touched = [p.item_id for p in plan.placements]
    entries = []
    for item in await load_items(tx.conn, item_ids=touched, only_open=True):
        if not tolerance.allows(item.open.minor, payment.minor):
            continue
        entries.append(
            await write_off_item(
                tx,
                actor_label=actor.label,
                account_id=account_id,
                item_id=item.id,
                amount=item.open,
                entry_type="WO_SMALL",
                reason="SMALL_BALANCE",
                memo="small balance within tolerance",
                key=f"{key}/small-balance/{item.id}",
                on=on,
                source=source,
            )
        )
    return tuple(entries)


async def write_off_item(
    tx: Tx,
    *,
    actor_label: str,
    account_id: int,
    item_id: int,
    amount: Money,
    entry_type: str,
    reason: str,
    memo: str,
    key: str,
    on: date,
    source: str,
) -> PostedEntry:
    """Post a write-off of ``amount`` and match it to the item it clears."""
    bad_debt = await entry_kind(tx.conn, tx.db, entry_type) is Kind.BAD_DEBT
    expense = "6200" if bad_debt else "6100"
    draft = EntryDraft(
        entry_type=entry_type,
        effective_date=on,
        idempotency_key=key,
        actor=actor_label,
        source=source,
        memo=memo,
        reason_code=reason,
        lines=(
            Line(expense, amount),
            Line(
                AR_CONTROL, -amount, account_id, ItemTerms(ref_item_id=item_id, description=memo)
            ),
        ),
    )
    entry = await post_entry(tx, draft)
    await match_credit(tx, entry, item_id, amount.minor, "write_off")
    return entry


async def apply_unapplied(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    key: str,
    on: date,
    rules: Sequence[Rule] = DEFAULT_ORDER,
    source: str = "staff",
    credit_ids: Sequence[int] | None = None,
) -> Plan:
    """Run the application rules over the account's unapplied cash (AR-018, AR-020),
    or over the credits ``credit_ids`` only (one payment's)."""
    await account_for(db, actor, account_id, Permission.APPLY_CASH)

    async def work(tx: Tx) -> Plan:
        _, plan = await apply_credits(
            tx,
            account_id=account_id,
            rules=rules,
            key=key,
            on=on,
            actor=actor.label,
            source=source,
            credit_ids=credit_ids,
        )
        return plan

    async def again(conn: AsyncConnection) -> Plan:
        placed = await applied_by(conn, key)
        return Plan(placements=placed, exceptions=["already applied under this key"])

    return await run_once(db, work, again)


async def refund_credit(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    amount: Money,
    on: date,
    key: str,
    reason: str = "CREDIT_BALANCE",
    pay_from: str = "2200",
    memo: str = "",
    source: str = "staff",
) -> PostedEntry:
    """Refund part or all of an account's credit balance (AR-058).

    ``pay_from`` is the refunds-payable account (a cheque from A/P) or the cash
    account the gateway refund leaves from. The refund is matched to the oldest
    unapplied credits, so it can never refund more than the account holds.
    """
    require_positive(amount, "refund")
    await account_for(db, actor, account_id, Permission.REFUND)
    draft = refund_draft(
        account_id,
        amount,
        on=on,
        key=key,
        actor_label=actor.label,
        reason=reason,
        pay_from=pay_from,
        memo=memo,
        source=source,
    )

    async def work(tx: Tx) -> PostedEntry:
        return await refund_in(tx, draft, account_id)

    async def again(conn: AsyncConnection) -> PostedEntry:
        return await replay(conn, key, draft.fingerprint())

    return await run_once(db, work, again)


def refund_draft(
    account_id: int,
    amount: Money,
    *,
    on: date,
    key: str,
    actor_label: str,
    reason: str = "CREDIT_BALANCE",
    pay_from: str = "2200",
    memo: str = "",
    source: str = "staff",
) -> EntryDraft:
    """The entry of a refund: debit the account (using up its credit), credit ``pay_from``."""
    return EntryDraft(
        entry_type="REFUND",
        effective_date=on,
        idempotency_key=key,
        actor=actor_label,
        source=source,
        memo=memo,
        reason_code=reason,
        lines=(
            Line(AR_CONTROL, amount, account_id, ItemTerms(description="refund")),
            Line(pay_from, -amount),
        ),
    )


async def refund_in(tx: Tx, draft: EntryDraft, account_id: int) -> PostedEntry:
    """Inside ``tx``: post the refund ``draft`` and match it to the account's oldest
    unapplied credits; refused if they hold less than the refund."""
    entry = await post_entry(tx, draft)
    amount, on = draft.lines[0].amount, draft.effective_date
    await lock_account(tx, account_id)
    credits = [
        i
        for i in await load_items(tx.conn, account_id=account_id, only_open=True)
        if not i.is_debit and i.effective_date <= on
    ]
    if -sum(c.open.minor for c in credits) < amount.minor:
        raise InvalidState(f"the account's credit balance is less than {amount}")
    need, matches = amount.minor, []
    for credit in credits:
        take = min(need, -credit.open.minor)
        if take:
            matches.append(Match(entry.item_ids[0], credit.id, take))
            need -= take
    await allocate(
        tx,
        account_id=account_id,
        matches=matches,
        key=f"{draft.idempotency_key}/apply",
        method="refund",
        effective_date=on,
        actor=draft.actor,
        source=draft.source,
        entry_id=entry.id,
    )
    return entry
