"""Assigning collectors and setting, closing and snoozing follow-up flags (AR-045,
AR-101, AR-100)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.auth import Actor, Permission, require
from core.clock import today
from core.db import Database, inserted_id
from core.errors import InvalidState, PermissionDenied, ValidationError
from core.ledger.accounts import load_account
from core.ledger.items import lock_account
from core.worklists.model import (
    Collector,
    Flag,
    FlagStatus,
    check_due,
    collector_assignment,
    collector_of,
    follow_up,
    load_flag,
    note_text,
)


async def assign_collector(
    db: Database, actor: Actor, *, account_id: int, collector: Actor | None
) -> Collector | None:
    """Give the account to ``collector`` (None: to nobody). Needs ``manage_accounts``
    at the account's location; the collector must be able to collect there
    (``follow_up``). Open flags move to the new collector with the account. Assigning
    the collector it has already writes nothing (a Slack retry, say)."""
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
    require(actor, Permission.MANAGE_ACCOUNTS, account.location)
    if collector is not None:
        if collector.kind != "staff":
            raise ValidationError("only a staff user can collect an account")
        try:
            require(collector, Permission.FOLLOW_UP, account.location)
        except PermissionDenied as exc:
            raise ValidationError(
                f"{collector.name} cannot collect accounts of location "
                f"{account.location!r} ({exc})"
            ) from None
    staff_id = int(collector.id) if collector is not None else None
    async with db.transaction() as tx:
        # Read under the account's lock: two retries of one request write once.
        await lock_account(tx, account.id)
        current = await collector_of(tx.conn, account.id)
        if (current.staff_id if current else None) == staff_id:
            return current  # already so (a Slack retry, say): nothing to write
        await tx.conn.execute(
            collector_assignment.insert().values(
                account_id=account.id, staff_id=staff_id, at=db.clock.now(), actor=actor.label
            )
        )
        if staff_id is not None:
            await tx.conn.execute(
                follow_up.update()
                .where(
                    follow_up.c.account_id == account.id,
                    follow_up.c.status == FlagStatus.OPEN.value,
                )
                .values(staff_id=staff_id)
            )
        tx.audit(
            actor.label,
            "staff",
            "account.collector",
            f"account {account.number}",
            collector=collector.label if collector else None,
        )
    return None if collector is None else Collector(staff_id or 0, collector.name, None)


async def flag_follow_up(
    db: Database, actor: Actor, *, account_id: int, due: date, note: str, key: str
) -> Flag:
    """Flag the account for follow-up on ``due`` (AR-101), for its collector or, with
    none, for ``actor``. Needs ``follow_up`` at the account's location. Once per
    ``key``: a replay returns the flag first set."""
    note = note_text(note, "note")
    if not note:
        raise ValidationError("say what to follow up in a note")
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        require(actor, Permission.FOLLOW_UP, account.location)
        owner = await collector_of(conn, account.id)
    check_due(due, today(db.clock))
    if actor.kind != "staff" and owner is None:
        raise ValidationError("the account has no collector to flag it for")
    staff_id = owner.staff_id if owner is not None else int(actor.id)
    try:
        async with db.transaction() as tx:
            inserted = await tx.conn.execute(
                follow_up.insert().values(
                    account_id=account.id,
                    staff_id=staff_id,
                    due_day=due,
                    note=note,
                    request_key=key,
                    created_at=db.clock.now(),
                    actor=actor.label,
                )
            )
            flag_id = inserted_id(inserted)
            tx.audit(
                actor.label, "staff", "account.follow_up", f"account {account.number}",
                due=due.isoformat(),
            )  # fmt: skip
    except IntegrityError:
        async with db.read() as conn:
            found = await conn.execute(
                select(follow_up.c.id).where(follow_up.c.request_key == key)
            )
            flag_id = found.scalar_one()
    async with db.read() as conn:
        return await load_flag(conn, flag_id)


async def _may_change(db: Database, actor: Actor, flag_id: int) -> Flag:
    async with db.read() as conn:
        flag = await load_flag(conn, flag_id)
    if not (actor.kind == "staff" and int(actor.id) == flag.owner.staff_id):
        require(actor, Permission.MANAGE_ACCOUNTS, flag.location)
    return flag


async def close_follow_up(db: Database, actor: Actor, flag_id: int, outcome: str = "") -> Flag:
    """Mark a flag done, with what came of it; by its owner or a manager of accounts at
    the location. Closing a closed flag changes nothing and says so."""
    outcome = note_text(outcome, "outcome")
    flag = await _may_change(db, actor, flag_id)
    async with db.transaction() as tx:
        done = await tx.conn.execute(
            follow_up.update()
            .where(follow_up.c.id == flag_id, follow_up.c.status == FlagStatus.OPEN.value)
            .values(
                status=FlagStatus.DONE.value,
                outcome=outcome,
                closed_at=db.clock.now(),
                closed_by=actor.label,
            )
        )
        if done.rowcount != 1:
            raise InvalidState(f"the follow-up on {flag.number} was already done")
        tx.audit(actor.label, "staff", "follow_up.done", f"account {flag.number}")
    async with db.read() as conn:
        return await load_flag(conn, flag_id)


async def snooze_follow_up(db: Database, actor: Actor, flag_id: int, until: date) -> Flag:
    """Move an open flag's review date to ``until`` (AR-100)."""
    flag = await _may_change(db, actor, flag_id)
    if flag.status is not FlagStatus.OPEN:
        raise InvalidState(f"the follow-up on {flag.number} was already done")
    async with db.transaction() as tx:
        await tx.conn.execute(
            follow_up.update().where(follow_up.c.id == flag_id).values(due_day=until)
        )
        tx.audit(
            actor.label, "staff", "follow_up.snooze", f"account {flag.number}",
            until=until.isoformat(),
        )  # fmt: skip
    async with db.read() as conn:
        return await load_flag(conn, flag_id)
