"""Fiscal periods: once closed, nothing more posts into them (AR-123)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.auth import Actor, Permission, require
from core.db import Database
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.tables import fiscal_period


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    start: date
    end: date
    closed: bool


async def open_period(db: Database, actor: Actor, *, name: str, start: date, end: date) -> Period:
    require(actor, Permission.CLOSE_PERIOD)
    if end < start:
        raise ValidationError(f"period {name} ends ({end}) before it starts ({start})")
    async with db.transaction() as tx:
        try:
            await tx.conn.execute(
                fiscal_period.insert().values(name=name, start_day=start, end_day=end)
            )
        except IntegrityError as exc:
            raise ValidationError(f"there is already a period named {name}") from exc
        overlap = (
            await tx.conn.execute(
                select(fiscal_period.c.name).where(
                    fiscal_period.c.name != name,
                    fiscal_period.c.start_day <= end,
                    fiscal_period.c.end_day >= start,
                )
            )
        ).scalar()
        if overlap:
            raise ValidationError(f"period {name} overlaps period {overlap}")
        tx.audit(
            actor.label,
            "admin",
            "period.open",
            f"period {name}",
            start=start.isoformat(),
            end=end.isoformat(),
        )
    return Period(name, start, end, False)


async def close_period(db: Database, actor: Actor, *, name: str) -> Period:
    """Close a period; later postings dated inside it are refused by the database."""
    require(actor, Permission.CLOSE_PERIOD)
    async with db.transaction() as tx:
        row = (
            (await tx.conn.execute(select(fiscal_period).where(fiscal_period.c.name == name)))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"there is no fiscal period {name}")
        if row["closed_at"] is not None:
            raise InvalidState(f"period {name} is already closed")
        await tx.conn.execute(
            fiscal_period.update()
            .where(fiscal_period.c.name == name)
            .values(closed_at=tx.db.clock.now(), closed_by=actor.label)
        )
        tx.audit(actor.label, "admin", "period.close", f"period {name}")
    return Period(name, row["start_day"], row["end_day"], True)
