"""The payment gateway: Stripe Checkout, or a local test checkout when there are no keys.

:class:`StripeGateway` opens Stripe-hosted pages through the official SDK
(``stripe.StripeClient`` with its aiohttp client, at ``STRIPE_API_BASE`` so tests and
development reach a fake): a Checkout Session in ``payment`` mode for a pay link
(AR-017, BI-23), one in ``setup`` mode to save a card for a plan's autopay, refunds,
and the off-session PaymentIntent that charges a saved card for an instalment (AR-148).
Stripe sees opaque ids and amounts only: the one line item is named by the order's
description ("Account A0000123"), never by a service, and the metadata (account, chosen
items, link) is copied onto the PaymentIntent so every event about the payment carries
it. Card data never touches arbot.

:class:`LocalGateway` stands in when ``STRIPE_SECRET_KEY`` is empty (the demo). Its
"session" is a page of arbot's own, ``/pay/test/<session id>``, clearly marked as a test
with no real money, whose Pay button completes the payment through the same function
the Stripe webhook uses (``bot.patient.stripe_webhook.process_event``). The session id
carries the whole request, signed, so any web process can serve it: there is no table.
The signing key is derived from ``DATABASE_URL``, the one value every process of a
deployment shares -- enough to stop a made-up session in a demo, and the reason the
local checkout must never run where real money is owed (``arbot serve`` uses it only
without Stripe keys).

Both also answer what the webhook needs to look up (:class:`StripeLookup`): the card a
setup session saved, the payment a charge belongs to, the refunds of a charge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import stripe

from core.errors import ArbotError, NotFound
from core.money import Money
from core.ports import (
    ChargeRequest,
    ChargeResult,
    CheckoutRequest,
    CheckoutSession,
    GatewayMovement,
    SetupRequest,
)
from core.settings import Settings

log = logging.getLogger(__name__)
REFUND_KEY = "arbot_key"
"""Refund metadata: the idempotency key it was asked under."""
LOCAL_PREFIX = "cs_local_"
TIMEOUT = 20
"""Seconds to wait for Stripe: a patient is looking at the page meanwhile."""


class GatewayUnavailable(ArbotError):
    """The payment provider did not answer or refused; nothing was charged."""

    def __init__(self) -> None:
        super().__init__(
            "the payment page could not be opened just now; nothing was charged. "
            "Please try again in a few minutes."
        )


@dataclass(frozen=True, slots=True)
class SavedCard:
    """What a completed setup session saved: the customer and the payment method."""

    customer_ref: str
    method_ref: str


@runtime_checkable
class StripeLookup(Protocol):
    """What the webhook asks the gateway when an event does not say it all."""

    async def saved_card(self, setup_intent: str) -> SavedCard: ...

    async def charge_payment(self, charge: str) -> str | None:
        """The PaymentIntent id of a charge (a dispute may name only the charge)."""
        ...

    async def charge_refunds(self, charge: str) -> list[Mapping[str, Any]]:
        """The refunds of a charge, newest first (newer API versions leave them out of
        the ``charge.refunded`` event)."""
        ...


def base_url(settings: Settings) -> str:
    """Where patients reach arbot: ``PUBLIC_BASE_URL``, else ``http://HOST:PORT``."""
    return (settings.public_base_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def _payment_params(request: CheckoutRequest) -> dict[str, Any]:
    metadata = dict(request.metadata)
    intent: dict[str, Any] = {"metadata": metadata}
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": request.amount.currency.lower(),
                    "unit_amount": request.amount.minor,
                    "product_data": {"name": request.description},
                },
            }
        ],
        "metadata": metadata,
        "payment_intent_data": intent,
        # The patient pays what the ledger says in the account's currency: a localised
        # price (Adaptive Pricing) would arrive as a payment in a currency it is not owed in.
        "adaptive_pricing": {"enabled": False},
        "submit_type": "pay",
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
    }
    if request.customer_ref:
        params["customer"] = request.customer_ref
    if request.setup_future_usage:
        intent["setup_future_usage"] = "off_session"
        if not request.customer_ref:
            params["customer_creation"] = "always"
    return params


def _setup_params(request: SetupRequest) -> dict[str, Any]:
    metadata = dict(request.metadata)
    params: dict[str, Any] = {
        "mode": "setup",
        "currency": request.currency.lower(),
        "metadata": metadata,
        "setup_intent_data": {"metadata": metadata},
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
    }
    if request.customer_ref:
        params["customer"] = request.customer_ref
    else:
        # Autopay charges the card later, off-session: it must belong to a customer.
        params["customer_creation"] = "always"
    return params


def _charge_params(request: ChargeRequest) -> dict[str, Any]:
    return {
        "amount": request.amount.minor,
        "currency": request.amount.currency.lower(),
        "customer": request.customer_ref,
        "payment_method": request.method_ref,
        "off_session": True,
        "confirm": True,
        "description": request.description,
        "metadata": dict(request.metadata),
    }


