"""Who answers for an account: guarantor, employer, institution, insurer (AR-041).

Relationships nest (patient -> guarantor -> employer ...), each account with its own
credit profile. They are dated; ending one sets its last day and nothing is deleted.
A loop, an account ending up answering for itself, is refused.

``customer_account.guarantor_id`` stays the account's current guarantor: search and
the guarantor ATB read it as one indexed column, where dated rows would cost a range
query per account. :func:`relate` and :func:`end_relationship` keep it in step, which
is why a guarantor link starts on or before today and ends before today: a change
dated later would leave the column stale until someone touched the account again.
An account opened with a ``guarantor_id`` and no guarantor rows (``create_account``,
bulk import) counts as guaranteed by it, without dates; its first change writes that
link down as a row before replacing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, exists, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.clock import today
from core.db import Database, Tx, inserted_id
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.tables import customer_account, customer_relationship
from core.profile.common import account_to_change, covering, source_of
from core.profile.credit import CreditProfile, credit_profile_of

RELATIONSHIP_KINDS = ("guarantor", "employer", "institution", "insurer")
CHAIN_ORDER = ("guarantor", "employer", "institution")
"""Whom the chain follows from each account, first present first; insurers pay claims,
they do not answer for the balance."""
MAX_DEPTH = 10
_GRAPH_LOCK = 0x0A8B08  # pg_advisory_xact_lock key: one change to the graph at a time

cr, ca = customer_relationship, customer_account


@dataclass(frozen=True, slots=True)
class Relationship:
    id: int | None
    """None for a guarantor known only from ``customer_account.guarantor_id``."""
    account_id: int
    related_account_id: int
    kind: str
    effective_from: date | None
    effective_to: date | None


@dataclass(frozen=True, slots=True)
class Responsible:
    """One level of a responsibility chain: the account, how it is related to the level
    below (None for the first), and its own credit profile on the day asked."""

    account: Account
    via: str | None
    credit: CreditProfile | None


def _no_guarantor_rows() -> ColumnElement[bool]:
    return ~exists().where(cr.c.account_id == ca.c.id, cr.c.kind == "guarantor")


async def _legacy_guarantor(conn: AsyncConnection, account_id: int) -> int | None:
    """The guarantor an account has only in ``customer_account.guarantor_id``."""
    query = select(ca.c.guarantor_id).where(ca.c.id == account_id, _no_guarantor_rows())
    found = (await conn.execute(query)).scalar()
    return None if found is None else int(found)


async def relationships_of(conn: AsyncConnection, account_id: int, on: date) -> list[Relationship]:
    """The account's relationships in force on ``on``, by kind, newest first."""
    rows = await conn.execute(
        select(cr)
        .where(cr.c.account_id == account_id, covering(cr.c.effective_from, cr.c.effective_to, on))
        .order_by(cr.c.kind, cr.c.id.desc())
    )
    found = [
        Relationship(
            r.id, r.account_id, r.related_account_id, r.kind, r.effective_from, r.effective_to
        )
        for r in rows
    ]
    legacy = await _legacy_guarantor(conn, account_id)
    if legacy is not None:
        found.insert(0, Relationship(None, account_id, legacy, "guarantor", None, None))
    return found


async def responsibility_chain(
    conn: AsyncConnection, account_id: int, on: date
) -> list[Responsible]:
    """The account and, level by level, who answers for it on ``on``: the guarantor,
    else an employer, else an institution, and from there on up (AR-041)."""
    chain: list[Responsible] = []
    current: int | None = account_id
    via: str | None = None
    seen: set[int] = set()
    while current is not None and current not in seen and len(chain) < MAX_DEPTH:
        seen.add(current)
        account = await load_account(conn, account_id=current)
        chain.append(Responsible(account, via, await credit_profile_of(conn, current, on)))
        links = [r for r in await relationships_of(conn, current, on) if r.kind in CHAIN_ORDER]
        best = min(links, key=lambda r: CHAIN_ORDER.index(r.kind), default=None)
        current, via = (best.related_account_id, best.kind) if best else (None, None)
    return chain


