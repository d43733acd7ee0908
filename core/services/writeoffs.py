"""Write-offs: taking what a patient cannot or need not pay out of A/R (AR-026, AR-088).

A write-off is a credit to the account matched to the charges it clears, oldest first,
debiting write-off expense (6100) or, for a transfer to bad debt, bad-debt expense
(6200). :func:`write_off` is the direct use case for an approver; requests that need
someone else's approval go through :mod:`core.approvals`, which posts with
:func:`write_off_in` in the same transaction that claims the request.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, approval_limit, require
from core.db import Database, Tx
from core.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.items import Item, load_items, lock_account
from core.ledger.model import Kind, PostedEntry
from core.ledger.posting import entry_kind, load_entry
from core.money import Money
from core.services import entries_under, prior_entry, run_once
from core.services.payments import write_off_item


async def write_off(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    key: str,
    on: date,
    reason: str,
    note: str,
    amount: Money | None = None,
    item_id: int | None = None,
    entry_type: str = "WO_ADMIN",
    source: str = "staff",
) -> list[PostedEntry]:
    """Write off one item, or ``amount`` (``None``: everything open) oldest item first.

    A reason code and a note are required (AR-026); the actor must hold the approval
    permission and the amount must be within their approval limit (AR-088), their own
    or their role's default.
    """
    if not note.strip():
        raise ValidationError("a write-off needs a note saying why")
    async with db.read() as conn:
        await check_write_off_type(conn, db, entry_type)
        account = await load_account(conn, account_id=account_id)
    require(actor, Permission.APPROVE_WRITE_OFF, account.location)
    if (done := await prior_entry(db, key)) is not None:
        async with db.read() as conn:
            return [done, *await entries_under(conn, f"{key}/item/")]
    async with db.read() as conn:
        items = await writable_items(conn, account_id, on, item_id)
    if item_id is not None and not items:
        raise NotFound(f"item {item_id} is not an open charge on account {account.number}")
    total = sum(i.open.minor for i in items)
    wanted = total if amount is None else amount.minor
    if wanted <= 0 or wanted > total:
        open_total = Money(total, account.currency)
        raise ValidationError(
            f"cannot write off {Money(wanted, account.currency)}: {open_total} is open"
        )
    limit = approval_limit(actor)
    if limit is not None and wanted > limit:
        raise PermissionDenied(
            f"{Money(wanted, account.currency)} is above {actor.name}'s approval limit of "
            f"{Money(limit, account.currency)}"
        )

    async def work(tx: Tx) -> list[PostedEntry]:
        return await write_off_in(
            tx,
            actor_label=actor.label,
            account=account,
            amount_minor=wanted,
            key=key,
            on=on,
            reason=reason,
            note=note,
            item_id=item_id,
            entry_type=entry_type,
            source=source,
        )

    async def again(conn: AsyncConnection) -> list[PostedEntry]:
        return [await load_entry(conn, key=key), *await entries_under(conn, f"{key}/item/")]

    return await run_once(db, work, again)


async def check_write_off_type(conn: AsyncConnection, db: Database, entry_type: str) -> None:
    """Refuse an entry type that is not a write-off or a transfer to bad debt."""
    if await entry_kind(conn, db, entry_type) not in (Kind.WRITE_OFF, Kind.BAD_DEBT):
        raise ValidationError(f"{entry_type!r} is not a write-off or bad-debt entry type")


async def writable_items(
    conn: AsyncConnection, account_id: int, on: date, item_id: int | None = None
) -> list[Item]:
    """The open charges a write-off dated ``on`` may take, oldest first."""
    return [
        i
        for i in await load_items(conn, account_id=account_id, only_open=True)
        if i.is_debit and i.effective_date <= on and (item_id is None or i.id == item_id)
    ]


async def write_off_in(
    tx: Tx,
    *,
    actor_label: str,
    account: Account,
    amount_minor: int | None,
    key: str,
    on: date,
    reason: str,
    note: str,
    item_id: int | None = None,
    entry_type: str = "WO_ADMIN",
    source: str = "staff",
) -> list[PostedEntry]:
    """Inside ``tx``: lock the account, read again what is open, and write off
    ``amount_minor`` of it (``None``: all of it) oldest item first, one entry per item
    (the first under ``key``, the rest under ``key/item/<id>``). Checks of permission and
    limit are the caller's; this refuses only what the account cannot honour now."""
    await lock_account(tx, account.id)
    items = await writable_items(tx.conn, account.id, on, item_id)
    open_now = sum(i.open.minor for i in items)
    wanted = open_now if amount_minor is None else amount_minor
    if open_now <= 0 or wanted > open_now:
        now_open = Money(open_now, account.currency)
        raise InvalidState(
            f"only {now_open} is open on account {account.number} now; look at the account again"
        )
    left, posted = wanted, list[PostedEntry]()
    for item in items:
        take = min(left, item.open.minor)
        if take <= 0:
            break
        posted.append(
            await write_off_item(
                tx,
                actor_label=actor_label,
                account_id=account.id,
                item_id=item.id,
                amount=Money(take, account.currency),
                entry_type=entry_type,
                reason=reason,
                memo=note,
                key=key if not posted else f"{key}/item/{item.id}",
                on=on,
                source=source,
            )
        )
        left -= take
    return posted
