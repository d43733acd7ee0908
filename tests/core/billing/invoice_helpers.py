"""A split visit to invoice (BI-05, BI-14): a patient with an MRN and a home address,
her insurer with a billing address on other terms, and a visit they share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.auth import Actor
from core.billing.charges import ChargeLine, post_charges
from core.billing.invoice import Split
from core.customers import NewCustomer, register_customer
from core.db import Database
from core.ledger.accounts import Account
from core.profile.addresses import add_address
from core.services.payments import record_payment
from tests.core.billing.helpers import service
from tests.core.helpers import ADMIN, usd

DAY = date(2026, 6, 1)


@dataclass(frozen=True, slots=True)
class Visit:
    entry_id: int
    number: str
    ana: Account
    acme: Account


async def person(db: Database, last: str, first: str, **kwargs: object) -> Account:
    return await register_customer(db, ADMIN, NewCustomer(last, first, "USD", **kwargs))  # type: ignore[arg-type]


async def split_visit(db: Database, actor: Actor = ADMIN) -> Visit:
    """Ana's visit: two consultations by Dr Ruiz (hers) and a chest X-ray by Dr Soto,
    80% of it billed to her insurer Acme (Medicare, net 60); she paid 50.00 at the desk.
    Ana owes 160.00 + 24.00 = 184.00 (134.00 open), Acme 96.00."""
    await service(db, "CONS", "80.00", description="Consultation")
    await service(db, "XRAY", "120.00", "imaging", description="Chest X-ray")
    ana = await person(db, "López", "Ana", mrn="MRN-4471")
    acme = await person(
        db,
        "Health",
        "Acme",
        customer_type="insurer",
        financial_class="medicare",
        terms_code="NET60",
    )
    await add_address(db, actor, account_id=ana.id, kind="home", line1="4 Elm Street",
                      line2="Apt 2", city="Austin", region="TX", postal_code="78702",
                      country="US", valid_from=date(2020, 1, 1))  # fmt: skip
    await add_address(db, actor, account_id=acme.id, kind="billing", line1="PO Box 900",
                      city="Dallas", region="TX", postal_code="75201", country="US",
                      valid_from=date(2020, 1, 1))  # fmt: skip
    invoice = await post_charges(
        db,
        actor,
        account_id=ana.id,
        key="visit",
        bill_date=DAY,
        lines=[
            ChargeLine("CONS", 2, DAY, doctor="Dr Ruiz"),
            ChargeLine(
                "XRAY", 1, DAY, doctor="Dr Soto", splits=(Split(acme.id, percent_bp=8_000),)
            ),
        ],
    )
    await record_payment(db, actor, account_id=ana.id, amount=usd("50.00"), received_on=DAY,
                         key="desk", method="cash")  # fmt: skip
    entry = invoice.entry
    return Visit(entry.id, entry.number, ana, acme)
