"""Finding an account from whatever the person asking has in hand.

A patient on the phone gives a name, a date, an account or record number, a phone
number; an insurer's letter or a bank statement names a payment by its reference (a
cheque number, the card processor's payment id); a statement or an invoice names an
entry (``T00000012``). Search takes any of these as typed and answers with the
accounts they point to (AR-082): by account number, medical record number (AR-049),
phone number, entry number, a posting's reference, last name, how the last name
sounds ("Jonson" finds "Johnson", AR-133, AR-134) or the guarantor's name (AR-136).

Each way is an index lookup, so a search stays quick over a hospital's whole list
(make bench). The best way an account matched decides its place: exact identifiers
first, then names; among equals the account with the newest activity comes first
(AR-051). Each result says how it matched.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from core.customers import name_key, phone_number
from core.db.metadata import MAX_ID
from core.errors import ValidationError
from core.ledger.accounts import folded
from core.ledger.model import entry_id_of
from core.ledger.tables import (
    ar_item,
    customer_account,
    customer_contact,
    journal_entry,
    journal_line,
)

WAYS = (
    "account number",
    "medical record number",
    "phone",
    "entry number",
    "reference",
    "last name",
    "sounds like",
    "guarantor",
)
"""How an account can match, best first: a result's ``matched_by``."""


@dataclass(frozen=True, slots=True)
class Found:
    account_id: int
    number: str
    name: str
    matched_by: str
    last_activity: date | None


async def search(
    conn: AsyncConnection,
    text: str,
    *,
    limit: int = 20,
    locations: frozenset[str] | None = None,
) -> list[Found]:
    """Accounts matching ``text`` in any of the :data:`WAYS`, best match first; only
    those of ``locations`` when given (before the limit is applied)."""
    rows = await conn.execute(search_statement(text, limit, locations))
    return [Found(r.id, r.number, r.name, WAYS[r.way], r.last_day) for r in rows]


def _prefix(column: ColumnElement[str], text: str) -> ColumnElement[bool]:
    """``column`` starts with ``text``, as a range so that an index serves it anywhere."""
    return (column >= text) & (column < text + "\U0010ffff")


def _way(name: str) -> Any:
    return literal(WAYS.index(name)).label("way")


def search_statement(
    text: str, limit: int, locations: frozenset[str] | None = None
) -> Select[Any]:
    """The one query behind :func:`search`: every way of matching, best match first."""
    query = " ".join(text.split())
    if len(query) < 2:
        raise ValidationError("type at least two characters to search")
    ca, g = customer_account, customer_account.alias("g")
    key = folded(query)
    # Equality on the value as typed and upper-cased (numbers and references are kept
    # as issued), prefixes as ranges: every way is an index lookup.
    exact = sorted({query, query.upper()})
    ways = [
        select(ca.c.id, _way("account number")).where(ca.c.number.in_(exact)),
        select(ca.c.id, _way("medical record number")).where(ca.c.mrn.in_(exact)),
        # Through the entry's lines, not its A/R items: a prepayment is held for the
        # patient on a line of its own, outside A/R.
        select(journal_line.c.customer_account_id, _way("reference"))
        .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
        .where(
            journal_entry.c.reference.in_(exact), journal_line.c.customer_account_id.is_not(None)
        ),
        select(ca.c.id, _way("last name")).where(_prefix(ca.c.sort_name, key)),
        select(ca.c.id, _way("guarantor"))
        .join(g, g.c.id == ca.c.guarantor_id)
        .where(_prefix(g.c.sort_name, key)),
    ]
    surname = query.split(" ")[0]
    if surname.isalpha():  # only words have a sound; "A0000123" does not
        ways.append(select(ca.c.id, _way("sounds like")).where(ca.c.name_key == name_key(surname)))
    if (entry := entry_id_of(query)) is not None and entry <= MAX_ID:
        ways.append(
            select(journal_line.c.customer_account_id, _way("entry number")).where(
                journal_line.c.entry_id == entry,
                journal_line.c.customer_account_id.is_not(None),
            )
        )
    with contextlib.suppress(ValidationError):  # not a phone number: no phone search
        ways.append(
            select(customer_contact.c.account_id, _way("phone")).where(
                customer_contact.c.kind == "phone",
                customer_contact.c.normalized == phone_number(query),
            )
        )
    hits = union_all(*ways).subquery("hits")
    best_sq = (
        select(hits.c.id, func.min(hits.c.way).label("way")).group_by(hits.c.id).subquery("best")
    )
    activity = (
        select(func.max(ar_item.c.effective_day))
        .where(ar_item.c.account_id == best_sq.c.id)
        .scalar_subquery()
    )
    statement = (
        select(ca.c.id, ca.c.number, ca.c.name, best_sq.c.way, activity.label("last_day"))
        .join(best_sq, best_sq.c.id == ca.c.id)
        .order_by(best_sq.c.way, activity.desc().nulls_last(), ca.c.id)
        .limit(limit)
    )
    if locations is not None:
        statement = statement.where(ca.c.location.in_(sorted(locations)))
    return statement
