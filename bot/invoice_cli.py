"""``arbot invoice pdf``: a billed transaction's invoice as a branded PDF, one for each
account it billed (BI-05, BI-14).

``arbot invoice pdf T00000012 [--account NUMBER] [--language en|es] [--out FILE.pdf]``
writes ``invoice-T00000012-<account>.pdf`` in the current directory for each account
the transaction billed (a split visit: the patient and the insurer, each its share),
or only ``--account``'s; ``--out`` names the file when there is one invoice. The
settings (``ARBOT_PRACTICE_*``, ``ARBOT_INVOICE_*``) are checked first, and every
invoice is made before any file is written: a wrong setting, an unknown number or a
transaction that bills nothing (a payment) writes nothing and exits 2.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.patient.texts import LANGUAGES
from core.billing.payer_invoice import PayerInvoice
from core.settings import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def add_parser(sub: Any) -> None:
    """Add ``arbot invoice ...`` to the command line's subcommands."""
    invoice = sub.add_parser("invoice", help="invoices").add_subparsers(
        dest="action", required=True
    )
    pdf = invoice.add_parser(
        "pdf", help="a billed transaction's invoice as a PDF, one for each account it billed"
    )
    pdf.add_argument("entry", metavar="TRANSACTION", help="its number, e.g. T00000012")
    pdf.add_argument("--account", metavar="NUMBER", help="only this account's invoice")
    pdf.add_argument("--language", choices=LANGUAGES, default="en")
    pdf.add_argument(
        "--out",
        type=Path,
        metavar="FILE.pdf",
        help="where to write it (default: invoice-<transaction>-<account>.pdf here)",
    )


def file_name(invoice: PayerInvoice) -> Path:
    """``invoice-T00000012-A0000123.pdf``: an account number as the hospital issued it
    may hold characters a file name should not."""
    return Path(f"invoice-{invoice.number}-{_UNSAFE.sub('_', invoice.bill_to.number)}.pdf")


async def write_invoice_pdf(args: argparse.Namespace, settings: Settings) -> int:
    from bot.invoice_pdf import invoice_pdf
    from bot.report_cli import reading
    from core.billing.payer_invoice import payer_invoices
    from core.clock import SystemClock, today
    from core.errors import ValidationError
    from core.ledger.model import entry_id_of
    from core.settings import invoice_setup

    setup = invoice_setup(settings)
    entry_id = entry_id_of(args.entry.strip())
    if entry_id is None:
        raise ValidationError(
            f"{args.entry!r} is not a transaction number: write it like T00000012"
        )

    async def read(conn: AsyncConnection) -> tuple[PayerInvoice, ...]:
        return await payer_invoices(conn, entry_id, today(SystemClock()), args.account)

    invoices = await reading(settings, read)
    if args.out is not None and len(invoices) > 1:
        numbers = ", ".join(i.bill_to.number for i in invoices)
        raise ValidationError(
            f"{invoices[0].number} billed {len(invoices)} accounts ({numbers}): "
            "name one with --account to write its invoice to --out"
        )
    made = [(args.out or file_name(i), i, invoice_pdf(i, setup, args.language)) for i in invoices]
    if len(made) > 1:
        print(f"{invoices[0].number} billed {len(made)} accounts: one invoice for each")
    for path, invoice, pdf in made:
        path.write_bytes(pdf)
        to = invoice.bill_to
        print(f"{path}: {to.number} {to.name}, {invoice.total} billed, {invoice.open} open")
    return 0


HANDLERS: dict[
    tuple[str, str | None], Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
] = {("invoice", "pdf"): write_invoice_pdf}
