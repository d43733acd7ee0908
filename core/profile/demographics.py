"""Edits to who the patient is: names, date of birth, language, classes, location.

Only the fields given change; the audit record carries each changed field's before
and after (AR-039), except the date of birth, of which it says only that it changed:
the trail keeps no more patient data than it needs.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from core.auth import Actor, Permission, require
from core.clock import today
from core.customers import language_tag, name_key
from core.db import Database
from core.errors import ValidationError
from core.ledger.accounts import sort_name
from core.ledger.tables import customer_account
from core.profile.common import account_to_change, class_code, source_of


def _name(text: str, what: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned or len(cleaned) > 100:
        raise ValidationError(f"a {what} needs 1 to 100 characters")
    return cleaned


def checked_edits(given: dict[str, Any], born_before: date) -> dict[str, Any]:
    """``given`` as :func:`update_customer` writes it: names trimmed, the language a
    known tag, codes upper-cased; a field that cannot be written so is refused here,
    before anything is read or written (a form checks each field on its own)."""
    edits = dict(given)
    for field in ("last_name", "first_name"):
        if field in edits:
            edits[field] = _name(edits[field], field.replace("_", " "))
    born = edits.get("date_of_birth")
    if born is not None and not date(1900, 1, 1) <= born <= born_before:
        raise ValidationError(f"{born} is not a plausible date of birth")
    if "language" in edits:
        edits["language"] = language_tag(edits["language"])
    if "financial_class" in edits:
        edits["financial_class"] = class_code(edits["financial_class"], "financial class")
    if "location" in edits:
        edits["location"] = class_code(edits["location"], "location")
    if "patient_type" in edits:
        edits["patient_type"] = edits["patient_type"].strip().upper()
        if edits["patient_type"] not in ("IP", "OP"):
            raise ValidationError(f"{given['patient_type']!r} is not a patient type; use IP or OP")
    return edits


def _names(row: Any, changed: dict[str, Any], number: str) -> dict[str, str]:
    """The display name, sort name and phonetic key after a change of names."""
    if "last_name" not in changed and "first_name" not in changed:
        return {}
    last = changed.get("last_name", row["last_name"])
    if last is None:
        raise ValidationError(f"account {number} has no last name on file: give the last name too")
    name = f"{changed.get('first_name', row['first_name']) or ''} {last}".strip()
    return {"name": name, "sort_name": sort_name(name), "name_key": name_key(last)}


async def update_customer(
    db: Database,
    actor: Actor,
    account_id: int,
    *,
    last_name: str | None = None,
    first_name: str | None = None,
    date_of_birth: date | None = None,
    language: str | None = None,
    financial_class: str | None = None,
    patient_type: str | None = None,
    location: str | None = None,
) -> tuple[str, ...]:
    """Change the fields given (None leaves a field as it is) and return those that
    changed. The name, sort name and phonetic key follow the names (AR-039). The audit
    record carries each changed field's before and after, except the date of birth,
    of which it says only that it changed."""
    given = {
        k: v
        for k, v in {
            "last_name": last_name,
            "first_name": first_name,
            "date_of_birth": date_of_birth,
            "language": language,
            "financial_class": financial_class,
            "patient_type": patient_type,
            "location": location,
        }.items()
        if v is not None
    }
    if not given:
        raise ValidationError("say what to change: a name, date of birth, language, ...")
    edits = checked_edits(given, today(db.clock))
    async with db.transaction() as tx:
        account = await account_to_change(tx, actor, account_id)
        if "location" in edits:
            require(actor, Permission.MANAGE_ACCOUNTS, edits["location"])
        row = (
            (
                await tx.conn.execute(
                    select(customer_account).where(customer_account.c.id == account_id)
                )
            )
            .mappings()
            .one()
        )
        changed = {k: v for k, v in edits.items() if row[k] != v}
        if not changed:
            return ()
        values = changed | _names(row, changed, account.number)
        await tx.conn.execute(
            customer_account.update().where(customer_account.c.id == account_id).values(values)
        )
        detail: dict[str, Any] = {
            k: "changed" if k == "date_of_birth" else {"before": row[k], "after": v}
            for k, v in changed.items()
        }
        tx.audit(
            actor.label, source_of(actor), "customer.update", f"account {account.number}", **detail
        )
    return tuple(changed)
