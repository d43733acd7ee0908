"""Customers: who owes, how to reach them, and how staff find them.

A customer is a ledger account (``core.ledger.accounts``) plus master data: medical
record number (AR-049), names with a phonetic key of the last name, date of birth,
language, and any number of contacts (AR-033, AR-042). Finding an account by any of
these, or by what was posted to it, is :mod:`core.search`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date

import jellyfish
from babel import Locale, UnknownLocaleError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.clock import today
from core.db import Database, Tx
from core.errors import InvalidState, ValidationError
from core.ledger.accounts import Account, create_account, folded, load_account
from core.ledger.tables import (
    contact_consent,
    customer_account,
    customer_contact,
    customer_status,
)

PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def phone_number(text: str) -> str:
    """E.164 (``+15551234567``); spaces, dots, dashes and brackets are ignored."""
    cleaned = re.sub(r"[\s.\-()]", "", text)
    if not PHONE.match(cleaned):
        raise ValidationError(
            f"{text!r} is not a phone number in international form (+15551234567)"
        )
    return cleaned


def name_key(last_name: str) -> str:
    """How a last name sounds (Metaphone): Johnson, Jonson and Jonsen share ``JNSN``."""
    return str(jellyfish.metaphone(folded(last_name.strip())))[:20]


def language_tag(text: str) -> str:
    try:
        locale = Locale.parse(text.replace("-", "_"))
    except (ValueError, UnknownLocaleError) as exc:
        raise ValidationError(
            f"{text!r} is not a language arbot knows (use en, es, es-MX ...)"
        ) from exc
    return str(locale).replace("_", "-")


DEFAULT_NUMBER_FORMAT = "A{id:07d}"
_SAMPLE_IDS = (1, 2, 10, 11, 999_999_999)


def account_number_format(text: str) -> str:
    """A format for the account numbers arbot assigns (``ACCOUNT_NUMBER_FORMAT``, AR-038):
    Python format syntax over the account's id only, e.g. ``A{id:07d}`` or ``NW-{id:06d}``."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        if names != {"id"}:
            raise ValueError("use the account id, {id}, and no other field")
        samples = {text.format(id=n) for n in _SAMPLE_IDS}
    except (ValueError, OverflowError) as exc:
        raise ValidationError(
            f"account number format {text!r} is not valid ({exc}); for example A{{id:07d}}"
        ) from exc
    if len(samples) < len(_SAMPLE_IDS) or any(not s.strip() or len(s) > 40 for s in samples):
        raise ValidationError(
            f"account number format {text!r} must give every account a different number "
            "of 1 to 40 characters"
        )
    return text


@dataclass(frozen=True, slots=True)
class NewCustomer:
    last_name: str
    first_name: str
    currency: str
    date_of_birth: date | None = None
    mrn: str | None = None
    number: str | None = None
    phone: str | None = None
    email: str | None = None
    language: str = "en"
    customer_type: str = "patient"
    financial_class: str = "self_pay"
    location: str = "main"
    patient_type: str | None = None
    guarantor_id: int | None = None
    terms_code: str = "NET30"


def check_customer(new: NewCustomer, born_before: date) -> tuple[str | None, str | None, str]:
    """Refuse a customer whose master data cannot be right; returns the phone, e-mail
    and language in their normal forms."""
    if not new.last_name.strip():
        raise ValidationError("a customer needs a last name")
    if new.date_of_birth is not None and not date(1900, 1, 1) <= new.date_of_birth <= born_before:
        raise ValidationError(f"{new.date_of_birth} is not a plausible date of birth")
    phone = phone_number(new.phone) if new.phone else None
    email = new.email.strip().lower() if new.email else None
    if email is not None and not EMAIL.match(email):
        raise ValidationError(f"{new.email!r} is not an e-mail address")
    return phone, email, language_tag(new.language)


