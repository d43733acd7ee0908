"""A patient's documents as PDF files: a payment's receipt (AR-023) and the copy of a
plan's signed agreement (AR-147), served at ``GET /documents/<token>``.

The chat sends the link (:func:`document_choice`) with the receipt and with the plan's
confirmation; :mod:`core.patients.documents` keeps what each token opens. The file is
made when the link is opened: the receipt from the payment as posted
(:func:`core.patients.gateway.receipt_for`), the agreement from the exact text the
patient accepted. Every word comes from ``templates/patient/*_pdf.txt.j2`` in the
chat's language; DejaVu Sans (``templates/fonts/``) prints any name.
"""

from __future__ import annotations

from datetime import UTC
from functools import cache

from aiohttp import web
from fpdf import FPDF

from bot.patient.context import PatientContext
from bot.patient.labels import LABELS
from bot.patient.paying import public_url
from bot.patient.payweb import HEADERS, Route, message
from bot.patient.texts import TEMPLATES, label, say
from core.errors import NotFound
from core.ledger.accounts import load_account
from core.patients.documents import (
    DocumentKind,
    DocumentLink,
    issue_document_link,
    open_document_link,
)
from core.patients.gateway import receipt_for
from core.plans import signed_agreement
from core.ports import Choice

FONTS = TEMPLATES / "fonts"


async def document_choice(
    ctx: PatientContext, kind: DocumentKind, *, account_id: int, ref: str, language: str
) -> Choice:
    """A link button (a numbered link by SMS) that opens the document as a PDF."""
    token = await issue_document_link(
        ctx.db, kind=kind, account_id=account_id, ref=ref, language=language
    )
    url = public_url(ctx, f"/documents/{token}")
    return Choice(f"{kind.value}_pdf", label(language, LABELS[f"{kind.value}_pdf"]), url=url)


@cache
def _fonts_checked() -> bool:
    return (FONTS / "DejaVuSans.ttf").is_file() and (FONTS / "DejaVuSans-Bold.ttf").is_file()


def pdf_of(text: str) -> bytes:
    """``text`` as a one-column PDF: its first line the title, the rest as written."""
    if not _fonts_checked():
        raise RuntimeError(f"the PDF fonts are missing from {FONTS}")
    title, _, body = text.partition("\n")
    pdf = FPDF(format="letter")
    pdf.set_creator("arbot")
    pdf.set_title(title)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 11)
    for line in body.strip("\n").split("\n"):
        pdf.multi_cell(0, 6, line or " ", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


async def _text(ctx: PatientContext, link: DocumentLink) -> tuple[str, str] | None:
    """The document's text and file name; None when it cannot be shown."""
    async with ctx.db.read() as conn:
        account = await load_account(conn, account_id=link.account_id)
        if link.kind is DocumentKind.RECEIPT:
            receipt = await receipt_for(conn, link.ref)
            if receipt is None or receipt.account_id != link.account_id:
                return None
            text = say(link.language, "receipt_pdf", receipt=receipt, account=account)
            return text, f"receipt-{receipt.entry_number}.pdf"
        agreement = await signed_agreement(conn, int(link.ref))
    if agreement is None or agreement.text is None or agreement.account_id != link.account_id:
        return None
    accepted = agreement.accepted_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    text = say(
        link.language,
        "agreement_pdf",
        agreement=agreement,
        account=account,
        accepted_at=accepted,
    )
    return text, f"agreement-{account.number}.pdf"


def serve(ctx: PatientContext) -> Route:
    async def document(request: web.Request) -> web.StreamResponse:
        try:
            link = await open_document_link(ctx.db, request.match_info["token"])
        except NotFound:
            return message("document_not_found")
        found = await _text(ctx, link)
        if found is None:
            return message("document_not_found")
        text, filename = found
        return web.Response(
            body=pdf_of(text),
            content_type="application/pdf",
            headers={**HEADERS, "Content-Disposition": f'inline; filename="{filename}"'},
        )

    return document


def mount(app: web.Application, ctx: PatientContext) -> None:
    app.router.add_get("/documents/{token}", serve(ctx))
