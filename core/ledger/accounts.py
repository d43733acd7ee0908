"""Customer accounts as the ledger sees them: the subledger that A/R items belong to.

The full master data (addresses, contacts, guarantor chains, consent) builds on this
table; the ledger needs only who the account is, its currency and where it is kept.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Tx, inserted_id
from core.errors import NotFound, ValidationError
from core.ledger.tables import customer_account, payment_terms
from core.money import currency_exponent

CUSTOMER_TYPES = (
    "patient",
    "guarantor",
    "employee",
    "business",
    "education",
    "government",
    "insurer",
    "other",
)
"""Who a customer is, as a code (AR-030): dunning writes to people, bills the others."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    number: str
    name: str
    customer_type: str
    currency: str
    financial_class: str
    location: str
    patient_type: str | None
    guarantor_id: int | None
    terms_code: str
    net_days: int


_UNMARKED = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ı": "i", "æ": "ae",
                           "œ": "oe", "þ": "th", "ħ": "h", "ŧ": "t"})  # fmt: skip
"""Letters that are another letter with a mark but do not decompose into it."""


def folded(text: str) -> str:
    """``text`` as search compares it: casefolded, each letter without its marks
    ("Muñoz" and "MUNOZ" are both ``munoz``, "Wałęsa" is ``walesa``), so staff find a
    name however they type it."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_UNMARKED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def sort_name(name: str) -> str:
    """``"Ana María López"`` sorts as ``"lopez ana maria"``; ``"López, Ana"`` is kept in
    its order. Folded (:func:`folded`): it is what a search by name looks up."""
    cleaned = " ".join(name.split())
    if "," in cleaned:
        return folded(cleaned)
    *first, last = cleaned.split(" ")
    return folded(" ".join([last, *first]))


async def load_account(
    conn: AsyncConnection, *, account_id: int | None = None, number: str | None = None
) -> Account:
    query = select(customer_account, payment_terms.c.net_days).join(
        payment_terms, payment_terms.c.code == customer_account.c.terms_code
    )
    if account_id is not None:
        query = query.where(customer_account.c.id == account_id)
    else:
        query = query.where(customer_account.c.number == number)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"there is no account {number if account_id is None else account_id}")
    return account_from_row(row)


def account_from_row(row: Mapping[Any, Any]) -> Account:
    """An :class:`Account` from a ``customer_account`` row joined with its terms' net days."""
    return Account(
        id=row["id"],
        number=row["number"],
        name=row["name"],
        customer_type=row["customer_type"],
        currency=row["currency"],
        financial_class=row["financial_class"],
        location=row["location"],
        patient_type=row["patient_type"],
        guarantor_id=row["guarantor_id"],
        terms_code=row["terms_code"],
        net_days=row["net_days"],
    )


async def create_account(
    tx: Tx,
    *,
    name: str,
    currency: str,
    actor: str,
    source: str,
    number: str | None = None,
    customer_type: str = "patient",
    financial_class: str = "self_pay",
    location: str = "main",
    patient_type: str | None = None,
    guarantor_id: int | None = None,
    terms_code: str = "NET30",
    number_format: str = "A{id:07d}",
) -> Account:
    """Open an account; without ``number`` one is assigned from ``number_format`` (AR-038)."""
    if not name.strip():
        raise ValidationError("an account needs a name")
    if customer_type not in CUSTOMER_TYPES:
        raise ValidationError(
            f"{customer_type!r} is not a customer type; use one of {', '.join(CUSTOMER_TYPES)}"
        )
    currency_exponent(currency)
    placeholder = number or f"pending-{uuid.uuid4().hex}"
    try:
        new_id = inserted_id(
            await tx.conn.execute(
                customer_account.insert().values(
                    number=placeholder,
                    name=name.strip(),
                    sort_name=sort_name(name),
                    customer_type=customer_type,
                    currency=currency,
                    financial_class=financial_class,
                    location=location,
                    patient_type=patient_type,
                    guarantor_id=guarantor_id,
                    terms_code=terms_code,
                    created_at=tx.db.clock.now(),
                )
            )
        )
    except IntegrityError as exc:
        message = str(exc.orig)
        if "number" in message:
            raise ValidationError(f"account number {number} is already in use") from exc
        raise ValidationError(
            f"unknown payment terms {terms_code!r} or guarantor {guarantor_id}"
        ) from exc
    if number is None:
        number = number_format.format(id=new_id)
        await tx.conn.execute(
            customer_account.update().where(customer_account.c.id == new_id).values(number=number)
        )
    tx.audit(
        actor,
        source,
        "account.open",
        f"account {number}",
        name=name,
        currency=currency,
        financial_class=financial_class,
        location=location,
    )
    return await load_account(tx.conn, account_id=new_id)
