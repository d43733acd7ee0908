"""Imports: the billing interface that brings patients, services, charges and payments
into arbot from the hospital's systems (AR-002, AR-040, AR-065, AR-206).

A batch is a table of rows (a CSV file, or the same rows as JSON from an integration).
Every row is checked before anything is written; a row that fails goes to the reject
report with its row number and a plain reason (AR-173), the others go in. Control
totals that come with the batch (how many rows, what amount) are compared with what
arbot counts, and a batch that does not agree is refused whole (AR-098, AR-112,
AR-172). The whole batch is written in one database transaction: a crash or a kill
leaves all of it or none of it. Rows carry their own idempotency (an external id, a
medical record number, a service code), so running the same batch again writes only
what is not in yet: after a crash, the rerun completes it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from core.auth import Actor
from core.db import Tx
from core.errors import ValidationError
from core.money import Money, parse_money


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a batch: its number as a person counts it (the CSV header is row 1,
    so the first data row is row 2) and its values by column name, without the spaces
    around them (:func:`read_csv` and :func:`rows_of` strip them)."""

    number: int
    values: Mapping[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column) or ""


@dataclass(frozen=True, slots=True)
class Reject:
    row: int
    key: str
    reason: str


class RowError(ValidationError):
    """What is wrong with one row; the row is rejected, the batch goes on."""


@dataclass(frozen=True, slots=True)
class Control:
    """Control totals a batch arrives with: its row count and its amount."""

    rows: int | None = None
    amount: str | None = None


@dataclass(slots=True)
class Report:
    """What an import did, for the operator and for the reject report."""

    kind: str
    rows: int
    written: int = 0
    already: int = 0
    rejects: list[Reject] = field(default_factory=list)
    amount: Money | None = None
    """The batch's amount as arbot counts it (see the README for each kind)."""
    refused: str | None = None

    def audit(self, tx: Tx, actor: Actor, label: str) -> None:
        """The batch's one audit record: what was read, written, found in, rejected."""
        amount = {} if self.amount is None else {"amount": str(self.amount)}
        tx.audit(
            actor.label,
            "import",
            f"import.{self.kind}",
            f"batch {label}",
            rows=self.rows,
            written=self.written,
            already=self.already,
            rejected=len(self.rejects),
            **amount,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "written": self.written,
            "already_imported": self.already,
            "rejected": len(self.rejects),
            "amount": str(self.amount.to_decimal()) if self.amount is not None else None,
            "currency": self.amount.currency if self.amount is not None else None,
            "refused": self.refused,
            "rejects": [{"row": r.row, "key": r.key, "reason": r.reason} for r in self.rejects],
        }


class BatchRefused(ValidationError):
    """The batch as a whole is wrong (columns, control totals): nothing was written."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        report.refused = message
        self.report = report


def read_csv(path: Path) -> tuple[list[str], list[Row]]:
    """The header and rows of a CSV file (UTF-8, a byte-order mark is allowed)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader, [])]
            rows = [
                Row(reader.line_num, dict(zip(header, stripped, strict=False)))
                for stripped in ([v.strip() for v in values] for values in reader)
                if any(stripped)
            ]
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path.name} is not UTF-8 text: {exc.reason}") from exc
    except csv.Error as exc:
        raise ValidationError(f"{path.name} is not a readable CSV file: {exc}") from exc
    return header, rows


