"""Memos, transfers and prepayments: the other ways an account's balance moves.

A credit memo, discount or contractual allowance reduces what is owed on a named
item (AR-071, AR-115); a debit memo, finance charge or chargeback adds a new open
item (AR-025, AR-107, AR-117). A transfer moves an open amount to another account,
say from the patient to the guarantor or the insurer (AR-074). A prepayment is held
as a liability until the treatment is billed, then used against it (AR-087, BI-07).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.db import Database, Tx
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.accounts import load_account
from core.ledger.items import Item, gl_balance, load_items, lock_account
from core.ledger.model import AR_CONTROL, EntryDraft, ItemTerms, Line, PostedEntry
from core.money import Money, require_positive
from core.services import FollowUp, account_for, match_credit, post_once, prior_entry


@dataclass(frozen=True, slots=True)
class MemoKind:
    entry_type: str
    gl: str
    credit: bool
    permission: Permission


MEMOS = {
    "CREDIT_MEMO": MemoKind("CREDIT_MEMO", "4090", True, Permission.APPROVE_WRITE_OFF),
    "DISCOUNT": MemoKind("DISCOUNT", "4900", True, Permission.APPROVE_WRITE_OFF),
    "CONTRACTUAL": MemoKind("CONTRACTUAL", "4800", True, Permission.POST_CHARGE),
    "DEBIT_MEMO": MemoKind("DEBIT_MEMO", "4090", False, Permission.POST_CHARGE),
    "FINANCE_CHARGE": MemoKind("FINANCE_CHARGE", "4100", False, Permission.POST_CHARGE),
    "CHARGEBACK": MemoKind("CHARGEBACK", "4800", False, Permission.POST_CHARGE),
}


async def _item(conn: AsyncConnection, item_id: int) -> Item:
    found = await load_items(conn, item_ids=[item_id])
    if not found:
        raise NotFound(f"there is no item {item_id}")
    return found[0]


async def post_memo(
    db: Database,
    actor: Actor,
    *,
    memo_type: str,
    account_id: int,
    amount: Money,
    on: date,
    key: str,
    reason: str,
    note: str,
    item_id: int | None = None,
    source: str = "staff",
    description: str | None = None,
) -> PostedEntry:
    """Post a memo. Credit memos need the item they reduce and never exceed it. The
    item's description (what a statement shows) is ``note`` unless ``description``."""
    kind = MEMOS.get(memo_type)
    if kind is None:
        raise ValidationError(f"{memo_type!r} is not a memo type ({', '.join(MEMOS)})")
    require_positive(amount, "memo")
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        target = await _item(conn, item_id) if item_id is not None else None
    require(actor, kind.permission, account.location)
    if (done := await prior_entry(db, key)) is not None:
        return done
    if kind.credit and (target is None or not target.is_debit or target.account_id != account_id):
        raise ValidationError(f"a {memo_type.lower()} must name an open charge on the account")
    if kind.credit and target is not None and amount > target.open:
        raise ValidationError(f"{amount} is more than the {target.open} open on item {target.id}")
    signed = -amount if kind.credit else amount
    terms = ItemTerms(
        ref_item_id=item_id,
        description=note if description is None else description,
        due_date=None if kind.credit else on + timedelta(days=account.net_days),
    )
    draft = EntryDraft(
        entry_type=kind.entry_type,
        effective_date=on,
        idempotency_key=key,
        actor=actor.label,
        source=source,
        memo=note,
        reason_code=reason,
        lines=(Line(AR_CONTROL, signed, account_id, terms), Line(kind.gl, -signed)),
    )

    async def apply(tx: Tx, entry: PostedEntry) -> object:
        assert target is not None
        return await match_credit(tx, entry, target.id, amount.minor, memo_type.lower())

    return await post_once(db, draft, apply if kind.credit else None)


