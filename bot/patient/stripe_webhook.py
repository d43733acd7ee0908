"""Stripe's signed webhook, ``POST /stripe/webhook``: how a payment arrives (AR-023).

Stripe signs each delivery (``Stripe-Signature: t=<time>,v1=<HMAC-SHA256>``) with the
endpoint's secret (``STRIPE_WEBHOOK_SECRET``); ``stripe.Webhook.construct_event`` checks
it with Stripe's 300-second tolerance. Anything unsigned, signed with another secret or
older than that gets 401, a payload that is not an event 400, and nothing changes.

Stripe delivers at least once and in no particular order, so a payment shows up as
``checkout.session.completed`` *and* ``payment_intent.succeeded``, each perhaps several
times. Each event id is claimed once (:func:`core.patients.inbox.claim_event`); both
event types carry the PaymentIntent id and the pay link's metadata (it is copied onto
the PaymentIntent), and the core posts a PaymentIntent once whichever comes first:
one ledger entry, one receipt. ``charge.refunded`` posts each refund of the charge
that has succeeded (a pending one when ``charge.refund.updated`` says it settled) --
one that paid out a refund staff approved (``arbot_refund_request`` in its metadata) is
recorded as that payout (:mod:`core.approvals.payouts`), not taken back again --
``charge.dispute.created`` flags the items and reverses the payment (AR-078, AR-119),
and a setup session's completion turns on a plan's autopay with the saved card.

What the answer tells Stripe:

- 200 once handled, for a duplicate, for a type arbot does not handle, and for events
  that are not arbot's (no arbot metadata: a payment taken in Stripe's dashboard).
- 200, logged as an error with ids only, for a payment whose account is gone: the event
  is authentic and final, so retrying cannot make the account exist, and an endpoint
  that keeps failing is switched off by Stripe -- which would stop good payments too.
  The money is in Stripe, findable by the logged PaymentIntent id.
- 200, logged as an error, when the core refuses the event for good (a plan that
  ended before its card was saved, a closed period): a retry would be refused alike.
- 500 when a refund or dispute names a payment the ledger does not have yet (its own
  events are still on the way): the claim is released and Stripe's retry finds it.
  Any unexpected failure is likewise 500, released, for Stripe to retry.

The local test checkout (:mod:`bot.patient.payweb`) completes through
:func:`process_event` too, with an event of the same shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import stripe
from aiohttp import web

from bot.patient.context import PatientContext
from bot.patient.stripe_gateway import StripeLookup
from core.approvals.payouts import METADATA_KEY, record_card_payout
from core.errors import ArbotError, NotFound
from core.money import Money
from core.patients.clawbacks import STRIPE
from core.patients.gateway import (
    GatewayOutcome,
    GatewayPayment,
    record_gateway_dispute,
    record_gateway_payment,
    record_gateway_refund,
)
from core.patients.inbox import claim_event, finish_event, release_event
from core.plans import set_autopay

log = logging.getLogger(__name__)
SOURCE = "stripe"
TOLERANCE = 300
"""Seconds a signature stays valid: Stripe's own default, named by issue 5."""
WEBHOOK_PATH = "/stripe/webhook"


@dataclass(frozen=True, slots=True)
class Handled:
    """What became of one event: the HTTP status Stripe gets and a word for the log."""

    status: int
    note: str
    outcomes: tuple[GatewayOutcome, ...] = ()


class NotYet(Exception):
    """The event refers to a payment the ledger does not have yet: Stripe should retry."""


Handler = Callable[[PatientContext, Mapping[str, Any], Mapping[str, Any]], Awaitable[Handled]]


