"""Jinja2 environment over the packaged ``templates/`` folder, with babel filters."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.money import Money

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@cache
def environment(locale: str = "en_US") -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )

    def money(value: Money) -> str:
        return str(format_currency(value.to_decimal(), value.currency, locale=locale))

    def amount(value: Money) -> str:
        return str(format_decimal(value.to_decimal(), format="#,##0.00", locale=locale))

    def day(value: date) -> str:
        return str(format_date(value, format="medium", locale=locale))

    env.filters.update(money=money, amount=amount, day=day)
    return env


def render(template: str, locale: str = "en_US", **context: Any) -> str:
    return environment(locale).get_template(template).render(**context)
