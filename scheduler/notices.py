"""Sending one-off notices to patients: plan reminders and receipts, statements (issue 6).

A notice is *derived* from the state of the books (an instalment due in three days, a
declined charge, a statement cycle falling today), so the jobs that send them may run
every hour: each notice has a dedupe key naming what it is about, a key already in the
outbox is passed over before anything is done for it (no pay link is minted for a
message that went yesterday), and :func:`bot.patient.outbound.deliver` claims the key
before the message goes, so two schedulers never send it twice. A notice waits while
its location's sending hours are closed, for a later run.

Amounts go only to a chat whose person is verified; any other chat gets the
``unverified`` template (that there is something to see, the link, STOP/HELP) or
nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from core.clock import Clock
from core.db import Database
from core.dunning import sending_hours
from core.errors import ArbotError
from core.patients.outbox import outbox
from core.patients.paylinks import PayChoice, issue_pay_link
from core.patients.reach import Reach, reach
from core.ports import OutboundMessage
from scheduler.pacing import Pace, is_open
from scheduler.ports import Ports


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to send about ``account_id``, once under ``key``: ``template`` for a
    verified chat with ``context``, ``unverified`` (or nothing, when None) otherwise;
    ``pay`` adds a pay link of that kind as ``link``."""

    account_id: int
    location: str
    key: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    pay: PayChoice | None = None
    unverified: str | None = "dunning_unverified"


async def already_sent(db: Database, keys: Sequence[str]) -> set[str]:
    """The keys among ``keys`` claimed in the outbox already."""
    found: set[str] = set()
    async with db.read() as conn:
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            rows = await conn.execute(
                select(outbox.c.dedupe_key).where(outbox.c.dedupe_key.in_(chunk))
            )
            found.update(r[0] for r in rows)
    return found


async def _link(db: Database, ports: Ports, notice: Notice, to: Reach) -> str:
    if notice.pay is None or not ports.pay_base_url:
        return ""
    try:
        token = await issue_pay_link(
            db,
            account_id=notice.account_id,
            choice=notice.pay,
            channel=to.channel,
            address=to.address,
        )
    except ArbotError:  # nothing to pay that way now (paid meanwhile): no link
        return ""
    return f"{ports.pay_base_url.rstrip('/')}/pay/{token}"


async def send_notices(
    db: Database, clock: Clock, ports: Ports, notices: Sequence[Notice]
) -> Counter[str]:
    """Send each notice not sent yet, where its location's hours are open now; returns
    how they ended: ``sent``, ``failed (...)``, ``waiting`` (hours closed),
    ``unreachable``, ``skipped (unverified)``, ``already sent``."""
    outcomes: Counter[str] = Counter()
    if ports.send is None or ports.render is None or not notices:
        return outcomes
    done = await already_sent(db, [n.key for n in notices])
    async with db.read() as conn:
        hours = await sending_hours(conn)
    pace = Pace(dict(ports.rates))
    for notice in notices:
        if notice.key in done:
            outcomes["already sent"] += 1
            continue
        if not is_open(hours.get(notice.location, ports.hours), clock.now()):
            outcomes["waiting"] += 1
            continue
        outcomes[await _send(db, ports, pace, notice)] += 1
    return outcomes


async def _send(db: Database, ports: Ports, pace: Pace, notice: Notice) -> str:
    assert ports.send is not None and ports.render is not None
    async with db.read() as conn:
        to = await reach(conn, notice.account_id)
    if to is None:
        return "unreachable"
    if ports.channels is not None and to.channel not in ports.channels:
        return "waiting"  # no messenger for the channel here: a later run may have one
    template = notice.template if to.verified else notice.unverified
    if template is None:
        return "skipped (unverified)"
    link = await _link(db, ports, notice, to)
    context = dict(notice.context) if to.verified else {}
    text = ports.render(to.locale, template, link=link, sms=to.channel == "sms", **context)
    await pace.wait(to.channel)
    try:
        delivery = await ports.send(
            channel=to.channel,
            address=to.address,
            message=OutboundMessage(text),
            kind=template,
            account_id=notice.account_id,
            dedupe_key=notice.key,
        )
    except Exception as exc:  # a sender that raised: count it, go on with the rest
        return f"failed (error: {type(exc).__name__})"
    if delivery is None:
        return "already sent"
    return "sent" if delivery.ok else f"failed ({delivery.failure or 'error'})"
