"""The ATB digest's chart: one bar per aging bucket, as a PNG for Slack (Pillow).

Each bucket's bar is its amount now, captioned with the amount as the reader's locale
writes it; when there is a previous digest, a grey bar beside it shows the amount then,
so that a bucket growing older stands out. Amounts are whole minor units: the bars are
scaled by integers, never through floats of money.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 760, 380
MARGIN, TOP, BOTTOM = 40, 64, 54
NOW = (37, 99, 235)
BEFORE = (176, 184, 196)
INK = (31, 41, 55)
GRID = (229, 231, 235)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def bucket_chart(
    title: str,
    labels: Sequence[str],
    amounts: Sequence[int],
    captions: Sequence[str],
    *,
    before: Sequence[int] | None = None,
    legend: tuple[str, str] = ("now", "before"),
) -> bytes:
    """A PNG bar chart of ``amounts`` (minor units) per bucket ``labels``, each bar
    captioned; ``before`` (the previous digest's amounts, same buckets) adds grey bars
    and a legend."""
    if not len(labels) == len(amounts) == len(captions) or not labels:
        raise ValueError("a chart needs one label, amount and caption per bucket")
    if before is not None and len(before) != len(labels):
        raise ValueError("the previous amounts must have one per bucket")
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 16), title, fill=INK, font=_font(18))
    floor = HEIGHT - BOTTOM
    height = floor - TOP - 20
    peak = max([*amounts, *(before or ()), 1])
    draw.line((MARGIN, floor, WIDTH - MARGIN, floor), fill=INK, width=1)
    for step in (1, 2, 3, 4):
        y = floor - height * step // 4
        draw.line((MARGIN, y, WIDTH - MARGIN, y), fill=GRID, width=1)
    slot = (WIDTH - 2 * MARGIN) // len(labels)
    for i, (label, amount, caption) in enumerate(zip(labels, amounts, captions, strict=True)):
        left = MARGIN + i * slot + slot // 8
        bar = slot * 3 // 4
        if before is not None:
            half = bar // 2
            _bar(draw, left, half - 2, before[i], peak, height, floor, BEFORE)
            _bar(draw, left + half, half, amount, peak, height, floor, NOW)
        else:
            _bar(draw, left, bar, amount, peak, height, floor, NOW)
        top = floor - height * max(amount, 0) // peak
        _centred(draw, left + bar // 2, top - 16, caption, 11)
        _centred(draw, left + bar // 2, floor + 8, label, 13)
    if before is not None:
        _legend(draw, legend)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _bar(
    draw: ImageDraw.ImageDraw,
    left: int,
    width: int,
    amount: int,
    peak: int,
    height: int,
    floor: int,
    colour: tuple[int, int, int],
) -> None:
    # A credit bucket (negative) draws nothing below the axis: its caption says it.
    top = floor - height * max(amount, 0) // peak
    if top < floor:
        draw.rectangle((left, top, left + max(width, 1), floor - 1), fill=colour)


def _centred(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, size: int) -> None:
    font = _font(size)
    width = draw.textlength(text, font=font)
    draw.text((x - width / 2, y), text, fill=INK, font=font)


def _legend(draw: ImageDraw.ImageDraw, legend: tuple[str, str]) -> None:
    font = _font(12)
    x = WIDTH - MARGIN
    for text, colour in ((legend[1], BEFORE), (legend[0], NOW)):
        x -= int(draw.textlength(text, font=font)) + 22
        draw.rectangle((x, 44, x + 12, 56), fill=colour)
        draw.text((x + 16, 42), text, fill=INK, font=font)
