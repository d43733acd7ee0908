"""Every word a patient reads is translated (issue 5: complete in English and Spanish),
and every word of an invoice as a PDF (BI-05).

The messages are extracted from the sources the way ``make catalogues`` does; each must
have a Spanish translation with the same placeholders, and the compiled ``.mo`` that
ships must say what the ``.po`` says."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
SPANISH = ROOT / "templates" / "locales" / "es" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")
INVOICE = "templates/reports/invoice_pdf.txt.j2"
METHODS = [
    ("bot/patient/labels.py", "python"),
    ("templates/patient/**.j2", "jinja2"),
    (INVOICE, "jinja2"),
]


def extracted() -> set[str | tuple[str, str]]:
    found: set[str | tuple[str, str]] = set()
    options = {p: {"lstrip_blocks": "true"} for p in ("templates/patient/**.j2", INVOICE)}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), METHODS, options_map=options
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def _plain(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def catalogue() -> dict[object, object]:
    with (SPANISH / "messages.po").open("rb") as f:
        return {_plain(m.id): _plain(m.string) for m in read_po(f) if m.id}


def test_every_message_has_a_spanish_translation() -> None:
    spanish = catalogue()
    missing = [m for m in extracted() if not spanish.get(m)]
    assert missing == []
    for message, translated in spanish.items():
        sources = message if isinstance(message, tuple) else (message,)
        targets = translated if isinstance(translated, tuple) else (translated,)
        for source, target in zip(sources, targets, strict=False):
            assert target, f"empty translation of {source!r}"
            assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(str(target)))


def test_the_compiled_catalogue_matches_the_source() -> None:
    with (SPANISH / "messages.mo").open("rb") as f:
        compiled = {_plain(m.id): _plain(m.string) for m in read_mo(f) if m.id}
    assert compiled == catalogue()
