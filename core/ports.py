"""Ports: how the core talks to the outside without knowing who is there (DESIGN: the
rule of imports).

The core defines these small protocols; ``bot/`` implements them (Stripe, Telegram,
Twilio, Slack) and the tests implement them with fakes that speak real HTTP. Nothing
here carries card data or clinical detail: a gateway sees opaque ids and amounts, a
messenger sees text already rendered for the person who will read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.money import Money


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """A hosted payment page to open now for ``amount`` (BI-23, AR-017).

    ``metadata`` goes to the gateway verbatim (account id, chosen item ids, token id):
    it must hold only opaque ids. ``idempotency_key`` makes a double click on the pay
    link open one session, not two.
    """

    amount: Money
    description: str
    metadata: Mapping[str, str]
    idempotency_key: str
    success_url: str
    cancel_url: str
    customer_ref: str | None = None
    setup_future_usage: bool = False


@dataclass(frozen=True, slots=True)
class SetupRequest:
    """A hosted page that saves a card for autopay (Checkout in setup mode)."""

    currency: str
    metadata: Mapping[str, str]
    idempotency_key: str
    success_url: str
    cancel_url: str
    customer_ref: str | None = None


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """What the gateway answered: its id and the page to send the patient to."""

    id: str
    url: str


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """Charge a card the patient saved earlier, without them there (off-session): a
    plan's instalment under autopay (AR-148). ``idempotency_key`` names the attempt, so
    asking twice charges once; ``metadata`` holds opaque ids only, as for a checkout."""

    customer_ref: str
    method_ref: str
    amount: Money
    idempotency_key: str
    metadata: Mapping[str, str]
    description: str


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """How an off-session charge went: ``ok`` with the gateway's payment id, or the
    reason it failed (``card_declined``, ``insufficient_funds``, ``expired_card``,
    ``authentication_required`` ...), never card details. ``payment_ref`` may be set on
    a failure too: the gateway's record of the attempt."""

    ok: bool
    payment_ref: str | None = None
    failure: str | None = None


class PaymentGateway(Protocol):
    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    async def create_setup(self, request: SetupRequest) -> CheckoutSession: ...

    async def refund(
        self,
        payment_ref: str,
        amount: Money,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Refund ``amount`` of the gateway payment ``payment_ref`` once per key, with
        ``metadata`` on the refund (the gateway's events carry it back); the refund id."""
        ...

    async def charge_saved(self, request: ChargeRequest) -> ChargeResult:
        """Charge the saved card now, off-session. A decline is a result, not an error;
        an error means the gateway could not be asked (nothing is known to be charged:
        ask again with the same key)."""
        ...


@dataclass(frozen=True, slots=True)
class GatewayMovement:
    """One movement of money on the gateway's balance (AR-180): a card payment coming
    in, a refund or a dispute taking money back, or anything else (a fee, a payout).
    ``amount_minor`` is signed as it moves the balance (a refund is negative), before
    ``fee_minor``; ``payment_ref`` is the payment it is about (Stripe's PaymentIntent),
    ``ref`` its own id (the PaymentIntent, the refund's or the dispute's id)."""

    kind: str
    ref: str
    payment_ref: str | None
    amount_minor: int
    fee_minor: int
    currency: str
    at: datetime


class GatewayBooks(Protocol):
    async def movements(self, start: datetime, end: datetime) -> list[GatewayMovement]:
        """Every movement the gateway recorded from ``start`` up to ``end``."""
        ...


@dataclass(frozen=True, slots=True)
class Choice:
    """One option offered with a message: a button (Telegram), a numbered line (SMS)."""

    id: str
    label: str
    url: str | None = None
    """A link button (the pay page) instead of an answer sent back to the bot."""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message already rendered in the reader's language."""

    text: str
    choices: tuple[Choice, ...] = ()
    ask_contact: bool = False
    """Telegram: offer the 'Share my phone number' button."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a send went: ``ok``, or the failure kind (``blocked``, ``invalid_address``,
    ``rate_limited``, ``error``) and the provider's words, for the delivery report
    (AR-179)."""

    ok: bool
    provider_ref: str | None = None
    failure: str | None = None
    detail: str | None = None


class PatientMessenger(Protocol):
    async def send(self, channel: str, address: str, message: OutboundMessage) -> Delivery: ...


@dataclass(frozen=True, slots=True)
class StaffPost:
    """A message to a staff Slack channel; ``thread`` answers in a thread."""

    channel: str
    text: str
    thread: str | None = None
    blocks: tuple[Mapping[str, object], ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class StaffFile:
    """A file shared in a staff Slack channel (a digest's chart), with ``comment`` as
    its message; ``thread`` shares it in a thread."""

    channel: str
    filename: str
    content: bytes
    title: str
    comment: str | None = None
    thread: str | None = None


class StaffMessenger(Protocol):
    async def post(self, message: StaffPost) -> str:
        """Post and return the message's timestamp (its id in Slack)."""
        ...

    async def upload(self, file: StaffFile) -> str:
        """Share ``file`` and return its id (``F0123ABCD`` in Slack)."""
        ...
