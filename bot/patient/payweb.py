"""The pay page a patient's link opens, and the local test checkout (AR-017, BI-23).

``GET /pay/<token>`` shows what the link asks for now -- the account number and the
amount -- and a Pay button; nothing else. It creates nothing: SMS apps and Telegram
fetch links to preview them, and a preview must not open a payment. ``POST`` (the
button) works the amount out again (:func:`core.patients.paylinks.open_pay_link`),
asks the gateway for a hosted payment page and answers 303 to it. The order's
idempotency key makes a double press open one session. An unknown or expired link is a
404 page with a plain sentence; a link with nothing left to pay says so.

Stripe sends the patient back to ``/pay/done`` or ``/pay/cancelled``; neither carries
the token, which stays out of Stripe's hands and out of referrers (``no-referrer``).

Without Stripe keys the gateway is :class:`~bot.patient.stripe_gateway.LocalGateway`
and the hosted page is ``/pay/test/<session>``, marked "TEST — no real money" on every
page: its Pay button completes the payment through the webhook's own
:func:`~bot.patient.stripe_webhook.process_event`, with a ``checkout.session.completed``
event of Stripe's shape. With a real gateway those addresses are 404.

No page has a card field, and every answer is ``no-store`` and ``noindex``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from aiohttp import web
from jinja2 import Environment

from bot.patient.context import PatientContext
from bot.patient.stripe_gateway import GatewayUnavailable, LocalGateway, base_url
from bot.patient.stripe_webhook import process_event
from core.errors import InvalidState, NotFound
from core.patients.paylinks import PayChoice, PayOrder, open_pay_link
from core.ports import CheckoutRequest
from core.reports.render import environment

log = logging.getLogger(__name__)
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
"""On every answer: nothing cached or indexed, the token never sent on as a referrer."""

WHAT = {
    PayChoice.BALANCE: "Your balance.",
    PayChoice.OVERDUE: "The part of your balance that is past due.",
    PayChoice.INSTALMENT: "Your next payment plan instalment.",
    PayChoice.AMOUNT: "The amount you chose to pay.",
    PayChoice.PREPAY: "A prepayment for upcoming treatment.",
}
PAGES = {
    "document_not_found": (
        404,
        "Document not available",
        "This document link is not valid or has expired. "
        "Ask for your receipt or agreement in your chat with the clinic.",
    ),
    "not_found": (
        404,
        "Link not valid",
        "This payment link is not valid or has expired. "
        "Ask for a new one in your chat with the clinic.",
    ),
    "nothing_owed": (
        200,
        "Nothing to pay",
        "There is nothing to pay on this account now. Thank you.",
    ),
    "done": (
        200,
        "Thank you",
        "You can close this page. A payment's receipt arrives in "
        "your chat with the clinic in a moment.",
    ),
    "cancelled": (
        200,
        "No payment made",
        "Nothing was charged. You can open the link in your chat again whenever you are ready.",
    ),
    "unavailable": (
        502,
        "Please try again",
        "The payment page could not be opened just "
        "now; nothing was charged. Please try again in a few minutes.",
    ),
    "off": (
        503,
        "Payments unavailable",
        "Card payments are not set up at this clinic yet. Please contact the clinic to pay.",
    ),
    "not_recorded": (
        500,
        "Please try again",
        "The test payment could not be recorded just now. Please press Pay again.",
    ),
}


@cache
def _html() -> Environment:
    return environment("en_US").overlay(autoescape=True)


def page(template: str, status: int = 200, **context: Any) -> web.Response:
    """A page from ``templates/patient/web/``, with the security headers."""
    body = _html().get_template(f"patient/web/{template}.html.j2").render(lang="en", **context)
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
    )


def message(name: str, *, test: bool = False) -> web.Response:
    status, heading, sentence = PAGES[name]
    return page("message", status, heading=heading, sentence=sentence, test=test)


def see_other(url: str) -> web.Response:
    return web.Response(status=303, headers={**HEADERS, "Location": url})


async def _order(ctx: PatientContext, token: str) -> PayOrder | web.Response:
    try:
        return await open_pay_link(ctx.db, token)
    except NotFound:
        return message("not_found")
    except InvalidState:
        return message("nothing_owed")


def show_link(ctx: PatientContext) -> Route:
    async def pay_page(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        order = await _order(ctx, token)
        if isinstance(order, web.Response):
            return order
        return page(
            "pay",
            token=token,
            amount=order.amount,
            account_number=order.account_number,
            what=WHAT[order.choice],
            test=isinstance(ctx.gateway, LocalGateway),
        )

    return pay_page


def open_link(ctx: PatientContext) -> Route:
    async def pay(request: web.Request) -> web.Response:
        if ctx.gateway is None:
            return message("off")
        order = await _order(ctx, request.match_info["token"])
        if isinstance(order, web.Response):
            return order
        base = base_url(ctx.settings)
        checkout = CheckoutRequest(
            amount=order.amount,
            description=order.description,
            metadata=order.metadata,
            idempotency_key=order.idempotency_key,
            success_url=f"{base}/pay/done",
            cancel_url=f"{base}/pay/cancelled",
        )
        try:
            session = await ctx.gateway.create_checkout(checkout)
        except GatewayUnavailable:
            return message("unavailable")
        log.info("pay link %s opened checkout %s", order.token_id, session.id)
        return see_other(session.url)

    return pay


def _local(ctx: PatientContext) -> LocalGateway | None:
    return ctx.gateway if isinstance(ctx.gateway, LocalGateway) else None


def show_test(ctx: PatientContext) -> Route:
    async def test_page(request: web.Request) -> web.Response:
        gateway = _local(ctx)
        if gateway is None:
            raise web.HTTPNotFound()
        try:
            session = gateway.open(request.match_info["session"])
        except NotFound:
            return message("not_found", test=True)
        return page(
            "test_checkout",
            session_id=session.id,
            amount=session.amount,
            cancel_url=session.cancel_url,
        )

    return test_page


def pay_test(ctx: PatientContext) -> Route:
    async def test_pay(request: web.Request) -> web.Response:
        gateway = _local(ctx)
        if gateway is None:
            raise web.HTTPNotFound()
        try:
            session = gateway.open(request.match_info["session"])
        except NotFound:
            return message("not_found", test=True)
        event = session.completed_event(int(ctx.db.clock.now().timestamp()))
        handled = await process_event(ctx, event)
        if handled.status >= 500:
            return message("not_recorded", test=True)
        return see_other(session.success_url)

    return test_pay


def mount(app: web.Application, ctx: PatientContext) -> None:
    """Serve the pay pages. The fixed paths come before ``/pay/{token}``, which would
    otherwise take ``done`` for a token."""
    for name in ("done", "cancelled"):
        app.router.add_get(f"/pay/{name}", _static(name))
    app.router.add_get("/pay/test/{session}", show_test(ctx))
    app.router.add_post("/pay/test/{session}", pay_test(ctx))
    app.router.add_get("/pay/{token}", show_link(ctx))
    app.router.add_post("/pay/{token}", open_link(ctx))


def _static(name: str) -> Route:
    async def static(request: web.Request) -> web.Response:
        return message(name)

    return static
