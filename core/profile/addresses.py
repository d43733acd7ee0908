"""Addresses: any number per account, of every kind, each valid from a day (AR-032,
AR-042). A new primary address of a kind ends the current primary one of that kind
the day before (the patient moved); the bill-to address is the billing address, else
home.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from babel import Locale
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.db import Database, Tx, inserted_id
from core.errors import ValidationError
from core.ledger.tables import customer_address
from core.profile.common import account_to_change, covering, source_of

ADDRESS_KINDS = ("home", "billing", "work", "other")
# ISO 3166-1 alpha-2 as babel knows the world, less its codes for things that are not
# countries (EU, UN, "unknown region" ZZ ...); XK (Kosovo) stays, as the post uses it.
_NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB"}
COUNTRIES = frozenset(
    code
    for code in map(str, Locale("en").territories)
    if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES | {"ZZ"}
)


@dataclass(frozen=True, slots=True)
class Address:
    id: int
    account_id: int
    kind: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str
    is_primary: bool
    valid_from: date
    valid_to: date | None


def _text(value: str | None, what: str, longest: int, required: bool = False) -> str | None:
    cleaned = " ".join(value.split()) if value else ""
    if required and not cleaned:
        raise ValidationError(f"an address needs a {what}")
    if len(cleaned) > longest:
        raise ValidationError(f"the {what} is longer than {longest} characters")
    return cleaned or None


async def add_address(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    kind: str,
    line1: str,
    city: str,
    country: str,
    valid_from: date,
    line2: str | None = None,
    region: str | None = None,
    postal_code: str | None = None,
    is_primary: bool = True,
) -> int:
    """Add an address (AR-032, AR-042). A new primary address of a kind ends the current
    primary one of that kind on the day before ``valid_from`` (the patient moved), so it
    must start after that one started."""
    if kind not in ADDRESS_KINDS:
        raise ValidationError(f"{kind!r} is not a kind of address; use {', '.join(ADDRESS_KINDS)}")
    if country.strip().upper() not in COUNTRIES:
        raise ValidationError(f"{country!r} is not an ISO 3166 country code (US, GB, MX ...)")
    values = {
        "line1": _text(line1, "first line", 200, required=True),
        "line2": _text(line2, "second line", 200),
        "city": _text(city, "city", 100, required=True),
        "region": _text(region, "region", 100),
        "postal_code": _text(postal_code, "postal code", 20),
    }
    async with db.transaction() as tx:
        account = await account_to_change(tx, actor, account_id)
        if is_primary:
            await _end_primary(tx, account_id, kind, valid_from)
        address_id = inserted_id(
            await tx.conn.execute(
                customer_address.insert().values(
                    account_id=account_id,
                    kind=kind,
                    country=country.strip().upper(),
                    is_primary=is_primary,
                    valid_from=valid_from,
                    created_at=tx.db.clock.now(),
                    **values,
                )
            )
        )
        tx.audit(
            actor.label,
            source_of(actor),
            "customer.address",
            f"account {account.number}",
            address_id=address_id,
            kind=kind,
            primary=is_primary,
            valid_from=valid_from.isoformat(),
        )
    return address_id


async def _end_primary(tx: Tx, account_id: int, kind: str, starts: date) -> None:
    ca = customer_address
    current = (
        await tx.conn.execute(
            select(ca.c.id, ca.c.valid_from).where(
                ca.c.account_id == account_id,
                ca.c.kind == kind,
                ca.c.is_primary.is_(True),
                or_(ca.c.valid_to.is_(None), ca.c.valid_to >= starts),
            )
        )
    ).all()
    for row in current:
        if row.valid_from >= starts:
            raise ValidationError(
                f"the current primary {kind} address applies from {row.valid_from}; "
                "a new one must start after that"
            )
    if current:
        await tx.conn.execute(
            ca.update()
            .where(ca.c.id.in_([r.id for r in current]))
            .values(valid_to=starts - timedelta(days=1))
        )


async def addresses_of(conn: AsyncConnection, account_id: int, on: date) -> list[Address]:
    """The account's addresses valid on ``on``: by kind, primary first."""
    ca = customer_address
    rows = await conn.execute(
        select(ca)
        .where(ca.c.account_id == account_id, covering(ca.c.valid_from, ca.c.valid_to, on))
        .order_by(ca.c.kind, ca.c.is_primary.desc(), ca.c.id.desc())
    )
    return [
        Address(
            r.id,
            r.account_id,
            r.kind,
            r.line1,
            r.line2,
            r.city,
            r.region,
            r.postal_code,
            r.country,
            bool(r.is_primary),
            r.valid_from,
            r.valid_to,
        )
        for r in rows
    ]


async def bill_to_address(conn: AsyncConnection, account_id: int, on: date) -> Address | None:
    """Where invoices and statements go (AR-032): the billing address, else home."""
    found = await addresses_of(conn, account_id, on)
    for kind in ("billing", "home"):
        for address in found:  # primary first within a kind
            if address.kind == kind:
                return address
    return None
