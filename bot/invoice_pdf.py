"""A payer's invoice as a branded PDF (BI-05), with the extra fields its financial
class asks for (BI-14).

The practice's details, its logo and its colour head the page: a band of the colour
across the top, the logo and the practice's name, address, phone and tax id, then the
invoice's number and dates. Below them whom it is billed to, the extra fields the
office chose for the payer's class (payment terms, the patient), the lines in a table
whose heading is printed in the practice's colour (a column of service codes, doctors
or locations when chosen), the totals and, for a person, how to pay. Every word comes
from ``templates/reports/invoice_pdf.txt.j2`` in the language asked for, money and
dates as babel writes them there; DejaVu Sans prints any name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from babel import Locale
from fpdf import FPDF
from fpdf.fonts import FontFace

from bot.patient.texts import TEMPLATES, format_locale, patient_environment
from core.billing.invoice_config import InvoiceSetup
from core.billing.payer_invoice import PayerInvoice
from core.money import Money
from core.profile.addresses import Address

FONTS = TEMPLATES / "fonts"
MARGIN = 15.0
WHITE = (255, 255, 255)
GREY = (90, 90, 90)
STRIPE = (242, 244, 247)
NARROWEST_DESCRIPTION = 40.0
"""Below this width (mm) the description column goes to a landscape page."""
_WIDTHS = {
    "date": 22.0,
    "code": 16.0,
    "doctor": 28.0,
    "location": 20.0,
    "quantity": 13.0,
    "unit": 22.0,
    "amount": 22.0,
    "part": 22.0,
}


class _Words:
    """The template's labels, and babel's money and dates, in one language."""

    def __init__(self, language: str, invoice: PayerInvoice, setup: InvoiceSetup) -> None:
        locale = format_locale(language)
        env = patient_environment(locale)
        fields = setup.fields.for_class(invoice.bill_to.financial_class)
        module = env.get_template("reports/invoice_pdf.txt.j2").make_module(
            {"invoice": invoice, "practice": setup.practice, "fields": fields}
        )
        exported: dict[str, Any] = vars(module)
        self.fields = fields
        self.labels = {k: str(v).strip() for k, v in exported.items() if isinstance(v, str)}
        self.descriptions: list[str] = [str(d) for d in exported["descriptions"]]
        self.money: Callable[[Money], str] = env.filters["money"]
        self.day: Callable[[date], str] = env.filters["day"]
        self.countries = Locale.parse(locale).territories

    def __getitem__(self, name: str) -> str:
        return self.labels[name]

    def address(self, address: Address | None) -> list[str]:
        if address is None:
            return []
        place = " ".join(p for p in (address.region, address.postal_code) if p)
        city = f"{address.city}, {place}" if place else address.city
        country = str(self.countries.get(address.country, address.country))
        return [line for line in (address.line1, address.line2, city, country) if line]


class _Page(FPDF):
    def __init__(self, footer: str, colour: tuple[int, int, int], landscape: bool) -> None:
        super().__init__(orientation="L" if landscape else "P", format="letter")
        self.footer_text = footer
        self.colour = colour

    def footer(self) -> None:
        self.set_y(-14)
        self.set_draw_color(*self.colour)
        self.set_line_width(0.3)
        self.line(MARGIN, self.get_y(), self.w - MARGIN, self.get_y())
        self.set_font("DejaVu", "", 8)
        self.set_text_color(*GREY)
        text = self.footer_text.replace("{page}", str(self.page_no()))
        self.cell(0, 8, text, align="C")


def invoice_pdf(invoice: PayerInvoice, setup: InvoiceSetup, language: str = "en") -> bytes:
    """``invoice`` as a PDF in ``language`` (``en`` or ``es``), branded as ``setup`` says."""
    if not (FONTS / "DejaVuSans.ttf").is_file() or not (FONTS / "DejaVuSans-Bold.ttf").is_file():
        raise RuntimeError(f"the PDF fonts are missing from {FONTS}")
    words = _Words(language, invoice, setup)
    columns = _columns(words, invoice)
    fixed = sum(_WIDTHS[c] for c in columns if c != "description")
    landscape = 215.9 - 2 * MARGIN - fixed < NARROWEST_DESCRIPTION
    pdf = _Page(words["page_footer"], setup.colour, landscape)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_creator("arbot")
    pdf.set_title(f"{words['title']} {invoice.number}")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    _header(pdf, words, invoice, setup)
    _bill_to(pdf, words, invoice)
    _lines(pdf, words, invoice, columns)
    _totals(pdf, words, invoice)
    _notes(pdf, words)
    return bytes(pdf.output())


def _header(pdf: _Page, words: _Words, invoice: PayerInvoice, setup: InvoiceSetup) -> None:
    """The colour band, the logo and the practice at the left, the invoice at the right."""
    pdf.set_fill_color(*setup.colour)
    pdf.rect(0, 0, pdf.w, 9, style="F")
    top, left = 16.0, MARGIN
    bottom = top
    if setup.logo is not None:
        shown = pdf.image(str(setup.logo), x=left, y=top, w=45, h=20, keep_aspect_ratio=True)
        left += float(shown.rendered_width) + 5
        bottom = top + 20
    practice = setup.practice
    pdf.set_xy(left, top)
    if practice.name:
        pdf.set_font("DejaVu", "B", 13)
        pdf.set_text_color(*setup.colour)
        pdf.multi_cell(85, 6, practice.name, new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.set_text_color(0, 0, 0)
    for line in [*practice.address, words["practice_phone"], words["practice_tax_id"]]:
        if line:
            pdf.multi_cell(85, 4.5, line, new_x="LEFT", new_y="NEXT")
    bottom = max(bottom, pdf.get_y())
    right = pdf.w - MARGIN - 70
    pdf.set_xy(right, top)
    pdf.set_font("DejaVu", "B", 20)
    pdf.set_text_color(*setup.colour)
    pdf.cell(70, 9, words["title"], align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    for label, value in (
        (words["number_label"], invoice.number),
        (words["billed_label"], words.day(invoice.billed)),
        (words["due_label"], words.day(invoice.due)),
    ):
        pdf.set_font("DejaVu", "", 9)
        pdf.cell(40, 5, label, align="R")
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(30, 5, value, align="R", new_x="LEFT", new_y="NEXT")
        pdf.set_x(right)
    y = max(bottom, pdf.get_y()) + 4
    pdf.set_draw_color(*setup.colour)
    pdf.set_line_width(0.6)
    pdf.line(MARGIN, y, pdf.w - MARGIN, y)
    pdf.set_y(y + 4)


def _bill_to(pdf: _Page, words: _Words, invoice: PayerInvoice) -> None:
    """Whom the invoice is to at the left; the extra fields of its class at the right."""
    to = invoice.bill_to
    top = pdf.get_y()
    pdf.set_font("DejaVu", "B", 9)
    pdf.set_text_color(*pdf.colour)
    pdf.cell(90, 5, words["bill_to"].upper(), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(90, 5, to.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    for line in [words["account"], *words.address(to.address)]:
        pdf.multi_cell(90, 4.5, line, new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    extra = [words[k] for k in ("terms_line", "patient_line") if words[k]]
    pdf.set_xy(pdf.w / 2 + 5, top + 5)
    for line in extra:
        pdf.multi_cell(pdf.w / 2 - 5 - MARGIN, 4.5, line, new_x="LEFT", new_y="NEXT")
    pdf.set_y(max(bottom, pdf.get_y()) + 6)


def _columns(words: _Words, invoice: PayerInvoice) -> list[str]:
    chosen = words.fields
    columns = ["date"]
    columns += ["code"] if "service_codes" in chosen else []
    columns += ["description"]
    columns += [c for c in ("doctor", "location") if c in chosen]
    columns += ["quantity", "unit", "amount"]
    return columns + (["part"] if invoice.split else [])


def _lines(pdf: _Page, words: _Words, invoice: PayerInvoice, columns: list[str]) -> None:
    """The lines, under a heading in the practice's colour."""
    usable = pdf.w - 2 * MARGIN
    widths = [_WIDTHS.get(c, 0.0) for c in columns]
    widths[columns.index("description")] = usable - sum(widths)
    heads = {
        "date": words["col_date"],
        "code": words["col_code"],
        "description": words["col_description"],
        "doctor": words["col_doctor"],
        "location": words["col_location"],
        "quantity": words["col_quantity"],
        "unit": words["col_unit"],
        "amount": words["col_amount"],
        "part": words["col_part"],
    }
    numeric = {"quantity", "unit", "amount", "part"}
    pdf.set_font("DejaVu", "", 8.5)
    pdf.set_draw_color(*pdf.colour)
    pdf.set_fill_color(*WHITE)
    pdf.set_line_width(0.2)
    with pdf.table(
        col_widths=widths,
        width=usable,
        text_align=tuple("RIGHT" if c in numeric else "LEFT" for c in columns),
        headings_style=FontFace(emphasis="BOLD", color=WHITE, fill_color=pdf.colour),
        borders_layout="HORIZONTAL_LINES",
        cell_fill_color=STRIPE,
        cell_fill_mode="ROWS",
        line_height=5,
        padding=1.2,
    ) as table:
        table.row([heads[c] for c in columns])
        for line, description in zip(invoice.lines, words.descriptions, strict=True):
            cells = {
                "date": words.day(line.service_date),
                "code": line.service_code,
                "description": description,
                "doctor": line.doctor or "",
                "location": line.location,
                "quantity": str(line.quantity),
                "unit": words.money(line.unit_price),
                "amount": words.money(line.line_amount),
                "part": words.money(line.amount),
            }
            table.row([cells[c] for c in columns])


def _totals(pdf: _Page, words: _Words, invoice: PayerInvoice) -> None:
    pdf.ln(3)
    x = pdf.w - MARGIN - 90
    rows = (
        (words["total_label"], words.money(invoice.total), False),
        (words["paid_label"], words.money(invoice.paid), False),
        (words["open_label"], words.money(invoice.open), True),
    )
    for label, value, strong in rows:
        pdf.set_x(x)
        pdf.set_font("DejaVu", "B" if strong else "", 10 if strong else 9)
        pdf.set_text_color(*(pdf.colour if strong else (0, 0, 0)))
        pdf.cell(60, 6, label, align="R")
        pdf.cell(30, 6, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _notes(pdf: _Page, words: _Words) -> None:
    notes = [words[k] for k in ("split_note", "how_to_pay", "reversed_line") if words[k]]
    if notes:
        pdf.ln(5)
    pdf.set_font("DejaVu", "", 9)
    for note in notes:
        pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