async def register_customer(
    db: Database, actor: Actor, new: NewCustomer, *, number_format: str = DEFAULT_NUMBER_FORMAT
) -> Account:
    """Open an account with its master data; everything is checked before anything is
    written, and it is written in one transaction (AR-001, AR-031, AR-038, AR-039).

    Without a hospital-issued ``new.number`` the number comes from ``number_format``
    (the ``ACCOUNT_NUMBER_FORMAT`` setting), checked even when unused."""
    require(actor, Permission.MANAGE_ACCOUNTS, new.location)
    check_customer(new, today(db.clock))
    async with db.transaction() as tx:
        return await register_in(tx, actor, new, number_format=number_format)


async def register_in(
    tx: Tx,
    actor: Actor,
    new: NewCustomer,
    *,
    number_format: str = DEFAULT_NUMBER_FORMAT,
    source: str = "staff",
) -> Account:
    """:func:`register_customer` inside a transaction the caller holds (an import)."""
    require(actor, Permission.MANAGE_ACCOUNTS, new.location)
    phone, email, language = check_customer(new, today(tx.db.clock))
    number_format = account_number_format(number_format)
    if (
        new.mrn
        and (
            await tx.conn.execute(
                select(customer_account.c.id).where(customer_account.c.mrn == new.mrn)
            )
        ).first()
    ):
        raise ValidationError(f"medical record number {new.mrn} is already on another account")
    account = await create_account(
        tx,
        name=f"{new.first_name.strip()} {new.last_name.strip()}".strip(),
        currency=new.currency,
        actor=actor.label,
        source=source,
        number=new.number,
        customer_type=new.customer_type,
        financial_class=new.financial_class,
        location=new.location,
        patient_type=new.patient_type,
        guarantor_id=new.guarantor_id,
        terms_code=new.terms_code,
        number_format=number_format,
    )
    await tx.conn.execute(
        customer_account.update()
        .where(customer_account.c.id == account.id)
        .values(
            mrn=new.mrn,
            last_name=new.last_name.strip(),
            first_name=new.first_name.strip(),
            name_key=name_key(new.last_name),
            date_of_birth=new.date_of_birth,
            language=language,
        )
    )
    contacts = [
        (kind, value, norm)
        for kind, value, norm in (("phone", new.phone, phone), ("email", new.email, email))
        if norm
    ]
    if contacts:
        await tx.conn.execute(
            customer_contact.insert(),
            [
                {
                    "account_id": account.id,
                    "kind": kind,
                    "value": value,
                    "normalized": norm,
                    "is_primary": True,
                    "created_at": tx.db.clock.now(),
                }
                for kind, value, norm in contacts
            ],
        )
    tx.audit(
        actor.label,
        source,
        "customer.register",
        f"account {account.number}",
        mrn=new.mrn,
        contacts=[kind for kind, _, _ in contacts],
    )
    return account


STATUSES = (
    "active",
    "credit_hold",
    "disputed",
    "in_collections",
    "bad_debt",
    "inactive",
    "flagged_for_deletion",
)
CLOSED_TO_CHARGES = ("inactive", "flagged_for_deletion")


def refuse_charges(number: str, status: str) -> None:
    """Refuse a charge to an account whose ``status`` closes it to charges (AR-052)."""
    if status in CLOSED_TO_CHARGES:
        raise InvalidState(
            f"account {number} is {status.replace('_', ' ')}: charges are refused "
            "until it is reactivated (AR-052)"
        )


async def status_of(conn: AsyncConnection, account_id: int, as_of: date | None = None) -> str:
    """The account's status on ``as_of`` (today's when None); ``active`` until set."""
    query = select(customer_status.c.status).where(customer_status.c.account_id == account_id)
    if as_of is not None:
        query = query.where(customer_status.c.effective_day <= as_of)
    latest = (await conn.execute(query.order_by(customer_status.c.id.desc()).limit(1))).scalar()
    return str(latest or "active")


