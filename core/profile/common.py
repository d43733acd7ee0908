"""What every part of the profile shares: who may change an account, and codes."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, or_

from core.auth import Actor, Permission, require
from core.db import Tx
from core.errors import ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.items import lock_account

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")


def source_of(actor: Actor) -> str:
    """The audit trail's source for ``actor``: staff work comes from the staff channel."""
    return "staff" if actor.kind == "staff" else actor.kind


def class_code(text: str, what: str, longest: int = 30) -> str:
    """A classification code (financial class, risk class, location): lower-case letters,
    digits, ``_`` and ``-`` (AR-044)."""
    cleaned = text.strip().lower()
    if not CODE.match(cleaned) or len(cleaned) > longest:
        raise ValidationError(
            f"{text!r} is not a {what}: use 1-{longest} letters, digits, _ or - (self_pay, north)"
        )
    return cleaned


async def account_to_change(tx: Tx, actor: Actor, account_id: int) -> Account:
    """The account, locked, once ``actor`` may manage accounts at its location."""
    await lock_account(tx, account_id)
    account = await load_account(tx.conn, account_id=account_id)
    require(actor, Permission.MANAGE_ACCOUNTS, account.location)
    return account


def covering(start: Any, end: Any, on: date) -> ColumnElement[bool]:
    """``on`` lies between the ``start`` and ``end`` days (the last day; NULL: open)."""
    result: ColumnElement[bool] = (start <= on) & or_(end.is_(None), end >= on)
    return result
