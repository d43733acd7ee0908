"""A collector's worklist, the flags due per owner, and staff named in a command
(AR-005, AR-101)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date

from sqlalchemy import and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, load_staff, staff_user
from core.errors import NotFound
from core.ledger.tables import ar_item, customer_account
from core.money import Money
from core.worklists.model import (
    SHOWN,
    UPCOMING,
    Collector,
    Flag,
    FlagStatus,
    Unflagged,
    Worklist,
    collector_assignment,
    collector_by_id,
    flag_of,
    flag_query,
    follow_up,
    latest_assignment,
)


async def worklist(
    conn: AsyncConnection,
    staff_id: int,
    as_of: date,
    locations: Collection[str] | None = None,
) -> Worklist:
    """``staff_id``'s worklist on ``as_of`` (AR-005), of the accounts at ``locations``
    (None: every location); ``hidden`` counts the open flags and assigned accounts
    elsewhere."""
    ca = customer_account
    here = ca.c.location.in_(sorted(locations)) if locations is not None else true()
    collector = await collector_by_id(conn, staff_id)
    mine = flag_query().where(
        follow_up.c.staff_id == staff_id, follow_up.c.status == FlagStatus.OPEN.value, here
    )
    due_rows = await conn.execute(
        mine.where(follow_up.c.due_day <= as_of)
        .order_by(follow_up.c.due_day, follow_up.c.id)
        .limit(SHOWN)
    )
    due = tuple(flag_of(r) for r in due_rows)
    upcoming_rows = await conn.execute(
        mine.where(follow_up.c.due_day > as_of, follow_up.c.due_day <= as_of + UPCOMING)
        .order_by(follow_up.c.due_day, follow_up.c.id)
        .limit(SHOWN)
    )
    open_flags = (
        select(
            func.count().filter(here).label("shown"),
            func.count().filter(and_(here, follow_up.c.due_day <= as_of)).label("due"),
            func.count().label("all"),
        )
        .select_from(follow_up.join(ca, ca.c.id == follow_up.c.account_id))
        .where(follow_up.c.staff_id == staff_id, follow_up.c.status == FlagStatus.OPEN.value)
    )
    flags = (await conn.execute(open_flags)).one()
    latest = latest_assignment()
    assigned = (
        select(collector_assignment.c.account_id)
        .join(latest, latest.c.id == collector_assignment.c.id)
        .where(collector_assignment.c.staff_id == staff_id)
        .subquery("assigned")
    )
    accounts = (
        await conn.execute(
            select(func.count().filter(here), func.count()).select_from(
                assigned.join(ca, ca.c.id == assigned.c.account_id)
            )
        )
    ).one()
    flagged = select(follow_up.c.account_id).where(follow_up.c.status == FlagStatus.OPEN.value)
    owed = func.coalesce(func.sum(ar_item.c.open_minor), 0)
    unflagged_rows = await conn.execute(
        select(ca.c.id, ca.c.number, ca.c.name, ca.c.location, ca.c.currency, owed.label("open"))
        .join(assigned, assigned.c.account_id == ca.c.id)
        .outerjoin(ar_item, ar_item.c.account_id == ca.c.id)
        .where(ca.c.id.not_in(flagged), here)
        .group_by(ca.c.id, ca.c.number, ca.c.name, ca.c.location, ca.c.currency)
        .having(owed > 0)
        .order_by(owed.desc(), ca.c.id)
        .limit(SHOWN)
    )
    return Worklist(
        collector,
        as_of,
        due,
        tuple(flag_of(r) for r in upcoming_rows),
        tuple(
            Unflagged(r.id, r.number, r.name, r.location, Money(int(r.open), r.currency))
            for r in unflagged_rows
        ),
        int(flags.due),
        int(accounts[0]),
        hidden=int(flags.all) - int(flags.shown) + int(accounts[1]) - int(accounts[0]),
    )


async def due_by_owner(conn: AsyncConnection, as_of: date) -> dict[Collector, list[Flag]]:
    """Open flags due by ``as_of``, per owner, oldest first (the reminders)."""
    rows = await conn.execute(
        flag_query()
        .where(
            follow_up.c.status == FlagStatus.OPEN.value,
            follow_up.c.due_day <= as_of,
            staff_user.c.active.is_(True),  # nobody is reminded after they left
        )
        .order_by(follow_up.c.staff_id, follow_up.c.due_day, follow_up.c.id)
    )
    found: dict[Collector, list[Flag]] = defaultdict(list)
    for r in rows:
        flag = flag_of(r)
        found[flag.owner].append(flag)
    return dict(found)


async def staff_named(conn: AsyncConnection, who: str) -> Actor:
    """A staff user by Slack user id (``U0123ABCD``, or ``<@U0123ABCD|name>`` as Slack
    escapes a mention) or by their full name, any case."""
    text = who.strip()
    if text.startswith("<@") and text.endswith(">"):
        text = text[2:-1].split("|")[0]
    try:
        return await load_staff(conn, slack_user_id=text)
    except NotFound:
        pass
    # Compared here, not in SQL: SQLite's lower() lowers ASCII letters only ("Ángela").
    wanted = " ".join(text.split()).casefold()
    staff = await conn.execute(
        select(staff_user.c.id, staff_user.c.name).where(staff_user.c.active.is_(True))
    )
    rows = [r for r in staff if " ".join(r.name.split()).casefold() == wanted]
    if len(rows) != 1:
        raise NotFound(
            f"no one on the staff is {who!r}"
            if not rows
            else f"{len(rows)} staff users are called {who!r}: name them by Slack user id"
        )
    return await load_staff(conn, staff_id=rows[0].id)
