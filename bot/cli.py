"""``arbot``: the command line for operators.

arbot db upgrade
arbot report atb [--as-of DATE] [--basis service|bill|due] [--buckets 30,60,...]
                 [--by financial_class|location|guarantor|doctor|payer|patient_type]
                 [--over DAYS] [--sort balance|name] [--disputed aged|current]
                 [--currency USD] [--format text|csv|json] [--detail]
arbot audit verify
arbot staff add --name NAME --role ROLE [--slack-user U123] [--location CODE ...]
                [--approval-limit AMOUNT]
arbot staff list
arbot import patients|services|charges|payments FILE.csv
             [--control-rows N] [--control-amount AMOUNT] [--rejects PATH] [--format text|json]
arbot invoice pdf T00000012 [--account NUMBER] [--language en|es] [--out FILE.pdf]
arbot demo load [--patients N] [--seed N]
arbot demo files [--out DIR] [--patients N] [--seed N]
arbot serve
arbot scheduler
arbot jobs list
arbot jobs run NAME [--as-of DATE] [--dry-run]
arbot chat --phone +15551234567
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import importer, invoice_cli, report_cli, statements_cli
from core.auth import Actor, StaffRole
from core.clock import SystemClock, today
from core.db import Database
from core.errors import ArbotError, ValidationError
from core.settings import Settings

if TYPE_CHECKING:
    pass

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arbot", description="Accounts receivable by chat.")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply every migration")

    report_cli.add_parser(sub)

    audit = sub.add_parser("audit", help="audit trail").add_subparsers(
        dest="action", required=True
    )
    audit.add_parser("verify", help="check the hash chain and the ledger's invariants")

    staff = sub.add_parser("staff", help="staff users").add_subparsers(
        dest="action", required=True
    )
    add = staff.add_parser("add", help="add a staff user (who they are in Slack, what they do)")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, help=", ".join(r.value for r in StaffRole))
    add.add_argument("--slack-user", metavar="ID", help="Slack user id, e.g. U0123ABCD")
    add.add_argument(
        "--location",
        action="append",
        default=[],
        metavar="CODE",
        help="a location they work at; repeat for several; none: every location",
    )
    add.add_argument(
        "--approval-limit",
        metavar="AMOUNT",
        help="most they may approve, e.g. 500.00 (default: their role's)",
    )
    staff.add_parser("list", help="list staff users")

    importer.add_parser(sub)
    invoice_cli.add_parser(sub)
    statements_cli.add_parser(sub)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="action", required=True)
    load = demo.add_parser("load", help="load a demo clinic")
    load.add_argument("--patients", type=int, default=300)
    load.add_argument("--seed", type=int, default=7)
    files = demo.add_parser("files", help="write the demo clinic's CSV files for arbot import")
    files.add_argument("--out", type=Path, default=Path("demo-clinic"))
    files.add_argument("--patients", type=int, default=300)
    files.add_argument("--seed", type=int, default=7)

    sub.add_parser("serve", help="run the web service (webhooks, /healthz)")
    sub.add_parser("scheduler", help="run the scheduler process")
    jobs = sub.add_parser("jobs", help="scheduled jobs by hand").add_subparsers(
        dest="action", required=True
    )
    jobs.add_parser("list", help="every job, its schedule and its last run")
    run = jobs.add_parser("run", help="run a job now (it continues a run cut off mid-way)")
    run.add_argument("name", help="dunning, dunning-send, small-balances, atb-snapshot")
    run.add_argument("--as-of", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    run.add_argument(
        "--dry-run", action="store_true", help="print what it would do; change nothing"
    )
    chat = sub.add_parser("chat", help="talk to the patient bot as an SMS from a phone")
    chat.add_argument("--phone", required=True, help="the patient's number, e.g. +15551234567")
    return parser


async def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from core.db.migrate import upgrade

    db = Database(settings.database_url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    print("database is up to date")
    return 0


async def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from core.db.audit import verify_chain
    from core.integrity import check_integrity, last_findings
    from core.ledger.invariants import check_invariants

    db = Database(settings.database_url)
    try:
        async with db.read() as conn:
            chain = await verify_chain(conn)
            problems = await check_invariants(conn)
            controls = await check_integrity(conn, today(SystemClock()))
            findings = await last_findings(conn)
    finally:
        await db.dispose()
    if findings is not None and findings[1]:
        print(f"the integrity check of {findings[0]} found {len(findings[1])} problems:")
        for finding in findings[1]:
            print(f"  {finding}")
    for change in controls.changed:  # since the integrity job's last controls
        print(f"control totals differ: {change}")
    if chain.ok:
        print(f"audit trail intact: {chain.records} records")
    else:
        print(f"audit trail BROKEN at record {chain.broken_at}: {chain.reason}")
    for problem in problems:
        print(f"ledger problem ({problem.source}) {problem.entity}: {problem.message}")
    if not problems:
        print("ledger invariants hold: every entry balances, subledger = control")
    return 0 if chain.ok and not problems and not controls.changed else 1


async def _staff_add(args: argparse.Namespace, settings: Settings) -> int:
    from core.auth import APPROVER_LEVELS, add_staff
    from core.money import parse_money
    from core.profile.common import class_code

    limit = None
    if args.approval_limit is not None:
        role = args.role.strip().lower()
        if role in {r.value for r in StaffRole} and StaffRole(role) not in APPROVER_LEVELS:
            raise ValidationError(
                f"a {role} approves nothing: --approval-limit is for supervisors, "
                "managers and admins"
            )
        limit = parse_money(args.approval_limit, settings.currency).minor
    locations = [class_code(code, "location") for code in args.location]
    db = Database(settings.database_url)
    try:
        async with db.transaction() as tx:
            added = await add_staff(
                tx,
                Actor.operator(_login()),
                name=args.name,
                role=args.role.strip().lower(),
                locations=locations,
                slack_user_id=args.slack_user,
                approval_limit_minor=limit,
            )
    finally:
        await db.dispose()
    print(f"added staff user {added.id}: {added.name}, {added.role}")
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except OSError:  # no login name in some containers
        return "unknown"


async def _staff_list(args: argparse.Namespace, settings: Settings) -> int:
    from core.auth import APPROVER_LEVELS, DEFAULT_APPROVAL_LIMITS, staff_directory
    from core.money import Money

    db = Database(settings.database_url)
    try:
        async with db.read() as conn:
            members = await staff_directory(conn)
    finally:
        await db.dispose()
    if not members:
        print("no staff users yet: add one with arbot staff add")
        return 0

    def limit(actor: Actor) -> str:
        if actor.role not in APPROVER_LEVELS:
            return "-"
        own = actor.approval_limit_minor
        minor = own if own is not None else DEFAULT_APPROVAL_LIMITS.get(actor.role)
        shown = "no limit" if minor is None else str(Money(minor, settings.currency))
        return shown if own is not None else f"{shown} (role default)"

    rows = [("id", "name", "role", "locations", "slack user", "approval limit", "active")]
    for m in members:
        a = m.actor
        places = ",".join(sorted(a.locations)) if a.locations else "all"
        active = "yes" if m.active else "no"
        rows.append((a.id, a.name, str(a.role), places, m.slack_user_id or "-", limit(a), active))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


async def _demo_load(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import load_demo

    db = Database(settings.database_url)
    try:
        summary = await load_demo(db, patients=args.patients, seed=args.seed)
    finally:
        await db.dispose()
    print(summary)
    return 0


async def _demo_files(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import write_demo_files

    files = write_demo_files(args.out, patients=args.patients, seed=args.seed)
    print(
        f"demo clinic files in {files.folder}: {files.patients} patients, "
        f"{files.charges} charges, {files.payments} payments "
        f"(payment control totals in {files.folder / 'payments.control'})"
    )
    return 0


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from bot.accesslog import MaskedAccessLogger
    from bot.web import make_app, settle_heap

    app = make_app(settings, with_scheduler=settings.scheduler != "off")
    runner = web.AppRunner(app, access_log_class=MaskedAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    settle_heap()
    print(f"arbot is serving on http://{settings.host}:{settings.port} (GET /healthz)")
    try:
        await _until_terminated()
    finally:
        await runner.cleanup()
    return 0


async def _until_terminated() -> None:
    """Wait for SIGTERM or SIGINT (what a Procfile platform or Ctrl-C sends)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def _scheduler(args: argparse.Namespace, settings: Settings) -> int:
    from scheduler.runner import run_forever

    db = Database(settings.database_url)
    try:
        from bot.jobports import scheduler_ports

        async with scheduler_ports(settings, db) as ports:
            await run_forever(settings, _until_terminated, ports=ports, db=db)
    finally:
        await db.dispose()
    return 0