def _declined(exc: stripe.CardError) -> ChargeResult:
    """Stripe's card error as a result: the decline code where the bank gave one
    (``insufficient_funds``), else the error code (``card_declined``,
    ``authentication_required``); the PaymentIntent it left, if any."""
    body = exc.json_body.get("error", {}) if isinstance(exc.json_body, dict) else {}
    intent = body.get("payment_intent") or {}
    failure = body.get("decline_code") or exc.code or "card_declined"
    ref = intent.get("id") if isinstance(intent, dict) else None
    return ChargeResult(ok=False, payment_ref=ref, failure=str(failure))


class StripeGateway:
    """:class:`core.ports.PaymentGateway` on Stripe Checkout (and :class:`StripeLookup`)."""

    def __init__(self, settings: Settings) -> None:
        self._http = stripe.AIOHTTPClient(timeout=TIMEOUT)
        # Retrying is safe: every write carries its idempotency key.
        self._client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses={"api": settings.stripe_api_base},
            http_client=self._http,
            max_network_retries=2,
        )

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                _payment_params(request),  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as exc:
            log.warning("stripe checkout failed: %s (%s)", type(exc).__name__, exc.code)
            raise GatewayUnavailable from exc
        return CheckoutSession(session.id, str(session.url))

    async def create_setup(self, request: SetupRequest) -> CheckoutSession:
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                _setup_params(request),  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as exc:
            log.warning("stripe setup session failed: %s (%s)", type(exc).__name__, exc.code)
            raise GatewayUnavailable from exc
        return CheckoutSession(session.id, str(session.url))

    async def refund(
        self,
        payment_ref: str,
        amount: Money,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Stripe keeps an idempotency key for 24 hours only: the refund carries its key
        in its metadata too, and a refund made under the key before is looked up first,
        so asking again days later never refunds twice."""
        marked = {**(metadata or {}), REFUND_KEY: idempotency_key}
        try:
            listed = await self._client.v1.refunds.list_async(
                {"payment_intent": payment_ref, "limit": 100}
            )
            for made in listed.data:
                if (made.to_dict().get("metadata") or {}).get(REFUND_KEY) == idempotency_key:
                    return str(made.id)
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": payment_ref, "amount": amount.minor, "metadata": marked},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            log.warning("stripe refund failed: %s (%s)", type(exc).__name__, exc.code)
            raise GatewayUnavailable from exc
        return str(refund.id)

    async def charge_saved(self, request: ChargeRequest) -> ChargeResult:
        """A PaymentIntent confirmed at once, off-session, on the saved card (AR-148).
        A decline (Stripe's 402, including ``authentication_required`` when the bank
        wants the patient present) is a result; anything else raises
        :class:`GatewayUnavailable` and the caller asks again under the same key."""
        try:
            intent = await self._client.v1.payment_intents.create_async(
                _charge_params(request),  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as exc:
            return _declined(exc)
        except stripe.StripeError as exc:
            log.warning("stripe off-session charge failed: %s (%s)", type(exc).__name__, exc.code)
            raise GatewayUnavailable from exc
        if intent.status == "succeeded":
            return ChargeResult(ok=True, payment_ref=intent.id)
        # requires_action and the like: the bank wants the cardholder; not charged.
        return ChargeResult(ok=False, payment_ref=intent.id, failure=str(intent.status))

    async def movements(self, start: datetime, end: datetime) -> list[GatewayMovement]:
        """Stripe's balance transactions of the period, for the reconciliation (AR-180)."""
        from bot.patient.stripe_movements import stripe_movements

        try:
            return await stripe_movements(self._client, start, end)
        except stripe.StripeError as exc:
            log.warning("stripe balance transactions failed: %s", type(exc).__name__)
            raise ArbotError(
                f"Stripe did not give its balance transactions ({type(exc).__name__}); "
                "try again later"
            ) from exc

    async def saved_card(self, setup_intent: str) -> SavedCard:
        intent = await self._client.v1.setup_intents.retrieve_async(setup_intent)
        customer, method = intent.customer, intent.payment_method
        if not customer or not method:
            raise NotFound(f"setup {setup_intent} saved no card for a customer")
        return SavedCard(_id_of(customer), _id_of(method))

    async def charge_payment(self, charge: str) -> str | None:
        found = await self._client.v1.charges.retrieve_async(charge)
        return _id_of(found.payment_intent) if found.payment_intent else None

    async def charge_refunds(self, charge: str) -> list[Mapping[str, Any]]:
        page = await self._client.v1.refunds.list_async({"charge": charge, "limit": 100})
        return [refund.to_dict() for refund in page.data]


def _id_of(value: object) -> str:
    """An expandable field: the id string, or the expanded object's id."""
    return value if isinstance(value, str) else str(getattr(value, "id", value))


@dataclass(frozen=True, slots=True)
class LocalSession:
    """A local test checkout, as its signed id carries it."""

    id: str
    mode: str
    amount: Money | None
    currency: str
    metadata: Mapping[str, str]
    idempotency_key: str
    success_url: str
    cancel_url: str

    @property
    def payment_ref(self) -> str:
        """The made-up PaymentIntent id: one per session, so paying twice pays once."""
        return f"pi_local_{_digest(self.id)}"

    @property
    def setup_intent(self) -> str:
        return f"seti_local_{_digest(self.id)}"

    def completed_event(self, created: int) -> dict[str, Any]:
        """The ``checkout.session.completed`` event Stripe would send for this session,
        with the fields the webhook reads where Stripe puts them. Its id is one per
        session, so a second press of Pay is a duplicate delivery."""
        paying = self.mode == "payment"
        session = {
            "id": self.id,
            "object": "checkout.session",
            "mode": self.mode,
            "status": "complete",
            "payment_status": "paid" if paying else "no_payment_required",
            "amount_total": self.amount.minor if self.amount else None,
            "currency": self.currency.lower(),
            "metadata": dict(self.metadata),
            "payment_intent": self.payment_ref if paying else None,
            "setup_intent": None if paying else self.setup_intent,
            "customer": None,
            "livemode": False,
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
        }
        return {
            "id": f"evt_local_{_digest(self.id)}",
            "object": "event",
            "type": "checkout.session.completed",
            "api_version": None,
            "created": created,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": session},
        }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def make_gateway(settings: Settings) -> StripeGateway | LocalGateway:
    """Stripe when ``STRIPE_SECRET_KEY`` is set, else the local test checkout."""
    return StripeGateway(settings) if settings.stripe_secret_key else LocalGateway(settings)


class LocalGateway:
    """The gateway without Stripe keys: sessions are signed ids of local test pages."""

    def __init__(self, settings: Settings) -> None:
        self._key = hashlib.sha256(b"arbot local checkout\0" + settings.database_url.encode())
        self._base = base_url(settings)

    def _sign(self, body: str) -> str:
        return hmac.new(self._key.digest(), body.encode(), hashlib.sha256).hexdigest()[:32]

    def _session(self, fields: dict[str, Any]) -> CheckoutSession:
        body = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode())
        text = body.decode().rstrip("=")
        session_id = f"{LOCAL_PREFIX}{text}.{self._sign(text)}"
        return CheckoutSession(session_id, f"{self._base}/pay/test/{session_id}")

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        return self._session(
            {
                "mode": "payment",
                "amount": request.amount.minor,
                "currency": request.amount.currency,
                "metadata": dict(request.metadata),
                "key": request.idempotency_key,
                "success": request.success_url,
                "cancel": request.cancel_url,
            }
        )

    async def create_setup(self, request: SetupRequest) -> CheckoutSession:
        return self._session(
            {
                "mode": "setup",
                "currency": request.currency,
                "metadata": dict(request.metadata),
                "key": request.idempotency_key,
                "success": request.success_url,
                "cancel": request.cancel_url,
            }
        )

    def open(self, session_id: str) -> LocalSession:
        """The session a local test page id stands for; :class:`NotFound` if the id was
        not made by this deployment (altered, or made up)."""
        missing = NotFound("this test checkout does not exist; open the pay link again")
        if not session_id.startswith(LOCAL_PREFIX) or "." not in session_id:
            raise missing
        text, mac = session_id.removeprefix(LOCAL_PREFIX).rsplit(".", 1)
        if not hmac.compare_digest(mac, self._sign(text)):
            raise missing
        fields = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        amount = fields.get("amount")
        return LocalSession(
            id=session_id,
            mode=fields["mode"],
            amount=None if amount is None else Money(int(amount), fields["currency"]),
            currency=fields["currency"],
            metadata=fields["metadata"],
            idempotency_key=fields["key"],
            success_url=fields["success"],
            cancel_url=fields["cancel"],
        )

    async def refund(
        self,
        payment_ref: str,
        amount: Money,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        # No money moved, so none goes back: the refund id is all there is to make.
        return f"re_local_{_digest(f'{payment_ref}:{idempotency_key}')}"

    async def saved_card(self, setup_intent: str) -> SavedCard:
        return SavedCard(f"cus_local_{_digest(setup_intent)}", f"pm_local_{_digest(setup_intent)}")

    async def charge_saved(self, request: ChargeRequest) -> ChargeResult:
        # No card, no money: a demo's autopay always succeeds, once per key.
        return ChargeResult(ok=True, payment_ref=f"pi_local_{_digest(request.idempotency_key)}")

    async def charge_payment(self, charge: str) -> str | None:
        return None

    async def charge_refunds(self, charge: str) -> list[Mapping[str, Any]]:
        return []

    async def close(self) -> None:
        return None
