"""Cash application: which open items a payment or credit pays, decided by rules.

Rules run in the order the office sets (AR-018, AR-084); each takes what is left of
the amount and the items not yet paid. The default is the hospital convention,
oldest first (by service date, then transaction number). Others: an exact-amount
match, chosen aging buckets, a service period, or items the payer named (a statement
or invoice, AR-017, AR-019). Whatever no rule places stays on the account as
unapplied cash (AR-021, AR-022). The plan lists every exception (AR-020, AR-139).
Rules here are pure: they read items and return a plan; nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from core.errors import ValidationError
from core.ledger.items import Item


@dataclass(frozen=True, slots=True)
class Placement:
    item_id: int
    amount_minor: int
    rule: str


@dataclass(slots=True)
class Plan:
    placements: list[Placement] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    left_minor: int = 0

    @property
    def applied_minor(self) -> int:
        return sum(p.amount_minor for p in self.placements)


@dataclass(frozen=True, slots=True)
class Rule:
    """One step of the application order. ``name`` is one of :data:`RULES`."""

    name: str
    item_ids: tuple[int, ...] = ()
    buckets: tuple[tuple[int, int | None], ...] = ()
    period: tuple[date, date] | None = None
    include_disputed: bool = False

    def __post_init__(self) -> None:
        if self.name not in RULES:
            raise ValidationError(f"unknown application rule {self.name!r}; use one of {RULES}")


RULES = ("selected", "exact_amount", "oldest_first", "buckets", "period")
DEFAULT_ORDER = (Rule("oldest_first"),)


def parse_rule(spec: str) -> Rule:
    """``oldest_first``, ``exact_amount``, ``selected:12,15``, ``buckets:91-120,121-``,
    ``period:2026-01-01..2026-03-31``."""
    name, _, arg = spec.partition(":")
    try:
        if name == "selected":
            return Rule(name, item_ids=tuple(int(x) for x in arg.split(",") if x))
        if name == "buckets":
            spans = []
            for part in arg.split(","):
                low, _, high = part.partition("-")
                spans.append((int(low), int(high) if high else None))
            return Rule(name, buckets=tuple(spans))
        if name == "period":
            start, _, end = arg.partition("..")
            return Rule(name, period=(date.fromisoformat(start), date.fromisoformat(end)))
    except ValueError as exc:
        raise ValidationError(f"cannot read application rule {spec!r}: {exc}") from exc
    return Rule(name)


def plan_application(
    amount_minor: int, items: Sequence[Item], rules: Sequence[Rule], *, on: date
) -> Plan:
    """Place ``amount_minor`` on the open debit ``items`` by ``rules`` in order."""
    plan = Plan(left_minor=amount_minor)
    open_left = {i.id: i.open.minor for i in items if i.is_debit and i.open.minor > 0}
    by_id = {i.id: i for i in items}
    for rule in rules:
        if plan.left_minor <= 0:
            break
        candidates = [by_id[i] for i in _choose(rule, items, open_left, plan, on)]
        for item in candidates:
            if plan.left_minor <= 0:
                break
            if item.disputed and not rule.include_disputed:
                plan.exceptions.append(f"item {item.id} is disputed and was skipped")
                continue
            amount = min(open_left[item.id], plan.left_minor)
            if amount <= 0:
                continue
            plan.placements.append(Placement(item.id, amount, rule.name))
            open_left[item.id] -= amount
            plan.left_minor -= amount
    if plan.left_minor > 0:
        plan.exceptions.append(f"{plan.left_minor} minor units left unapplied on the account")
    return plan


def _choose(
    rule: Rule, items: Sequence[Item], open_left: dict[int, int], plan: Plan, on: date
) -> list[int]:
    live = [i for i in items if open_left.get(i.id, 0) > 0]
    if rule.name == "oldest_first":
        return [i.id for i in live]
    if rule.name == "selected":
        missing = [i for i in rule.item_ids if i not in open_left]
        for item_id in missing:
            plan.exceptions.append(f"item {item_id} is not an open charge on this account")
        return [i for i in rule.item_ids if open_left.get(i, 0) > 0]
    if rule.name == "exact_amount":
        exact = [i.id for i in live if open_left[i.id] == plan.left_minor]
        if len(exact) > 1:
            plan.exceptions.append(
                f"{len(exact)} items match the amount exactly; applied to the oldest"
            )
        if not exact:
            plan.exceptions.append("no open item matches the amount exactly")
        return exact[:1]
    if rule.name == "buckets":
        chosen = []
        for low, high in rule.buckets:
            for item in live:
                age = (on - item.service_date).days
                if age >= low and (high is None or age <= high) and item.id not in chosen:
                    chosen.append(item.id)
        return chosen
    assert rule.period is not None
    start, end = rule.period
    return [i.id for i in live if start <= i.service_date <= end]