async def process_event(ctx: PatientContext, event: Mapping[str, Any]) -> Handled:
    """Handle one verified event once: claim its id, act, then finish the claim (or
    release it when Stripe should retry). Receipts go out for first postings only."""
    event_id, kind = str(event["id"]), str(event["type"])
    handler = HANDLERS.get(kind)
    if handler is None:
        return Handled(200, "ignored")
    if not await claim_event(ctx.db, SOURCE, event_id):
        return Handled(200, "duplicate")
    try:
        handled = await handler(ctx, event, event["data"]["object"])
    except NotYet:
        log.info("stripe event %s (%s): payment not posted yet, retry", event_id, kind)
        handled = Handled(500, "payment not recorded yet")
    except ArbotError as exc:  # refused for good: a retry would be refused the same way
        log.error("stripe event %s (%s) refused: %s", event_id, kind, type(exc).__name__)
        handled = Handled(200, "refused")
    except Exception:
        log.exception("stripe event %s (%s) failed", event_id, kind)
        handled = Handled(500, "failed")
    if handled.status >= 500:
        await release_event(ctx.db, SOURCE, event_id)
        return handled
    await finish_event(ctx.db, SOURCE, event_id)
    log.info("stripe event %s (%s): %s", event_id, kind, handled.note)
    for outcome in handled.outcomes:
        if outcome.first_time and ctx.notify is not None:
            try:
                await ctx.notify(outcome)
            except Exception:  # the posting stands; a lost receipt must not undo it
                log.exception("receipt for stripe event %s was not sent", event_id)
    return handled


def _money(amount: object, currency: object) -> Money:
    return Money(int(str(amount)), str(currency).upper())


def _payment(
    metadata: Mapping[str, Any], payment_ref: str | None, amount: Money
) -> GatewayPayment | None:
    """The payment a pay link's metadata describes (see core.patients.paylinks), or None
    when the metadata is not arbot's. The date is left to the core: today, by its clock."""
    account, kind = metadata.get("arbot_account"), metadata.get("arbot_kind") or "payment"
    if not payment_ref or not account or not str(account).isdigit():
        return None
    items = str(metadata.get("arbot_items") or "")
    token = str(metadata.get("arbot_token") or "")
    return GatewayPayment(
        payment_ref=payment_ref,
        amount=amount,
        account_id=int(account),
        item_ids=tuple(int(i) for i in items.split(",") if i.strip().isdigit()),
        token_id=int(token) if token.isdigit() else None,
        kind=str(kind),
    )


async def _pay(
    ctx: PatientContext, metadata: Mapping[str, Any], payment_ref: str | None, amount: Money
) -> Handled:
    payment = _payment(metadata, payment_ref, amount)
    if payment is None:
        return Handled(200, "not an arbot payment")
    try:
        outcome = await record_gateway_payment(ctx.db, payment)
    except NotFound:
        log.error(
            "stripe payment %s for account %s cannot be posted: no such account",
            payment_ref,
            payment.account_id,
        )
        return Handled(200, "account not found")
    return Handled(200, "posted" if outcome.first_time else "already posted", (outcome,))


async def on_session_completed(
    ctx: PatientContext, event: Mapping[str, Any], session: Mapping[str, Any]
) -> Handled:
    if session.get("mode") == "setup":
        return await _save_card(ctx, session)
    if session.get("mode") != "payment" or session.get("payment_status") != "paid":
        # A delayed method (a bank debit) is paid later: async_payment_succeeded says so.
        return Handled(200, "not paid yet")
    amount = _money(session["amount_total"], session["currency"])
    return await _pay(ctx, session.get("metadata") or {}, session.get("payment_intent"), amount)


async def on_intent_succeeded(
    ctx: PatientContext, event: Mapping[str, Any], intent: Mapping[str, Any]
) -> Handled:
    amount = _money(intent["amount_received"], intent["currency"])
    return await _pay(ctx, intent.get("metadata") or {}, intent["id"], amount)


async def _save_card(ctx: PatientContext, session: Mapping[str, Any]) -> Handled:
    plan = (session.get("metadata") or {}).get("arbot_plan")
    setup_intent = session.get("setup_intent")
    if not plan or not setup_intent:
        return Handled(200, "not an arbot setup")
    card = await _lookup(ctx).saved_card(str(setup_intent))
    await set_autopay(
        ctx.db, plan_id=int(plan), customer_ref=card.customer_ref, method_ref=card.method_ref
    )
    return Handled(200, "autopay on")


async def on_charge_refunded(
    ctx: PatientContext, event: Mapping[str, Any], charge: Mapping[str, Any]
) -> Handled:
    payment_ref = charge.get("payment_intent")
    if not payment_ref:
        return Handled(200, "not a checkout payment")
    listed = charge.get("refunds")
    if isinstance(listed, Mapping) and not listed.get("has_more"):
        refunds = list(listed.get("data") or [])
    else:  # newer API versions leave the list out of the event
        refunds = list(await _lookup(ctx).charge_refunds(str(charge["id"])))
    outcomes = [await _refund(ctx, str(payment_ref), r) for r in refunds]
    posted = tuple(o for o in outcomes if o is not None)
    return Handled(200, f"{len(posted)} refund(s)", posted)


