"""Reading ``/ar <subcommand> ...``: the text a person typed in, a typed command out.

Whatever is typed, :func:`parse` either returns one of the frozen command values
below or raises :class:`ParseError`, whose message says what to fix. It never
touches the database, so a command that does not parse has written nothing.

Values are separated by spaces; a value with spaces goes in double quotes (straight
or curly, as Slack's clients type them). Single quotes are ordinary characters, so
``/ar find O'Brien`` works.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from bot.staff.parse_collect import (
    Assign,
    FollowUp,
    ShowRejects,
    ShowWorklist,
    read_assign,
    read_followup,
    read_rejects,
    read_worklist,
)
from bot.staff.parse_reports import (
    ShowCollections,
    ShowGl,
    ShowJournal,
    ShowServices,
    ShowStatus,
    read_collections,
    read_gl,
    read_journal,
    read_services,
    read_status,
)
from bot.staff.words import (
    MAX_DAYS,
    MAX_QUANTITY,
    ParseError,
    account_number,
    amount,
    choice,
    day,
    entry_number,
    expect,
    note_of,
    read_options,
    reason_code,
    shown,
    tokens,
    whole,
)
from core.billing.catalogue import service_code
from core.errors import ValidationError
from core.ledger.aging import Basis, GroupBy, parse_bounds
from core.money import Money

MAX_TEXT = 1000
"""Longer than any real command; a paste of a whole document is refused at once."""
METHODS = ("cash", "card", "check", "cheque", "transfer", "eft", "other")


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
    basis: Basis | None = None
    """None: the office's aging rule's (AR-194), as for ``buckets``."""
    buckets: tuple[int, ...] | None = None
    location: str | None = None
    csv: bool = False
    detail: bool = False
    """The CSV with each account's statements, last payment ... (AR-184)."""


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
class Waive:
    entry_id: int
    reason: str
    note: str


@dataclass(frozen=True, slots=True)
class Refund:
    account: str
    amount: Money
    reason: str
    note: str = ""


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
    | Waive
    | Refund
    | Assign
    | FollowUp
    | ShowWorklist
    | ShowRejects
    | ShowJournal
    | ShowStatus
    | ShowCollections
    | ShowGl
    | ShowServices
)

