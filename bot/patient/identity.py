"""Who is this? Nothing about an account is shown before the person is verified.

Telegram: ``/start <code>`` with a one-time code from staff or a statement, or the
"Share my phone number" button (only the sender's own contact counts) matching a phone
on file; then the date of birth. SMS: the sending number must be on file; then the date
of birth. Five wrong dates of birth lock the chat for 30 minutes and tell staff
(issue 5; AR-131's disclosure rule). Until verified, replies say nothing about whether
a number or code belongs to anyone beyond what the person already proved.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.patient.context import PatientContext
from bot.patient.dates import parse_birth_date
from bot.patient.labels import MENU
from bot.patient.texts import format_locale, language_of
from bot.patient.turn import Turn
from core.auth import Actor
from core.errors import ValidationError
from core.ledger.tables import customer_account
from core.links import LinkCodeRefused, redeem_link_code
from core.patients.identity import (
    BirthDateWrong,
    IdentityLocked,
    accounts_on_file,
    unverified_accounts,
    verify_birth_date,
)
from core.patients.summary import patient_account
from core.ports import StaffPost

log = logging.getLogger(__name__)
PATIENT = Actor("patient", "chat", "patient in chat")


async def identify(ctx: PatientContext, turn: Turn) -> None:
    text = turn.text.strip()
    if text.lower().startswith("/start"):
        code = text[len("/start") :].strip()
        if code:
            await _redeem(ctx, turn, code)
        else:
            _greet(turn)
        return
    if turn.inbound.contact_not_own:
        turn.say("contact_not_own", ask_contact=True)
        return
    if turn.inbound.contact_phone:
        await _by_phone(ctx, turn, turn.inbound.contact_phone)
        return
    if turn.step == "dob" and turn.data.get("candidates"):
        await _speak_their_language(ctx, turn, turn.data["candidates"])
        await _check_birth_date(ctx, turn)
        return
    async with ctx.db.read() as conn:
        linked = await unverified_accounts(conn, turn.channel, turn.address)
    if linked:
        turn.go("dob", candidates=linked)
        await _check_birth_date(ctx, turn) if _looks_like_date(turn) else turn.say("ask_dob")
    elif turn.channel == "sms":
        await _by_phone(ctx, turn, turn.address)
    else:
        _greet(turn)


async def _speak_their_language(ctx: PatientContext, turn: Turn, candidates: list[int]) -> None:
    """Ask for the date of birth in the language on file (and read it in that locale's
    order): it tells nothing about the account that the person asking could use."""
    if turn.state.locale is not None or not candidates:
        return
    async with ctx.db.read() as conn:
        language = (
            await conn.execute(
                select(customer_account.c.language).where(customer_account.c.id == candidates[0])
            )
        ).scalar_one_or_none()
    turn.switch_language(language or "en")


def _greet(turn: Turn) -> None:
    turn.go("start")
    turn.say("welcome", turn.other_language(), ask_contact=turn.channel == "telegram")


def _looks_like_date(turn: Turn) -> bool:
    return parse_birth_date(turn.text, format_locale(turn.language), turn.today) is not None


async def _redeem(ctx: PatientContext, turn: Turn, code: str) -> None:
    try:
        await redeem_link_code(ctx.db, code=code, channel=turn.channel, address=turn.address)
    except LinkCodeRefused as exc:
        turn.say(f"code_{exc.reason}")
        return
    async with ctx.db.read() as conn:
        linked = await unverified_accounts(conn, turn.channel, turn.address)
    await _speak_their_language(ctx, turn, linked)
    turn.go("dob", candidates=linked)
    turn.say("ask_dob")


async def _by_phone(ctx: PatientContext, turn: Turn, phone: str) -> None:
    try:
        async with ctx.db.read() as conn:
            candidates = await accounts_on_file(conn, phone)
    except ValidationError:
        candidates = []
    if not candidates:
        turn.go("start")
        turn.say("not_on_file")
        return
    turn.go("dob", candidates=candidates)
    await _speak_their_language(ctx, turn, candidates)
    if turn.channel == "sms" and _looks_like_date(turn):
        await _check_birth_date(ctx, turn)
    else:
        turn.say("ask_dob")


async def _check_birth_date(ctx: PatientContext, turn: Turn) -> None:
    born = parse_birth_date(turn.text, format_locale(turn.language), turn.today)
    if born is None:
        turn.say("dob_format")
        return
    candidates = [int(c) for c in turn.data["candidates"]]
    try:
        verified = await verify_birth_date(
            ctx.db, channel=turn.channel, address=turn.address, born=born, candidates=candidates
        )
    except BirthDateWrong as exc:
        turn.say("dob_wrong", attempts_left=exc.attempts_left)
        return
    except IdentityLocked as exc:
        turn.go("start")
        turn.say("locked")
        if exc.first_time:
            await _tell_staff_locked(ctx, turn)
        return
    async with ctx.db.read() as conn:
        accounts = [await patient_account(conn, a, turn.today) for a in verified]
    if turn.state.locale is None and accounts:
        turn.switch_language(language_of(accounts[0].language))
    turn.go("menu")
    turn.say("verified", *MENU, accounts=accounts)


async def _tell_staff_locked(ctx: PatientContext, turn: Turn) -> None:
    """Staff hear which channel was locked, never the number or what was typed."""
    channel = ctx.settings.slack_patient_channel or ctx.settings.slack_approvals_channel
    if ctx.staff is None or not channel:
        log.warning(
            "a %s chat was locked after 5 wrong birth dates; no staff channel", turn.channel
        )
        return
    text = f"A {turn.channel} chat was locked for 30 minutes after 5 wrong dates of birth."
    try:
        await ctx.staff.post(StaffPost(channel, text))
    except Exception:  # the lock stands whether or not Slack hears of it
        log.exception("could not tell staff about a locked chat")
