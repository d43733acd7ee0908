"""Every word a patient reads: ``templates/patient/`` through babel catalogues.

A template is plain text with ``{% trans %}`` blocks; the catalogues in
``templates/locales/<lang>/LC_MESSAGES/messages.po`` (compiled to ``.mo``) translate
them. English is the source language; Spanish is complete (a test checks every
message has a translation). Money and dates are formatted by babel for the patient's
locale: a language tag such as ``es`` formats as ``es_US`` (a Spanish-speaking patient
of a US clinic), ``es-MX`` as ``es_MX``.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.money import Money

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
LOCALES = TEMPLATES / "locales"
LANGUAGES = ("en", "es")
"""The languages a patient may choose; others fall back to English."""
DEFAULT_REGION = {"en": "US", "es": "US"}
BLANKS = re.compile(r"\n{3,}")
FORMATTED = 8192
"""Formatted amounts and dates kept per locale (a few hundred kB at most)."""


def language_of(tag: str | None) -> str:
    """``es-MX`` -> ``es``; anything unknown -> ``en``."""
    base = (tag or "en").replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else "en"


@lru_cache(maxsize=256)  # tags come from accounts and chats: a few, but not a fixed few
def format_locale(tag: str | None) -> str:
    """The babel locale that formats money and dates for ``tag``."""
    cleaned = (tag or "en").replace("-", "_")
    language = language_of(cleaned)
    if "_" not in cleaned or not cleaned.lower().startswith(language):
        cleaned = f"{language}_{DEFAULT_REGION[language]}"
    try:
        return str(Locale.parse(cleaned))
    except (ValueError, UnknownLocaleError):
        return f"{language}_{DEFAULT_REGION[language]}"


@cache
def _translations(language: str) -> NullTranslations:
    if language == "en":
        return NullTranslations()
    return Translations.load(str(LOCALES), [language], domain="messages")


@lru_cache(maxsize=256)
def _babel_locale(tag: str | None) -> Locale:
    """Parsed once: babel parses a locale given by name on every call."""
    return Locale.parse(format_locale(tag))


@cache
def patient_environment(tag: str) -> Environment:
    locale = _babel_locale(tag)
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # The templates ship with the package and do not change while it runs: no
        # file date checked on every message.
        auto_reload=False,
        undefined=StrictUndefined,
        lstrip_blocks=True,
        autoescape=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(_translations(language_of(tag)), newstyle=True)  # type: ignore[attr-defined]

    # Formatted once per value and locale: babel's formatting was a third of a balance
    # reply's rendering, and the same dates and prices recur from patient to patient.
    @lru_cache(maxsize=FORMATTED)
    def money(value: Money) -> str:
        return str(format_currency(value.to_decimal(), value.currency, locale=locale))

    @lru_cache(maxsize=FORMATTED)
    def day(value: date) -> str:
        return str(format_date(value, format="medium", locale=locale))

    env.filters.update(money=money, day=day)
    return env


def say(tag: str | None, name: str, **context: Any) -> str:
    """Render ``templates/patient/<name>.txt.j2`` in the language of ``tag``."""
    env = patient_environment(format_locale(tag))
    text = env.get_template(f"patient/{name}.txt.j2").render(**context)
    lines = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return BLANKS.sub("\n\n", lines)


def label(tag: str | None, text: str) -> str:
    """A short translated label (button texts), through the same catalogue."""
    return str(_translations(language_of(tag)).gettext(text))


def money_text(tag: str | None, amount: Money) -> str:
    """``amount`` as the patient's locale writes it (for button labels)."""
    return str(format_currency(amount.to_decimal(), amount.currency, locale=_babel_locale(tag)))
