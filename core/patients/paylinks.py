"""Pay links: what a patient opens to pay, and what it asks the gateway for (AR-017,
BI-08, BI-23).

The bot sends ``PUBLIC_BASE_URL/pay/<token>``. The token is opaque (256 random bits);
only its SHA-256 is stored, with what the patient chose to pay: the whole balance, the
overdue part, the next plan instalment, an amount they typed, or a prepayment for a
service the catalogue offers. Nothing is priced when the link is issued: opening it
works out the amount from the account as it is *then* and the page creates a gateway
session at that moment, so a link in an SMS read a week later still asks for the right
amount (links work for 90 days; gateway sessions expire within a day).

Opening a link gives a :class:`PayOrder`: the amount, the open items the money is
meant for (oldest first, paid in that order when it arrives), an idempotency key that
is the same for the same link, amount and items until a payment changes the account
or is made through the link (a double click opens one session; paying the next
instalment through the same link opens a new one),
and metadata for the gateway that holds only opaque ids, never names or services
(Stripe is not a party to patient confidentiality).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import today
from core.db import Database, inserted_id
from core.db.metadata import Minor, UtcDateTime, metadata
from core.errors import InvalidState, NotFound, ValidationError
from core.ledger.accounts import Account, load_account
from core.ledger.items import Item, balance, load_items
from core.money import Money
from core.patients.gateway_tables import gateway_payment
from core.patients.prepay import prepay_offers
from core.plans import plan_of

PAY_LINK_TTL = timedelta(days=90)
METADATA_LIMIT = 500
"""Characters in one metadata value (Stripe's limit): item ids beyond it are left to
the oldest-first order, which pays them in the same order anyway."""


class PayChoice(StrEnum):
    BALANCE = "balance"
    OVERDUE = "overdue"
    INSTALMENT = "instalment"
    AMOUNT = "amount"
    PREPAY = "prepay"


pay_link = Table(
    "pay_link",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("choice", String(12), nullable=False),
    Column("amount_minor", Minor),
    Column("service_code", String(30), ForeignKey("service.code")),
    # Where the receipt goes: the chat the link was sent to.
    Column("channel", String(10), nullable=False),
    Column("address", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("opened_count", Integer, nullable=False, server_default="0"),
    CheckConstraint(
        "choice IN ('balance','overdue','instalment','amount','prepay')", name="choice"
    ),
    CheckConstraint("amount_minor IS NULL OR amount_minor > 0", name="amount"),
    Index("ix_pay_link_account", "account_id"),
)


@dataclass(frozen=True, slots=True)
class PayOrder:
    """What opening a pay link asks the gateway for (see the module docstring)."""

    token_id: int
    account_id: int
    account_number: str
    choice: PayChoice
    amount: Money
    item_ids: tuple[int, ...]
    idempotency_key: str
    description: str
    metadata: Mapping[str, str]
    service_code: str | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_pay_link(
    db: Database,
    *,
    account_id: int,
    choice: PayChoice,
    channel: str,
    address: str,
    amount_minor: int | None = None,
    service_code: str | None = None,
) -> str:
    """A new pay link's token for ``PUBLIC_BASE_URL/pay/<token>``, valid for 90 days.

    ``AMOUNT`` needs ``amount_minor`` above zero and at most the balance; ``PREPAY``
    needs a ``service_code`` that :func:`~core.patients.prepay.prepay_offers` offers at
    the account's location today. ``channel`` and ``address`` are the chat the receipt
    goes back to. The token is shown once and never stored."""
    choice = _choice(choice)
    if not channel.strip() or len(channel) > 10 or not address.strip() or len(address) > 64:
        raise ValidationError("a pay link needs the chat (channel and address) it is sent to")
    if choice is not PayChoice.AMOUNT and amount_minor is not None:
        raise ValidationError("only a pay link for a typed amount takes an amount")
    if choice is not PayChoice.PREPAY and service_code is not None:
        raise ValidationError("only a prepayment link names a service")
    async with db.read() as conn:
        account = await load_account(conn, account_id=account_id)
        on = today(db.clock)
        await _check_choice(conn, account, choice, amount_minor, service_code, on)
    token = secrets.token_urlsafe(32)
    row = {
        "token_hash": token_hash(token),
        "account_id": account.id,
        "choice": choice.value,
        "amount_minor": amount_minor,
        "service_code": service_code,
        "channel": channel.strip(),
        "address": address.strip(),
    }
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        link_id = inserted_id(
            await tx.conn.execute(
                pay_link.insert().values(**row, created_at=now, expires_at=now + PAY_LINK_TTL)
            )
        )
        tx.audit(
            "patient:pay-link",
            "patient",
            "patient.pay_link",
            f"account {account.number}",
            id=link_id,
            choice=choice.value,
            channel=channel,
        )
    return token


def _choice(choice: PayChoice | str) -> PayChoice:
    try:
        return PayChoice(choice)
    except ValueError as exc:
        options = ", ".join(c.value for c in PayChoice)
        raise ValidationError(f"{choice!r} is not a way to pay; use one of {options}") from exc


async def _check_choice(
    conn: AsyncConnection,
    account: Account,
    choice: PayChoice,
    amount_minor: int | None,
    service_code: str | None,
    on: date,
) -> None:
    """Refuse a link that could not be paid now: it would only fail when opened."""
    if choice is PayChoice.PREPAY:
        await _prepay_price(conn, account, service_code, on)
        return
    owed = Money(await balance(conn, account.id), account.currency)
    if choice is PayChoice.AMOUNT:
        if amount_minor is None or amount_minor <= 0:
            raise ValidationError("say how much to pay: an amount above zero")
        if owed.minor <= 0:
            raise InvalidState("nothing is owed on this account now")
        if amount_minor > owed.minor:
            typed = Money(amount_minor, account.currency)
            raise ValidationError(f"{typed} is more than the balance of {owed}")
        return
    await _amount_due(conn, account, choice, on)


async def open_pay_link(db: Database, token: str) -> PayOrder:
    """What the link asks to pay now (see the module docstring); counts the opening.

    Raises :class:`NotFound` for an unknown or expired link, and :class:`InvalidState`
    (``nothing is owed ...``) when there is nothing to pay."""
    cleaned = token.strip()
    if not 20 <= len(cleaned) <= 100:
        raise NotFound("this payment link is not valid; ask for a new one in the chat")
    async with db.transaction() as tx:
        row = (
            await tx.conn.execute(
                select(pay_link).where(pay_link.c.token_hash == token_hash(cleaned))
            )
        ).first()
        if row is None or row.expires_at <= tx.db.clock.now():
            raise NotFound("this payment link is not valid or has expired; ask for a new one")
        await tx.conn.execute(
            pay_link.update()
            .where(pay_link.c.id == row.id)
            .values(opened_count=pay_link.c.opened_count + 1)
        )
    async with db.read() as conn:
        account = await load_account(conn, account_id=row.account_id)
        choice, on = PayChoice(row.choice), today(db.clock)
        state = await _state(conn, account, row.id)
        if choice is PayChoice.PREPAY:
            amount = await _prepay_price(conn, account, row.service_code, on)
            return _order(row.id, account, choice, amount, (), state, row.service_code)
        if choice is PayChoice.AMOUNT:
            owed, items = await _owed(conn, account)
            amount = Money(min(row.amount_minor, owed.minor), account.currency)
            if amount.minor <= 0:
                raise InvalidState("nothing is owed on this account now")
        else:
            amount, items = await _amount_due(conn, account, choice, on)
    reached = _reached(items, amount.minor, choice)
    return _order(row.id, account, choice, amount, reached, state)


async def _state(conn: AsyncConnection, account: Account, token_id: int) -> str:
    """What must change for a new gateway session: the balance, and the payments made
    through this link (a double click changes neither; paying does)."""
    paid = await conn.execute(
        select(func.count())
        .select_from(gateway_payment)
        .where(gateway_payment.c.token_id == token_id)
    )
    return f"{await balance(conn, account.id)}:{paid.scalar_one()}"


async def _owed(conn: AsyncConnection, account: Account) -> tuple[Money, list[Item]]:
    """The balance, and the open charges not under dispute, oldest first."""
    owed = Money(await balance(conn, account.id), account.currency)
    items = await load_items(conn, account_id=account.id, only_open=True)
    return owed, [i for i in items if i.is_debit and not i.disputed]


async def _amount_due(
    conn: AsyncConnection, account: Account, choice: PayChoice, on: date
) -> tuple[Money, list[Item]]:
    """What BALANCE, OVERDUE and INSTALMENT ask for now, and the items it is for. Never
    more than the balance: a credit on the account is taken off first."""
    owed, items = await _owed(conn, account)
    if owed.minor <= 0:
        raise InvalidState("nothing is owed on this account now")
    if choice is PayChoice.BALANCE:
        return owed, items
    if choice is PayChoice.OVERDUE:
        late = [i for i in items if i.due_date < on]
        minor = min(sum(i.open.minor for i in late), owed.minor)
        if minor <= 0:
            raise InvalidState("nothing is owed past its due date now")
        return Money(minor, account.currency), late
    plan = await plan_of(conn, account.id)
    if plan is None:
        raise InvalidState("this account has no payment plan; pay the balance or an amount")
    due = plan.next_due
    if due is None:
        raise InvalidState("nothing is owed on the payment plan now: every instalment is paid")
    return Money(min(due.open.minor, owed.minor), account.currency), items


def _reached(items: list[Item], amount_minor: int, choice: PayChoice) -> tuple[int, ...]:
    """The items ``amount_minor`` reaches, oldest first (all of them for the balance),
    as many as fit in one metadata value."""
    chosen: list[int] = []
    left, length = amount_minor, 0
    for item in items:
        if left <= 0 and choice is not PayChoice.BALANCE:
            break
        length += len(str(item.id)) + 1
        if length > METADATA_LIMIT + 1:
            break
        chosen.append(item.id)
        left -= item.open.minor
    return tuple(chosen)


async def _prepay_price(
    conn: AsyncConnection, account: Account, service_code: str | None, on: date
) -> Money:
    if not service_code:
        raise ValidationError("say which service to prepay")
    offers = await prepay_offers(conn, location=account.location, on=on)
    offer = next((o for o in offers if o.service_code == service_code), None)
    if offer is None:
        raise InvalidState(f"{service_code} is not offered for prepayment now")
    if offer.price.currency != account.currency:
        raise InvalidState(
            f"{service_code} is priced in {offer.price.currency}, "
            f"not in the account's currency {account.currency}"
        )
    return offer.price


def _order(
    token_id: int,
    account: Account,
    choice: PayChoice,
    amount: Money,
    item_ids: tuple[int, ...],
    state: str,
    service_code: str | None = None,
) -> PayOrder:
    kind = "prepay" if choice is PayChoice.PREPAY else "payment"
    joined = ",".join(str(i) for i in item_ids)
    said = f"{amount.minor}:{amount.currency}:{joined}:{state}"
    fingerprint = hashlib.sha256(said.encode()).hexdigest()
    word = "Prepayment" if kind == "prepay" else "Payment"
    return PayOrder(
        token_id=token_id,
        account_id=account.id,
        account_number=account.number,
        choice=choice,
        amount=amount,
        item_ids=item_ids,
        idempotency_key=f"paylink:{token_id}:{fingerprint[:24]}",
        description=f"{word} on account {account.number}",
        metadata={
            "arbot_account": str(account.id),
            "arbot_items": joined,
            "arbot_token": str(token_id),
            "arbot_kind": kind,
        },
        service_code=service_code,
    )


async def pay_link_chat(conn: AsyncConnection, token_id: int) -> tuple[str, str] | None:
    """The chat (channel, address) a pay link was sent to, for the receipt."""
    row = (
        await conn.execute(
            select(pay_link.c.channel, pay_link.c.address).where(pay_link.c.id == token_id)
        )
    ).first()
    return None if row is None else (row.channel, row.address)
