"""Stripe's balance transactions as :class:`core.ports.GatewayMovement` (AR-180).

``GET /v1/balance_transactions?created[gte]=..&created[lt]=..&expand[]=data.source``,
page by page, through the same ``stripe.StripeClient`` as the rest of the gateway. A
``charge`` (or ``payment``) is a card payment, known by its PaymentIntent; a ``refund``
(or ``payment_refund``) by the refund's id; a dispute (``adjustment`` in the
``dispute`` reporting category) by the dispute's id, ``dispute_won`` when it gives the
money back; a ``refund_failure`` by its refund, a failed bank payment
(``payment_failure_refund``, ``payment_reversal``) as ``payment_failure``. Anything else
(payouts, Stripe's own fees and adjustments) is ``other``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe

from core.ports import GatewayMovement

PAYMENTS = ("charge", "payment")
REFUNDS = ("refund", "payment_refund")
REFUND_FAILURES = ("refund_failure",)
"""A refund the bank could not make: the money comes back to the balance."""
PAYMENT_FAILURES = ("payment_failure_refund", "payment_reversal")
"""A payment (a bank debit) that failed after it was counted: the money goes back."""
PAGE = 100


async def stripe_movements(
    client: stripe.StripeClient, start: datetime, end: datetime
) -> list[GatewayMovement]:
    """Every balance transaction Stripe created from ``start`` up to ``end``."""
    params: dict[str, Any] = {
        "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
        "limit": PAGE,
        "expand": ["data.source"],
    }
    page = await client.v1.balance_transactions.list_async(params)  # type: ignore[arg-type]
    found = []
    while True:
        found += [movement(txn.to_dict()) for txn in page.data]
        if not page.has_more or not page.data:
            return found
        params["starting_after"] = page.data[-1].id
        page = await client.v1.balance_transactions.list_async(params)  # type: ignore[arg-type]


def movement(txn: Mapping[str, Any]) -> GatewayMovement:
    """One balance transaction (its ``source`` expanded, or an id)."""
    source = txn.get("source")
    body: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
    source_id = str(body.get("id") or source or "")
    kind, ref, payment = "other", str(txn.get("id")), None
    txn_type = str(txn.get("type"))
    if txn_type in PAYMENTS:
        payment = _id(body.get("payment_intent")) or source_id
        kind, ref = "payment", payment
    elif txn_type in REFUNDS:
        kind, ref, payment = "refund", source_id, _id(body.get("payment_intent"))
    elif txn_type in REFUND_FAILURES:
        kind, ref, payment = "refund_failure", source_id, _id(body.get("payment_intent"))
    elif txn_type in PAYMENT_FAILURES:
        kind, ref, payment = "payment_failure", source_id, _id(body.get("payment_intent"))
    elif txn.get("reporting_category") == "dispute" or source_id.startswith("dp_"):
        # The money taken when the dispute opens; given back when the clinic wins it.
        won = int(txn.get("amount") or 0) > 0
        kind = "dispute_won" if won else "dispute"
        ref, payment = source_id, _id(body.get("payment_intent"))
    return GatewayMovement(
        kind,
        ref,
        payment,
        int(txn.get("amount") or 0),
        int(txn.get("fee") or 0),
        str(txn.get("currency") or "").upper(),
        datetime.fromtimestamp(int(txn.get("created") or 0), UTC),
    )


def _id(value: object) -> str | None:
    if isinstance(value, Mapping):
        return str(value.get("id")) if value.get("id") else None
    return str(value) if value else None
