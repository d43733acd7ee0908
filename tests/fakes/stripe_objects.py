"""Stripe's objects as the fake builds them, and the control side that makes them.

Every object the fake answers with starts as a deep copy of Stripe's published example
(``stripe_fixtures/``) with only the fields a flow changes set, so what the app parses
has the full shape. The control side plays the customer, the dashboard and the
cardholder's bank: it completes Checkout Sessions, pays PaymentIntents (or declines
them off-session), refunds charges and opens disputes, and returns the events Stripe
would send for each.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = json.loads((Path(__file__).parent / "stripe_fixtures" / "objects.json").read_text())


def fixture(kind: str, **fields: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example ``kind`` object with ``fields`` set."""
    obj: dict[str, Any] = copy.deepcopy(FIXTURES[kind])
    obj.update(fields)
    return obj


class StripeObjects:
    """The control side of :class:`~tests.fakes.stripe.FakeStripe`, mixed into it: the
    objects it builds go into the fake's stores (``sessions``, ``payment_intents``,
    ``charges``, ``refunds``, ...), and their events are wrapped by its ``event``."""

    def save_card(self, customer: str | None = None) -> tuple[str, str]:
        """A card saved for ``customer`` (a new one when None): (customer, method)."""
        owner = customer or self.new_id("cus")
        method = self.new_id("pm")
        self.cards[method] = owner
        return owner, method

    def decline(self, method: str, code: str = "insufficient_funds") -> None:
        """Off-session charges on ``method`` are declined with ``code`` from now on
        (``authentication_required``: the bank wants the cardholder present)."""
        self.declines[method] = code

    def accept(self, method: str) -> None:
        """The card works again (the patient topped up their account)."""
        self.declines.pop(method, None)

    def complete(self, session_id: str) -> list[dict[str, Any]]:
        """The customer finishes the session: pay it (``payment``) or save the card
        (``setup``). Returns the events Stripe sends, in Stripe's usual order."""
        session = self.sessions[session_id]
        params = self.session_params[session_id]
        if session["status"] != "open":
            raise AssertionError(f"{session_id} is {session['status']}, not open")
        details = {**FIXTURES["checkout.session"]["customer_details"], "email": None}
        session.update(status="complete", customer_details=details)
        if session["mode"] == "setup":
            return self._complete_setup(session)
        intent_data = params.get("payment_intent_data") or {}
        intent, charge = self._pay(
            session["amount_total"], session["currency"], dict(intent_data.get("metadata") or {})
        )
        session.update(payment_intent=intent["id"], payment_status="paid")
        return [
            self.event("charge.succeeded", charge),
            self.event("payment_intent.succeeded", intent),
            self.event("checkout.session.completed", session),
        ]

    def _pay(
        self, amount: int, currency: str, metadata: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        intent_id, charge_id = self.new_id("pi"), self.new_id("ch")
        charge = fixture(
            "charge",
            id=charge_id,
            amount=amount,
            amount_captured=amount,
            captured=True,
            currency=currency,
            payment_intent=intent_id,
            metadata=metadata,
            description=None,
            source=None,
            transfer_data=None,
            created=int(self.clock()),
        )
        charge["refunds"]["url"] = f"/v1/charges/{charge_id}/refunds"
        intent = fixture(
            "payment_intent",
            id=intent_id,
            amount=amount,
            amount_received=amount,
            currency=currency,
            metadata=metadata,
            status="succeeded",
            latest_charge=charge_id,
            payment_method=self.new_id("pm"),
            client_secret=f"{intent_id}_secret_fake",
            canceled_at=None,
            last_payment_error=None,
            next_action=None,
            processing=None,
            transfer_data=None,
            created=int(self.clock()),
        )
        self.payment_intents[intent_id] = intent
        self.charges[charge_id] = charge
        return intent, charge

    def _decline(
        self,
        amount: int,
        currency: str,
        metadata: dict[str, Any],
        customer: str,
        method: str,
        code: str,
    ) -> web.Response:
        """Stripe's answer to a declined off-session charge: 402, ``card_error``."""
        error_code = code if code == "authentication_required" else "card_declined"
        error: dict[str, Any] = {
            "type": "card_error",
            "code": error_code,
            "message": "Your card was declined.",
            "doc_url": f"https://stripe.com/docs/error-codes/{error_code}",
        }
        if error_code == "card_declined":
            error["decline_code"] = code
        intent = fixture(
            "payment_intent",
            id=self.new_id("pi"),
            amount=amount,
            amount_received=0,
            currency=currency,
            customer=customer,
            metadata=metadata,
            status="requires_payment_method",
            latest_charge=None,
            payment_method=None,
            canceled_at=None,
            last_payment_error=dict(error),
            next_action=None,
            processing=None,
            transfer_data=None,
            created=int(self.clock()),
        )
        self.payment_intents[intent["id"]] = intent
        self.pending_events.append(self.event("payment_intent.payment_failed", intent))
        error["payment_intent"] = intent
        return web.json_response({"error": error}, status=402)

    def _complete_setup(self, session: dict[str, Any]) -> list[dict[str, Any]]:
        setup = self.setup_intents[session["setup_intent"]]
        customer = session["customer"] or self.new_id("cus")
        method = self.new_id("pm")
        self.cards[method] = customer
        setup.update(customer=customer, payment_method=method, status="succeeded")
        session.update(customer=customer)
        return [
            self.event("setup_intent.succeeded", setup),
            self.event("checkout.session.completed", session),
        ]

    def refund(
        self, payment_intent: str, amount: int, status: str = "succeeded"
    ) -> list[dict[str, Any]]:
        """A refund made in Stripe's dashboard; returns the ``charge.refunded`` event.
        A ``pending`` one settles later (:meth:`settle_refund`)."""
        charge = self.charges[self.payment_intents[payment_intent]["latest_charge"]]
        self._refund(charge, amount, {}, status)
        return [self.event("charge.refunded", charge)]

    def settle_refund(self, refund_id: str, status: str = "succeeded") -> list[dict[str, Any]]:
        """A pending refund succeeds (or fails: the money comes back to the balance):
        ``charge.refund.updated``."""
        refund = self.refunds[refund_id]
        refund["status"] = status
        if status == "failed":
            self.refund_failures[refund_id] = int(self.clock())
        charge = self.charges[refund["charge"]]
        for listed in charge["refunds"]["data"]:
            if listed["id"] == refund_id:
                listed["status"] = status
        return [self.event("charge.refund.updated", refund)]

    def refund_events(self, refund_id: str) -> list[dict[str, Any]]:
        """The ``charge.refunded`` event for a refund made through the API."""
        return [self.event("charge.refunded", self.charges[self.refunds[refund_id]["charge"]])]

    def _refund(
        self,
        charge: dict[str, Any],
        amount: int,
        metadata: dict[str, Any],
        status: str = "succeeded",
    ) -> dict[str, Any]:
        refund = fixture(
            "refund",
            id=self.new_id("re"),
            amount=amount,
            charge=charge["id"],
            currency=charge["currency"],
            payment_intent=charge["payment_intent"],
            metadata=dict(metadata),
            status=status,
            created=int(self.clock()),
        )
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, dict(refund))
        return refund

    def dispute(
        self, payment_intent: str, amount: int | None = None, reason: str = "fraudulent"
    ) -> list[dict[str, Any]]:
        """The cardholder's bank disputes the payment: ``charge.dispute.created``."""
        charge = self.charges[self.payment_intents[payment_intent]["latest_charge"]]
        charge["disputed"] = True
        dispute = fixture(
            "dispute",
            id=self.new_id("dp"),
            amount=charge["amount"] if amount is None else amount,
            charge=charge["id"],
            currency=charge["currency"],
            payment_intent=payment_intent,
            reason=reason,
            status="needs_response",
            is_charge_refundable=False,
            created=int(self.clock()),
        )
        self.disputes[dispute["id"]] = dispute
        return [self.event("charge.dispute.created", dispute)]

    def win_dispute(self, dispute_id: str) -> list[dict[str, Any]]:
        """The bank sides with the clinic: the money comes back, ``charge.dispute.closed``."""
        dispute = self.disputes[dispute_id]
        dispute["status"] = "won"
        self.dispute_wins[dispute_id] = int(self.clock())
        return [self.event("charge.dispute.closed", dispute)]