_CURLY = str.maketrans({"“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"'})
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
    expect(args, 1, 1, "/ar account <account number>")
    return ShowAccount(account_number(args[0]))


def _invoice(rest: str, currency: str) -> Command:
    args = tokens(rest)
    expect(args, 1, 1, "/ar invoice <entry number of a charge, e.g. T00000012>")
    return ShowInvoice(entry_number(args[0]))


def _entry(rest: str, currency: str) -> Command:
    args = tokens(rest)
    expect(args, 1, 1, "/ar entry <entry number, e.g. T00000012>")
    return ShowEntry(entry_number(args[0]))


def _charge(rest: str, currency: str) -> Command:
    args = tokens(rest)
    if len(args) < 2:
        return ChargeForm(account_number(args[0]) if args else None)
    expect(args, 2, 4, "/ar charge <account> <service code> [quantity] [YYYY-MM-DD]")
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
            raise ParseError(f"{shown(extra)} is neither a quantity nor a service date")
    return Charge(account_number(args[0]), code, quantity or 1, on)


def _payment(rest: str, currency: str) -> Command:
    args = tokens(rest)
    if args and args[0].casefold() == "split":
        expect(args, 1, 2, "/ar payment split [account]")
        return PaymentForm(account_number(args[1]) if len(args) == 2 else None)
    expect(args, 3, 4, "/ar payment <account> <amount> <method> [reference]")
    method = args[2].casefold()
    if method not in METHODS:
        raise ParseError(f"{shown(args[2])} is not a payment method; use {', '.join(METHODS)}")
    reference = args[3].strip() if len(args) == 4 else None
    if reference is not None and not 1 <= len(reference) <= 60:
        raise ParseError("a payment reference has 1 to 60 characters")
    return Payment(account_number(args[0]), amount(args[1], currency), method, reference)


def _unapplied(rest: str, currency: str) -> Command:
    expect(tokens(rest), 0, 0, "/ar unapplied")
    return Unapplied()


def _credits(rest: str, currency: str) -> Command:
    expect(tokens(rest), 0, 0, "/ar credits")
    return Credits()


def _link(rest: str, currency: str) -> Command:
    args = tokens(rest)
    expect(args, 1, 1, "/ar link <account number>")
    return Link(account_number(args[0]))


_WRITEOFF = "/ar writeoff <account> <amount|all> <reason code> <note>"
_REVERSE = "/ar writeoff reverse <entry number, e.g. T00000012> <reason code> <note>"
_REFUND = "/ar refund <account> <amount> <reason code> [note]"
_WAIVE = "/ar waive <entry number of a late fee, e.g. T00000012> <reason code> [note]"


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


def _waive(rest: str, currency: str) -> Command:
    args = tokens(rest)
    if len(args) < 2:
        raise ParseError(f"usage: {_WAIVE}")
    return Waive(
        entry_number(args[0]), reason_code(args[1]), note_of(args[2:], _WAIVE, required=False)
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


_ATB_OPTIONS = ("as-of", "by", "over", "basis", "buckets", "location", "csv", "detail")


def _buckets(text: str) -> tuple[int, ...]:
    try:
        return parse_bounds(text)
    except ValidationError as exc:
        raise ParseError(f"--buckets: {exc}") from None


def _atb(rest: str, currency: str) -> Command:
    options = read_options(tokens(rest), _ATB_OPTIONS, "an ATB option")
    return Atb(
        as_of=day(options["as-of"], "--as-of date") if "as-of" in options else None,
        by=choice(GroupBy, options["by"], "--by") if "by" in options else None,
        over=whole(options["over"], "number of days", 0, MAX_DAYS) if "over" in options else None,
        basis=choice(Basis, options["basis"], "--basis") if "basis" in options else None,
        buckets=_buckets(options["buckets"]) if "buckets" in options else None,
        location=account_number(options["location"]) if "location" in options else None,
        csv="csv" in options or "detail" in options,
        detail="detail" in options,
    )


def _delinquent(rest: str, currency: str) -> Command:
    options = read_options(tokens(rest), ("over", "min"), "a /ar delinquent option")
    return Delinquent(
        over=whole(options["over"], "number of days", 0, MAX_DAYS) if "over" in options else 90,
        least=amount(options["min"], currency) if "min" in options else None,
    )


def _bad_debt(rest: str, currency: str) -> Command:
    options = read_options(tokens(rest), ("since",), "a /ar baddebt option")
    return BadDebt(since=day(options["since"], "--since date") if "since" in options else None)


def _dso(rest: str, currency: str) -> Command:
    options = read_options(tokens(rest), ("as-of", "by", "days", "location"), "a /ar dso option")
    return Dso(
        as_of=day(options["as-of"], "--as-of date") if "as-of" in options else None,
        by=choice(GroupBy, options["by"], "--by") if "by" in options else None,
        days=whole(options["days"], "number of days", 1, MAX_DAYS) if "days" in options else 90,
        location=account_number(options["location"]) if "location" in options else None,
    )


_READERS: dict[str, Callable[[str, str], Command]] = {
    "help": _help,
    "find": _find,
    "account": _account,
    "invoice": _invoice,
    "entry": _entry,
    "charge": _charge,
    "waive": _waive,
    "assign": read_assign,
    "followup": read_followup,
    "worklist": read_worklist,
    "rejects": read_rejects,
    "payment": _payment,
    "atb": _atb,
    "journal": read_journal,
    "status": read_status,
    "collections": read_collections,
    "gl": read_gl,
    "services": read_services,
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
