"""``/ar journal``: what was posted in a period, totalled by entry type and by payer
(AR-113, AR-114, AR-126, AR-128), for the person's locations; ``--csv`` also sends every
line as a file (the columns of ``arbot report journal --format csv``). ``/ar status``:
where every account stands (AR-160, AR-009). ``/ar collections``: what was collected,
from whom, how fast (AR-152, AR-157)."""

from __future__ import annotations

from datetime import date

from bot.staff.parse_reports import (
    ShowCollections,
    ShowGl,
    ShowJournal,
    ShowServices,
    ShowStatus,
)
from bot.staff.render import message
from bot.staff.reports import location_for, upload_csv
from bot.staff.turn import Turn
from core.auth import Actor, Permission, require
from core.clock import today
from core.reports.collections import WITHIN, collection_analysis, last_month
from core.reports.gl import every_location, gl_summary
from core.reports.journal import journal, period
from core.reports.journal_format import journal_csv, title
from core.reports.services import service_use
from core.reports.status import ar_status


async def show_journal(turn: Turn, staff: Actor, cmd: ShowJournal) -> None:
    location = location_for(staff, cmd.location)
    require(staff, Permission.VIEW_REPORTS, location)
    start, end = period(cmd.start, cmd.end, today(turn.services.clock))
    where = [location] if location is not None else staff.locations
    async with turn.db.read() as conn:
        found = await journal(
            conn, start, end, turn.services.settings.currency, only=cmd.only, locations=where,
            types=cmd.types,
        )  # fmt: skip
    if cmd.csv and found.lines:
        name = f"journal-{start.isoformat()}-{end.isoformat()}.csv"
        comment = message("journal_file", turn.locale, j=found, heading=title(found))
        await upload_csv(turn, journal_csv(found), name, title(found), comment["text"])
    await turn.reply("journal", j=found, heading=title(found), csv=cmd.csv, location=location)


async def show_status(turn: Turn, staff: Actor, cmd: ShowStatus) -> None:
    location = location_for(staff, cmd.location)
    require(staff, Permission.VIEW_REPORTS, location)
    where = [location] if location is not None else staff.locations
    async with turn.db.read() as conn:
        found = await ar_status(
            conn, cmd.as_of or today(turn.services.clock), turn.services.settings.currency, where
        )
    await turn.reply("status", s=found, location=location)


def _month_or_days(turn: Turn, start: date | None, end: date | None) -> tuple[date, date]:
    """Last month unless the dates say (``--from`` alone runs to today)."""
    on = today(turn.services.clock)
    return last_month(on) if start is None and end is None else period(start, end, on)


async def show_collections(turn: Turn, staff: Actor, cmd: ShowCollections) -> None:
    location = location_for(staff, cmd.location)
    require(staff, Permission.VIEW_REPORTS, location)
    start, end = _month_or_days(turn, cmd.start, cmd.end)
    where = [location] if location is not None else staff.locations
    async with turn.db.read() as conn:
        found = await collection_analysis(
            conn, start, end, turn.services.settings.currency, by=cmd.by, locations=where
        )
    await turn.reply("collections", c=found, location=location, within=WITHIN)


async def show_gl(turn: Turn, staff: Actor, cmd: ShowGl) -> None:
    """Each GL account over a period (AR-122): the general ledger covers every location,
    so only staff who may read reports at each of them may read it."""
    require(staff, Permission.VIEW_REPORTS)
    start, end = period(cmd.start, cmd.end, today(turn.services.clock))
    async with turn.db.read() as conn:
        for location in await every_location(conn):
            require(staff, Permission.VIEW_REPORTS, location)
        found = await gl_summary(conn, start, end, turn.services.settings.currency)
    await turn.reply("gl", s=found)


async def show_services(turn: Turn, staff: Actor, cmd: ShowServices) -> None:
    """Service use and revenue per service (BI-16), last month unless the dates say."""
    location = location_for(staff, cmd.location)
    require(staff, Permission.VIEW_REPORTS, location)
    start, end = _month_or_days(turn, cmd.start, cmd.end)
    where = [location] if location is not None else staff.locations
    async with turn.db.read() as conn:
        found = await service_use(
            conn, start, end, turn.services.settings.currency, by=cmd.by, locations=where
        )
    await turn.reply("services", s=found, location=location)
