"""Whom a planned dunning step may reach, and which accounts it leaves alone (AR-162).

The last join of the dunning decision (:mod:`core.dunning.plan`). Each account's level
meets what holds it back: the same level already decided for the same debt, a reminder
within the rule's gap, a pause on the whole account, a status that puts the account in
someone else's hands, an active payment plan. It also meets the channels that may carry
the message: a Telegram chat linked to the responsible party unless it opted out, else
SMS to a linked number or the phone on file when that number opted in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, false, func, null, or_, select, true

from core.db.metadata import day_number
from core.dunning.owed import active_pauses
from core.dunning.tables import dunning_notice, dunning_pause
from core.ledger.tables import (
    chat_link,
    contact_consent,
    customer_account,
    customer_contact,
    customer_status,
)
from core.plans.tables import payment_plan

UNREACHABLE_STATUSES = (
    "disputed",
    "in_collections",
    "bad_debt",
    "inactive",
    "flagged_for_deletion",
)
"""Account statuses dunning leaves alone: someone else is dealing with the account."""


def on_plan() -> Any:
    """Accounts with an active payment plan (AR-162): they get the plan's notices, not
    dunning. A plan missed past its grace period is put in default by the plan job
    (``core.plans.instalments``), which ends it, and dunning takes the account up again
    at the level its oldest item calls for."""
    return (
        select(payment_plan.c.account_id)
        .where(payment_plan.c.status == "active")
        .subquery("on_plan")
    )


def _latest(table: Any, keys: Sequence[Any], where: Any = None) -> Any:
    query = select(*keys, func.max(table.c.id).label("id")).group_by(*keys)
    return query.where(where) if where is not None else query


def paused_accounts(day: int) -> Any:
    """Accounts paused as a whole on ``day`` (promise to pay, hardship ...)."""
    return (
        select(dunning_pause.c.account_id)
        .where(dunning_pause.c.item_id.is_(None), active_pauses(day))
        .distinct()
        .subquery("paused_accounts")
    )


def status_on(day: int) -> tuple[Any, Any]:
    """Each account's latest status on ``day``: the subquery picking it (join on
    ``account_id``) and the status row it picks (join on ``id``)."""
    latest = _latest(
        customer_status,
        [customer_status.c.account_id],
        day_number(customer_status.c.effective_day) <= day,
    ).subquery("latest_status")
    return latest, customer_status.alias("status_now")


def _channels(recipient: Any) -> dict[str, Any]:
    """Columns choosing the channel, address and verification for ``recipient``."""
    links = {}
    for channel in ("telegram", "sms"):
        latest = _latest(
            chat_link,
            [chat_link.c.account_id],
            and_(chat_link.c.channel == channel, chat_link.c.unlinked_at.is_(None)),
        ).subquery(f"{channel}_latest")
        link = chat_link.alias(f"{channel}_link")
        links[channel] = (latest, link)
    phone_pick = (
        select(
            customer_contact.c.account_id,
            func.coalesce(
                func.min(case((customer_contact.c.is_primary.is_(true()), customer_contact.c.id))),
                func.min(customer_contact.c.id),
            ).label("id"),
        )
        .where(customer_contact.c.kind == "phone")
        .group_by(customer_contact.c.account_id)
        .subquery("phone_pick")
    )
    phone = customer_contact.alias("phone")
    return {"links": links, "phone_pick": phone_pick, "phone": phone, "recipient": recipient}


def reachable(leveled: Any, day: int, unreachable: bool) -> Any:
    """Join each account's level to its history and its channels."""
    ladder = leveled
    ca, recipient = customer_account, customer_account.alias("recipient")
    latest_status, status = status_on(day)
    done = dunning_notice.alias("done")
    last_sent = (
        select(
            dunning_notice.c.account_id,
            func.max(day_number(dunning_notice.c.planned_day)).label("day"),
        )
        .where(
            dunning_notice.c.action == "message",
            dunning_notice.c.status.not_in(["expired", "skipped"]),
        )
        .group_by(dunning_notice.c.account_id)
        .subquery("last_sent")
    )
    account_paused = paused_accounts(day)
    planned = on_plan()
    ch = _channels(recipient)
    (tg_latest, tg), (sms_latest, sms) = ch["links"]["telegram"], ch["links"]["sms"]
    phone_pick, phone = ch["phone_pick"], ch["phone"]
    consents = _latest(
        contact_consent, [contact_consent.c.channel, contact_consent.c.address]
    ).subquery("consent_latest")
    tg_consent, sms_consent = (
        contact_consent.alias("tg_consent"),
        contact_consent.alias("sms_consent"),
    )
    tg_pick, sms_pick = consents.alias("tg_pick"), consents.alias("sms_pick")
    sms_address = func.coalesce(sms.c.address, phone.c.normalized)
    tg_ok = and_(
        tg.c.address.is_not(None), func.coalesce(tg_consent.c.granted, true()).is_(true())
    )
    sms_ok = and_(
        sms_address.is_not(None), func.coalesce(sms_consent.c.granted, false()).is_(true())
    )
    channel = case((tg_ok, "telegram"), (sms_ok, "sms"), else_=null())
    address = case((tg_ok, tg.c.address), (sms_ok, sms_address), else_=null())
    verified = case(
        (tg_ok, tg.c.verified_at.is_not(None)),
        (sms_ok, and_(sms.c.verified_at.is_not(None), sms.c.address == sms_address)),
        else_=false(),
    )
    messages = ladder.c.action == "message"
    query = (
        select(
            leveled.c.account_id,
            ca.c.number,
            recipient.c.id.label("recipient_id"),
            ca.c.location,
            ca.c.currency,
            leveled.c.rule,
            leveled.c.level,
            leveled.c.template,
            leveled.c.action,
            leveled.c.anchor,
            leveled.c.days_overdue,
            leveled.c.amount_due,
            case(
                (leveled.c.overdue < leveled.c.amount_due, leveled.c.overdue),
                else_=leveled.c.amount_due,
            ).label("overdue"),
            # A flag for collections is no message: it has no channel.
            case((messages, channel), else_=null()).label("channel"),
            case((messages, address), else_=null()).label("address"),
            and_(messages, verified).label("verified"),
            recipient.c.language.label("locale"),
        )
        .select_from(leveled)
        .join(ca, ca.c.id == leveled.c.account_id)
        .join(recipient, recipient.c.id == func.coalesce(ca.c.guarantor_id, ca.c.id))
        .outerjoin(latest_status, latest_status.c.account_id == ca.c.id)
        .outerjoin(status, status.c.id == latest_status.c.id)
        .outerjoin(
            done,
            and_(
                done.c.account_id == leveled.c.account_id,
                done.c.rule == leveled.c.rule,
                done.c.level == leveled.c.level,
                day_number(done.c.anchor_day) == leveled.c.anchor,
                done.c.status != "expired",
            ),
        )
        .outerjoin(last_sent, last_sent.c.account_id == leveled.c.account_id)
        .outerjoin(account_paused, account_paused.c.account_id == leveled.c.account_id)
        .outerjoin(planned, planned.c.account_id == leveled.c.account_id)
        .outerjoin(tg_latest, tg_latest.c.account_id == recipient.c.id)
        .outerjoin(tg, tg.c.id == tg_latest.c.id)
        .outerjoin(
            tg_pick, and_(tg_pick.c.channel == "telegram", tg_pick.c.address == tg.c.address)
        )
        .outerjoin(tg_consent, tg_consent.c.id == tg_pick.c.id)
        .outerjoin(sms_latest, sms_latest.c.account_id == recipient.c.id)
        .outerjoin(sms, sms.c.id == sms_latest.c.id)
        .outerjoin(phone_pick, phone_pick.c.account_id == recipient.c.id)
        .outerjoin(phone, phone.c.id == phone_pick.c.id)
        .outerjoin(sms_pick, and_(sms_pick.c.channel == "sms", sms_pick.c.address == sms_address))
        .outerjoin(sms_consent, sms_consent.c.id == sms_pick.c.id)
        .where(
            leveled.c.amount_due > ladder.c.min_balance,
            done.c.id.is_(None),
            account_paused.c.account_id.is_(None),
            planned.c.account_id.is_(None),
            or_(status.c.status.is_(None), status.c.status.not_in(UNREACHABLE_STATUSES)),
            or_(
                ladder.c.action == "collections",
                and_(
                    true() if unreachable else channel.is_not(None),
                    or_(last_sent.c.day.is_(None), last_sent.c.day <= day - ladder.c.gap),
                ),
            ),
        )
        .order_by(leveled.c.level.desc(), leveled.c.amount_due.desc(), leveled.c.account_id)
    )
    return query
