"""Slack refuses a section over 3,000 characters, and the person then sees nothing:
``bot.staff.render.fitted`` makes such a section several, split where a line ends."""

from __future__ import annotations

from bot.staff.render import SECTION_TEXT, fitted
from tests.fakes.blockkit import problems


def test_a_long_section_becomes_several_keeping_its_lines_and_its_button_last() -> None:
    lines = [f"• T{n:08d} · service Jun 1, 2026 · $80.00 open of $80.00 · open" for n in range(80)]
    button = {"type": "button", "text": {"type": "plain_text", "text": "View"}, "value": "1"}
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Head*"}},
        {
            "type": "section",
            "block_id": "items",
            "text": {"type": "mrkdwn", "text": "\n".join(lines)},
            "accessory": button,
        },
    ]
    assert problems(blocks)  # as it was: Slack would refuse it

    shown = fitted(blocks)

    assert problems(shown) == []
    assert shown[0] == blocks[0]
    pieces = shown[1:]
    assert len(pieces) == 2 and all(len(p["text"]["text"]) <= SECTION_TEXT for p in pieces)
    assert "\n".join(p["text"]["text"] for p in pieces).split("\n") == lines
    assert [("accessory" in p, p.get("block_id")) for p in pieces] == [
        (False, None),
        (True, "items"),  # a block id is unique in a message: the last piece keeps it
    ]


def test_a_message_past_50_blocks_ends_saying_where_it_was_cut() -> None:
    lines = "\n".join(f"• line {n:04d} " + "x" * 60 for n in range(3000))  # 216,000 characters
    shown = fitted([{"type": "section", "text": {"type": "mrkdwn", "text": lines}}])

    assert problems(shown) == [] and len(shown) == 50
    assert shown[-1]["elements"][0]["text"] == "_…cut here: Slack shows at most 50 blocks._"
    assert shown[0]["text"]["text"].startswith("• line 0000 ")
