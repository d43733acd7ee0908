"""User-defined entry types and reason codes (AR-076).

An office may add its own entry types (each behaving as one of the ledger's kinds)
and reason codes; codes in use are never deleted, only made inactive elsewhere.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from core.auth import Actor, Permission, require
from core.db import Database
from core.errors import ValidationError
from core.ledger.model import Kind
from core.ledger.tables import entry_type, reason_code


def _code(code: str) -> str:
    cleaned = code.strip().upper()
    if not cleaned or len(cleaned) > 30 or not cleaned.replace("_", "").isalnum():
        raise ValidationError(f"{code!r} is not a code: use 1-30 letters, digits or _")
    return cleaned


async def define_entry_type(
    db: Database, actor: Actor, *, code: str, kind: str, description: str
) -> str:
    require(actor, Permission.CLOSE_PERIOD)
    try:
        behaves = Kind(kind)
    except ValueError as exc:
        kinds = ", ".join(k.value for k in Kind)
        raise ValidationError(f"{kind!r} is not a kind of entry; use one of {kinds}") from exc
    code = _code(code)
    async with db.transaction() as tx:
        try:
            await tx.conn.execute(
                entry_type.insert().values(code=code, kind=behaves.value, description=description)
            )
        except IntegrityError as exc:
            raise ValidationError(f"entry type {code} already exists") from exc
        tx.audit(actor.label, "admin", "code.entry_type", code, kind=kind, description=description)
    return code


async def define_reason_code(
    db: Database, actor: Actor, *, code: str, description: str, kind: str | None = None
) -> str:
    require(actor, Permission.CLOSE_PERIOD)
    if kind is not None:
        Kind(kind)
    code = _code(code)
    async with db.transaction() as tx:
        try:
            await tx.conn.execute(
                reason_code.insert().values(code=code, description=description, kind=kind)
            )
        except IntegrityError as exc:
            raise ValidationError(f"reason code {code} already exists") from exc
        tx.audit(actor.label, "admin", "code.reason", code, kind=kind, description=description)
    return code