async def on_refund_updated(
    ctx: PatientContext, event: Mapping[str, Any], refund: Mapping[str, Any]
) -> Handled:
    """A refund that was pending when the charge was refunded, now settled."""
    payment_ref = refund.get("payment_intent")
    if not payment_ref:
        return Handled(200, "not a checkout payment")
    outcome = await _refund(ctx, str(payment_ref), refund)
    if outcome is None:
        return Handled(200, "refund not settled")
    return Handled(200, "refund", (outcome,))


async def _refund(
    ctx: PatientContext, payment_ref: str, refund: Mapping[str, Any]
) -> GatewayOutcome | None:
    """Post a refund once it has succeeded; a pending one waits for its update event,
    a failed or cancelled one gave nothing back."""
    if refund.get("status") != "succeeded":
        return None
    request = str((refund.get("metadata") or {}).get(METADATA_KEY) or "")
    if request.isdigit():  # an approved refund paid back to the card: its payout, not a take-back
        await record_card_payout(
            ctx.db,
            actor=STRIPE,
            request_id=int(request),
            payment_ref=payment_ref,
            refund_ref=str(refund["id"]),
            amount=_money(refund["amount"], refund["currency"]),
        )
        return None
    try:
        return await record_gateway_refund(
            ctx.db,
            payment_ref=payment_ref,
            refund_ref=str(refund["id"]),
            amount=_money(refund["amount"], refund["currency"]),
        )
    except NotFound as exc:
        raise NotYet from exc


async def on_dispute_created(
    ctx: PatientContext, event: Mapping[str, Any], dispute: Mapping[str, Any]
) -> Handled:
    payment_ref = dispute.get("payment_intent") or await _lookup(ctx).charge_payment(
        str(dispute["charge"])
    )
    if not payment_ref:
        return Handled(200, "not a checkout payment")
    try:
        outcome = await record_gateway_dispute(
            ctx.db,
            payment_ref=str(payment_ref),
            dispute_ref=str(dispute["id"]),
            amount=_money(dispute["amount"], dispute["currency"]),
            reason=str(dispute.get("reason") or "unknown"),
        )
    except NotFound as exc:
        raise NotYet from exc
    return Handled(200, "dispute recorded", (outcome,))


def _lookup(ctx: PatientContext) -> StripeLookup:
    if not isinstance(ctx.gateway, StripeLookup):
        raise ArbotError("the payment gateway cannot look up Stripe objects")
    return ctx.gateway


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": on_session_completed,
    "checkout.session.async_payment_succeeded": on_session_completed,
    "payment_intent.succeeded": on_intent_succeeded,
    "charge.refunded": on_charge_refunded,
    "charge.refund.updated": on_refund_updated,
    "refund.updated": on_refund_updated,
    "charge.dispute.created": on_dispute_created,
}


def _answer(status: int, note: str) -> web.Response:
    return web.json_response({"received": status < 400, "result": note}, status=status)


def webhook_handler(ctx: PatientContext) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def stripe_webhook(request: web.Request) -> web.Response:
        secret = ctx.settings.stripe_webhook_secret
        payload = await request.read()
        if not secret:
            # An empty secret would accept anything signed with an empty key.
            log.warning("stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set")
            return _answer(401, "not configured")
        signature = request.headers.get("Stripe-Signature")
        try:
            stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE)
            event = json.loads(payload)
            event_id, event_type, data = event["id"], event["type"], event["data"]["object"]
        except stripe.SignatureVerificationError:
            return _answer(401, "bad signature")
        except (ValueError, KeyError, TypeError, AttributeError):
            # Signed, so from Stripe, but not an event: JSON that is no object, no id ...
            return _answer(400, "not a Stripe event")
        if not isinstance(event_id, str) or not isinstance(event_type, str) or not data:
            return _answer(400, "not a Stripe event")
        handled = await process_event(ctx, event)
        return _answer(handled.status, handled.note)

    return stripe_webhook


def mount(app: web.Application, ctx: PatientContext) -> None:
    """Serve ``POST /stripe/webhook`` with the patient context's services."""
    app.router.add_post(WEBHOOK_PATH, webhook_handler(ctx))
