"""What a patient may pay for ahead of treatment, offered from the catalogue (BI-07, AR-087).

The clinic's promotions for prepaid treatment are the catalogue's prepaid-bundle pricing
rules (:mod:`core.billing.pricing`, ``requires_prepayment``): a lower unit price for a
service that is paid before it is given. Each rule open to everyone (not one patient's,
payer's or financial class's deal) that is valid today at the patient's location is an
offer: the service, the words a statement shows for it, and the prepaid price of one
unit. The money the patient pays is held as a prepayment for that service
(:mod:`core.billing.prepaid`) and used up when the service is billed, at the bundle rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.pricing import Buyer, Rule, load_price_book
from core.billing.tables import pricing_rule
from core.money import Money


@dataclass(frozen=True, slots=True)
class PrepayOffer:
    """One service a patient may prepay: ``price`` is one unit at the prepaid rate."""

    service_code: str
    description: str
    price: Money


async def prepay_offers(conn: AsyncConnection, *, location: str, on: date) -> list[PrepayOffer]:
    """The prepaid-bundle offers valid on ``on`` at ``location``, by service code.

    Where several bundle rules cover one service, the one pricing would pick for a
    patient holding a prepayment for it is the offer (the same rule the charge will use).
    """
    codes = (
        (
            await conn.execute(
                select(pricing_rule.c.service_code)
                .where(
                    pricing_rule.c.requires_prepayment.is_(True),
                    pricing_rule.c.active.is_(True),
                    pricing_rule.c.service_code.is_not(None),
                )
                .distinct()
            )
        )
        .scalars()
        .all()
    )
    codes = [c for c in codes if c]
    if not codes:
        return []
    book = await load_price_book(conn, codes)
    offers = []
    for code in sorted(book.services):
        svc = book.services[code]
        if not svc.active:
            continue
        # No one in particular who has prepaid the service: a rule for one patient,
        # payer or financial class does not match, so only deals open to all are offers.
        holder = Buyer(
            account_id=0,
            financial_class="",
            payer_account_id=0,
            prepaid_services=frozenset({code}),
        )
        bundles = [
            r for r in book.rules if r.requires_prepayment and r.matches(holder, svc, on, location)
        ]
        if not bundles:
            continue
        best = min(bundles, key=Rule.rank)
        unit = book.list_price(svc, location, on)
        offers.append(PrepayOffer(code, svc.description, Money(best.total(unit, 1), svc.currency)))
    return offers
