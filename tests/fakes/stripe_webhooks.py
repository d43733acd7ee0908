"""Stripe's events as the fake sends them: wrapped, signed and POSTed to the app.

Each event is Stripe's example event around a snapshot of the object it is about. It is
signed the way Stripe does (``Stripe-Signature: t=<time>,v1=<HMAC-SHA256(secret,
"<time>.<payload>")>``) so the app's webhook checks a real signature, and delivered in
the order a test gives, one after another or all at once, to see what the app answers.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.fakes.stripe_objects import fixture

API_VERSION = "2025-10-29.clover"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the app answered to one webhook delivery."""

    event_id: str
    event_type: str
    status: int
    body: str


class WebhookSender:
    """The event side of :class:`~tests.fakes.stripe.FakeStripe`, mixed into it: it takes
    ids from the fake's counter, signs with its ``webhook_secret`` and keeps what the
    app answered in its ``deliveries``."""

    def event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """An event envelope (Stripe's example event) around a snapshot of ``obj``."""
        return fixture(
            "event",
            id=self.new_id("evt"),
            type=kind,
            api_version=API_VERSION,
            created=int(time.time()),
            pending_webhooks=1,
            request={"id": self.new_id("req"), "idempotency_key": None},
            data={"object": copy.deepcopy(obj)},
        )

    async def deliver(
        self,
        events: Iterable[dict[str, Any]],
        *,
        url: str | None = None,
        concurrently: bool = False,
    ) -> list[Delivery]:
        """POST each event, signed, to the webhook in the order given (an event listed
        twice is delivered twice); ``concurrently`` sends them all at once."""
        target = url or self.webhook_url
        async with aiohttp.ClientSession() as client:

            async def post(event: dict[str, Any]) -> Delivery:
                payload = json.dumps(event, indent=2)
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": sign(payload, self.webhook_secret),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                }
                async with client.post(target, data=payload.encode(), headers=headers) as r:
                    body = await r.text()
                return Delivery(event["id"], event["type"], r.status, body)

            if concurrently:
                done = await asyncio.gather(*(post(e) for e in events))
            else:
                done = [await post(e) for e in events]
        self.deliveries.extend(done)
        return list(done)


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256)
    return f"t={stamp},v1={mac.hexdigest()}"
