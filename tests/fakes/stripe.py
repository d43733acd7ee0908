"""A fake Stripe that speaks real HTTP on 127.0.0.1, and Stripe's way of signing webhooks.

The fake stands in for the parts of Stripe's API arbot calls, as ``stripe.StripeClient``
reaches them (form-encoded bodies with bracketed keys, ``Authorization: Bearer <key>``,
an ``Idempotency-Key`` header):

- ``POST /v1/checkout/sessions`` (mode ``payment`` or ``setup``), honouring the
  idempotency key as Stripe does: the same key with the same parameters answers the
  first session again, with other parameters a 400 ``idempotency_error``;
- ``GET /v1/checkout/sessions/{id}``, ``GET /v1/setup_intents/{id}``,
  ``GET /v1/charges/{id}``, ``GET /v1/refunds?charge=|payment_intent=`` and ``POST /v1/refunds``;
- ``GET /v1/balance_transactions`` (created range, paging, ``expand[]=data.source``):
  each captured charge, succeeded refund and dispute as it moved the balance;
- ``POST /v1/payment_intents`` confirmed off-session on a saved card (autopay): it
  succeeds, or -- for a card the test chose with :meth:`FakeStripe.decline` -- answers
  Stripe's 402 ``card_error`` with the decline code and the PaymentIntent it left. A
  card must have been saved for the customer (a setup session, or :meth:`save_card`).
  Declines are answered again for the same idempotency key, as Stripe does.

Every object is built from Stripe's published example objects (``stripe_fixtures/``),
with only the fields a flow changes set, so what the app parses has the full shape.

The control side plays the customer and Stripe's event sender: :meth:`FakeStripe.complete`
pays (or saves a card in) a session and returns the events Stripe would send for it,
:meth:`FakeStripe.refund` (and :meth:`FakeStripe.settle_refund` for one that was pending)
and :meth:`FakeStripe.dispute` do the same for a refund made in the dashboard and a
chargeback. :meth:`FakeStripe.deliver` signs events the way Stripe
does (``Stripe-Signature: t=<time>,v1=<HMAC-SHA256(secret, "<time>.<payload>")>``) and
POSTs them to the app's webhook in the order given, sequentially or all at once.

This module is the server and the fixture tests use. The objects and the control side
are in :mod:`tests.fakes.stripe_objects`, the events and their delivery in
:mod:`tests.fakes.stripe_webhooks`; :class:`FakeStripe` mixes them in.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler

from tests.fakes.stripe_objects import StripeObjects, fixture
from tests.fakes.stripe_webhooks import Delivery, WebhookSender

SECRET_KEY = "sk_test_arbot_fake_0123456789"
WEBHOOK_SECRET = "whsec_arbot_fake_0123456789abcdef"
PARAMS = web.RequestKey("params", dict)
"""The request's parameters, decoded once by the authenticating middleware."""