async def transfer_item(
    db: Database,
    actor: Actor,
    *,
    item_id: int,
    to_account_id: int,
    on: date,
    key: str,
    amount: Money | None = None,
    reason: str = "OTHER",
    source: str = "staff",
) -> PostedEntry:
    """Move (part of) an open charge to another account: the patient's share to the
    guarantor, or the insurer's denied share back to the patient (AR-074, BI-12)."""
    async with db.read() as conn:
        item = await _item(conn, item_id)
        source_account = await load_account(conn, account_id=item.account_id)
        target = await load_account(conn, account_id=to_account_id)
    for location in {source_account.location, target.location}:
        require(actor, Permission.POST_CHARGE, location)
    if (done := await prior_entry(db, key)) is not None:
        return done
    moved = amount or item.open
    if not item.is_debit or moved.minor <= 0 or moved > item.open:
        raise ValidationError(f"item {item_id} has {item.open} open; cannot transfer {moved}")
    if target.id == source_account.id:
        raise ValidationError("an item cannot be transferred to the account it is on")
    note = f"transfer from {source_account.number} to {target.number}"
    draft = EntryDraft(
        entry_type="TRANSFER",
        effective_date=on,
        idempotency_key=key,
        actor=actor.label,
        source=source,
        memo=note,
        reason_code=reason,
        lines=(
            Line(
                AR_CONTROL,
                -moved,
                source_account.id,
                ItemTerms(ref_item_id=item_id, description=note),
            ),
            Line(
                AR_CONTROL,
                moved,
                target.id,
                ItemTerms(
                    service_date=item.service_date,
                    ref_item_id=item_id,
                    due_date=on + timedelta(days=target.net_days),
                    description=note,
                ),
            ),
        ),
    )

    async def apply(tx: Tx, entry: PostedEntry) -> object:
        return await match_credit(tx, entry, item_id, moved.minor, "transfer")

    return await post_once(db, draft, apply)


async def receive_prepayment(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    amount: Money,
    on: date,
    key: str,
    method: str,
    destination: str = "1000",
    reference: str | None = None,
    source: str = "staff",
    then: FollowUp | None = None,
) -> PostedEntry:
    """Money received ahead of treatment: held in patient prepayments, not in A/R;
    ``then`` runs in the same transaction (core.billing.prepaid records what it is for)."""
    require_positive(amount, "prepayment")
    await account_for(db, actor, account_id, Permission.RECORD_PAYMENT)
    draft = EntryDraft(
        entry_type="PREPAYMENT",
        effective_date=on,
        idempotency_key=key,
        actor=actor.label,
        source=source,
        memo=method,
        reference=reference,
        lines=(Line(destination, amount), Line("2100", -amount, account_id)),
    )

    return await post_once(db, draft, then)


async def use_prepayment(
    db: Database,
    actor: Actor,
    *,
    item_id: int,
    amount: Money,
    on: date,
    key: str,
    source: str = "staff",
) -> PostedEntry:
    """Use ``amount`` of the account's prepayment against a billed item (AR-087)."""
    async with db.read() as conn:
        item = await _item(conn, item_id)
        account = await load_account(conn, account_id=item.account_id)
    require(actor, Permission.APPLY_CASH, account.location)
    if (done := await prior_entry(db, key)) is not None:
        return done
    if amount.minor <= 0 or amount > item.open:
        raise InvalidState(f"cannot use {amount} on item {item_id}: {item.open} is open")
    draft = EntryDraft(
        entry_type="PREPAYMENT",
        effective_date=on,
        idempotency_key=key,
        actor=actor.label,
        source=source,
        memo="prepayment used",
        lines=(
            Line("2100", amount, account.id),
            Line(
                AR_CONTROL,
                -amount,
                account.id,
                ItemTerms(ref_item_id=item_id, description="prepayment used"),
            ),
        ),
    )

    async def apply(tx: Tx, entry: PostedEntry) -> object:
        await lock_account(tx, account.id)
        held = -await gl_balance(tx.conn, "2100", account.id) + amount.minor
        if held < amount.minor:
            raise InvalidState(
                f"only {Money(held, amount.currency)} is held in prepayments, not {amount}"
            )
        return await match_credit(tx, entry, item_id, amount.minor, "prepayment")

    return await post_once(db, draft, apply)
