"""Reading ``/ar <subcommand> ...``: the text a person typed in, a typed command out.

Whatever is typed, :func:`parse` either returns one of the frozen command values
below or raises :class:`ParseError`, whose message says what to fix. It never
touches the database, so a command that does not parse has written nothing.

Values are separated by spaces; a value with spaces goes in double quotes (straight
or curly, as Slack's clients type them). Single quotes are ordinary characters, so
``/ar find O'Brien`` works.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from core.billing.catalogue import service_code
from core.db.metadata import MAX_ID
from core.errors import ValidationError
from core.ledger.aging import Basis, GroupBy
from core.money import Money, parse_positive

MAX_TEXT = 1000
"""Longer than any real command; a paste of a whole document is refused at once."""
MAX_QUANTITY = 9999
MAX_DAYS = 3650
METHODS = ("cash", "card", "check", "cheque", "transfer", "eft", "other")


class ParseError(Exception):
    """A command that cannot be read; ``str()`` is the message the person sees."""


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Find:
    text: str


@dataclass(frozen=True, slots=True)
class ShowAccount:
    account: str


@dataclass(frozen=True, slots=True)
class ShowInvoice:
    entry_id: int


@dataclass(frozen=True, slots=True)
class ShowEntry:
    entry_id: int


@dataclass(frozen=True, slots=True)
class Charge:
    account: str
    service_code: str
    quantity: int = 1
    service_date: date | None = None


@dataclass(frozen=True, slots=True)
class ChargeForm:
    """``/ar charge [account]`` without a service: the charge modal."""

    account: str | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    account: str
    amount: Money
    method: str
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentForm:
    """``/ar payment split [account]``: the modal splitting one cheque over accounts."""

    account: str | None = None


@dataclass(frozen=True, slots=True)
class Atb:
    as_of: date | None = None
    by: GroupBy | None = None
    over: int | None = None
    basis: Basis = Basis.SERVICE
    location: str | None = None
    csv: bool = False


@dataclass(frozen=True, slots=True)
class Unapplied:
    pass


@dataclass(frozen=True, slots=True)
class Credits:
    pass


@dataclass(frozen=True, slots=True)
class Delinquent:
    over: int = 90
    least: Money | None = None


@dataclass(frozen=True, slots=True)
class BadDebt:
    since: date | None = None


@dataclass(frozen=True, slots=True)
class Dso:
    as_of: date | None = None
    by: GroupBy | None = None
    days: int = 90
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    account: str


@dataclass(frozen=True, slots=True)
class WriteOff:
    account: str
    amount: Money | None  # None: everything open
    reason: str
    note: str


@dataclass(frozen=True, slots=True)
class ReverseWriteOff:
    entry_id: int
    reason: str
    note: str


@dataclass(frozen=True, slots=True)
class Refund:
    account: str
    amount: Money
    reason: str
    note: str = ""


E = TypeVar("E", Basis, GroupBy)

Command = (
    Help
    | Find
    | ShowAccount
    | ShowInvoice
    | ShowEntry
    | Charge
    | ChargeForm
    | Payment
    | PaymentForm
    | Atb
    | Unapplied
    | Credits
    | Delinquent
    | BadDebt
    | Dso
    | Link
    | WriteOff
    | ReverseWriteOff
    | Refund
)

_CURLY = str.maketrans({"“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"'})
_TOKEN = re.compile(r'\s*(?:"([^"]*)"|([^\s"]+))(?=\s|$)')
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}")
# ASCII digits only: Python's \d and int() would also take Arabic-Indic or full-width ones.
_AMOUNT = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[0-9]{1,6}")
_ALIASES = {
    "search": "find",
    "show": "account",
    "acct": "account",
    "pay": "payment",
    "inv": "invoice",
}


def parse(text: str, currency: str) -> Command:
    """``text`` is what follows ``/ar``; amounts are read in ``currency``."""
    if len(text) > MAX_TEXT:
        raise ParseError(
            f"that command is {len(text):,} characters long; an /ar command has at most "
            f"{MAX_TEXT:,}"
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        raise ParseError("the command contains control characters; type it again as text")
    cleaned = text.translate(_CURLY).strip()
    if not cleaned:
        return Help()
    name, _, rest = cleaned.partition(" ")
    name = name.casefold()
    name = _ALIASES.get(name, name)
    reader = _READERS.get(name)
    if reader is None:
        raise ParseError(f"{name!r} is not an /ar subcommand; type /ar help for the list")
    return reader(rest.strip(), currency)


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
            f"{_shown(text)} is not an account number (letters, digits, '-', '.', '/' "
            "or '_', at most 40); use /ar find to look one up"
        )
    return text


def day(text: str, what: str = "date") -> date:
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ParseError(f"{_shown(text)} is not a {what}; write it as YYYY-MM-DD, e.g. 2026-06-30")


def whole(text: str, what: str, low: int, high: int) -> int:
    if _NUMBER.fullmatch(text) and low <= int(text) <= high:
        return int(text)
    raise ParseError(f"{_shown(text)} is not a {what}; give a whole number from {low} to {high}")


def amount(text: str, currency: str) -> Money:
    if not _AMOUNT.fullmatch(text):
        raise ParseError(f"{_shown(text)} is not an amount; write it like 120.50 or 1,200")
    try:
        return parse_positive(text, currency)
    except ValidationError as exc:
        raise ParseError(str(exc)) from None


def _shown(text: str) -> str:
    """The offending value as quoted back: short, so a paste does not fill the reply."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _expect(args: list[str], least: int, most: int, usage: str) -> None:
    if not least <= len(args) <= most:
        raise ParseError(f"usage: {usage}")


