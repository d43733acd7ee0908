"""Draft billing records: services logged for a visit, reviewed and amended by staff,
then finalised into one posted invoice (BI-03, BI-04).

A draft is working paper, not money: its lines can be added, changed and removed
while it is a draft, and nothing of it reaches the ledger. Finalising posts the lines
through :func:`core.billing.charges.post_charges` and marks the draft final in the
same transaction, under the key ``draft/<id>``: pressing "finalise" twice posts once.
A final or void draft can no longer change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.billing.catalogue import service_code
from core.billing.charges import ChargeLine, Invoice, post_charges
from core.billing.invoice import Split
from core.billing.tables import charge_draft, charge_draft_line, service
from core.clock import today
from core.db import Database, Tx, inserted_id
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.model import PostedEntry
from core.money import Money


@dataclass(frozen=True, slots=True)
class Draft:
    id: int
    account_id: int
    status: str
    entry_id: int | None
    lines: tuple[tuple[int, ChargeLine], ...]
    """(draft line id, the line) in the order they were logged."""


def _splits_json(splits: tuple[Split, ...]) -> str:
    return json.dumps(
        [
            {
                "payer_account_id": s.payer_account_id,
                "percent_bp": s.percent_bp,
                "amount_minor": s.amount.minor if s.amount else None,
                "currency": s.amount.currency if s.amount else None,
            }
            for s in splits
        ]
    )


def _splits(text: str) -> tuple[Split, ...]:
    return tuple(
        Split(
            s["payer_account_id"],
            s["percent_bp"],
            Money(s["amount_minor"], s["currency"]) if s["amount_minor"] is not None else None,
        )
        for s in json.loads(text)
    )


async def _editable(tx: Tx, actor: Actor, draft_id: int) -> Account:
    """The draft's account, once the draft is known to be open for edits by ``actor``."""
    row = (
        await tx.conn.execute(
            select(charge_draft.c.account_id, charge_draft.c.status).where(
                charge_draft.c.id == draft_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"there is no draft {draft_id}")
    account = await load_account(tx.conn, account_id=row.account_id)
    require(actor, Permission.POST_CHARGE, account.location)
    if row.status != "draft":
        raise InvalidState(f"draft {draft_id} is {row.status} and can no longer change")
    # The update locks the draft, so a finalise running at the same time either sees
    # this change or waits and then refuses it.
    touched = await tx.conn.execute(
        charge_draft.update()
        .where(charge_draft.c.id == draft_id, charge_draft.c.status == "draft")
        .values(updated_at=tx.db.clock.now())
    )
    if touched.rowcount != 1:
        raise InvalidState(f"draft {draft_id} was finalised or voided meanwhile")
    return account


async def open_draft(db: Database, actor: Actor, *, account_id: int, note: str = "") -> int:
    """Start a draft billing record for ``account_id``; returns its id."""
    async with db.transaction() as tx:
        account = await load_account(tx.conn, account_id=account_id)
        require(actor, Permission.POST_CHARGE, account.location)
        now = tx.db.clock.now()
        draft_id = inserted_id(
            await tx.conn.execute(
                charge_draft.insert().values(
                    account_id=account_id,
                    created_at=now,
                    created_by=actor.label,
                    updated_at=now,
                    note=note.strip(),
                )
            )
        )
        tx.audit(actor.label, "staff", "draft.open", f"draft {draft_id}", account=account.number)
    return draft_id


async def _line_row(
    conn: AsyncConnection, line: ChargeLine, on: date, account: Account
) -> dict[str, object]:
    code = service_code(line.service_code)
    if (await conn.execute(select(service.c.code).where(service.c.code == code))).first() is None:
        raise NotFound(f"there is no service {code!r} in the catalogue")
    if line.quantity <= 0:
        raise ValidationError(f"quantity must be a whole number above zero, not {line.quantity}")
    if line.unit_price is not None and not (line.override_reason or "").strip():
        raise ValidationError(f"say why the price of {code} is overridden")
    if any(m.currency != account.currency for m in line.amounts):
        raise ValidationError(f"account {account.number} is kept in {account.currency}")
    return {
        "service_code": code,
        "quantity": line.quantity,
        "service_day": line.service_date or on,
        "doctor": line.doctor,
        "location": line.location,
        "unit_price_minor": line.unit_price.minor if line.unit_price else None,
        "override_reason": line.override_reason,
        "splits": _splits_json(line.splits),
    }


async def add_draft_line(db: Database, actor: Actor, draft_id: int, line: ChargeLine) -> int:
    """Log a service on the draft; returns the draft line's id."""
    async with db.transaction() as tx:
        account = await _editable(tx, actor, draft_id)
        row = await _line_row(tx.conn, line, today(tx.db.clock), account)
        line_id = inserted_id(
            await tx.conn.execute(charge_draft_line.insert().values(draft_id=draft_id, **row))
        )
        tx.audit(
            actor.label,
            "staff",
            "draft.add",
            f"draft {draft_id}",
            service=row["service_code"],
            quantity=line.quantity,
        )
    return line_id


async def amend_draft_line(
    db: Database, actor: Actor, draft_id: int, line_id: int, line: ChargeLine
) -> None:
    """Replace a logged line (another service, quantity, price with its reason ...)."""
    async with db.transaction() as tx:
        account = await _editable(tx, actor, draft_id)
        row = await _line_row(tx.conn, line, today(tx.db.clock), account)
        changed = await tx.conn.execute(
            charge_draft_line.update()
            .where(charge_draft_line.c.id == line_id, charge_draft_line.c.draft_id == draft_id)
            .values(**row)
        )
        if changed.rowcount != 1:
            raise NotFound(f"draft {draft_id} has no line {line_id}")
        tx.audit(
            actor.label,
            "staff",
            "draft.amend",
            f"draft {draft_id}",
            line=line_id,
            service=row["service_code"],
            quantity=line.quantity,
        )


async def remove_draft_line(db: Database, actor: Actor, draft_id: int, line_id: int) -> None:
    async with db.transaction() as tx:
        await _editable(tx, actor, draft_id)
        gone = await tx.conn.execute(
            charge_draft_line.delete().where(
                charge_draft_line.c.id == line_id, charge_draft_line.c.draft_id == draft_id
            )
        )
        if gone.rowcount != 1:
            raise NotFound(f"draft {draft_id} has no line {line_id}")
        tx.audit(actor.label, "staff", "draft.remove", f"draft {draft_id}", line=line_id)


async def load_draft(conn: AsyncConnection, draft_id: int) -> Draft:
    head = (await conn.execute(select(charge_draft).where(charge_draft.c.id == draft_id))).first()
    if head is None:
        raise NotFound(f"there is no draft {draft_id}")
    rows = await conn.execute(
        select(charge_draft_line)
        .where(charge_draft_line.c.draft_id == draft_id)
        .order_by(charge_draft_line.c.id)
    )
    currency = (await load_account(conn, account_id=head.account_id)).currency
    lines = []
    for r in rows:
        price = None if r.unit_price_minor is None else Money(r.unit_price_minor, currency)
        line = ChargeLine(
            r.service_code,
            r.quantity,
            r.service_day,
            r.doctor,
            r.location,
            price,
            r.override_reason,
            _splits(r.splits),
        )
        lines.append((r.id, line))
    return Draft(head.id, head.account_id, head.status, head.entry_id, tuple(lines))


async def finalise_draft(db: Database, actor: Actor, draft_id: int) -> Invoice:
    """Post the draft as one invoice and mark it final, in one transaction."""
    async with db.read() as conn:
        draft = await load_draft(conn, draft_id)
    if draft.status == "void":
        raise InvalidState(f"draft {draft_id} is void")
    if not draft.lines and draft.status == "draft":
        raise ValidationError(f"draft {draft_id} has no lines to post")

    async def mark_final(tx: Tx, entry: PostedEntry) -> None:
        done = await tx.conn.execute(
            charge_draft.update()
            .where(charge_draft.c.id == draft_id, charge_draft.c.status == "draft")
            .values(
                status="final",
                entry_id=entry.id,
                finalised_by=actor.label,
                updated_at=tx.db.clock.now(),
            )
        )
        # Re-read after the update has locked the draft: lines changed since they were
        # priced would leave a final draft that says something its invoice does not.
        if done.rowcount != 1 or (await load_draft(tx.conn, draft_id)).lines != draft.lines:
            raise InvalidState(f"draft {draft_id} changed while it was being finalised")
        tx.audit(actor.label, "staff", "draft.finalise", f"draft {draft_id}", entry=entry.number)

    return await post_charges(
        db,
        actor,
        account_id=draft.account_id,
        lines=[line for _, line in draft.lines],
        key=f"draft/{draft_id}",
        then=mark_final,
    )


async def void_draft(db: Database, actor: Actor, draft_id: int, *, reason: str) -> None:
    """Drop a draft that should never be billed; it stays on file as void."""
    if not reason.strip():
        raise ValidationError("say why the draft is voided")
    async with db.transaction() as tx:
        await _editable(tx, actor, draft_id)
        await tx.conn.execute(
            charge_draft.update().where(charge_draft.c.id == draft_id).values(status="void")
        )
        tx.audit(actor.label, "staff", "draft.void", f"draft {draft_id}", reason=reason.strip())
