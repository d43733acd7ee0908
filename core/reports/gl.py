"""The general ledger's accounts over a period: the daily summary of each GL account
(AR-122), the figures an accountant carries into the hospital's general ledger in
summary (AR-121).

For each GL account with anything on it: the balance before the period, what was
debited and credited in it (debits positive, as the ledger stores them) and the
balance after. The debits equal the credits and the balances after add up to nothing,
per currency: the ledger balances, and this report shows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor, Permission, require
from core.ledger.tables import customer_account, gl_account, journal_entry, journal_line
from core.money import Money
from core.reports.days import check_period


@dataclass(frozen=True, slots=True)
class GlLine:
    code: str
    name: str
    kind: str
    opening: Money
    debits: Money
    credits: Money
    """What was credited, as a positive amount."""

    @property
    def closing(self) -> Money:
        return Money(
            self.opening.minor + self.debits.minor - self.credits.minor, self.opening.currency
        )


@dataclass(frozen=True, slots=True)
class GlSummary:
    start: date
    end: date
    currency: str
    lines: tuple[GlLine, ...]

    def total(self, field: str) -> Money:
        return Money(sum(getattr(line, field).minor for line in self.lines), self.currency)

    @property
    def balanced(self) -> bool:
        return self.total("debits") == self.total("credits") and self.total("closing").minor == 0


async def every_location(conn: AsyncConnection) -> list[str]:
    """The locations of every account: whom the general ledger's figures are about."""
    found = await conn.execute(select(customer_account.c.location).distinct())
    return sorted(found.scalars())


async def require_everywhere(conn: AsyncConnection, actor: Actor, permission: Permission) -> None:
    """Refuse unless ``actor`` holds ``permission`` at every location: for what covers
    them all (the general ledger, the imports' queue)."""
    require(actor, permission)
    for location in await every_location(conn):
        require(actor, permission, location)


async def gl_summary(conn: AsyncConnection, start: date, end: date, currency: str) -> GlSummary:
    """Each GL account's balance before ``start``, debits and credits to ``end`` (both
    included) and balance after, in ``currency``, in one query."""
    check_period(start, end, "a summary")
    je, jl, gl = journal_entry, journal_line, gl_account
    before = je.c.effective_day < start
    during = je.c.effective_day.between(start, end)
    amount = jl.c.amount_minor
    rows = await conn.execute(
        select(
            gl.c.code,
            gl.c.name,
            gl.c.kind,
            func.sum(case((before, amount), else_=0)).label("opening"),
            func.sum(case((during & (amount > 0), amount), else_=0)).label("debits"),
            func.sum(case((during & (amount < 0), -amount), else_=0)).label("credits"),
        )
        .select_from(jl)
        .join(je, je.c.id == jl.c.entry_id)
        .join(gl, gl.c.id == jl.c.gl_account_id)
        .where(jl.c.currency == currency, je.c.effective_day <= end)
        .group_by(gl.c.code, gl.c.name, gl.c.kind)
        .order_by(gl.c.code)
    )
    lines = tuple(
        GlLine(
            r.code,
            r.name,
            r.kind,
            Money(int(r.opening), currency),
            Money(int(r.debits), currency),
            Money(int(r.credits), currency),
        )
        for r in rows
    )
    return GlSummary(start, end, currency, lines)


def gl_text(s: GlSummary) -> str:
    days = s.start.isoformat() if s.start == s.end else f"{s.start} to {s.end}"
    head = f"  {'':<6} {'':<40} {'before':>14} {'debits':>14} {'credits':>14} {'after':>14}"
    out = [f"General ledger {days} ({s.currency})", "", head]
    for ln in s.lines:
        out.append(
            f"  {ln.code:<6} {ln.name[:40]:<40} {ln.opening!s:>14} {ln.debits!s:>14} "
            f"{ln.credits!s:>14} {ln.closing!s:>14}"
        )
    out.append(
        f"  {'':<6} {'Total':<40} {s.total('opening')!s:>14} {s.total('debits')!s:>14} "
        f"{s.total('credits')!s:>14} {s.total('closing')!s:>14}"
    )
    out += ["", "The ledger balances." if s.balanced else "THE LEDGER DOES NOT BALANCE.", ""]
    return "\n".join(out)


def gl_json(s: GlSummary) -> str:
    body = {
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "currency": s.currency,
        "accounts": [
            {
                "code": ln.code,
                "name": ln.name,
                "kind": ln.kind,
                "before": str(ln.opening),
                "debits": str(ln.debits),
                "credits": str(ln.credits),
                "after": str(ln.closing),
            }
            for ln in s.lines
        ],
        "balanced": s.balanced,
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"
