"""Adjustments: reversals and corrections, closing and reopening items, disputes.

Write-offs live in :mod:`core.services.writeoffs` (``write_off`` is importable here too).

Nothing posted is ever changed. A reversal is a new entry with every line negated that
points at the original (AR-119, AR-028); the items the original had paid or cleared
reopen, and the original and its reversal are matched to each other so both close.
A prior-period correction is a reversal dated in the current, open period plus the
corrected entry, both referring to the original (AR-123).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.db import Database, Tx
from core.errors import InvalidState, NotFound, ValidationError
from core.inventory import restore_for_reversal
from core.ledger.accounts import load_account
from core.ledger.cash import unwind_matches
from core.ledger.items import Match, allocate, load_items, lock_account, set_disputed
from core.ledger.model import EntryDraft, ItemTerms, Kind, Line, PostedEntry
from core.ledger.posting import load_entry, post_entry, replay
from core.ledger.tables import ar_item, journal_entry
from core.money import Money
from core.services import post_once, prior_application, prior_entry, run_once
from core.services.writeoffs import write_off as write_off  # the use case's old home


def _reversal_type(kind: Kind) -> str:
    if kind in (Kind.PAYMENT, Kind.PREPAYMENT):
        return "PAYMENT_REVERSAL"
    # Reversing a transfer to bad debt reinstates the account (AR-111).
    return "REINSTATE" if kind is Kind.BAD_DEBT else "REVERSAL"


async def reverse_entry(
    db: Database,
    actor: Actor,
    *,
    entry_id: int,
    on: date,
    key: str,
    reason: str,
    memo: str = "",
    source: str = "staff",
) -> PostedEntry:
    """Reverse ``entry_id`` with a new entry dated ``on``; reopen what it had matched and
    put back the stock a reversed charge took (BI-10)."""
    async with db.read() as conn:
        original = await load_entry(conn, entry_id=entry_id)
        accounts = {ln.account_id for ln in original.lines if ln.account_id is not None}
        locations: list[str | None] = [
            (await load_account(conn, account_id=a)).location for a in accounts
        ]
    for location in locations or [None]:
        require(actor, Permission.REVERSE_ENTRY, location)
    if (done := await prior_entry(db, key)) is not None:
        return done
    draft = reversal_draft(
        original, on=on, key=key, actor_label=actor.label, source=source, reason=reason, memo=memo
    )

    async def work(tx: Tx) -> PostedEntry:
        return await reverse_in(tx, original, draft)

    async def again(conn: AsyncConnection) -> PostedEntry:
        return await replay(conn, key, draft.fingerprint())

    return await run_once(db, work, again)


def reversal_draft(
    original: PostedEntry,
    *,
    on: date,
    key: str,
    actor_label: str,
    source: str,
    reason: str,
    memo: str = "",
) -> EntryDraft:
    """The entry that reverses ``original`` on ``on``; refuses a back-dated reversal and
    the reversal of a reversal (AR-028, AR-119)."""
    if on < original.effective_date:
        raise ValidationError(
            f"a reversal cannot be dated {on}, "
            f"before {original.number} ({original.effective_date})"
        )
    if original.reverses_id is not None:
        raise InvalidState(f"{original.number} is itself a reversal; post the entry again instead")
    return EntryDraft(
        entry_type=_reversal_type(original.kind),
        effective_date=on,
        idempotency_key=key,
        actor=actor_label,
        source=source,
        memo=memo or f"reversal of {original.number}",
        reason_code=reason,
        reference=original.number,
        reverses_id=original.id,
        lines=tuple(
            Line(
                ln.gl,
                -ln.amount,
                ln.account_id,
                ItemTerms(ref_item_id=ln.item_id, description=f"reversal of {original.number}"),
            )
            for ln in original.lines
        ),
    )


async def reverse_in(tx: Tx, original: PostedEntry, draft: EntryDraft) -> PostedEntry:
    """Inside ``tx``: post ``draft`` (from :func:`reversal_draft`), reopen what
    ``original`` had matched, match the two to each other, and restore stock."""
    key, on = draft.idempotency_key, draft.effective_date
    reversal = await post_entry(tx, draft)
    for account_id in sorted(set(_item_accounts(original))):
        await lock_account(tx, account_id)
    pairs = zip(original.item_ids, reversal.item_ids, strict=True)
    for (old_id, new_id), account_id in zip(pairs, _item_accounts(original), strict=True):
        [old] = await load_items(tx.conn, item_ids=[old_id])
        matches = await unwind_matches(tx, old)
        await _refuse_noncash_credits(
            tx, [m.credit_item_id for m in matches if m.credit_item_id != old_id]
        )
        debit, credit = (old_id, new_id) if old.is_debit else (new_id, old_id)
        matches.append(Match(debit, credit, abs(old.amount.minor)))
        await allocate(
            tx,
            account_id=account_id,
            matches=matches,
            key=f"{key}/unwind/{old_id}",
            method="reversal",
            effective_date=on,
            actor=draft.actor,
            source=draft.source,
            entry_id=reversal.id,
        )
    await restore_for_reversal(tx, original.id, reversal.id, draft.actor)
    return reversal


NONCASH_CREDITS = (
    Kind.WRITE_OFF,
    Kind.BAD_DEBT,
    Kind.DISCOUNT,
    Kind.CONTRACTUAL,
    Kind.CREDIT_MEMO,
    Kind.TRANSFER,
    Kind.PREPAYMENT,
)


async def _refuse_noncash_credits(tx: Tx, credit_item_ids: list[int]) -> None:
    """A charge can fall back to 'unpaid', but a write-off or discount matched to it must
    not turn into a credit the patient could be refunded in cash: reverse those first."""
    if not credit_item_ids:
        return
    rows = await tx.conn.execute(
        select(journal_entry.c.id, journal_entry.c.kind)
        .join(ar_item, ar_item.c.entry_id == journal_entry.c.id)
        .where(ar_item.c.id.in_(credit_item_ids))
    )
    blocking = sorted(f"T{eid:08d}" for eid, kind in rows if Kind(kind) in NONCASH_CREDITS)
    if blocking:
        raise InvalidState(
            f"the item is settled by {', '.join(blocking)}; reverse that first, then this entry"
        )


def _item_accounts(entry: PostedEntry) -> list[int]:
    return [ln.account_id for ln in entry.lines if ln.item_id is not None and ln.account_id]


async def correct_entry(
    db: Database,
    actor: Actor,
    *,
    entry_id: int,
    corrected: Sequence[Line],
    on: date,
    key: str,
    reason: str = "PRIOR_PERIOD",
    memo: str = "",
    source: str = "staff",
) -> tuple[PostedEntry, PostedEntry]:
    """Correct a posted entry, even one in a closed period: reverse it in the current
    period, then post ``corrected`` in its place; both refer to the original (AR-123)."""
    reversal = await reverse_entry(
        db,
        actor,
        entry_id=entry_id,
        on=on,
        key=f"{key}/reverse",
        reason=reason,
        memo=memo,
        source=source,
    )
    async with db.read() as conn:
        original = await load_entry(conn, entry_id=entry_id)
    draft = EntryDraft(
        entry_type=original.entry_type,
        effective_date=on,
        idempotency_key=key,
        actor=actor.label,
        source=source,
        memo=memo or f"corrects {original.number}",
        reason_code=reason,
        reference=original.number,
        lines=tuple(corrected),
    )

    return reversal, await post_once(db, draft)


async def close_items(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    debit_ids: Sequence[int],
    credit_ids: Sequence[int],
    on: date,
    key: str,
    source: str = "staff",
) -> int:
    """Close picked debits against picked credits that net to zero (AR-014, AR-075)."""
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        items = {i.id: i for i in await load_items(conn, item_ids=[*debit_ids, *credit_ids])}
    require(actor, Permission.APPLY_CASH, account.location)
    if (done := await prior_application(db, key)) is not None:
        return done
    debits = [items[i] for i in debit_ids if i in items and items[i].is_debit]
    credits = [items[i] for i in credit_ids if i in items and not items[i].is_debit]
    if len(debits) != len(debit_ids) or len(credits) != len(credit_ids):
        raise ValidationError("pick open charges as debits and payments or credits as credits")
    owed, paid = sum(d.open.minor for d in debits), -sum(c.open.minor for c in credits)
    if owed != paid or owed == 0:
        raise ValidationError(
            f"the picked items do not net to zero: debits {Money(owed, account.currency)}, "
            f"credits {Money(paid, account.currency)}"
        )
    matches, supply = [], [[c.id, -c.open.minor] for c in credits]
    for debit in debits:
        need = debit.open.minor
        for slot in supply:
            take = min(need, slot[1])
            if take:
                matches.append(Match(debit.id, slot[0], take))
                slot[1] -= take
                need -= take

    async def work(tx: Tx) -> int:
        return await allocate(
            tx,
            account_id=account_id,
            matches=matches,
            key=key,
            method="close_by_pick",
            effective_date=on,
            actor=actor.label,
            source=source,
        )

    async def again(conn: AsyncConnection) -> int:
        done = await prior_application(db, key)
        assert done is not None
        return done

    return await run_once(db, work, again)


async def reinstate_item(
    db: Database,
    actor: Actor,
    *,
    item_id: int,
    on: date,
    key: str,
    source: str = "staff",
) -> int | None:
    """Reopen a closed item: undo its matches; the credits go back to unapplied (AR-015)."""
    async with db.read() as conn:
        found = await load_items(conn, item_ids=[item_id])
        if not found:
            raise NotFound(f"there is no item {item_id}")
        account = await load_account(conn, account_id=found[0].account_id)
    require(actor, Permission.REVERSE_ENTRY, account.location)
    if (done := await prior_application(db, key)) is not None:
        return done

    async def work(tx: Tx) -> int | None:
        await lock_account(tx, account.id)
        [item] = await load_items(tx.conn, item_ids=[item_id])
        matches = await unwind_matches(tx, item)
        if not matches:
            raise InvalidState(f"item {item_id} is not matched with anything")
        return await allocate(
            tx,
            account_id=account.id,
            matches=matches,
            key=key,
            method="reinstate",
            effective_date=on,
            actor=actor.label,
            source=source,
        )

    async def again(conn: AsyncConnection) -> int | None:
        return None

    return await run_once(db, work, again)


async def dispute_item(
    db: Database,
    actor: Actor,
    *,
    item_id: int,
    disputed: bool,
    on: date,
    reason: str,
    source: str = "staff",
) -> None:
    """Flag an item as disputed, or clear the flag (AR-078); kept with its date (AR-046)."""
    async with db.read() as conn:
        found = await load_items(conn, item_ids=[item_id])
        if not found:
            raise NotFound(f"there is no item {item_id}")
        account = await load_account(conn, account_id=found[0].account_id)
    require(actor, Permission.DISPUTE, account.location)
    async with db.transaction() as tx:
        await set_disputed(
            tx,
            item_id,
            disputed,
            effective_date=on,
            actor=actor.label,
            source=source,
            reason=reason,
        )
