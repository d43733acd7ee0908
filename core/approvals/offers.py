"""Before a refund: the family's other accounts come first (AR-057).

A patient who overpaid often has relatives whose accounts still owe: the same guarantor
answers for them all, or this account answers for theirs. Money should not go back out
while the family owes the clinic, so a refund asked for in that case is not made at
once: it is held as an *offer* listing the relatives who owe (:func:`offer_refund`), and
its asker picks either a transfer of the credit to one of them
(:func:`transfer_instead`) or the refund request after all (:func:`refund_anyway`).
The offer is decided once, by a conditional update, like an approval request.

A transfer uses the ledger's own tools: the relative's oldest open charges, up to the
amount, are transferred onto the account in credit (``transfer_item``, AR-074), where
its unapplied cash then pays them (``apply_unapplied``). The relative's balance falls
by the amount, the credit shrinks by the same, and each account's history says where
the money went. The items and amounts are decided when the offer is taken and kept on
it, and every step has its own key under the offer's, so pressing again after an
interruption completes the transfer and never repeats it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.approvals.model import Request, refundable
from core.approvals.requests import refund_fits, request_by_key, request_refund
from core.approvals.tables import refund_offer
from core.auth import Actor, Permission, require
from core.clock import today
from core.customers import status_of
from core.db import Database, Tx
from core.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.items import balance, load_items
from core.ledger.posting import DuplicateKey
from core.money import Money
from core.profile.relationships import guarantees, relationships_of
from core.services import run_once
from core.services.memos import transfer_item
from core.services.payments import apply_unapplied

OFFER_STANDS = timedelta(minutes=30)
TOKEN = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class Relative:
    """An account of the family that owes: how it is related, what it owes, its status
    (``bad_debt`` and ``in_collections`` accounts are offered too)."""

    account: Account
    owed: Money
    status: str
    how: str


@dataclass(frozen=True, slots=True)
class RefundOffer:
    token: str
    account_id: int
    amount: Money
    reason: str
    note: str
    asked_by: str
    asked_at: datetime
    expires_at: datetime
    status: str
    to_account_id: int | None = None
    plan: tuple[tuple[int, int], ...] = ()
    relatives: tuple[Relative, ...] = ()


@dataclass(frozen=True, slots=True)
class Transferred:
    """What a transfer moved: ``amount`` of ``source``'s credit paid ``target``'s items."""

    source: Account
    target: Account
    amount: Money
    replayed: bool


async def relatives_of(conn: AsyncConnection, account_id: int, on: date) -> dict[int, str]:
    """The family of an account on ``on``: its guarantor, the other accounts the guarantor
    answers for, and the accounts it answers for itself; each with how it is related."""
    links = await relationships_of(conn, account_id, on)
    guarantor = next((r.related_account_id for r in links if r.kind == "guarantor"), None)
    found: dict[int, str] = {}
    if guarantor is not None:
        found[guarantor] = "the guarantor"
        for other in await guarantees(conn, guarantor, on):
            found.setdefault(other, "same guarantor")
    for other in await guarantees(conn, account_id, on):
        found.setdefault(other, "guaranteed by this account")
    found.pop(account_id, None)
    return found


async def owing_relatives(conn: AsyncConnection, account: Account, on: date) -> list[Relative]:
    """The family's accounts in the same currency that owe something, most owed first."""
    owing = []
    for other, how in (await relatives_of(conn, account.id, on)).items():
        relative = await load_account(conn, account_id=other)
        owed = await balance(conn, other)
        if owed > 0 and relative.currency == account.currency:
            money = Money(owed, relative.currency)
            owing.append(Relative(relative, money, await status_of(conn, other), how))
    return sorted(owing, key=lambda r: (-r.owed.minor, r.account.number))


