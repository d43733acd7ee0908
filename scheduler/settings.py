"""The plan, statement, bad-debt and late-fee jobs' settings, read from the environment
(``ARBOT_PLAN_REMINDER_DAYS``, ``ARBOT_PLAN_GRACE_DAYS``, ``ARBOT_PLAN_RETRY_DAYS``,
``ARBOT_BAD_DEBT_DAYS``, ``ARBOT_BAD_DEBT_MIN``, ``ARBOT_BAD_DEBT_AFTER_COLLECTIONS_DAYS``,
``ARBOT_LATE_FEE*``, ``ARBOT_AGING_*``, ``ARBOT_RETENTION_YEARS``) into
:class:`scheduler.ports.Ports` fields. A value that makes no sense stops the process at
start with a sentence saying which and why, rather than a job failing at night."""

from __future__ import annotations

from typing import Any

from core.baddebt import BadDebtRule
from core.errors import ValidationError
from core.latefees import LateFeePolicy, parse_fee
from core.money import parse_money
from core.retention import check_years
from core.settings import Settings, aging_rule


def retry_days(text: str) -> tuple[int, ...]:
    """``"3,7"`` -> (3, 7): days after the due date, increasing; empty: no retries."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise ValidationError(
            f"ARBOT_PLAN_RETRY_DAYS={text!r}: give days after the due date, e.g. 3,7"
        )
    days = tuple(int(p) for p in parts)
    if any(d < 1 for d in days) or list(days) != sorted(set(days)) or len(days) > 10:
        raise ValidationError(
            f"ARBOT_PLAN_RETRY_DAYS={text!r}: up to 10 increasing days, each 1 or more"
        )
    return days


def bad_debt_rule(settings: Settings) -> BadDebtRule | None:
    """The bad-debt rule, or None when ``ARBOT_BAD_DEBT_DAYS`` is 0 (the default: off)."""
    if settings.bad_debt_days <= 0:
        return None
    after = settings.bad_debt_after_collections_days.strip().lower()
    if after not in ("none", "no", "off") and not after.isdigit():
        raise ValidationError(
            f"ARBOT_BAD_DEBT_AFTER_COLLECTIONS_DAYS={after!r}: give days, or 'none' "
            "for no need of collections first"
        )
    return BadDebtRule(
        days_past_due=settings.bad_debt_days,
        min_balance_minor=parse_money(settings.bad_debt_min, settings.currency).minor,
        after_collections_days=int(after) if after.isdigit() else None,
    )


def late_fee_policy(settings: Settings) -> LateFeePolicy | None:
    """The late-fee policy, or None when ``ARBOT_LATE_FEE`` is empty (the default: no
    late fees, AR-107)."""
    if not settings.late_fee.strip():
        return None
    currency = settings.currency
    try:
        rate_bp, flat_minor = parse_fee(settings.late_fee, currency)
        cap = settings.late_fee_max.strip()
        least = parse_money(settings.late_fee_min, currency).minor
        return LateFeePolicy(
            currency=currency,
            rate_bp=rate_bp,
            flat_minor=flat_minor,
            max_minor=parse_money(cap, currency).minor if cap else None,
            days_past_due=settings.late_fee_days,
            min_overdue_minor=least,
            day_of_month=settings.late_fee_day,
            locations=frozenset(
                code.strip() for code in settings.late_fee_locations.split(",") if code.strip()
            ),
        )
    except ValidationError as exc:
        raise ValidationError(f"ARBOT_LATE_FEE*: {exc}") from None


def plan_job_settings(settings: Settings) -> dict[str, Any]:
    """The :class:`~scheduler.ports.Ports` fields these settings give."""
    if not 0 <= settings.plan_reminder_days <= 60:
        raise ValidationError("ARBOT_PLAN_REMINDER_DAYS must be 0 to 60 days")
    if not 1 <= settings.plan_grace_days <= 365:
        raise ValidationError("ARBOT_PLAN_GRACE_DAYS must be 1 to 365 days")
    days = retry_days(settings.plan_retry_days)
    if days and days[-1] >= settings.plan_grace_days:
        raise ValidationError(
            "the last autopay retry (ARBOT_PLAN_RETRY_DAYS) must come before the plan "
            "defaults (ARBOT_PLAN_GRACE_DAYS)"
        )
    return {
        "plan_reminder_days": settings.plan_reminder_days,
        "plan_grace_days": settings.plan_grace_days,
        "plan_retry_days": days,
        "bad_debt": bad_debt_rule(settings),
        "late_fee": late_fee_policy(settings),
        "aging": aging_rule(settings),
        "retention_years": check_years(settings.retention_years),
    }
