"""``arbot report atb|journal|status|collections|gl|services``: the reports an operator
reads at the server (AR-156, AR-183; AR-113, AR-114, AR-128; AR-160; AR-152; AR-122;
BI-16). Each reads
the database once and writes text, CSV or JSON to standard output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import SystemClock, today
from core.db import Database
from core.settings import Settings, aging_rule


def add_parser(sub: Any) -> None:
    """Add ``arbot report ...`` to the command line's subcommands."""
    report = sub.add_parser("report", help="reports").add_subparsers(dest="action", required=True)
    atb = report.add_parser("atb", help="aged trial balance")
    atb.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    atb.add_argument(
        "--basis", choices=["service", "bill", "due"], help="default: ARBOT_AGING_BASIS"
    )
    atb.add_argument("--buckets", help="e.g. 30,60,90 (default: ARBOT_AGING_BUCKETS)")
    atb.add_argument(
        "--by",
        choices=["financial_class", "location", "guarantor", "doctor", "payer", "patient_type"],
    )
    atb.add_argument("--over", type=int, metavar="DAYS")
    atb.add_argument("--sort", choices=["balance", "name"], default="balance")
    atb.add_argument(
        "--disputed", choices=["aged", "current"], help="default: ARBOT_AGING_DISPUTED"
    )
    atb.add_argument("--disputed-current", dest="disputed", action="store_const", const="current")
    atb.add_argument("--location")
    atb.add_argument("--currency")
    atb.add_argument("--format", choices=["text", "csv", "json"], default="text")
    atb.add_argument(
        "--detail",
        action="store_true",
        help="each account's statements, last payment, this month's payments and "
        "credits, last bill to an insurer",
    )

    journal = report.add_parser("journal", help="what was posted in a period, with totals")
    journal.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    journal.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")
    journal.add_argument("--only", choices=["charges", "receipts", "adjustments"])
    journal.add_argument(
        "--type",
        dest="types",
        default="",
        help="entry types: CONTRACTUAL, or WO_ADMIN,WO_SMALL",
    )
    journal.add_argument("--location")
    journal.add_argument("--currency")
    journal.add_argument("--format", choices=["text", "csv", "json"], default="text")

    collected = report.add_parser("collections", help="what was collected, from whom, how fast")
    collected.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    collected.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")
    collected.add_argument(
        "--by", choices=["payer", "financial_class", "patient_type", "location"], default="payer"
    )
    collected.add_argument("--location")
    collected.add_argument("--currency")
    collected.add_argument("--format", choices=["text", "json"], default="text")

    gl = report.add_parser("gl", help="each general-ledger account over a period")
    gl.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    gl.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")
    gl.add_argument("--currency")
    gl.add_argument("--format", choices=["text", "json"], default="text")

    export = report.add_parser(
        "gl-export", help="the general ledger's interface file (CSV): a voucher a day"
    )
    export.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    export.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")
    export.add_argument("--currency")
    export.add_argument("--detail", action="store_true", help="every posted line")

    gateway = report.add_parser(
        "gateway", help="card receipts reconciled to the payment gateway (Stripe)"
    )
    gateway.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    gateway.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")
    gateway.add_argument("--currency")
    gateway.add_argument("--format", choices=["text", "json"], default="text")

    rejected = report.add_parser("rejects", help="rows the imports rejected (the queue)")
    rejected.add_argument(
        "--status", choices=["open", "fixed", "dismissed", "all"], default="open"
    )
    rejected.add_argument(
        "--kind", choices=["patients", "services", "charges", "payments", "remittance"]
    )
    rejected.add_argument("--format", choices=["text", "csv"], default="text")
    errors = report.add_parser("errors", help="failed runs and rejected rows of a period")
    errors.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    errors.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")

    services = report.add_parser("services", help="service use and revenue per service")
    services.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    services.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")
    services.add_argument(
        "--by", choices=["service", "category", "doctor", "location"], default="service"
    )
    services.add_argument("--location")
    services.add_argument("--currency")
    services.add_argument("--format", choices=["text", "csv", "json"], default="text")

    status = report.add_parser("status", help="where every account stands (A/R status)")
    status.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    status.add_argument("--location")
    status.add_argument("--currency")
    status.add_argument("--format", choices=["text", "json"], default="text")


