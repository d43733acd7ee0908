"""The plan and bad-debt jobs' settings from the environment: sensible values become the
scheduler's ports, nonsense stops the process with a sentence saying which and why."""

from __future__ import annotations

import pytest

from core.baddebt import BadDebtRule
from core.errors import ValidationError
from core.settings import Settings
from scheduler.settings import plan_job_settings, retry_days


def test_defaults_remind_three_days_ahead_retry_twice_and_leave_bad_debt_off() -> None:
    assert plan_job_settings(Settings()) == {
        "plan_reminder_days": 3,
        "plan_grace_days": 30,
        "plan_retry_days": (3, 7),
        "bad_debt": None,
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
        }
    )
    assert plan_job_settings(settings) == {
        "plan_reminder_days": 5,
        "plan_grace_days": 45,
        "plan_retry_days": (2, 5, 10),
        "bad_debt": BadDebtRule(180, 2500, None),
    }
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
    ],
)
def test_nonsense_is_refused_with_a_reason(env: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        plan_job_settings(Settings.from_env(env))
