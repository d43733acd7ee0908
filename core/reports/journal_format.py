"""The journal (:mod:`core.reports.journal`) as text, CSV and JSON.

CSV has one row per entry and account, in this order of columns (a contract with the
spreadsheets that read it): ``entry, effective_date, posted_at, entry_type, group,
account_number, account_name, payer, method, reference, reason, actor, amount,
prepaid, currency``; amounts are plain decimals: ``amount`` the effect on what the
account owes (A/R), ``prepaid`` on what it has paid ahead.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from core.reports import cell
from core.reports.journal import Journal, JournalLine

CSV_COLUMNS = (
    "entry", "effective_date", "posted_at", "entry_type", "group", "account_number",
    "account_name", "payer", "method", "reference", "reason", "actor", "amount", "prepaid",
    "currency",
)  # fmt: skip


def title(j: Journal) -> str:
    days = j.start.isoformat() if j.start == j.end else f"{j.start} to {j.end}"
    only = ", ".join(x for x in (j.only, " ".join(j.types)) if x)
    only = f", {only} only" if only else ""
    return f"Journal {days} ({j.currency}{only})"


TEXT_COLUMNS = frozenset({"account_number", "account_name", "payer", "method", "reference"})
"""Columns holding what people typed: a spreadsheet must not read them as formulas."""


def _row(line: JournalLine, currency: str) -> dict[str, str]:
    values = (
        line.entry_number, line.effective_date.isoformat(),
        line.posted_at.isoformat(timespec="seconds"), line.entry_type, line.group,
        line.account_number, line.account_name, line.payer, line.method, line.reference,
        line.reason, line.actor, str(line.amount), str(line.prepaid), currency,
    )  # fmt: skip
    return dict(zip(CSV_COLUMNS, values, strict=True))


def _rows(j: Journal) -> list[dict[str, str]]:
    return [_row(line, j.currency) for line in j.lines]


def journal_csv(j: Journal) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _rows(j):
        writer.writerow(cell(v) if k in TEXT_COLUMNS else v for k, v in row.items())
    return out.getvalue()


def journal_json(j: Journal) -> str:
    body: dict[str, Any] = {
        "start": j.start.isoformat(),
        "end": j.end.isoformat(),
        "currency": j.currency,
        "only": j.only,
        "types": list(j.types),
        "lines": _rows(j),
        "by_type": [
            {
                "entry_type": t.key,
                "description": t.description,
                "entries": t.count,
                "amount": str(t.amount),
            }
            for t in j.by_type
        ],
        "by_payer": [
            {
                "payer": p.payer,
                "charges": str(p.charges),
                "receipts": str(p.receipts),
                "adjustments": str(p.adjustments),
            }
            for p in j.by_payer
        ],
        "net": str(j.net),
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def journal_text(j: Journal) -> str:
    out = [title(j), ""]
    if not j.lines:
        return "\n".join([*out, "Nothing was posted.", ""])
    for line in j.lines:
        sign = "+" if line.prepaid.minor > 0 else ""
        ahead = f"prepaid {sign}{line.prepaid}" if line.prepaid.minor else ""
        how = " ".join(x for x in (line.method, line.reference, line.reason, ahead) if x)
        out.append(
            f"{line.entry_number}  {line.effective_date}  {line.entry_type:<16} "
            f"{line.account_number:<12} {line.payer[:20]:<20} {line.amount!s:>12}  {how}".rstrip()
        )
    out += ["", "By entry type:", f"  {'':<16} {'entries':>6}  {'amount':>14}"]
    out += [f"  {t.key:<16} {t.count:>6}  {t.amount!s:>14}" for t in j.by_type]
    out += ["", "By payer:", f"  {'':<20} {'charges':>14} {'received':>14} {'adjusted':>14}"]
    out += [
        f"  {p.payer[:20]:<20} {p.charges!s:>14} {p.receipts!s:>14} {p.adjustments!s:>14}"
        for p in j.by_payer
    ]
    out += ["", f"Net change in what customers owe: {j.net}", ""]
    return "\n".join(out)