def read_json(path: Path) -> tuple[list[str], list[Row], Control | None]:
    """A batch as JSON: a list of records (one per row, keys as the CSV's columns), or
    ``{"control": {"rows": N, "amount": "123.45"}, "rows": [...]}`` with its control
    totals. Numbers may be JSON numbers or strings; amounts are best sent as strings."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name} is not a JSON document: {exc}") from exc
    control = None
    if isinstance(document, dict):
        given = document.get("control")
        if given is not None:
            if not isinstance(given, dict) or set(given) - {"rows", "amount"}:
                raise ValidationError('"control" holds "rows" and "amount" and nothing else')
            rows = given.get("rows")
            amount = given.get("amount")
            control = Control(
                int(rows) if rows is not None else None,
                str(amount) if amount is not None else None,
            )
        document = document.get("rows")
    if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
        raise ValidationError(f"{path.name} holds no list of records")
    header, rows = rows_of(document)
    return header, rows, control


def rows_of(records: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[Row]]:
    """JSON records as rows (record 1 is row 1); the header is every key seen."""
    rows = [
        Row(n, {str(k).strip().lower(): "" if v is None else str(v).strip() for k, v in r.items()})
        for n, r in enumerate(records, start=1)
    ]
    header = sorted({k for r in rows for k in r.values})
    return header, rows


def check_header(
    kind: str, header: Sequence[str], required: Sequence[str], optional: Sequence[str]
) -> None:
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c and c not in required and c not in optional]
    if missing:
        raise ValidationError(f"the {kind} file lacks the column(s) {', '.join(missing)}")
    if unknown:
        raise ValidationError(
            f"the {kind} file has column(s) arbot does not know: {', '.join(unknown)} "
            f"(expected {', '.join([*required, *optional])})"
        )


def required(row: Row, column: str) -> str:
    value = row.get(column)
    if not value:
        raise RowError(f"{column} is empty")
    return value


def day(row: Row, column: str, *, optional: bool = False) -> date | None:
    value = row.get(column)
    if not value:
        if optional:
            return None
        raise RowError(f"{column} is empty")
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_date(column, value)
    except ValueError:
        return _bad_date(column, value)


def _bad_date(column: str, value: str) -> date:
    raise RowError(f"{column} {value!r} is not a date in the form YYYY-MM-DD")


def whole(row: Row, column: str, *, default: int | None = None, minimum: int = 1) -> int:
    value = row.get(column)
    if not value and default is not None:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise RowError(f"{column} {value!r} is not a whole number of at least {minimum}")
    return int(value)


def money(row: Row, column: str, currency: str) -> Money:
    try:
        return parse_money(required(row, column), currency)
    except RowError:
        raise
    except ValidationError as exc:
        raise RowError(f"{column}: {exc}") from exc


def check_control(report: Report, control: Control | None, counted: Money | None) -> None:
    """Refuse the batch when its control totals disagree with what arbot counted."""
    if control is None:
        return
    if control.rows is not None and control.rows != report.rows:
        raise BatchRefused(
            f"control totals disagree: the batch says {control.rows} rows, "
            f"arbot counted {report.rows}; nothing was imported",
            report,
        )
    if control.amount is not None:
        currency = counted.currency if counted is not None else "USD"
        try:
            expected = parse_money(control.amount, currency)
        except ValidationError as exc:
            raise BatchRefused(f"the control amount is not an amount: {exc}", report) from exc
        found = counted or Money.zero(currency)
        if expected != found:
            raise BatchRefused(
                f"control totals disagree: the batch says {expected}, arbot counted {found}; "
                "nothing was imported",
                report,
            )


def check_count(report: Report, control: Control | None) -> None:
    """Control totals of a batch without amounts (patients, services): the row count
    only; an amount there is a mistake, and the batch is refused rather than guessed."""
    if control is not None and control.amount is not None:
        raise BatchRefused(
            f"{report.kind} carry no amount to control: give the row count only", report
        )
    check_control(report, control, None)


def duplicate_keys(rows: Sequence[Row], column: str, report: Report) -> list[Row]:
    """Rows whose ``column`` repeats an earlier row's are rejected; the rest returned."""
    seen: dict[str, int] = {}
    kept = []
    for row in rows:
        key = row.get(column)
        if key and key in seen:
            report.rejects.append(
                Reject(row.number, key, f"{column} {key} is already on row {seen[key]}")
            )
            continue
        if key:
            seen[key] = row.number
        kept.append(row)
    return kept
