"""Builders and probes shared by the profile tests."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import Table, func, select

from core.clock import today
from core.customers import NewCustomer, register_customer
from core.db import Database
from core.db.audit import audit_log
from core.ledger.accounts import Account
from core.ledger.tables import (
    chat_link,
    credit_profile,
    customer_account,
    customer_address,
    customer_note,
    customer_relationship,
)
from tests.core.helpers import ADMIN

PROFILE_TABLES: tuple[Table, ...] = (
    credit_profile,
    customer_address,
    customer_note,
    customer_relationship,
    chat_link,
    audit_log,
)


async def person(db: Database, last: str, first: str = "Ana", **kw: Any) -> Account:
    return await register_customer(
        db, ADMIN, NewCustomer(last_name=last, first_name=first, currency="USD", **kw)
    )


def on_day(db: Database) -> date:
    """Today as the services see it (the fixture's clock, the system's zone)."""
    return today(db.clock)


async def counts(db: Database) -> dict[str, int]:
    """Rows in every table a profile change writes to, and the account rows' content."""
    async with db.read() as conn:
        found = {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for t in PROFILE_TABLES
        }
        accounts = (await conn.execute(select(customer_account).order_by("id"))).all()
    found["customer_account"] = hash(tuple(tuple(r) for r in accounts))
    return found


async def last_audit(db: Database, action: str) -> tuple[str, dict[str, Any]]:
    """The newest audit record of ``action``: its raw detail text and the detail."""
    async with db.read() as conn:
        raw = (
            await conn.execute(
                select(audit_log.c.detail)
                .where(audit_log.c.action == action)
                .order_by(audit_log.c.seq.desc())
                .limit(1)
            )
        ).scalar_one()
    return raw, json.loads(raw)
