"""A split visit to invoice (BI-05, BI-14), and what a reader of the PDF sees: its text,
its images, the colours it fills with."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date

from pypdf import PdfReader

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
_NUMBER = rb"(-?[0-9.]+)"
_FILLED = re.compile(
    rb" ".join([_NUMBER] * 3) + rb" rg\s+" + rb" ".join([_NUMBER] * 4) + rb" re f"
)
_STROKE = re.compile(rb" ".join([_NUMBER] * 3) + rb" RG")
Colour = tuple[int, int, int]


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


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def lines_of(pdf: bytes) -> list[str]:
    return text_of(pdf).splitlines()


def images_of(pdf: bytes) -> list[tuple[int, int]]:
    """The size in pixels of each image on the first page."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    return [image.image.size for image in page.images if image.image is not None]


def _content(pdf: bytes) -> bytes:
    content = PdfReader(io.BytesIO(pdf)).pages[0].get_contents()
    assert content is not None
    return content.get_data()


def _colour(r: bytes, g: bytes, b: bytes) -> Colour:
    return round(float(r) * 255), round(float(g) * 255), round(float(b) * 255)


def filled_rectangles(pdf: bytes) -> list[tuple[Colour, float]]:
    """Each rectangle the first page fills (``r g b rg x y w h re f``): its colour and
    its width in points (612: across a letter page)."""
    return [
        (_colour(r, g, b), float(width))
        for r, g, b, _x, _y, width, _h in _FILLED.findall(_content(pdf))
    ]


def stroke_colours(pdf: bytes) -> set[Colour]:
    """The colours the first page draws lines in (``r g b RG``)."""
    return {_colour(r, g, b) for r, g, b in _STROKE.findall(_content(pdf))}


def page_size(pdf: bytes) -> tuple[float, float]:
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    return float(box.width), float(box.height)
