"""Credit profiles and payment terms (AR-035, AR-043, AR-044).

A credit profile is a credit ceiling, payment terms and a risk class that apply from
one day to another. Profiles are never edited: a later decision overrides earlier
ones for the days it covers, so the profile on any day is the newest one recorded
that covers that day. Offices define their own payment terms (net 45, due on
receipt ...) next to the ones arbot starts with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.clock import today
from core.db import Database, Tx, inserted_id
from core.errors import ValidationError
from core.ledger.accounts import Account
from core.ledger.items import balance
from core.ledger.tables import credit_profile, customer_account, payment_terms
from core.money import Money
from core.profile.common import account_to_change, class_code, covering, source_of


async def define_payment_terms(
    db: Database, actor: Actor, *, code: str, description: str, net_days: int
) -> str:
    """Add the office's own payment terms, e.g. ``NET45`` (AR-043). Like entry types and
    reason codes (core.services.codes) they are office-wide, so a manager defines them."""
    require(actor, Permission.CLOSE_PERIOD)
    cleaned = code.strip().upper()
    if not re.fullmatch(r"[A-Z0-9_]{1,20}", cleaned):
        raise ValidationError(f"{code!r} is not a terms code: use 1-20 letters, digits or _")
    if not description.strip() or len(description.strip()) > 120:
        raise ValidationError("payment terms need a description of 1 to 120 characters")
    if isinstance(net_days, bool) or not isinstance(net_days, int) or not 0 <= net_days <= 3650:
        raise ValidationError(f"{net_days!r} is not a number of days from 0 to 3650")
    async with db.transaction() as tx:
        try:
            await tx.conn.execute(
                payment_terms.insert().values(
                    code=cleaned, description=description.strip(), net_days=net_days
                )
            )
        except IntegrityError as exc:
            raise ValidationError(f"payment terms {cleaned} already exist") from exc
        tx.audit(actor.label, "admin", "code.payment_terms", cleaned, net_days=net_days)
    return cleaned


@dataclass(frozen=True, slots=True)
class CreditProfile:
    id: int
    account_id: int
    credit_limit: Money | None
    terms_code: str
    net_days: int
    risk_class: str | None
    effective_from: date
    effective_to: date | None
    reason: str


async def credit_profile_of(
    conn: AsyncConnection, account_id: int, on: date
) -> CreditProfile | None:
    """The credit profile in force on ``on``: the newest recorded that covers that day."""
    cp = credit_profile
    row = (
        await conn.execute(
            select(cp, payment_terms.c.net_days, customer_account.c.currency)
            .join(payment_terms, payment_terms.c.code == cp.c.terms_code)
            .join(customer_account, customer_account.c.id == cp.c.account_id)
            .where(
                cp.c.account_id == account_id,
                covering(cp.c.effective_from, cp.c.effective_to, on),
            )
            .order_by(cp.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    limit = row.credit_limit_minor
    return CreditProfile(
        id=row.id,
        account_id=row.account_id,
        credit_limit=None if limit is None else Money(int(limit), row.currency),
        terms_code=row.terms_code,
        net_days=row.net_days,
        risk_class=row.risk_class,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        reason=row.reason,
    )


class TermsBook:
    """Every credit profile of some accounts, read at once, to give each account the
    payment terms in force on a bill date (AR-035): a profile that starts next month
    applies to what is billed from next month, and one that has ended no longer does.
    Without a profile covering the day, the account keeps its own terms."""

    def __init__(self, profiles: dict[int, list[tuple[int, date, date | None, str, int]]]):
        self._profiles = profiles

    @classmethod
    async def load(cls, conn: AsyncConnection, account_ids: Iterable[int]) -> TermsBook:
        cp = credit_profile
        wanted = sorted(set(account_ids))
        found: dict[int, list[tuple[int, date, date | None, str, int]]] = {}
        for start in range(0, len(wanted), 500):
            rows = await conn.execute(
                select(
                    cp.c.id,
                    cp.c.account_id,
                    cp.c.effective_from,
                    cp.c.effective_to,
                    cp.c.terms_code,
                    payment_terms.c.net_days,
                )
                .join(payment_terms, payment_terms.c.code == cp.c.terms_code)
                .where(cp.c.account_id.in_(wanted[start : start + 500]))
                .order_by(cp.c.id.desc())
            )
            for r in rows:
                found.setdefault(r.account_id, []).append(
                    (r.id, r.effective_from, r.effective_to, r.terms_code, r.net_days)
                )
        return cls(found)

    def on(self, account: Account, day: date) -> Account:
        """``account`` with the payment terms in force on ``day``."""
        for _, start, end, code, net_days in self._profiles.get(account.id, ()):
            if start <= day and (end is None or day <= end):
                if code == account.terms_code and net_days == account.net_days:
                    return account
                return replace(account, terms_code=code, net_days=net_days)
        return account


async def set_credit_profile(
    db: Database,
    actor: Actor,
    *,
    account_id: int,
    credit_limit: Money | None,
    terms_code: str,
    risk_class: str | None,
    effective_from: date,
    effective_to: date | None = None,
    reason: str,
) -> int:
    """Record an account's credit ceiling (None: no ceiling), payment terms and risk class
    from ``effective_from`` to ``effective_to`` (the last day; None: until changed),
    AR-035, AR-043, AR-044.

    When the profile is in force today, the account's own terms follow it at once, so
    that charges posted from now on fall due by them (AR-039)."""
    if credit_limit is not None and credit_limit.minor < 0:
        raise ValidationError("a credit limit cannot be negative")
    if effective_to is not None and effective_to < effective_from:
        raise ValidationError(f"the profile cannot end ({effective_to}) before it starts")
    if not reason.strip() or len(reason.strip()) > 300:
        raise ValidationError("a reason (1 to 300 characters) is required to set credit terms")
    risk = None if risk_class is None else class_code(risk_class, "risk class", 20)
    terms = terms_code.strip().upper()
    async with db.transaction() as tx:
        account = await account_to_change(tx, actor, account_id)
        if credit_limit is not None and credit_limit.currency != account.currency:
            raise ValidationError(
                f"the credit limit is in {credit_limit.currency}; account {account.number} "
                f"is kept in {account.currency}"
            )
        known = select(payment_terms.c.code).where(payment_terms.c.code == terms)
        if (await tx.conn.execute(known)).first() is None:
            raise ValidationError(f"there are no payment terms {terms!r}; define them first")
        profile_id = inserted_id(
            await tx.conn.execute(
                credit_profile.insert().values(
                    account_id=account_id,
                    credit_limit_minor=None if credit_limit is None else credit_limit.minor,
                    terms_code=terms,
                    risk_class=risk,
                    effective_from=effective_from,
                    effective_to=effective_to,
                    at=tx.db.clock.now(),
                    actor=actor.label,
                    reason=reason.strip(),
                )
            )
        )
        terms_before = await _follow_terms(tx, account, terms, effective_from, effective_to)
        tx.audit(
            actor.label,
            source_of(actor),
            "customer.credit_profile",
            f"account {account.number}",
            credit_limit=None if credit_limit is None else str(credit_limit),
            terms=terms,
            terms_before=terms_before,
            risk_class=risk,
            effective_from=effective_from.isoformat(),
            effective_to=None if effective_to is None else effective_to.isoformat(),
            reason=reason.strip(),
        )
    return profile_id


async def _follow_terms(
    tx: Tx, account: Account, terms: str, starts: date, ends: date | None
) -> str | None:
    """Give the account the profile's terms when the profile is in force today; the
    terms it had, or None when the profile starts later or has ended."""
    now = today(tx.db.clock)
    if not starts <= now or (ends is not None and ends < now):
        return None
    if terms != account.terms_code:
        await tx.conn.execute(
            customer_account.update()
            .where(customer_account.c.id == account.id)
            .values(terms_code=terms)
        )
    return account.terms_code


async def over_credit_limit(
    conn: AsyncConnection, account_id: int, on: date, adding: Money
) -> Money | None:
    """By how much the account's balance would pass its credit limit on ``on`` once
    ``adding`` is charged; None when it stays within it or there is no limit (AR-035).

    Billing asks before it posts, to warn. The balance is everything posted (a credit
    ceiling is about what is owed now, not on a past day)."""
    profile = await credit_profile_of(conn, account_id, on)
    if profile is None or profile.credit_limit is None:
        return None
    if adding.currency != profile.credit_limit.currency:
        raise ValidationError(
            f"the amount is in {adding.currency}; the account is kept in "
            f"{profile.credit_limit.currency}"
        )
    over = await balance(conn, account_id) + adding.minor - profile.credit_limit.minor
    return Money(over, adding.currency) if over > 0 else None