async def offer_refund(
    db: Database,
    actor: Actor,
    *,
    token: str,
    account_id: int,
    amount: Money,
    reason: str,
    note: str,
    on: date,
    key: str | None = None,
) -> RefundOffer | None:
    """Hold a refund of ``amount`` as an offer when relatives owe (``None``: nobody owes,
    ask for the refund at once). Checked as the refund request would be; needs
    ``request_refund``. The same ``token`` again returns the first offer; ``None`` too
    when a refund request was already made under ``key`` (a retry: asking replays it)."""
    if not TOKEN.fullmatch(token):
        raise ValidationError("an offer's token is 32 hexadecimal digits")
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        require(actor, Permission.REQUEST_REFUND, account.location)
        if (row := await _row(conn, token)) is not None:
            return await _with_relatives(conn, _offer(row), account, on)
        if key is not None and await request_by_key(conn, key) is not None:
            return None
        await refund_fits(conn, account, amount, reason, on)
        if not await owing_relatives(conn, account, on):
            return None
    values = {
        "token": token, "account_id": account_id, "amount_minor": amount.minor,
        "currency": amount.currency, "reason": reason, "note": note.strip(),
        "asked_by": actor.label,
    }  # fmt: skip

    async def work(tx: Tx) -> RefundOffer:
        now = tx.db.clock.now()
        try:
            stands = now + OFFER_STANDS
            await tx.conn.execute(
                refund_offer.insert().values(**values, asked_at=now, expires_at=stands)
            )
        except IntegrityError as exc:
            raise DuplicateKey(token) from exc
        tx.audit(actor.label, "staff", "refund.offer", f"account {account.number}", token=token)
        return await _loaded(tx.conn, token, account, on)

    async def again(conn: AsyncConnection) -> RefundOffer:
        return await _loaded(conn, token, account, on)

    return await run_once(db, work, again)


async def refund_anyway(db: Database, actor: Actor, token: str) -> Request:
    """Ask for the refund after all: the approval request, under a key of the offer's."""
    offer = await _mine(db, actor, token)
    if offer.status == "open":
        await _claim(db, offer, "refund")
        offer = await _mine(db, actor, token)
    if offer.status != "refund":
        raise _settled(offer)
    return await request_refund(
        db, actor, account_id=offer.account_id, amount=offer.amount, reason=offer.reason,
        note=offer.note, key=f"refund-offer/{token}", on=today(db.clock),
    )  # fmt: skip


async def transfer_instead(
    db: Database, actor: Actor, token: str, to_account_id: int, *, on: date
) -> Transferred:
    """Move the offer's amount, as far as the credit and what the relative owes allow,
    from the account's credit to the relative ``to_account_id`` (AR-057). Needs
    ``post_charge`` at both accounts' locations and ``apply_cash`` at the first."""
    offer = await _mine(db, actor, token)
    async with db.read() as conn:
        source = await load_account(conn, account_id=offer.account_id)
        target = await load_account(conn, account_id=to_account_id)
        if to_account_id not in await relatives_of(conn, source.id, on):
            raise ValidationError(f"account {target.number} is not family of {source.number}")
        plan = await _plan(conn, offer, source, target, on)
    for account in (source, target):
        require(actor, Permission.POST_CHARGE, account.location)
    require(actor, Permission.APPLY_CASH, source.location)
    replayed = offer.status != "open"
    if not replayed and not await _claim(db, offer, "transfer", to_account_id, plan):
        offer, replayed = await _mine(db, actor, token), True
    if replayed and (offer.status, offer.to_account_id) != ("transfer", to_account_id):
        raise _settled(offer)
    moved = offer.plan if replayed else plan
    await _carry_out(db, actor, offer, source, moved, on)
    total = Money(sum(minor for _, minor in moved), source.currency)
    return Transferred(source, target, total, replayed)


async def _plan(
    conn: AsyncConnection, offer: RefundOffer, source: Account, target: Account, on: date
) -> tuple[tuple[int, int], ...]:
    """The relative's oldest open charges, and how much of each, that the offer moves."""
    credit, unapplied = await refundable(conn, source.id, on)
    room = min(offer.amount.minor, credit, unapplied)
    plan = []
    for item in await load_items(conn, account_id=target.id, only_open=True):
        if room <= 0:
            break
        if item.is_debit and item.open.minor > 0 and not item.disputed:
            take = min(room, item.open.minor)
            plan.append((item.id, take))
            room -= take
    if offer.status == "open" and not plan:
        raise InvalidState(
            f"nothing to move: account {target.number} owes nothing open now, or "
            f"{source.number} has no credit left"
        )
    return tuple(plan)


