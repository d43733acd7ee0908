"""Identity in a patient chat: nothing is disclosed before the date of birth (AR-131).

A chat reaches accounts in two ways: staff linked it (a link code redeemed in
Telegram, :mod:`core.links`), or its phone number is on file (an SMS number, or the
phone a Telegram user shared). Either way the chat is only a *candidate* until the
person types the account holder's date of birth. A match links the chat to every
candidate account with that birth date, verified, and from then on the chat sees those
accounts and every account they guarantee (a parent sees the children's bills).

Guessing is limited: five wrong dates in a row lock the chat for 30 minutes, and the
caller tells staff the first time (``IdentityLocked.first_time``). The count is kept per
chat in ``chat_identity``, changed under a row lock so two answers at once count two.
The birth date typed is never stored, logged or audited; audit records name the
channel, never the chat's number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Column,
    CompoundSelect,
    Integer,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    cast,
    exists,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.clock import today
from core.customers import CLOSED_TO_CHARGES, phone_number, status_of
from core.db import Database, Tx
from core.db.metadata import DayNumber, UtcDateTime, metadata
from core.errors import InvalidState, ValidationError
from core.ledger.accounts import load_account
from core.ledger.items import lock_account
from core.ledger.tables import (
    chat_link,
    customer_account,
    customer_contact,
    customer_relationship,
)
from core.profile.chats import chat_address, link_in

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=30)

chat_identity = Table(
    "chat_identity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("address", String(64), nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "address"),
)


class BirthDateWrong(ValidationError):
    """The date of birth matched none of the accounts; ``attempts_left`` more tries
    before the chat is locked."""

    def __init__(self, attempts_left: int) -> None:
        tries = "1 more try" if attempts_left == 1 else f"{attempts_left} more tries"
        super().__init__(
            f"that date of birth does not match our records; you have {tries} "
            "before this chat is locked for 30 minutes"
        )
        self.attempts_left = attempts_left


class IdentityLocked(InvalidState):
    """Too many wrong dates of birth: the chat is locked ``until``. ``first_time`` is
    True only for the answer that locked it (the caller tells staff then, once)."""

    def __init__(self, until: datetime, *, first_time: bool) -> None:
        super().__init__(
            "too many wrong dates of birth: this chat is locked until "
            f"{until:%H:%M} UTC; try again then or call the clinic"
        )
        self.until = until
        self.first_time = first_time


def _patient(channel: str) -> Actor:
    return Actor("patient", f"{channel}-chat", f"patient in a {channel} chat")


async def accounts_on_file(conn: AsyncConnection, phone: str) -> list[int]:
    """Active accounts with this phone among their contacts (normalised E.164), by id.

    An account closed to charges (inactive, flagged for deletion) is not offered."""
    normal = phone_number(phone)
    rows = await conn.execute(
        select(customer_contact.c.account_id)
        .where(customer_contact.c.kind == "phone", customer_contact.c.normalized == normal)
        .distinct()
        .order_by(customer_contact.c.account_id)
    )
    found = [int(r[0]) for r in rows]
    return [a for a in found if await status_of(conn, a) not in CLOSED_TO_CHARGES]


async def unverified_accounts(conn: AsyncConnection, channel: str, address: str) -> list[int]:
    """Accounts linked to the chat (link code / Telegram) but not yet verified, oldest
    link first."""
    normal = chat_address(channel, address)
    rows = await conn.execute(
        select(chat_link.c.account_id)
        .where(
            chat_link.c.channel == channel,
            chat_link.c.address == normal,
            chat_link.c.unlinked_at.is_(None),
            chat_link.c.verified_at.is_(None),
        )
        .order_by(chat_link.c.id)
    )
    return [int(r[0]) for r in rows]


def _chat_and_guarantees() -> CompoundSelect[int, int, int]:
    """The chat's verified accounts (with their link's id, for the order) and every
    account each of them guarantees on ``:b_on``, in one statement: a guarantor link in
    force that day (``customer_relationship``), or ``customer_account.guarantor_id`` on
    an account with no guarantor rows (the same two sources as
    :func:`core.profile.relationships.guarantees`)."""
    cr, ca = customer_relationship, customer_account
    on = bindparam("b_on", type_=DayNumber())
    verified = (
        select(chat_link.c.account_id)
        .where(
            chat_link.c.channel == bindparam("b_channel"),
            chat_link.c.address == bindparam("b_address"),
            chat_link.c.unlinked_at.is_(None),
            chat_link.c.verified_at.is_not(None),
        )
        .scalar_subquery()
    )
    none = cast(null(), Integer)
    return union_all(
        select(
            chat_link.c.account_id.label("account_id"),
            none.label("guaranteed"),
            chat_link.c.id.label("link_id"),
        ).where(
            chat_link.c.channel == bindparam("b_channel"),
            chat_link.c.address == bindparam("b_address"),
            chat_link.c.unlinked_at.is_(None),
            chat_link.c.verified_at.is_not(None),
        ),
        select(cr.c.related_account_id, cr.c.account_id, none).where(
            cr.c.related_account_id.in_(verified),
            cr.c.kind == "guarantor",
            cr.c.effective_from <= on,
            or_(cr.c.effective_to.is_(None), cr.c.effective_to >= on),
        ),
        select(ca.c.guarantor_id, ca.c.id, none).where(
            ca.c.guarantor_id.in_(verified),
            ~exists().where(cr.c.account_id == ca.c.id, cr.c.kind == "guarantor"),
        ),
    )


_VERIFIED = _chat_and_guarantees()
"""Built once: every turn of a chat asks which accounts it is verified for."""


async def verified_accounts(
    conn: AsyncConnection, channel: str, address: str, on: date
) -> list[int]:
    """Accounts verified for this chat plus every account those accounts guarantee on
    ``on`` (a guarantor sees all accounts they guarantee), de-duplicated: each verified
    account (oldest link first) followed by the accounts it guarantees, by id."""
    normal = chat_address(channel, address)
    rows = await conn.execute(_VERIFIED, {"b_channel": channel, "b_address": normal, "b_on": on})
    links: list[tuple[int, int]] = []
    guaranteed: dict[int, set[int]] = {}
    for account_id, account_guaranteed, link_id in rows.all():
        if link_id is not None:
            links.append((int(link_id), int(account_id)))
        else:
            guaranteed.setdefault(int(account_id), set()).add(int(account_guaranteed))
    seen: dict[int, None] = {}
    for _, account_id in sorted(links):
        seen.setdefault(account_id)
        for other in sorted(guaranteed.get(account_id, ())):
            seen.setdefault(other)
    return list(seen)


async def locked_until(
    conn: AsyncConnection, channel: str, address: str, now: datetime | None = None
) -> datetime | None:
    """When the chat's lock-out ends; None when it is not locked. Without ``now`` this is
    the last lock's end, which may have passed: pass the clock's time to ask "locked
    now?"."""
    normal = chat_address(channel, address)
    until = (
        await conn.execute(
            select(chat_identity.c.locked_until).where(
                chat_identity.c.channel == channel, chat_identity.c.address == normal
            )
        )
    ).scalar()
    if until is None or (now is not None and until <= now):
        return None
    return until  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Tally:
    failures: int
    locked_until: datetime | None


