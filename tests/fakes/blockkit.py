"""Block Kit's limits, as Slack enforces them on what it is sent (the fake Slack's check).

Slack refuses a message or view that breaks one (``invalid_blocks`` from the Web API,
HTTP 400 from a ``response_url``), and the person who asked sees nothing. These are the
limits of the blocks and elements arbot sends (api.slack.com/reference/block-kit):
a message holds 50 blocks and a modal or Home tab 100; a section's text 3,000
characters and 10 fields of 2,000; a context 10 elements; an actions block 25; a
header 150 characters; a button's text 75 and value 2,000; a select 100 options, each
text 75 and value 150.
"""

from __future__ import annotations

import json
from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100


def problems(blocks: Any, most: int = MESSAGE_BLOCKS) -> list[str]:
    """What in ``blocks`` Slack would refuse; empty when nothing."""
    if not blocks:
        return []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    found = [f"{len(blocks)} blocks, more than {most}"] if len(blocks) > most else []
    for n, block in enumerate(blocks):
        found += [f"block {n} ({block.get('type')}): {p}" for p in _block(block)]
    return found


def _block(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    found: list[str] = []
    if kind == "section":
        found += _text(block.get("text"), 3000, "text")
        fields = block.get("fields") or []
        if len(fields) > 10:
            found.append(f"{len(fields)} fields, more than 10")
        for f in fields:
            found += _text(f, 2000, "a field")
        if "accessory" in block:
            found += _element(block["accessory"])
    elif kind == "context" and len(block.get("elements", [])) > 10:
        found.append(f"{len(block['elements'])} elements, more than 10")
    elif kind == "actions":
        elements = block.get("elements", [])
        if len(elements) > 25:
            found.append(f"{len(elements)} elements, more than 25")
        for element in elements:
            found += _element(element)
    elif kind == "header":
        found += _text(block.get("text"), 150, "header")
    return found


def _element(element: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if element.get("type") == "button":
        found += _text(element.get("text"), 75, "a button's text")
        if len(str(element.get("value", ""))) > 2000:
            found.append("a button's value is longer than 2000")
    options = element.get("options")
    if options is not None:
        if len(options) > 100:
            found.append(f"{len(options)} options, more than 100")
        for option in options:
            found += _text(option.get("text"), 75, "an option's text")
            if len(str(option.get("value", ""))) > 150:
                found.append("an option's value is longer than 150")
    return found


def _text(text: Any, most: int, what: str) -> list[str]:
    words = text.get("text", "") if isinstance(text, dict) else str(text or "")
    return [f"{what} has {len(words)} characters, more than {most}"] if len(words) > most else []


def refused(body: dict[str, Any]) -> list[str]:
    """What Slack would refuse in a Web API call's or a response_url's ``body``: its
    ``blocks`` (a message) or its ``view``'s (a modal or Home tab)."""
    view = body.get("view")
    if view:
        view = json.loads(view) if isinstance(view, str) else view
        return problems(view.get("blocks"), VIEW_BLOCKS)
    return problems(body.get("blocks"))
