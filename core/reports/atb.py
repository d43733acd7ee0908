"""The aged trial balance as text, CSV and JSON (AR-156, AR-183..AR-192).

JSON shape (a contract for integrations)::

    {"as_of": "2026-06-30", "currency": "USD", "basis": "service",
     "buckets": [{"label": "0-30", "amount": "120.00", "percent": "12.50", "accounts": 3}],
     "total": "960.00",
     "accounts": [{"number": "A0000001", "name": "...", "group": null,
                   "buckets": ["120.00", ...], "total": "120.00"}],
     "groups": {"self_pay": [{"label": ..., "amount": ..., "percent": ..., "accounts": ...}]}}

``groups`` appears only when the ATB is grouped (``--by``). With ``--detail`` (AR-184)
each account also carries ``"statements": 2, "last_payment": {"date": "2026-06-02",
"amount": "40.00"} | null, "period_payments": "40.00", "period_credits": "0.00",
"billed_to_insurer": "2026-05-20" | null``, and the body ``"period": {"from":
"2026-06-01", "to": "2026-06-30"}`` (:mod:`core.reports.atb_detail`).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from core.ledger.aging import Atb, AtbBucket, AtbRow, bucket_labels, per_account
from core.money import Money
from core.reports import cell
from core.reports.atb_detail import AccountDetail, AtbDetail
from core.reports.render import render


def _bucket_json(bucket: AtbBucket, currency: str) -> dict[str, Any]:
    return {
        "label": bucket.label,
        "amount": str(Money(bucket.amount_minor, currency)),
        "percent": str(bucket.percent),
        "accounts": bucket.accounts,
    }


DETAIL_KEYS = (
    "statements",
    "last_payment",
    "period_payments",
    "period_credits",
    "billed_to_insurer",
)
"""The keys ``--detail`` adds to each JSON account (AR-184)."""


def _firsts(atb: Atb) -> list[bool]:
    """For each row, whether it is its account's first: grouped by doctor or payer an
    account has a row per group, and its AR-184 figures (the account's, not the
    group's) go on the first only, so that a column's sum counts each account once."""
    seen: set[int] = set()
    firsts = []
    for row in atb.rows:
        firsts.append(row.account_id not in seen)
        seen.add(row.account_id)
    return firsts


def _detail_json(d: AccountDetail, first: bool = True) -> dict[str, Any]:
    if not first:
        return dict.fromkeys(
            (
                "statements",
                "last_payment",
                "period_payments",
                "period_credits",
                "billed_to_insurer",
            )
        )
    last = d.last_payment
    return {
        "statements": d.statements,
        "last_payment": None
        if last is None or d.last_payment_date is None
        else {"date": d.last_payment_date.isoformat(), "amount": str(last)},
        "period_payments": str(d.payments),
        "period_credits": str(d.credits),
        "billed_to_insurer": _day(d.billed_to_insurer),
    }


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def atb_json(atb: Atb, detail: AtbDetail | None = None) -> str:
    q, cur = atb.query, atb.query.currency
    body: dict[str, Any] = {
        "as_of": q.as_of.isoformat(),
        "currency": cur,
        "basis": q.basis.value,
        "buckets": [_bucket_json(b, cur) for b in atb.buckets],
        "total": str(Money(atb.total_minor, cur)),
        "accounts": [
            {
                "number": row.number,
                "name": row.name,
                "group": row.group,
                "buckets": [str(Money(a, cur)) for a in row.amounts],
                "total": str(Money(row.total, cur)),
            }
            | ({} if detail is None else _detail_json(detail.of(row.account_id, cur), first))
            for row, first in zip(atb.rows, _firsts(atb), strict=True)
        ],
    }
    if detail is not None:
        body["period"] = {"from": detail.start.isoformat(), "to": detail.end.isoformat()}
    if q.group_by is not None:
        body["group_by"] = q.group_by.value
        body["groups"] = {
            key: [_bucket_json(b, cur) for b in buckets] for key, buckets in atb.groups.items()
        }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


DETAIL_COLUMNS = (
    "statements",
    "last_payment_date",
    "last_payment_amount",
    "period_payments",
    "period_credits",
    "billed_to_insurer",
)
"""The columns ``--detail`` adds after ``total`` (AR-184)."""


def _detail_cells(d: AccountDetail) -> list[str]:
    return [
        str(d.statements),
        _day(d.last_payment_date) or "",
        "" if d.last_payment is None else str(d.last_payment),
        str(d.payments),
        str(d.credits),
        _day(d.billed_to_insurer) or "",
    ]


def atb_csv(atb: Atb, detail: AtbDetail | None = None) -> str:
    """One row per account (and group): the full detail for a spreadsheet; with
    ``detail``, the AR-184 columns after the total."""
    cur = atb.query.currency
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    extra = DETAIL_COLUMNS if detail is not None else ()
    labels = bucket_labels(atb.query.bounds)
    writer.writerow(["account_number", "account_name", "group", *labels, "total", *extra])
    for row, first in zip(atb.rows, _firsts(atb), strict=True):
        extra_cells: list[str] = []
        if detail is not None:
            found = detail.of(row.account_id, cur)
            extra_cells = _detail_cells(found) if first else [""] * len(DETAIL_COLUMNS)
        writer.writerow(
            [
                cell(row.number),
                cell(row.name),
                cell(row.group or ""),
                *(str(Money(a, cur)) for a in row.amounts),
                str(Money(row.total, cur)),
                *extra_cells,
            ]
        )
    return out.getvalue()


def top_accounts(atb: Atb, count: int) -> list[tuple[AtbRow, Money]]:
    """The largest balances, one line per account even when the ATB is grouped by item."""
    first: dict[int, AtbRow] = {}
    for row in atb.rows:
        first.setdefault(row.account_id, row)
    totals = {acct: sum(amounts) for acct, amounts in per_account(atb.rows).items()}
    ranked = sorted(totals, key=lambda acct: (-totals[acct], acct))[:count]
    return [(first[acct], Money(totals[acct], atb.query.currency)) for acct in ranked]


def atb_text(
    atb: Atb, detail: AtbDetail | None = None, *, top: int = 10, locale: str = "en_US"
) -> str:
    cur = atb.query.currency
    return render(
        "reports/atb.txt.j2",
        locale,
        atb=atb,
        q=atb.query,
        total=Money(atb.total_minor, cur),
        buckets=[(b, Money(b.amount_minor, cur)) for b in atb.buckets],
        top=top_accounts(atb, top),
        groups=[
            (key, [(b, Money(b.amount_minor, cur)) for b in buckets])
            for key, buckets in atb.groups.items()
        ],
        accounts=len({r.account_id for r in atb.rows}),
        detail=detail,
    )