async def _tally(tx: Tx, channel: str, normal: str) -> _Tally:
    """The chat's identity row, made if missing and locked until the transaction ends,
    so that answers given at the same moment are counted one after the other."""
    insert = postgresql.insert if tx.is_postgres else sqlite.insert
    await tx.conn.execute(
        insert(chat_identity)
        .values(channel=channel, address=normal, failures=0, updated_at=tx.db.clock.now())
        .on_conflict_do_nothing()
    )
    row = (
        await tx.conn.execute(
            select(chat_identity.c.failures, chat_identity.c.locked_until)
            .where(chat_identity.c.channel == channel, chat_identity.c.address == normal)
            .with_for_update()
        )
    ).one()
    return _Tally(int(row.failures), row.locked_until)


async def _set_tally(tx: Tx, channel: str, normal: str, tally: _Tally) -> None:
    await tx.conn.execute(
        chat_identity.update()
        .where(chat_identity.c.channel == channel, chat_identity.c.address == normal)
        .values(
            failures=tally.failures,
            locked_until=tally.locked_until,
            updated_at=tx.db.clock.now(),
        )
    )


async def _birth_matches(tx: Tx, candidates: Sequence[int], born: date) -> list[int]:
    rows = await tx.conn.execute(
        select(customer_account.c.id, customer_account.c.date_of_birth).where(
            customer_account.c.id.in_(list(candidates))
        )
    )
    births = {int(r.id): r.date_of_birth for r in rows}
    return [a for a in dict.fromkeys(candidates) if births.get(a) == born]


