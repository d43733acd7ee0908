"""Slack messages from ``templates/slack/``: every word staff read is in a template.

A template renders one message as JSON (``{"text": ..., "blocks": [...]}``), using the
macros in ``slack/_blocks.j2`` so that values are always JSON-encoded with
``tojson``. A section too long for Slack (3,000 characters) becomes several, split
where a line ends (:func:`fitted`). Text that came from people (names, what was
searched for) passes through the ``mrkdwn`` filter first, so ``<!channel>`` typed into
a search cannot ping a channel. Money and dates use the babel filters of ``core.reports.render``.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment

from bot.pieces import parts, units
from bot.staff import ids
from core.reports.render import environment


def mrkdwn(text: object) -> str:
    """Escape the three characters Slack's mrkdwn gives a meaning to."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@cache
def slack_environment(locale: str) -> Environment:
    env = environment(locale).overlay()
    # An overlay shares its parent's dicts: give it its own before adding to them.
    env.filters = {**env.filters, "mrkdwn": mrkdwn}
    env.globals = {**env.globals, "ids": ids}
    return env


def message(template: str, locale: str = "en_US", **context: Any) -> dict[str, Any]:
    """Render ``templates/slack/<template>.json.j2`` into a message payload."""
    text = slack_environment(locale).get_template(f"slack/{template}.json.j2").render(**context)
    payload: dict[str, Any] = json.loads(text)
    if "blocks" in payload:
        most = MESSAGE_BLOCKS if payload.get("type") not in ("modal", "home") else 100
        payload["blocks"] = fitted(payload["blocks"], most)
    return payload


SECTION_TEXT = 3000
"""Slack refuses a section whose text is longer (``invalid_blocks``): nothing is shown."""


MESSAGE_BLOCKS = 50
"""Slack refuses a message of more blocks (a modal or the Home tab holds 100)."""


def fitted(blocks: list[dict[str, Any]], most: int = MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    """``blocks`` with each section too long for Slack made several, split where a line
    ends (a list of items or invoice lines stays whole line by line); past ``most``
    blocks the message ends with a line saying it was cut there."""
    out = _split_sections(blocks)
    if len(out) <= most:
        return out
    cut = {"type": "mrkdwn", "text": f"_…cut here: Slack shows at most {most} blocks._"}
    return [*out[: most - 1], {"type": "context", "elements": [cut]}]


def _split_sections(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in blocks:
        text = block.get("text") if block.get("type") == "section" else None
        if not isinstance(text, dict) or units(text.get("text", "")) <= SECTION_TEXT:
            out.append(block)
            continue
        pieces = parts(text["text"], SECTION_TEXT)
        rest = {k: v for k, v in block.items() if k not in ("text", "block_id", "accessory")}
        out += [{**rest, "text": {**text, "text": p}} for p in pieces[:-1]]
        out.append({**block, "text": {**text, "text": pieces[-1]}})
    return out