async def set_status(
    db: Database, actor: Actor, *, account_id: int, status: str, reason: str, on: date
) -> str:
    """Put an account on credit hold, in collections, inactive ...; every change is kept
    with its date, who made it and why (AR-046, AR-062, AR-203). Returns the old status."""
    if status not in STATUSES:
        raise ValidationError(
            f"{status!r} is not an account status; use one of {', '.join(STATUSES)}"
        )
    if not reason.strip():
        raise ValidationError("a reason is required to change an account's status")
    async with db.transaction() as tx:
        account = await load_account(tx.conn, account_id=account_id)
        require(actor, Permission.MANAGE_ACCOUNTS, account.location)
        before = await status_of(tx.conn, account_id)
        if status == "flagged_for_deletion":
            await _refuse_unsettled(tx.conn, account)
        if before == status:
            raise InvalidState(f"account {account.number} is already {status.replace('_', ' ')}")
        await tx.conn.execute(
            customer_status.insert().values(
                account_id=account_id,
                status=status,
                effective_day=on,
                at=tx.db.clock.now(),
                actor=actor.label,
                reason=reason.strip(),
            )
        )
        tx.audit(
            actor.label,
            "staff",
            "customer.status",
            f"account {account.number}",
            before=before,
            after=status,
            reason=reason.strip(),
            date=on.isoformat(),
        )
    return before


async def _refuse_unsettled(conn: AsyncConnection, account: Account) -> None:
    """An account that still owes or is owed something, or is still needed, is not
    flagged for deletion (AR-203, AR-204): the same test as the retention job's."""
    from core.retention import unsettled

    why = await unsettled(conn, account.id)
    if why is not None:
        raise InvalidState(f"account {account.number} {why} before flagging it for deletion")


CHANNELS = ("sms", "telegram", "email")


def contact_address(channel: str, text: str) -> str:
    """The normal form consent is kept under: E.164 for SMS, lower case for e-mail."""
    if channel not in CHANNELS:
        raise ValidationError(f"{channel!r} is not a channel; use one of {', '.join(CHANNELS)}")
    if channel == "sms":
        return phone_number(text)
    cleaned = text.strip()
    if not cleaned:
        raise ValidationError(f"a {channel} address is required")
    return cleaned.lower() if channel == "email" else cleaned


async def record_consent(
    db: Database, actor: Actor, *, channel: str, address: str, granted: bool, source: str
) -> None:
    """Record an opt-in or opt-out (an SMS STOP, a form, a call) with its time and source.

    Consent belongs to the address, not to one account: a STOP from a phone number
    stops messages to every account that number is on, at once."""
    normal = contact_address(channel, address)
    if not source.strip():
        raise ValidationError("say where the consent came from (sms keyword, form, call ...)")
    async with db.transaction() as tx:
        await consent_in(
            tx, actor, channel=channel, address=normal, granted=granted, source=source
        )


async def consent_in(
    tx: Tx, actor: Actor, *, channel: str, address: str, granted: bool, source: str
) -> None:
    """Inside ``tx``: record consent for ``address`` (already in its normal form)."""
    await tx.conn.execute(
        contact_consent.insert().values(
            channel=channel,
            address=address,
            granted=granted,
            at=tx.db.clock.now(),
            source=source.strip(),
            actor=actor.label,
        )
    )
    tx.audit(
        actor.label,
        source.strip(),
        "consent.grant" if granted else "consent.revoke",
        f"{channel} consent",
        granted=granted,
    )


async def may_contact(conn: AsyncConnection, channel: str, address: str) -> bool:
    """Whether messages that do not answer the person may go to ``address`` now.

    SMS needs an opt-in that has not been revoked since; other channels are allowed
    until the person opts out."""
    normal = contact_address(channel, address)
    latest = (
        await conn.execute(
            select(contact_consent.c.granted)
            .where(contact_consent.c.channel == channel, contact_consent.c.address == normal)
            .order_by(contact_consent.c.id.desc())
            .limit(1)
        )
    ).scalar()
    if latest is None:
        return channel != "sms"
    return bool(latest)