async def guarantees(conn: AsyncConnection, guarantor_account_id: int, on: date) -> list[int]:
    """Every account ``guarantor_account_id`` is the guarantor of on ``on``."""
    dated = select(cr.c.account_id).where(
        cr.c.related_account_id == guarantor_account_id,
        cr.c.kind == "guarantor",
        covering(cr.c.effective_from, cr.c.effective_to, on),
    )
    legacy = select(ca.c.id).where(ca.c.guarantor_id == guarantor_account_id, _no_guarantor_rows())
    return sorted({r[0] for r in await conn.execute(union_all(dated, legacy))})


async def _loop_through(
    conn: AsyncConnection, start: int, target: int, starts: date
) -> list[int] | None:
    """The accounts by which ``start`` already answers upward to ``target`` on some day
    from ``starts`` on (walked one level per query), or None."""
    below: dict[int, int | None] = {start: None}
    frontier = {start}
    while frontier:
        rows = await conn.execute(
            union_all(
                select(cr.c.account_id, cr.c.related_account_id).where(
                    cr.c.account_id.in_(frontier),
                    or_(cr.c.effective_to.is_(None), cr.c.effective_to >= starts),
                ),
                select(ca.c.id, ca.c.guarantor_id).where(
                    ca.c.id.in_(frontier), ca.c.guarantor_id.is_not(None), _no_guarantor_rows()
                ),
            )
        )
        frontier = set()
        for lower, upper in rows:
            if upper in below:
                continue
            below[upper] = lower
            if upper == target:
                path, step = [], upper
                while step is not None:
                    path.append(step)
                    step = below[step]
                return path[::-1]
            frontier.add(upper)
    return None


def _check_kind(kind: str) -> None:
    if kind not in RELATIONSHIP_KINDS:
        raise ValidationError(
            f"{kind!r} is not a relationship; use one of {', '.join(RELATIONSHIP_KINDS)}"
        )


async def relate(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    related_account_id: int,
    kind: str,
    effective_from: date,
) -> int:
    """Record that ``related_account_id`` is the ``kind`` of ``account_id`` from
    ``effective_from`` on (AR-041). A new guarantor ends the current one the day before."""
    _check_kind(kind)
    if account_id == related_account_id:
        raise ValidationError(f"an account cannot be its own {kind}")
    if kind == "guarantor" and effective_from > today(db.clock):
        raise ValidationError("a guarantor takes over from today or an earlier day, not later")
    async with db.transaction() as tx:
        if tx.is_postgres:
            await tx.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _GRAPH_LOCK})
        account = await account_to_change(tx, actor, account_id)
        related = await load_account(tx.conn, account_id=related_account_id)
        await _refuse_loop(tx.conn, account, related, kind, effective_from)
        if kind == "guarantor":
            await _replace_guarantor(tx, actor, account, related, effective_from)
        else:
            await _refuse_duplicate(tx.conn, account, related, kind, effective_from)
        link_id = inserted_id(
            await tx.conn.execute(
                cr.insert().values(
                    account_id=account.id,
                    related_account_id=related.id,
                    kind=kind,
                    effective_from=effective_from,
                    at=tx.db.clock.now(),
                    actor=actor.label,
                )
            )
        )
        if kind == "guarantor":
            await tx.conn.execute(
                ca.update().where(ca.c.id == account.id).values(guarantor_id=related.id)
            )
        tx.audit(
            actor.label,
            source_of(actor),
            "customer.relate",
            f"account {account.number}",
            related=related.number,
            kind=kind,
            effective_from=effective_from.isoformat(),
        )
    return link_id


async def _refuse_loop(
    conn: AsyncConnection, account: Account, related: Account, kind: str, starts: date
) -> None:
    path = await _loop_through(conn, related.id, account.id, starts)
    if path is None:
        return
    rows = await conn.execute(select(ca.c.id, ca.c.number).where(ca.c.id.in_(path)))
    numbers = {r.id: r.number for r in rows}
    loop = " -> ".join(numbers[i] for i in [account.id, *path])
    raise ValidationError(
        f"{related.number} cannot be the {kind} of {account.number}: it would make a loop ({loop})"
    )


