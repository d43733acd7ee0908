"""The period reports in Slack, each for the person's locations (``view_reports``):
``/ar journal`` (AR-113, AR-114, AR-126, AR-128; ``--csv`` also sends every line as a
file, the columns of ``arbot report journal --format csv``), ``/ar status`` (AR-160,
AR-009), ``/ar collections`` (AR-152, AR-157), ``/ar gl`` (AR-122: every location) and
``/ar services`` (BI-16)."""

from __future__ import annotations

from collections.abc import Collection
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
from core.reports.collections import WITHIN, collection_analysis
from core.reports.days import last_month, period
from core.reports.gl import gl_summary, require_everywhere
from core.reports.journal import journal
from core.reports.journal_format import journal_csv, title
from core.reports.services import service_use
from core.reports.status import ar_status


def readable(staff: Actor, asked: str | None) -> tuple[str | None, Collection[str] | None]:
    """The location asked for (or the person's only one) once ``view_reports`` there is
    checked, and the locations to read: that one, else all the person works at."""
    location = location_for(staff, asked)
    require(staff, Permission.VIEW_REPORTS, location)
    return location, [location] if location is not None else staff.locations


async def show_journal(turn: Turn, staff: Actor, cmd: ShowJournal) -> None:
    location, where = readable(staff, cmd.location)
    start, end = period(cmd.start, cmd.end, today(turn.services.clock))
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
    location, where = readable(staff, cmd.location)
    async with turn.db.read() as conn:
        found = await ar_status(
            conn, cmd.as_of or today(turn.services.clock), turn.services.settings.currency, where
        )
    await turn.reply("status", s=found, location=location)


def _month_or_days(turn: Turn, start: date | None, end: date | None) -> tuple[date, date]:
    """Last month unless the dates say (``--from`` alone runs to today)."""
    on = today(turn.services.clock)
    return period(start, end, on, otherwise=last_month(on))


async def show_collections(turn: Turn, staff: Actor, cmd: ShowCollections) -> None:
    location, where = readable(staff, cmd.location)
    start, end = _month_or_days(turn, cmd.start, cmd.end)
    async with turn.db.read() as conn:
        found = await collection_analysis(
            conn, start, end, turn.services.settings.currency, by=cmd.by, locations=where
        )
    await turn.reply("collections", c=found, location=location, within=WITHIN)


async def show_gl(turn: Turn, staff: Actor, cmd: ShowGl) -> None:
    """Each GL account over a period (AR-122): the general ledger covers every location,
    so only staff who may read reports at each of them may read it."""
    start, end = period(cmd.start, cmd.end, today(turn.services.clock))
    async with turn.db.read() as conn:
        await require_everywhere(conn, staff, Permission.VIEW_REPORTS)
        found = await gl_summary(conn, start, end, turn.services.settings.currency)
    await turn.reply("gl", s=found)


async def show_services(turn: Turn, staff: Actor, cmd: ShowServices) -> None:
    """Service use and revenue per service (BI-16), last month unless the dates say."""
    location, where = readable(staff, cmd.location)
    start, end = _month_or_days(turn, cmd.start, cmd.end)
    async with turn.db.read() as conn:
        found = await service_use(
            conn, start, end, turn.services.settings.currency, by=cmd.by, locations=where
        )
    await turn.reply("services", s=found, location=location)
