"""The words of an ``/ar`` command: values read one at a time, each refused with what to fix.

Tokens split on spaces (a "quoted value" stays whole), then each is read as what it
should be: an account number, an amount, a date, a whole number, an entry number, a
reason code, a note, an option (``--over 90``, ``--over=90``, ``over:90``). Every
refusal is a :class:`ParseError` whose message the person sees, quoting the offending
value short. :mod:`bot.staff.parse` builds the commands from these.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TypeVar

from core.db.metadata import MAX_ID
from core.errors import ValidationError
from core.ledger.aging import Basis, GroupBy
from core.ledger.model import entry_id_of
from core.ledger.model import entry_number as number_of_entry
from core.money import Money, parse_positive

MAX_QUANTITY = 9999
MAX_DAYS = 3650
MAX_NOTE = 500


class ParseError(Exception):
    """A command that cannot be read; ``str()`` is the message the person sees."""


E = TypeVar("E", Basis, GroupBy)

_TOKEN = re.compile(r'\s*(?:"([^"]*)"|([^\s"]+))(?=\s|$)')
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}")
# ASCII digits only: Python's \d and int() would also take Arabic-Indic or full-width ones.
_AMOUNT = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[0-9]{1,6}")
_REASON = re.compile(r"[A-Z][A-Z0-9_]{0,29}")


def tokens(text: str) -> list[str]:
    """Split on spaces, keeping "quoted values" whole."""
    found, pos = [], 0
    while pos < len(text):
        if text[pos:].isspace():
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ParseError(
                "check the quotes: put double quotes around a whole value, "
                'like "cheque 1042", and close them'
            )
        found.append(match.group(1) if match.group(1) is not None else match.group(2))
        pos = match.end()
    return found


def account_number(text: str) -> str:
    if not _ACCOUNT.fullmatch(text):
        raise ParseError(
            f"{shown(text)} is not an account number (letters, digits, '-', '.', '/' "
            "or '_', at most 40); use /ar find to look one up"
        )
    return text


def day(text: str, what: str = "date") -> date:
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ParseError(f"{shown(text)} is not a {what}; write it as YYYY-MM-DD, e.g. 2026-06-30")


def whole(text: str, what: str, low: int, high: int) -> int:
    if _NUMBER.fullmatch(text) and low <= int(text) <= high:
        return int(text)
    raise ParseError(f"{shown(text)} is not a {what}; give a whole number from {low} to {high}")


def amount(text: str, currency: str) -> Money:
    if not _AMOUNT.fullmatch(text):
        raise ParseError(f"{shown(text)} is not an amount; write it like 120.50 or 1,200")
    try:
        return parse_positive(text, currency)
    except ValidationError as exc:
        raise ParseError(str(exc)) from None


def shown(text: str) -> str:
    """The offending value as quoted back: short, so a paste does not fill the reply."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def expect(args: list[str], least: int, most: int, usage: str) -> None:
    if not least <= len(args) <= most:
        raise ParseError(f"usage: {usage}")


def reason_code(text: str) -> str:
    code = text.upper()
    if not _REASON.fullmatch(code):
        raise ParseError(
            f"{shown(text)} is not a reason code (capitals, digits and '_', like ADMIN or CHARITY)"
        )
    return code


def note_of(words: list[str], usage: str, *, required: bool = True) -> str:
    note = " ".join(words).strip()
    if required and not note:
        raise ParseError(f"say why in a note: {usage}")
    if len(note) > MAX_NOTE:
        raise ParseError(f"the note has {len(note):,} characters; keep it to {MAX_NOTE}")
    return note


def entry_number(text: str) -> int:
    """``T00000012`` (or ``t12``) as the entry's id."""
    entry = entry_id_of(text)
    if entry is None:
        raise ParseError(f"{shown(text)} is not an entry number; write it like T00000012")
    if entry > MAX_ID:  # past any id: no entry (and PostgreSQL's INTEGER)
        raise ParseError(f"there is no entry {number_of_entry(entry)}")
    return entry


def read_options(args: list[str], known: tuple[str, ...], what: str) -> dict[str, str]:
    """Every option in ``args``, each at most once."""
    options: dict[str, str] = {}
    while args:
        key, value = read_option(args, known, what)
        if key in options:
            raise ParseError(f"--{key} is given twice")
        options[key] = value
    return options


FLAGS = ("csv", "detail")
"""Options that are there or not, with no value."""


def read_option(args: list[str], known: tuple[str, ...], what: str) -> tuple[str, str]:
    """Take one option off ``args``: ``--over 90``, ``--over=90``, ``over:90`` or ``--csv``."""
    word = args.pop(0)
    key, sep, value = word.removeprefix("--").partition("=" if word.startswith("--") else ":")
    if not (word.startswith("--") or sep) or key not in known:
        raise ParseError(f"{shown(word)} is not {what}; use " + ", ".join(f"--{o}" for o in known))
    if key in FLAGS:
        if sep:
            raise ParseError(f"--{key} takes no value")
        return key, ""
    if not sep:
        if not args:
            raise ParseError(f"--{key} needs a value")
        value = args.pop(0)
    return key, value


def choice(kind: type[E], text: str, option: str) -> E:
    try:
        return kind(text.casefold())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ParseError(f"{option} takes one of {choices}, not {shown(text)}") from None