async def _jobs_list(args: argparse.Namespace, settings: Settings) -> int:
    from core.jobs import last_runs
    from scheduler.jobs import JOBS, schedule_text

    db = Database(settings.database_url)
    try:
        async with db.read() as conn:
            runs = await last_runs(conn)
    finally:
        await db.dispose()
    width = max(len(name) for name in JOBS)
    for job in JOBS.values():
        print(f"{job.name:<{width}} {schedule_text(job):<28} {job.description}")
        run = runs.get(job.name)
        if run is None:
            print(f"{'':<{width}} never run")
        else:
            when = (run.finished_at or run.started_at).isoformat(timespec="seconds")
            last = f"last: {run.period} {run.status} {when} {run.detail or ''}".rstrip()
            print(f"{'':<{width}} {last}")
    return 0


async def _jobs_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.jobports import scheduler_ports
    from core.jobs import process_owner
    from scheduler.runner import run_job

    db = Database(settings.database_url)
    try:
        async with scheduler_ports(settings, db) as ports:
            if not args.dry_run and not ports.channels and args.name.startswith("dunning"):
                print("no patient channel is configured (Telegram, Twilio): reminders stay queued")
            report = await run_job(
                db,
                SystemClock(),
                ports,
                args.name,
                as_of=args.as_of,
                dry_run=args.dry_run,
                rerun=True,  # by hand: continue a run cut off mid-way; each send has its key
                owner=f"operator {_login()} {process_owner()}",
            )
    finally:
        await db.dispose()
    print(report.text() if report is not None else f"{args.name}: nothing to do")
    return 0


async def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.patient.console import chat

    return await chat(settings, args.phone)


HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("db", "upgrade"): _db_upgrade,
    **report_cli.HANDLERS,
    ("audit", "verify"): _audit_verify,
    ("staff", "add"): _staff_add,
    ("staff", "list"): _staff_list,
    ("import", None): importer.run_import,
    ("demo", "load"): _demo_load,
    ("demo", "files"): _demo_files,
    ("serve", None): _serve,
    ("scheduler", None): _scheduler,
    ("jobs", "list"): _jobs_list,
    ("jobs", "run"): _jobs_run,
    ("chat", None): _chat,
    **statements_cli.HANDLERS,
    **invoice_cli.HANDLERS,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = HANDLERS[(args.command, getattr(args, "action", None))]
    try:
        return asyncio.run(handler(args, Settings.from_env()))
    except ArbotError as exc:
        print(f"arbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
