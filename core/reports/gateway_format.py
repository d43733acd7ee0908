"""The gateway reconciliation (:mod:`core.reports.gateway`, AR-180) as text and JSON.

JSON (a contract with integrations): ``{"from", "to", "currency", "agrees",
"totals": [{"kind", "gateway", "arbot", "difference", "count_gateway", "count_arbot"}],
"fees", "other", "differences": [{"what", "kind", "ref", "gateway", "arbot", "at",
"entry"}]}``; amounts are decimal strings, ``null`` where a side has nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.money import Money
from core.reports.gateway import Reconciliation


def _money(value: Money | None) -> str | None:
    return None if value is None else str(value)


def _moment(at: datetime) -> str:
    return at.astimezone().isoformat(timespec="seconds")


def reconciliation_json(r: Reconciliation) -> str:
    body: dict[str, Any] = {
        "from": _moment(r.start),
        "to": _moment(r.end),
        "currency": r.currency,
        "agrees": r.agrees,
        "totals": [
            {
                "kind": t.kind,
                "gateway": str(t.gateway),
                "arbot": str(t.arbot),
                "difference": str(t.difference),
                "count_gateway": t.count_gateway,
                "count_arbot": t.count_arbot,
            }
            for t in r.totals
        ],
        "fees": str(r.fees),
        "other": str(r.other),
        "differences": [
            {
                "what": d.what,
                "kind": d.kind,
                "ref": d.ref,
                "gateway": _money(d.gateway),
                "arbot": _money(d.arbot),
                "at": _moment(d.at),
                "entry": d.entry or None,
            }
            for d in r.differences
        ],
    }
    return json.dumps(body, indent=2) + "\n"


def reconciliation_text(r: Reconciliation) -> str:
    out = [
        f"Card receipts against the gateway, {_moment(r.start)} to {_moment(r.end)} "
        f"({r.currency})",
        "",
        f"  {'':<10} {'gateway':>14} {'arbot':>14} {'difference':>14}",
    ]
    out += [
        f"  {t.kind:<10} {t.gateway!s:>14} {t.arbot!s:>14} {t.difference!s:>14}"
        f"   ({t.count_gateway} / {t.count_arbot})"
        for t in r.totals
    ]
    out += [f"  {'fees':<10} {r.fees!s:>14}", f"  {'other':<10} {r.other!s:>14}", ""]
    if r.agrees:
        return "\n".join([*out, "Every payment, refund and dispute agrees.", ""])
    out.append(f"{len(r.differences)} to look at:")
    for d in r.differences:
        sides = f"gateway {_money(d.gateway) or '-'}, arbot {_money(d.arbot) or '-'}"
        entry = f" {d.entry}" if d.entry else ""
        out.append(f"  {d.what:<19} {d.kind:<8} {d.ref}  {sides}  {_moment(d.at)}{entry}")
    return "\n".join([*out, ""])