async def _carry_out(
    db: Database,
    actor: Actor,
    offer: RefundOffer,
    source: Account,
    plan: tuple[tuple[int, int], ...],
    on: date,
) -> None:
    """Each step under its own key, so that running it again does nothing twice."""
    key = f"refund-offer/{offer.token}/transfer"
    for item_id, minor in plan:
        await transfer_item(
            db, actor, item_id=item_id, to_account_id=source.id, on=on,
            key=f"{key}/item/{item_id}", amount=Money(minor, source.currency),
            reason=offer.reason,
        )  # fmt: skip
    await apply_unapplied(db, actor, account_id=source.id, key=f"{key}/apply", on=on)


async def _claim(
    db: Database,
    offer: RefundOffer,
    status: str,
    to_account_id: int | None = None,
    plan: tuple[tuple[int, int], ...] = (),
) -> bool:
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        done = await tx.conn.execute(
            refund_offer.update()
            .where(
                refund_offer.c.token == offer.token,
                refund_offer.c.status == "open",
                refund_offer.c.expires_at > now,
            )
            .values(
                status=status, decided_at=now, to_account_id=to_account_id,
                plan=",".join(f"{i}:{m}" for i, m in plan) or None,
            )
        )  # fmt: skip
        if done.rowcount != 1:
            return False
        tx.audit(offer.asked_by, "staff", f"refund.offer.{status}", f"refund offer {offer.token}")
        return True


async def _mine(db: Database, actor: Actor, token: str) -> RefundOffer:
    async with db.read() as conn:
        row = await _row(conn, token) if TOKEN.fullmatch(token) else None
    if row is None:
        raise NotFound("arbot has no refund waiting for this answer")
    offer = _offer(row)
    if offer.asked_by != actor.label:
        raise PermissionDenied(
            f"only the person who asked for this refund may answer, not {actor.name}"
        )
    if offer.status == "open" and db.clock.now() >= offer.expires_at:
        return replace(offer, status="expired")
    return offer


def _settled(offer: RefundOffer) -> InvalidState:
    if offer.status == "refund":
        return InvalidState("the refund was asked for instead; see its approval request")
    if offer.status == "transfer":
        return InvalidState("the credit was transferred instead; nothing is left to refund")
    minutes = int(OFFER_STANDS.total_seconds() // 60)
    return InvalidState(f"this question has expired (it stands for {minutes} minutes); ask again")


async def _row(conn: AsyncConnection, token: str) -> Row[Any] | None:
    return (await conn.execute(select(refund_offer).where(refund_offer.c.token == token))).first()


def _offer(row: Row[Any]) -> RefundOffer:
    m = row._mapping
    steps = [step.partition(":") for step in (m["plan"] or "").split(",") if step]
    return RefundOffer(
        token=m["token"],
        account_id=m["account_id"],
        amount=Money(m["amount_minor"], m["currency"]),
        reason=m["reason"],
        note=m["note"],
        asked_by=m["asked_by"],
        asked_at=m["asked_at"],
        expires_at=m["expires_at"],
        status=m["status"],
        to_account_id=m["to_account_id"],
        plan=tuple((int(item), int(minor)) for item, _, minor in steps),
    )


async def _loaded(conn: AsyncConnection, token: str, account: Account, on: date) -> RefundOffer:
    row = await _row(conn, token)
    assert row is not None
    return await _with_relatives(conn, _offer(row), account, on)


async def _with_relatives(
    conn: AsyncConnection, offer: RefundOffer, account: Account, on: date
) -> RefundOffer:
    return replace(offer, relatives=tuple(await owing_relatives(conn, account, on)))
