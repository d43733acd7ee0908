"""The plan, bad-debt, late-fee and aging (AR-194) settings from the environment:
sensible values become the scheduler's ports, nonsense stops the process with a
sentence saying which and why."""

from __future__ import annotations

import pytest

from core.baddebt import BadDebtRule
from core.errors import ValidationError
from core.latefees import LateFeePolicy
from core.ledger.aging import AgingRule, Basis
from core.settings import Settings
from scheduler.settings import plan_job_settings, retry_days


def test_defaults_remind_three_days_ahead_retry_twice_and_leave_bad_debt_off() -> None:
    assert plan_job_settings(Settings()) == {
        "plan_reminder_days": 3,
        "plan_grace_days": 30,
        "plan_retry_days": (3, 7),
        "bad_debt": None,
        "late_fee": None,  # AR-107: only where the office says the law allows
        "aging": AgingRule(Basis.SERVICE, (30, 60, 90, 120, 150, 180), False),  # AR-194
        "retention_years": 0,  # AR-204: keep every account unless the office says
    }


def test_the_environment_sets_them() -> None:
    settings = Settings.from_env(
        {
            "ARBOT_PLAN_REMINDER_DAYS": "5",
            "ARBOT_PLAN_GRACE_DAYS": "45",
            "ARBOT_PLAN_RETRY_DAYS": "2, 5, 10",
            "ARBOT_BAD_DEBT_DAYS": "180",
            "ARBOT_BAD_DEBT_MIN": "25.00",
            "ARBOT_BAD_DEBT_AFTER_COLLECTIONS_DAYS": "none",
            "ARBOT_LATE_FEE": "1.5%",
            "ARBOT_LATE_FEE_MAX": "25.00",
            "ARBOT_LATE_FEE_DAYS": "60",
            "ARBOT_LATE_FEE_MIN": "50",
            "ARBOT_LATE_FEE_DAY": "5",
            "ARBOT_LATE_FEE_LOCATIONS": "north, south",
            "ARBOT_AGING_BASIS": "Due",
            "ARBOT_AGING_BUCKETS": "30, 60, 90",
            "ARBOT_AGING_DISPUTED": "current",
            "ARBOT_RETENTION_YEARS": "7",
        }
    )
    assert plan_job_settings(settings) == {
        "plan_reminder_days": 5,
        "plan_grace_days": 45,
        "plan_retry_days": (2, 5, 10),
        "bad_debt": BadDebtRule(180, 2500, None),
        "late_fee": LateFeePolicy(
            currency="USD",
            rate_bp=150,
            max_minor=2500,
            days_past_due=60,
            min_overdue_minor=5000,
            day_of_month=5,
            locations=frozenset({"north", "south"}),
        ),
        "aging": AgingRule(Basis.DUE, (30, 60, 90), disputed_current=True),
        "retention_years": 7,
    }
    flat = Settings.from_env({"ARBOT_LATE_FEE": "10.00"})
    assert plan_job_settings(flat)["late_fee"] == LateFeePolicy(currency="USD", flat_minor=1000)
    assert retry_days("") == ()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"ARBOT_PLAN_RETRY_DAYS": "3,x"}, "give days after the due date"),
        ({"ARBOT_PLAN_RETRY_DAYS": "7,3"}, "increasing"),
        ({"ARBOT_PLAN_RETRY_DAYS": "3,40"}, "must come before the plan defaults"),
        ({"ARBOT_PLAN_GRACE_DAYS": "0"}, "ARBOT_PLAN_GRACE_DAYS must be 1 to 365"),
        ({"ARBOT_PLAN_REMINDER_DAYS": "90"}, "ARBOT_PLAN_REMINDER_DAYS must be 0 to 60"),
        ({"ARBOT_BAD_DEBT_DAYS": "10"}, "30 to 3650 days past due"),
        (
            {"ARBOT_BAD_DEBT_DAYS": "180", "ARBOT_BAD_DEBT_AFTER_COLLECTIONS_DAYS": "soon"},
            "give days, or 'none'",
        ),
        ({"ARBOT_LATE_FEE": "15 percent"}, "ARBOT_LATE_FEE.*neither a percentage"),
        ({"ARBOT_LATE_FEE": "NaN%"}, "not a percentage above 0"),  # review finding
        ({"ARBOT_LATE_FEE": "1e3"}, "neither a percentage"),  # was a $1,000.00 fee
        ({"ARBOT_LATE_FEE": "40%"}, "at most 25%"),
        ({"ARBOT_LATE_FEE": "1%", "ARBOT_LATE_FEE_DAY": "31"}, "day of the month from 1 to 28"),
        ({"ARBOT_LATE_FEE": "1%", "ARBOT_LATE_FEE_MAX": "0"}, "cap must be above zero"),
        ({"ARBOT_LATE_FEE": "1%", "ARBOT_LATE_FEE_MIN": "0"}, "least overdue amount"),
        ({"ARBOT_AGING_BASIS": "posting"}, "ARBOT_AGING_BASIS: .*service, bill or due date"),
        ({"ARBOT_AGING_BUCKETS": "60,30"}, "ARBOT_AGING_BUCKETS: .*must increase"),
        ({"ARBOT_AGING_BUCKETS": "thirty"}, "ARBOT_AGING_BUCKETS: .*whole days"),
        ({"ARBOT_AGING_DISPUTED": "yes"}, "ARBOT_AGING_DISPUTED: .*'current' or 'aged'"),
    ],
)
def test_nonsense_is_refused_with_a_reason(env: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        plan_job_settings(Settings.from_env(env))
