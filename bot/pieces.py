"""Text too long for one message, in pieces that each fit (Telegram, Twilio, Slack).

Each provider refuses a message over its limit, and the person then reads nothing:
Telegram 4,096 UTF-16 code units, Twilio 1,600 characters, a Slack section 3,000.
:func:`parts` splits where a line ends, so a statement's or a list's lines stay whole.
"""

from __future__ import annotations


def units(text: str) -> int:
    """Length in UTF-16 code units, as the Bot API counts (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def parts(text: str, limit: int) -> list[str]:
    """``text`` in as few pieces of at most ``limit`` UTF-16 code units as fit, split
    where a line ends (a longer line where a word ends, else where it must); blank
    lines at a piece's edges are dropped, as a chat would show them."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        while units(line) > limit:  # a line too long for a piece: pieces of its own
            if current:
                pieces.append("\n".join(current).strip("\n"))
                current, size = [], 0
            cut = _cut(line, limit)
            pieces.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        extra = units(line) + (1 if current else 0)
        if current and size + extra > limit:
            pieces.append("\n".join(current).strip("\n"))
            current, size, extra = [], 0, units(line)
        current.append(line)
        size += extra
    pieces.append("\n".join(current).strip("\n"))
    return [p for p in pieces if p.strip()] or [text]


def _cut(line: str, limit: int) -> int:
    """Where to cut a line too long for one piece: after the last space that fits."""
    fits = limit
    while fits > 1 and units(line[:fits]) > limit:
        fits -= 1
    space = line.rfind(" ", 0, fits)
    return space + 1 if space > 0 else fits