T = TypeVar("T")


async def reading(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """``work`` on one read of the configured database, then the database closed."""
    db = Database(settings.database_url)
    try:
        async with db.read() as conn:
            return await work(conn)
    finally:
        await db.dispose()


async def report_atb(args: argparse.Namespace, settings: Settings) -> int:
    from core.ledger.aging import Atb, GroupBy, aged_trial_balance
    from core.reports.atb import atb_csv, atb_json, atb_text
    from core.reports.atb_detail import AtbDetail, atb_detail

    rule = aging_rule(settings).overridden(args.basis, args.buckets, args.disputed)
    query = rule.query(
        args.as_of or today(SystemClock()),
        args.currency or settings.currency,
        group_by=GroupBy(args.by) if args.by else None,
        over_days=args.over,
        sort=args.sort,
        location=args.location,
    )

    async def read(conn: AsyncConnection) -> tuple[Atb, AtbDetail | None]:
        atb = await aged_trial_balance(conn, query)
        return atb, await atb_detail(conn, atb) if args.detail else None

    atb, detail = await reading(settings, read)
    render = {"text": atb_text, "csv": atb_csv, "json": atb_json}[args.format]
    sys.stdout.write(render(atb, detail))
    return 0


async def report_journal(args: argparse.Namespace, settings: Settings) -> int:
    from core.reports.days import period
    from core.reports.journal import journal
    from core.reports.journal_format import journal_csv, journal_json, journal_text

    start, end = period(args.start, args.end, today(SystemClock()))
    found = await reading(
        settings,
        lambda conn: journal(
            conn,
            start,
            end,
            args.currency or settings.currency,
            only=args.only,
            locations=_where(args),
            types=args.types.split(","),
        ),
    )
    render = {"text": journal_text, "csv": journal_csv, "json": journal_json}[args.format]
    sys.stdout.write(render(found))
    return 0


async def report_status(args: argparse.Namespace, settings: Settings) -> int:
    from core.reports.status import ar_status, status_json, status_text

    on, currency = args.as_of or today(SystemClock()), args.currency or settings.currency
    found = await reading(settings, lambda conn: ar_status(conn, on, currency, _where(args)))
    sys.stdout.write(
        status_json(found) if args.format == "json" else status_text(found, args.location)
    )
    return 0


async def report_collections(args: argparse.Namespace, settings: Settings) -> int:
    from core.reports.collections import collection_analysis, collections_json, collections_text

    start, end = _month_or_days(args)
    found = await reading(
        settings,
        lambda conn: collection_analysis(
            conn,
            start,
            end,
            args.currency or settings.currency,
            by=args.by,
            locations=_where(args),
        ),
    )
    text = collections_json(found) if args.format == "json" else collections_text(found)
    sys.stdout.write(text)
    return 0


async def report_gl(args: argparse.Namespace, settings: Settings) -> int:
    from core.reports.days import period
    from core.reports.gl import gl_json, gl_summary, gl_text

    start, end = period(args.start, args.end, today(SystemClock()))
    currency = args.currency or settings.currency
    found = await reading(settings, lambda conn: gl_summary(conn, start, end, currency))
    sys.stdout.write(gl_json(found) if args.format == "json" else gl_text(found))
    return 0 if found.balanced else 1


async def report_gl_export(args: argparse.Namespace, settings: Settings) -> int:
    """AR-207: the period's postings for the hospital's general ledger (no dates:
    yesterday), as CSV; exits 1 if a day does not balance."""
    from core.reports.days import period
    from core.reports.gl_export import export_csv, gl_export, unbalanced_days

    start, end = period(args.start, args.end, today(SystemClock()))
    currency = args.currency or settings.currency
    rows = await reading(
        settings, lambda conn: gl_export(conn, start, end, currency, detail=args.detail)
    )
    sys.stdout.write(export_csv(rows, detail=args.detail))
    wrong = unbalanced_days(rows, currency)
    if wrong:
        print(f"arbot: the ledger does not balance on {', '.join(wrong)}", file=sys.stderr)
    return 1 if wrong else 0


async def report_gateway(args: argparse.Namespace, settings: Settings) -> int:
    """AR-180: the period's card receipts, refunds and disputes against Stripe's balance
    transactions, days from midnight to midnight in the server's time zone; exit 1 when
    anything differs."""
    from bot.patient.stripe_gateway import StripeGateway
    from core.errors import ValidationError
    from core.reports.gateway import reconcile
    from core.reports.gateway_format import reconciliation_json, reconciliation_text

    if not settings.stripe_secret_key:
        raise ValidationError(
            "no payment gateway to reconcile with: STRIPE_SECRET_KEY is not set "
            "(the local test checkout takes no money)"
        )
    start, end = _moments(args, "a reconciliation")
    currency = args.currency or settings.currency
    gateway = StripeGateway(settings)
    try:
        # A day either side, to tell a timing difference from a missing movement.
        movements = await gateway.movements(start - timedelta(days=1), end + timedelta(days=1))
    finally:
        await gateway.close()
    found = await reading(settings, lambda conn: reconcile(conn, movements, start, end, currency))
    render = reconciliation_json if args.format == "json" else reconciliation_text
    sys.stdout.write(render(found))
    return 0 if found.agrees else 1


async def report_rejects(args: argparse.Namespace, settings: Settings) -> int:
    """AR-174: the exceptions queue (``/ar rejects`` works it in Slack)."""
    from core.imports.rejects import rejects
    from core.reports.errors import rejects_csv, rejects_text

    status = None if args.status == "all" else args.status
    found = await reading(settings, lambda conn: rejects(conn, status=status, kind=args.kind))
    sys.stdout.write(rejects_csv(found) if args.format == "csv" else rejects_text(found, status))
    return 0


async def report_errors(args: argparse.Namespace, settings: Settings) -> int:
    """AR-178: the period's failed scheduled runs and rejected import rows (no dates:
    yesterday); exits 1 when there are any."""
    from core.reports.errors import errors, errors_text

    start, end = _moments(args, "an error report")
    found = await reading(settings, lambda conn: errors(conn, start, end))
    sys.stdout.write(errors_text(found))
    return 1 if found.failed or found.rejected else 0


async def report_services(args: argparse.Namespace, settings: Settings) -> int:
    from core.reports.services import service_csv, service_json, service_text, service_use

    start, end = _month_or_days(args)
    found = await reading(
        settings,
        lambda conn: service_use(
            conn,
            start,
            end,
            args.currency or settings.currency,
            by=args.by,
            locations=_where(args),
        ),
    )
    render = {"text": service_text, "csv": service_csv, "json": service_json}[args.format]
    sys.stdout.write(render(found))
    return 0


def _month_or_days(args: argparse.Namespace) -> tuple[date, date]:
    """``--from`` / ``--to``, else last month (collections, services)."""
    from core.reports.days import last_month, period

    on = today(SystemClock())
    return period(args.start, args.end, on, otherwise=last_month(on))


def _moments(args: argparse.Namespace, what: str) -> tuple[datetime, datetime]:
    """The days asked for (no dates: yesterday) as moments, from the first day's
    midnight to the last day's end, in the server's time zone."""
    from core.reports.days import check_period, period

    first, last = period(args.start, args.end, today(SystemClock()))
    check_period(first, last, what)
    start = datetime.combine(first, time()).astimezone()
    return start, datetime.combine(last + timedelta(days=1), time()).astimezone()


def _where(args: argparse.Namespace) -> list[str] | None:
    return [args.location] if args.location else None


Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]

HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("report", "atb"): report_atb,
    ("report", "journal"): report_journal,
    ("report", "status"): report_status,
    ("report", "collections"): report_collections,
    ("report", "gl"): report_gl,
    ("report", "services"): report_services,
    ("report", "gateway"): report_gateway,
    ("report", "gl-export"): report_gl_export,
    ("report", "rejects"): report_rejects,
    ("report", "errors"): report_errors,
}
