"""The journal (:mod:`core.reports.journal`) as text, CSV and JSON.

CSV has one row per entry and account, in this order of columns (a contract with the
spreadsheets that read it): ``entry, effective_date, posted_at, entry_type, group,
account_number, account_name, payer, method, reference, reason, actor, amount,
currency``; amounts are plain decimals, the effect on what the account owes.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from core.reports.journal import Journal

CSV_COLUMNS = (
    "entry", "effective_date", "posted_at", "entry_type", "group", "account_number",
    "account_name", "payer", "method", "reference", "reason", "actor", "amount", "currency",
)  # fmt: skip


def title(j: Journal) -> str:
    days = j.start.isoformat() if j.start == j.end else f"{j.start} to {j.end}"
    only = f", {j.only} only" if j.only else ""
    return f"Journal {days} ({j.currency}{only})"


def journal_csv(j: Journal) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in j.lines:
        writer.writerow(
            [
                line.entry_number, line.effective_date.isoformat(),
                line.posted_at.isoformat(timespec="seconds"), line.entry_type, line.group,
                line.account_number, line.account_name, line.payer, line.method,
                line.reference, line.reason, line.actor, str(line.amount), j.currency,
            ]
        )  # fmt: skip
    return out.getvalue()


def journal_json(j: Journal) -> str:
    body: dict[str, Any] = {
        "start": j.start.isoformat(),
        "end": j.end.isoformat(),
        "currency": j.currency,
        "only": j.only,
        "lines": [
            dict(zip(CSV_COLUMNS, row, strict=True))
            for row in csv.reader(io.StringIO(journal_csv(j)))
        ][1:],
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
        how = " ".join(x for x in (line.method, line.reference, line.reason) if x)
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
