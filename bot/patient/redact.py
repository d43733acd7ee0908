"""Card numbers typed into a chat never reach storage or logs.

A run of 13 to 19 digits (spaces or dashes between them allowed) that passes the Luhn
check is a card number for our purposes; it is replaced before the conversation does
anything else with the text, and the patient is pointed to the secure pay link.
"""

from __future__ import annotations

import re

CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
MASK = "[card number removed]"


def luhn_ok(digits: str) -> bool:
    total = 0
    for n, char in enumerate(reversed(digits)):
        d = int(char)
        if n % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact_cards(text: str) -> tuple[str, bool]:
    """``text`` with every Luhn-valid 13-19 digit run masked, and whether one was found."""
    found = False

    def mask(match: re.Match[str]) -> str:
        nonlocal found
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found = True
            return MASK
        return match.group()

    return CANDIDATE.sub(mask, text), found
