"""``arbot import patients|services|charges|payments FILE.csv``: the billing interface
on the command line, over the same core functions an integration calls with JSON
(``FILE.json`` works too: see :func:`core.imports.read_json`). ``arbot import
remittance FILE.835 --payer ACCOUNT`` posts a payer's X12 835 remittance advice
(AR-068; :mod:`core.imports.remittance`): its "rows" are the claims, a reject's row is
the claim's segment in the file.

Prints what was written, what was in already and what was rejected; rejected rows go
to a reject report (CSV: ``row,key,reason``) beside the file, or where ``--rejects``
says. Exit status: 0 when every row is in, 1 when some rows were rejected (the rest
are in), 2 when the batch was refused whole (nothing was written).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from core.auth import Actor
from core.db import Database
from core.errors import ValidationError
from core.imports import BatchRefused, Control, Report, Row, read_csv, read_json
from core.settings import Settings

KINDS = ("patients", "services", "charges", "payments", "remittance")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("import", help="import a CSV file from the hospital's systems")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument(
        "file", type=Path, help="FILE.csv, or FILE.json (records); for remittance an X12 835"
    )
    parser.add_argument(
        "--payer",
        metavar="ACCOUNT",
        help="remittance: the insurer's account, when its shares are billed to it",
    )
    parser.add_argument("--control-rows", type=int, metavar="N", help="rows the batch holds")
    parser.add_argument("--control-amount", metavar="AMOUNT", help="the batch's total amount")
    parser.add_argument("--rejects", type=Path, help="where to write the reject report")
    parser.add_argument("--format", choices=["text", "json"], default="text")


async def run_import(args: argparse.Namespace, settings: Settings) -> int:
    control = None
    if args.kind == "remittance":
        return await _remittance(args, settings)
    if args.payer:
        raise ValidationError("--payer is for arbot import remittance only")
    if args.file.suffix.lower() == ".json":
        header, rows, control = read_json(args.file)
    else:
        header, rows = read_csv(args.file)
    if args.control_rows is not None or args.control_amount is not None:
        if control is not None:
            raise ValidationError("the file carries its control totals: do not give them again")
        control = Control(args.control_rows, args.control_amount)
    actor = Actor.system(f"import-{args.kind}")
    db = Database(settings.database_url)
    try:
        try:
            report = await _run(db, actor, args, header, rows, control, settings)
        except BatchRefused as exc:
            report = exc.report
        await _queue(db, args, rows, report)
    finally:
        await db.dispose()
    return _finish(report, args)


async def _queue(db: Database, args: argparse.Namespace, rows: list[Row], report: Report) -> None:
    """Keep the rejected rows in the exceptions queue (``/ar rejects``, AR-067); a batch
    refused whole wrote nothing and queues nothing: it is sent again whole."""
    from core.imports.rejects import keep_rejects

    if not report.refused:
        await keep_rejects(db, args.kind, batch_of(args.file), rows, report)


def _claims(text: str, settings: Settings) -> list[Any]:
    """The 835's remittances, to tell which claims went in (none if it is unreadable)."""
    from core.imports.era import read_835
    from core.money import currency_exponent

    try:
        return list(read_835(text, currency_exponent(settings.currency)))
    except ValidationError:
        return []


def batch_of(path: Path) -> str:
    """``lockbox.csv#1a2b3c4d``: the file's name and what it holds, so that running the
    same file again is the same batch, and tomorrow's file of the same name another."""
    return f"{path.name}#{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}"


async def _remittance(args: argparse.Namespace, settings: Settings) -> int:
    from core.imports.remittance import import_remittance

    if args.control_rows is not None or args.control_amount is not None:
        raise ValidationError("an 835 carries its own total (BPR02): give no control totals")
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {args.file}: {exc}") from None
    actor = Actor.system("import-remittance")
    db = Database(settings.database_url)
    try:
        try:
            report = await import_remittance(
                db, actor, text, payer=args.payer, currency=settings.currency, label=args.file.name
            )
        except BatchRefused as exc:
            report = exc.report
        claims = [Row(c.segment, {}) for r in _claims(text, settings) for c in r.claims]
        await _queue(db, args, claims, report)
    finally:
        await db.dispose()
    return _finish(report, args)


def _finish(report: Report, args: argparse.Namespace) -> int:
    """Write the reject report, print what was done; the exit status."""
    _write_rejects(report, args.rejects or args.file.with_suffix(".rejects.csv"))
    if args.format == "json":
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(_summary(report, args.rejects or args.file.with_suffix(".rejects.csv")))
    if report.refused:
        print(f"arbot: {report.refused}", file=sys.stderr)
        return 2
    return 1 if report.rejects else 0


async def _run(
    db: Database,
    actor: Actor,
    args: argparse.Namespace,
    header: list[str],
    rows: list[Row],
    control: Control | None,
    settings: Settings,
) -> Report:
    kind, label = args.kind, args.file.name
    if kind == "charges":
        from core.imports.charges import import_charges

        return await import_charges(db, actor, header, rows, control=control, label=label)
    if kind == "payments":
        from core.imports.payments import import_payments

        return await import_payments(db, actor, header, rows, control=control, label=label)
    if kind == "services":
        from core.imports.services import import_services

        return await import_services(db, actor, header, rows, control=control)
    from core.imports.patients import import_patients

    return await import_patients(
        db,
        actor,
        header,
        rows,
        currency=settings.currency,
        number_format=settings.account_number_format,
        control=control,
    )


def _write_rejects(report: Report, path: Path) -> None:
    if not report.rejects:
        path.unlink(missing_ok=True)
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "key", "reason"])
        writer.writerows([r.row, r.key, r.reason] for r in report.rejects)


def _summary(report: Report, rejects: Path) -> str:
    lines = [
        f"{report.kind}: {report.rows} rows read",
        f"  written now:       {report.written}",
        f"  already imported:  {report.already}",
        f"  rejected:          {len(report.rejects)}",
    ]
    if report.amount is not None:
        lines.append(f"  batch amount:      {report.amount} {report.amount.currency}")
    if report.refused:
        lines.append(f"  REFUSED: {report.refused}")
    if report.rejects:
        lines.append(f"  reject report:     {rejects}")
        lines.extend(f"    row {r.row} ({r.key or '-'}): {r.reason}" for r in report.rejects[:20])
        if len(report.rejects) > 20:
            lines.append(f"    ... and {len(report.rejects) - 20} more in the reject report")
    return "\n".join(lines)