async def _link_verified(tx: Tx, channel: str, normal: str, matched: list[int]) -> list[str]:
    """Link the chat verified to each matched account not already verified for it."""
    done = {
        int(r[0])
        for r in await tx.conn.execute(
            select(chat_link.c.account_id).where(
                chat_link.c.channel == channel,
                chat_link.c.address == normal,
                chat_link.c.unlinked_at.is_(None),
                chat_link.c.verified_at.is_not(None),
            )
        )
    }
    numbers = []
    for account_id in sorted(matched):  # one lock order for every caller
        await lock_account(tx, account_id)
        account = await load_account(tx.conn, account_id=account_id)
        numbers.append(account.number)
        if account_id not in done:
            await link_in(tx, _patient(channel), account, channel, normal, verified=True)
    return numbers


async def verify_birth_date(
    db: Database, *, channel: str, address: str, born: date, candidates: Sequence[int]
) -> list[int]:
    """Check ``born`` against the candidates' birth dates (AR-131).

    On a match: link the chat verified to every candidate whose birth date matches,
    reset the failure count, audit it (the channel, never the number or the birth date)
    and return :func:`verified_accounts`. On no match: count a failure; the fifth in a
    row locks the chat for 30 minutes and raises :class:`IdentityLocked` with
    ``first_time`` (audited as ``patient.identity_locked``); before that
    :class:`BirthDateWrong`. While locked every call raises ``IdentityLocked`` with
    ``first_time=False`` without checking anything.

    ``candidates`` must come from :func:`accounts_on_file` (the chat's own number, or the
    phone a Telegram user shared as their own) or :func:`unverified_accounts`."""
    normal = chat_address(channel, address)
    if not candidates:
        raise ValidationError("there is no account to check a date of birth against")
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        tally = await _tally(tx, channel, normal)
        if tally.locked_until is not None and tally.locked_until > now:
            refusal: Exception = IdentityLocked(tally.locked_until, first_time=False)
        elif matched := await _birth_matches(tx, candidates, born):
            numbers = await _link_verified(tx, channel, normal, matched)
            await _set_tally(tx, channel, normal, _Tally(0, None))
            tx.audit(
                _patient(channel).label,
                "patient",
                "patient.identity_verified",
                f"{channel} chat",
                channel=channel,
                accounts=numbers,
            )
            return await verified_accounts(tx.conn, channel, normal, today(tx.db.clock))
        else:
            refusal = await _count_failure(tx, channel, normal, tally, candidates)
    raise refusal


async def _count_failure(
    tx: Tx, channel: str, normal: str, tally: _Tally, candidates: Sequence[int]
) -> Exception:
    """Record one wrong answer (committed with the transaction); the error to raise."""
    failures = tally.failures + 1
    if failures < MAX_FAILURES:
        await _set_tally(tx, channel, normal, _Tally(failures, None))
        return BirthDateWrong(MAX_FAILURES - failures)
    until = tx.db.clock.now() + LOCK_FOR
    await _set_tally(tx, channel, normal, _Tally(0, until))
    numbers = [
        (await load_account(tx.conn, account_id=a)).number for a in dict.fromkeys(candidates)
    ]
    tx.audit(
        _patient(channel).label,
        "patient",
        "patient.identity_locked",
        f"{channel} chat",
        channel=channel,
        accounts=numbers,
        until=until.isoformat(),
    )
    return IdentityLocked(until, first_time=True)
