"""Reading the work queues' commands: ``/ar assign``, ``/ar followup`` and
``/ar worklist`` (AR-045, AR-101, AR-005), and ``/ar rejects [kind]`` (the rows the
billing interface rejected, AR-067), for :func:`bot.staff.parse.parse`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.staff.words import ParseError, account_number, day, expect, note_of, tokens, whole


@dataclass(frozen=True, slots=True)
class Assign:
    account: str
    collector: str | None  # "me", a Slack user id, a staff name; None: nobody


@dataclass(frozen=True, slots=True)
class FollowUp:
    account: str
    due: date | int  # a day, or days from today
    note: str


@dataclass(frozen=True, slots=True)
class ShowWorklist:
    collector: str  # "me", a Slack user id or a staff name


@dataclass(frozen=True, slots=True)
class ShowRejects:
    kind: str | None = None  # patients, services, charges, payments, remittance; None: all


REJECT_KINDS = ("patients", "services", "charges", "payments", "remittance")


def read_rejects(rest: str, currency: str) -> ShowRejects:
    args = tokens(rest)
    expect(args, 0, 1, "/ar rejects [patients|services|charges|payments|remittance]")
    if not args:
        return ShowRejects()
    kind = args[0].casefold()
    if kind not in REJECT_KINDS:
        raise ParseError(f"rejects are of {', '.join(REJECT_KINDS)}, not {args[0]!r}")
    return ShowRejects(kind)


_ASSIGN = '/ar assign <account> <me | none | Slack user id | "staff name">'
_FOLLOWUP = "/ar followup <account> <YYYY-MM-DD | +days> <note>"


def read_assign(rest: str, currency: str) -> Assign | FollowUp | ShowWorklist:
    args = tokens(rest)
    expect(args, 2, 2, _ASSIGN)
    who = args[1].strip()
    if not who:
        raise ParseError(f"usage: {_ASSIGN}")
    return Assign(account_number(args[0]), None if who.casefold() == "none" else who)


def read_followup(rest: str, currency: str) -> Assign | FollowUp | ShowWorklist:
    args = tokens(rest)
    if len(args) < 3:
        raise ParseError(f"usage: {_FOLLOWUP}")
    when = args[1]
    due: date | int
    if when.startswith("+"):
        due = whole(when[1:], "days ahead", 0, 366)
    else:
        due = day(when, "review date")
    return FollowUp(account_number(args[0]), due, note_of(args[2:], _FOLLOWUP))


def read_worklist(rest: str, currency: str) -> Assign | FollowUp | ShowWorklist:
    args = tokens(rest)
    expect(args, 0, 1, '/ar worklist [me | Slack user id | "staff name"]')
    return ShowWorklist(args[0] if args else "me")