def _help(rest: str, currency: str) -> Command:
    return Help()


def _find(rest: str, currency: str) -> Command:
    words = tokens(rest)
    query = " ".join(words)
    if len(query) < 2:
        raise ParseError(
            "usage: /ar find <name, account number, MRN, phone, entry number or payment"
            " reference> (2+ characters)"
        )
    if len(query) > 100:
        raise ParseError("search for at most 100 characters")
    return Find(query)


def _account(rest: str, currency: str) -> Command:
    args = tokens(rest)
    _expect(args, 1, 1, "/ar account <account number>")
    return ShowAccount(account_number(args[0]))


def _invoice(rest: str, currency: str) -> Command:
    args = tokens(rest)
    _expect(args, 1, 1, "/ar invoice <entry number of a charge, e.g. T00000012>")
    return ShowInvoice(entry_number(args[0]))


def _entry(rest: str, currency: str) -> Command:
    args = tokens(rest)
    _expect(args, 1, 1, "/ar entry <entry number, e.g. T00000012>")
    return ShowEntry(entry_number(args[0]))


def _charge(rest: str, currency: str) -> Command:
    args = tokens(rest)
    if len(args) < 2:
        return ChargeForm(account_number(args[0]) if args else None)
    _expect(args, 2, 4, "/ar charge <account> <service code> [quantity] [YYYY-MM-DD]")
    try:
        code = service_code(args[1])
    except ValidationError as exc:
        raise ParseError(str(exc)) from None
    quantity: int | None = None
    on: date | None = None
    for extra in args[2:]:
        if "-" in extra and on is None:
            on = day(extra, "service date")
        elif "-" not in extra and quantity is None:
            quantity = whole(extra, "quantity", 1, MAX_QUANTITY)
        else:
            raise ParseError(f"{_shown(extra)} is neither a quantity nor a service date")
    return Charge(account_number(args[0]), code, quantity or 1, on)


def _payment(rest: str, currency: str) -> Command:
    args = tokens(rest)
    if args and args[0].casefold() == "split":
        _expect(args, 1, 2, "/ar payment split [account]")
        return PaymentForm(account_number(args[1]) if len(args) == 2 else None)
    _expect(args, 3, 4, "/ar payment <account> <amount> <method> [reference]")
    method = args[2].casefold()
    if method not in METHODS:
        raise ParseError(f"{_shown(args[2])} is not a payment method; use {', '.join(METHODS)}")
    reference = args[3].strip() if len(args) == 4 else None
    if reference is not None and not 1 <= len(reference) <= 60:
        raise ParseError("a payment reference has 1 to 60 characters")
    return Payment(account_number(args[0]), amount(args[1], currency), method, reference)


def _unapplied(rest: str, currency: str) -> Command:
    _expect(tokens(rest), 0, 0, "/ar unapplied")
    return Unapplied()


def _credits(rest: str, currency: str) -> Command:
    _expect(tokens(rest), 0, 0, "/ar credits")
    return Credits()


def _link(rest: str, currency: str) -> Command:
    args = tokens(rest)
    _expect(args, 1, 1, "/ar link <account number>")
    return Link(account_number(args[0]))


MAX_NOTE = 500
_REASON = re.compile(r"[A-Z][A-Z0-9_]{0,29}")
_ENTRY = re.compile(r"[Tt]([0-9]{1,12})")
_WRITEOFF = "/ar writeoff <account> <amount|all> <reason code> <note>"
_REVERSE = "/ar writeoff reverse <entry number, e.g. T00000012> <reason code> <note>"
_REFUND = "/ar refund <account> <amount> <reason code> [note]"


