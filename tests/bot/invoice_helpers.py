"""What a reader of an invoice's PDF sees (BI-05): its text, its images, the colours it
fills and draws with."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

_NUMBER = rb"(-?[0-9.]+)"
_FILLED = re.compile(
    rb" ".join([_NUMBER] * 3) + rb" rg\s+" + rb" ".join([_NUMBER] * 4) + rb" re f"
)
_STROKE = re.compile(rb" ".join([_NUMBER] * 3) + rb" RG")
Colour = tuple[int, int, int]


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