@dataclass(frozen=True, slots=True)
class Call:
    """One API request the fake received."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass
class FakeStripe(StripeObjects, WebhookSender):
    secret_key: str = SECRET_KEY
    webhook_secret: str = WEBHOOK_SECRET
    base: str = ""
    webhook_url: str = ""
    calls: list[Call] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    session_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The parameters each session was created with, decoded from the form."""
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    setup_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refund_failures: dict[str, int] = field(default_factory=dict)
    """Refund id -> when the bank could not make it (the money came back)."""
    dispute_wins: dict[str, int] = field(default_factory=dict)
    """Dispute id -> when the clinic won it (the money came back, and the fee)."""
    clock: Callable[[], float] = time.time
    """When objects are created (seconds since the epoch): a test may set Stripe's time."""
    deliveries: list[Delivery] = field(default_factory=list)
    cards: dict[str, str] = field(default_factory=dict)
    """Saved payment methods: method id -> customer id."""
    declines: dict[str, str] = field(default_factory=dict)
    """Payment method id -> the decline code its next off-session charges get."""
    refund_refusal: str | None = None
    """While set, ``POST /v1/refunds`` is refused with this error code (Stripe's 400)."""
    pending_events: list[dict[str, Any]] = field(default_factory=list)
    """Events Stripe would send for API-made payments, for a test to :meth:`deliver`."""
    _idempotent: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any], int]] = field(
        default_factory=dict
    )
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def forget_idempotency_keys(self) -> None:
        """What Stripe does to a key 24 hours after its first use."""
        self._idempotent.clear()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}ArbotFake"

    def called(self, method: str, path_prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    @property
    def created_sessions(self) -> list[Call]:
        """Session-creating requests, including idempotent replays."""
        return self.called("POST", "/v1/checkout/sessions")

    # -- the API -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/checkout/sessions/{id}", self._get("sessions"))
        app.router.add_get("/v1/setup_intents/{id}", self._get("setup_intents"))
        app.router.add_get("/v1/charges/{id}", self._get("charges"))
        app.router.add_get("/v1/refunds", self._list_refunds)
        app.router.add_get("/v1/balance_transactions", self._list_balance)
        app.router.add_post("/v1/refunds", self._create_refund)
        app.router.add_post("/v1/payment_intents", self._create_intent)
        app.router.add_get("/v1/payment_intents/{id}", self._get("payment_intents"))
        return app

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        params = decode_form(await request.text()) if request.method == "POST" else {}
        params.update(decode_form(request.query_string))
        self.calls.append(Call(request.method, request.path, params, dict(request.headers)))
        request[PARAMS] = params
        if request.headers.get("Authorization") != f"Bearer {self.secret_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        if (request.path, key) in self._idempotent:
            first_params, first_answer, status = self._idempotent[(request.path, key)]
            if first_params != params:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same "
                    "parameters they were first used with.",
                )
            return web.json_response(
                first_answer, status=status, headers={"Idempotent-Replayed": "true"}
            )
        response = await handler(request)
        # Stripe keeps the result of a request that ran: a success, or a card's decline.
        kept = response.status in (200, 402)
        if isinstance(response, web.Response) and kept and response.text:
            answer = json.loads(response.text)
            self._idempotent[(request.path, key)] = (params, answer, response.status)
        return response

    def _get(self, store: str) -> Any:
        async def get(request: web.Request) -> web.Response:
            obj = getattr(self, store).get(request.match_info["id"])
            if obj is None:
                return _error(404, "invalid_request_error", "No such object", "resource_missing")
            return web.json_response(obj)

        return get

    async def _create_session(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = request[PARAMS]
        mode = params.get("mode")
        if mode not in ("payment", "setup") or not params.get("success_url"):
            return _error(400, "invalid_request_error", "mode and success_url are required")
        session_id = self.new_id("cs_test")
        session = fixture(
            "checkout.session",
            id=session_id,
            mode=mode,
            url=f"{self.base}/c/pay/{session_id}",
            created=int(self.clock()),
            expires_at=int(self.clock()) + 24 * 3600,
            success_url=params["success_url"],
            cancel_url=params.get("cancel_url"),
            metadata=dict(params.get("metadata") or {}),
            customer=params.get("customer"),
            customer_creation=params.get("customer_creation"),
            customer_email=None,
            customer_details=None,
            payment_intent=None,
            payment_status="unpaid",
            status="open",
            currency_conversion=None,
            shipping_cost=None,
            shipping_address_collection=None,
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            invoice_creation=None,
            adaptive_pricing={
                "enabled": (params.get("adaptive_pricing") or {}).get("enabled") != "false"
            },
        )
        if mode == "payment":
            line = params["line_items"][0]
            price = line["price_data"]
            total = int(price["unit_amount"]) * int(line.get("quantity", 1))
            session.update(currency=price["currency"], amount_total=total, amount_subtotal=total)
        else:
            setup = fixture(
                "setup_intent",
                id=self.new_id("seti"),
                client_secret=None,
                created=int(self.clock()),
                metadata=dict((params.get("setup_intent_data") or {}).get("metadata") or {}),
                customer=params.get("customer"),
                last_setup_error=None,
                next_action=None,
            )
            self.setup_intents[setup["id"]] = setup
            session.update(
                currency=params.get("currency"),
                amount_total=None,
                amount_subtotal=None,
                setup_intent=setup["id"],
                payment_status="no_payment_required",
            )
        self.sessions[session_id] = session
        self.session_params[session_id] = params
        return web.json_response(session)

    async def _list_refunds(self, request: web.Request) -> web.Response:
        charge, intent = request[PARAMS].get("charge"), request[PARAMS].get("payment_intent")
        data = [
            r
            for r in reversed(self.refunds.values())
            if charge in (None, r["charge"]) and intent in (None, r["payment_intent"])
        ]
        return web.json_response(
            {"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"}
        )

    def balance_transactions(self) -> list[dict[str, Any]]:
        """What moved on the balance, newest first: each captured charge in (less
        Stripe's 2.9% + 30 fee), each refund that succeeded out, each dispute out (with
        its 15.00 fee)."""
        made = [
            self._txn("charge", c, c["amount"], round(c["amount"] * 0.029) + 30)
            for c in self.charges.values()
            if c.get("captured")
        ]
        made += [
            self._txn("refund", r, -r["amount"], 0)
            for r in self.refunds.values()
            if r["status"] in ("pending", "succeeded", "failed")
        ]
        made += [
            self._txn("refund_failure", self.refunds[ref], self.refunds[ref]["amount"], 0, at)
            for ref, at in self.refund_failures.items()
        ]
        made += [self._txn("adjustment", d, -d["amount"], 1500) for d in self.disputes.values()]
        made += [
            self._txn("adjustment", self.disputes[ref], self.disputes[ref]["amount"], -1500, at)
            for ref, at in self.dispute_wins.items()
        ]
        return sorted(made, key=lambda t: (t["created"], t["id"]), reverse=True)

    def _txn(
        self, kind: str, source: dict[str, Any], amount: int, fee: int, at: int | None = None
    ) -> dict[str, Any]:
        category = {"adjustment": "dispute"}.get(kind, kind)
        created = source["created"] if at is None else at
        suffix = "" if at is None else f"_{kind}_back"
        return fixture(
            "balance_transaction",
            id="txn_" + source["id"].split("_", 1)[1] + suffix,
            type=kind,
            reporting_category=category,
            amount=amount,
            fee=fee,
            net=amount - fee,
            currency=source["currency"],
            created=created,
            available_on=created + 2 * 86400,
            source=source["id"],
            description=None,
        )

    async def _list_balance(self, request: web.Request) -> web.Response:
        """``GET /v1/balance_transactions``: ``created[gte|gt|lte|lt]``, ``limit``,
        ``starting_after`` and ``expand[]=data.source``, as Stripe pages a list."""
        params = request[PARAMS]
        bounds = params.get("created") or {}
        tests = {"gte": int.__ge__, "gt": int.__gt__, "lte": int.__le__, "lt": int.__lt__}
        found = [
            t
            for t in self.balance_transactions()
            if all(tests[op](t["created"], int(v)) for op, v in bounds.items())
        ]
        after = params.get("starting_after")
        if after:
            ids = [t["id"] for t in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        limit = int(params.get("limit", 10))
        page, more = found[:limit], len(found) > limit
        if "data.source" in (params.get("expand") or []):
            stores = (self.charges, self.refunds, self.disputes)
            for t in page:
                t["source"] = next(s[t["source"]] for s in stores if t["source"] in s)
        return web.json_response(
            {"object": "list", "data": page, "has_more": more, "url": "/v1/balance_transactions"}
        )

    async def _create_refund(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        if self.refund_refusal:
            return _error(400, "invalid_request_error", "Refund refused", self.refund_refusal)
        intent = self.payment_intents.get(str(params.get("payment_intent")))
        if intent is None:
            return _error(400, "invalid_request_error", "No such payment_intent")
        amount = int(params.get("amount", intent["amount_received"]))
        charge = self.charges[intent["latest_charge"]]
        if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
            return _error(400, "invalid_request_error", "Refund amount is greater than charge")
        return web.json_response(self._refund(charge, amount, params.get("metadata") or {}))

    async def _create_intent(self, request: web.Request) -> web.Response:
        """An off-session PaymentIntent confirmed at once on a saved card."""
        params = request[PARAMS]
        method, customer = params.get("payment_method"), params.get("customer")
        if params.get("confirm") != "true" or params.get("off_session") != "true":
            return _error(400, "invalid_request_error", "only off-session confirms are faked")
        if method not in self.cards or self.cards[method] != customer:
            return _error(
                400,
                "invalid_request_error",
                f"No such PaymentMethod: '{method}'",
                "resource_missing",
            )
        amount, currency = int(params["amount"]), str(params["currency"])
        metadata = dict(params.get("metadata") or {})
        code = self.declines.get(str(method))
        if code is None:
            intent, charge = self._pay(amount, currency, metadata)
            intent.update(customer=customer, payment_method=method)
            self.pending_events += [
                self.event("charge.succeeded", charge),
                self.event("payment_intent.succeeded", intent),
            ]
            return web.json_response(intent)
        return self._decline(amount, currency, metadata, str(customer), str(method), code)


_KEY = re.compile(r"[^\[\]]+")


def decode_form(body: str) -> dict[str, Any]:
    """A Stripe form body (``line_items[0][price_data][currency]=usd``) as nested dicts
    and lists, the way Stripe reads it."""
    from urllib.parse import parse_qsl

    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = _KEY.findall(key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    result: dict[str, Any] = _listify(root)
    return result


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _error(status: int, kind: str, message: str, code: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"type": kind, "message": message, "code": code}}, status=status
    )


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    """The fake Stripe on an ephemeral 127.0.0.1 port."""
    fake = FakeStripe()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