def reason_code(text: str) -> str:
    code = text.upper()
    if not _REASON.fullmatch(code):
        raise ParseError(
            f"{_shown(text)} is not a reason code (capitals, digits and '_', like ADMIN or "
            "CHARITY)"
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
    entry = _ENTRY.fullmatch(text)
    if entry is None:
        raise ParseError(f"{_shown(text)} is not an entry number; write it like T00000012")
    if int(entry.group(1)) > MAX_ID:  # past any id: no entry (and PostgreSQL's INTEGER)
        raise ParseError(f"there is no entry T{int(entry.group(1)):08d}")
    return int(entry.group(1))


def _writeoff(rest: str, currency: str) -> Command:
    args = tokens(rest)
    if args and args[0].casefold() == "reverse":
        if len(args) < 3:
            raise ParseError(f"usage: {_REVERSE}")
        return ReverseWriteOff(
            entry_number(args[1]), reason_code(args[2]), note_of(args[3:], _REVERSE)
        )
    if len(args) < 3:
        raise ParseError(f"usage: {_WRITEOFF}")
    asked = None if args[1].casefold() == "all" else amount(args[1], currency)
    return WriteOff(
        account_number(args[0]), asked, reason_code(args[2]), note_of(args[3:], _WRITEOFF)
    )


def _refund(rest: str, currency: str) -> Command:
    args = tokens(rest)
    if len(args) < 3:
        raise ParseError(f"usage: {_REFUND}")
    return Refund(
        account_number(args[0]),
        amount(args[1], currency),
        reason_code(args[2]),
        note_of(args[3:], _REFUND, required=False),
    )


_ATB_OPTIONS = ("as-of", "by", "over", "basis", "location", "csv")


def _atb(rest: str, currency: str) -> Command:
    options = _options(tokens(rest), _ATB_OPTIONS, "an ATB option")
    return Atb(
        as_of=day(options["as-of"], "--as-of date") if "as-of" in options else None,
        by=_choice(GroupBy, options["by"], "--by") if "by" in options else None,
        over=whole(options["over"], "number of days", 0, MAX_DAYS) if "over" in options else None,
        basis=_choice(Basis, options.get("basis", "service"), "--basis"),
        location=account_number(options["location"]) if "location" in options else None,
        csv="csv" in options,
    )


def _delinquent(rest: str, currency: str) -> Command:
    options = _options(tokens(rest), ("over", "min"), "a /ar delinquent option")
    return Delinquent(
        over=whole(options["over"], "number of days", 0, MAX_DAYS) if "over" in options else 90,
        least=amount(options["min"], currency) if "min" in options else None,
    )


def _bad_debt(rest: str, currency: str) -> Command:
    options = _options(tokens(rest), ("since",), "a /ar baddebt option")
    return BadDebt(since=day(options["since"], "--since date") if "since" in options else None)


def _dso(rest: str, currency: str) -> Command:
    options = _options(tokens(rest), ("as-of", "by", "days", "location"), "a /ar dso option")
    return Dso(
        as_of=day(options["as-of"], "--as-of date") if "as-of" in options else None,
        by=_choice(GroupBy, options["by"], "--by") if "by" in options else None,
        days=whole(options["days"], "number of days", 1, MAX_DAYS) if "days" in options else 90,
        location=account_number(options["location"]) if "location" in options else None,
    )


def _options(args: list[str], known: tuple[str, ...], what: str) -> dict[str, str]:
    """Every option in ``args``, each at most once."""
    options: dict[str, str] = {}
    while args:
        key, value = _option(args, known, what)
        if key in options:
            raise ParseError(f"--{key} is given twice")
        options[key] = value
    return options


def _option(args: list[str], known: tuple[str, ...], what: str) -> tuple[str, str]:
    """Take one option off ``args``: ``--over 90``, ``--over=90``, ``over:90`` or ``--csv``."""
    word = args.pop(0)
    key, sep, value = word.removeprefix("--").partition("=" if word.startswith("--") else ":")
    if not (word.startswith("--") or sep) or key not in known:
        raise ParseError(
            f"{_shown(word)} is not {what}; use " + ", ".join(f"--{o}" for o in known)
        )
    if key == "csv":
        if sep:
            raise ParseError("--csv takes no value")
        return key, ""
    if not sep:
        if not args:
            raise ParseError(f"--{key} needs a value")
        value = args.pop(0)
    return key, value


def _choice(kind: type[E], text: str, option: str) -> E:
    try:
        return kind(text.casefold())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ParseError(f"{option} takes one of {choices}, not {_shown(text)}") from None


_READERS: dict[str, Callable[[str, str], Command]] = {
    "help": _help,
    "find": _find,
    "account": _account,
    "invoice": _invoice,
    "entry": _entry,
    "charge": _charge,
    "payment": _payment,
    "atb": _atb,
    "writeoff": _writeoff,
    "write-off": _writeoff,
    "refund": _refund,
    "unapplied": _unapplied,
    "credits": _credits,
    "delinquent": _delinquent,
    "baddebt": _bad_debt,
    "dso": _dso,
    "bad-debt": _bad_debt,
    "link": _link,
}