async def _refuse_duplicate(
    conn: AsyncConnection, account: Account, related: Account, kind: str, starts: date
) -> None:
    same = select(cr.c.id).where(
        cr.c.account_id == account.id,
        cr.c.related_account_id == related.id,
        cr.c.kind == kind,
        or_(cr.c.effective_to.is_(None), cr.c.effective_to >= starts),
    )
    if (await conn.execute(same)).first() is not None:
        raise InvalidState(f"{related.number} is already the {kind} of {account.number}")


async def _replace_guarantor(
    tx: Tx, actor: Actor, account: Account, related: Account, starts: date
) -> None:
    """End the current guarantor the day before ``starts``; one guarantor a day."""
    latest = (
        await tx.conn.execute(
            select(cr)
            .where(cr.c.account_id == account.id, cr.c.kind == "guarantor")
            .order_by(cr.c.effective_from.desc(), cr.c.id.desc())
            .limit(1)
        )
    ).first()
    if latest is None:
        if account.guarantor_id == related.id:
            raise InvalidState(f"{related.number} is already the guarantor of {account.number}")
        if account.guarantor_id is not None:
            await _write_down_legacy(tx, actor, account, starts - timedelta(days=1))
        return
    if latest.effective_to is None:
        if latest.related_account_id == related.id:
            raise InvalidState(f"{related.number} is already the guarantor of {account.number}")
        if latest.effective_from >= starts:
            raise ValidationError(
                f"the current guarantor of {account.number} applies from "
                f"{latest.effective_from}; a new one must start after that"
            )
        await tx.conn.execute(
            cr.update().where(cr.c.id == latest.id).values(effective_to=starts - timedelta(days=1))
        )
    elif latest.effective_to >= starts:
        raise ValidationError(
            f"the last guarantor of {account.number} applied until {latest.effective_to}; "
            "a new one must start after that"
        )


async def _write_down_legacy(tx: Tx, actor: Actor, account: Account, last_day: date) -> None:
    """Turn a guarantor known only from the column into a row ending on ``last_day``."""
    opened = (
        await tx.conn.execute(select(ca.c.created_at).where(ca.c.id == account.id))
    ).scalar_one()
    if opened.date() > last_day:
        return
    await tx.conn.execute(
        cr.insert().values(
            account_id=account.id,
            related_account_id=account.guarantor_id,
            kind="guarantor",
            effective_from=opened.date(),
            effective_to=last_day,
            at=tx.db.clock.now(),
            actor=actor.label,
        )
    )


async def end_relationship(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    related_account_id: int,
    kind: str,
    last_day: date,
) -> None:
    """End the open relationship; ``last_day`` is the last day it applies. A guarantor's
    last day is before today: from today the account has no guarantor."""
    _check_kind(kind)
    if kind == "guarantor" and last_day >= today(db.clock):
        raise ValidationError("a guarantor's last day must be before today")
    async with db.transaction() as tx:
        account = await account_to_change(tx, actor, account_id)
        related = await load_account(tx.conn, account_id=related_account_id)
        row = (
            await tx.conn.execute(
                select(cr).where(
                    cr.c.account_id == account.id,
                    cr.c.related_account_id == related.id,
                    cr.c.kind == kind,
                    cr.c.effective_to.is_(None),
                )
            )
        ).first()
        if (
            kind == "guarantor"
            and row is None
            and related.id == await _legacy_guarantor(tx.conn, account.id)
        ):
            await _write_down_legacy(tx, actor, account, last_day)
        elif row is None:
            raise NotFound(f"{related.number} is not the {kind} of {account.number}")
        elif last_day < row.effective_from:
            raise ValidationError(
                f"the relationship started on {row.effective_from}, after {last_day}"
            )
        else:
            await tx.conn.execute(
                cr.update().where(cr.c.id == row.id).values(effective_to=last_day)
            )
        if kind == "guarantor":
            await tx.conn.execute(
                ca.update().where(ca.c.id == account.id).values(guarantor_id=None)
            )
        tx.audit(
            actor.label,
            source_of(actor),
            "customer.unrelate",
            f"account {account.number}",
            related=related.number,
            kind=kind,
            last_day=last_day.isoformat(),
        )
