"""Prepayments held for treatment, used up when the treatment is billed (AR-087, BI-07).

A patient pays ahead for a bundle of sessions, a package or treatment in general. The
money is held as a liability (patient prepayments), not as A/R: the patient owes
nothing yet. Each prepayment may name the service it is for. When a charge for that
service posts, the prepayment pays it in the same transaction (a prepayment for no
particular service pays any charge, after those held for the service); what is held
shows beside the balance until it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.billing.catalogue import service_code
from core.billing.tables import prepayment, prepayment_use, service
from core.db import Database, Tx
from core.errors import NotFound
from core.ledger.items import gl_balance
from core.ledger.model import AR_CONTROL, EntryDraft, ItemTerms, Line, PostedEntry
from core.ledger.posting import post_entry
from core.ledger.tables import journal_entry
from core.money import Money
from core.services import match_credit
from core.services.memos import receive_prepayment

PREPAYMENTS_GL = "2100"


@dataclass(frozen=True, slots=True)
class Held:
    entry_id: int
    service_code: str | None
    remaining_minor: int
    currency: str


async def prepay(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    amount: Money,
    on: date,
    key: str,
    method: str,
    service: str | None = None,
    reference: str | None = None,
    source: str = "staff",
) -> PostedEntry:
    """Money received ahead of a service (or of treatment in general), held until the
    charge posts."""
    code = service_code(service) if service else None
    if code is not None:
        await _require_service(db, code)

    async def hold(tx: Tx, entry: PostedEntry) -> None:
        await tx.conn.execute(
            prepayment.insert().values(
                entry_id=entry.id,
                account_id=account_id,
                service_code=code,
                amount_minor=amount.minor,
                currency=amount.currency,
                received_day=on,
            )
        )

    return await receive_prepayment(
        db,
        actor,
        account_id=account_id,
        amount=amount,
        on=on,
        key=key,
        method=method,
        reference=reference,
        source=source,
        then=hold,
    )


async def _require_service(db: Database, code: str) -> None:
    async with db.read() as conn:
        found = await conn.execute(select(service.c.code).where(service.c.code == code))
        if found.first() is None:
            raise NotFound(f"there is no service {code!r} in the catalogue")


async def held_prepayments(conn: AsyncConnection, account_ids: list[int]) -> dict[int, list[Held]]:
    """What each account still holds in prepayments, oldest first."""
    # A use that was reversed gave its money back to the prepayment it came from.
    reversal = journal_entry.alias("reversal")
    used = (
        select(
            prepayment_use.c.prepayment_entry_id.label("pid"),
            func.sum(prepayment_use.c.amount_minor).label("used"),
        )
        .where(~exists().where(reversal.c.reverses_id == prepayment_use.c.use_entry_id))
        .group_by(prepayment_use.c.prepayment_entry_id)
        .subquery()
    )
    rows = await conn.execute(
        select(
            prepayment.c.entry_id,
            prepayment.c.account_id,
            prepayment.c.service_code,
            prepayment.c.currency,
            (prepayment.c.amount_minor - func.coalesce(used.c.used, 0)).label("left"),
        )
        .outerjoin(used, used.c.pid == prepayment.c.entry_id)
        .where(prepayment.c.account_id.in_(account_ids))
        .order_by(prepayment.c.entry_id)
    )
    held: dict[int, list[Held]] = {}
    for r in rows:
        if r.left > 0:
            held.setdefault(r.account_id, []).append(
                Held(r.entry_id, r.service_code, int(r.left), r.currency)
            )
    # Prepayments used by hand (core.services.memos.use_prepayment) leave no use row:
    # never use more than the account still holds in the ledger, newest money first.
    for account_id, found in held.items():
        spare = sum(h.remaining_minor for h in found) + await gl_balance(
            conn, PREPAYMENTS_GL, account_id
        )
        for i in range(len(found) - 1, -1, -1):
            cut = min(spare, found[i].remaining_minor)
            if cut > 0:
                found[i] = replace(found[i], remaining_minor=found[i].remaining_minor - cut)
                spare -= cut
        # A prepayment used up by hand holds nothing: no bundle rate may apply for it.
        held[account_id] = [h for h in found if h.remaining_minor > 0]
    return held


async def use_held(
    tx: Tx,
    held: list[Held],
    *,
    account_id: int,
    item_id: int,
    wanted: dict[str, int],
    on: date,
    key: str,
    actor: str,
    source: str,
) -> int:
    """Pay the charge ``item_id`` from ``held`` prepayments: ``wanted`` maps service
    codes to what the account owes for them on this charge. Service-bound prepayments
    go first, then general ones. Returns what was used; ``held`` is updated in place."""
    used_total = 0
    for general in (False, True):
        for i, h in enumerate(held):
            if (h.service_code is None) != general:
                continue
            codes = sorted(wanted) if h.service_code is None else [h.service_code]
            for code in codes:
                part = min(held[i].remaining_minor, wanted.get(code, 0))
                if part <= 0:
                    continue
                sub_key = f"{key}/prepaid/{h.entry_id}/{code}"
                await _use(tx, h, account_id, item_id, part, on, sub_key, actor, source)
                wanted[code] -= part
                held[i] = replace(held[i], remaining_minor=held[i].remaining_minor - part)
                used_total += part
    return used_total


async def _use(
    tx: Tx,
    h: Held,
    account_id: int,
    item_id: int,
    minor: int,
    on: date,
    key: str,
    actor: str,
    source: str,
) -> None:
    amount = Money(minor, h.currency)
    draft = EntryDraft(
        entry_type="PREPAYMENT",
        effective_date=on,
        idempotency_key=key,
        actor=actor,
        source=source,
        memo="prepayment used",
        lines=(
            Line(PREPAYMENTS_GL, amount, account_id),
            Line(
                AR_CONTROL,
                -amount,
                account_id,
                ItemTerms(ref_item_id=item_id, description="prepayment used"),
            ),
        ),
    )
    entry = await post_entry(tx, draft)
    await tx.conn.execute(
        prepayment_use.insert().values(
            prepayment_entry_id=h.entry_id, use_entry_id=entry.id, amount_minor=minor
        )
    )
    await match_credit(tx, entry, item_id, minor, "prepayment")
