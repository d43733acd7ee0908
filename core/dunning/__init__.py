"""Dunning: following up what patients owe, level by level (AR-029, AR-108, AR-109,
AR-162, BI-21).

Money is collected by follow-up. A *rule* says what happens as an account's oldest open
item ages past its due date: a statement on the day, reminders after 15, 30 and 45
days, a final notice at 60, a flag for collections at 90; each step is a *level* with
its own template. Only people are dunned (patients, guarantors), and what they do not
owe to dunning is left out: disputed items, paused items and accounts (a promise to
pay, a dispute, a plan in good standing), accounts someone else is handling. At most
one reminder goes to an account in 7 days, and only through a channel the person has
not opted out of.

The decision is one query over every account (:mod:`core.dunning.plan`); the history of
notices (:mod:`core.dunning.notices`) makes each level go out once: a second run the
same day plans nothing, and a run cut off mid-way continues where it stopped.
"""

from core.dunning.notices import (
    Limits,
    Notice,
    OpenLocations,
    Queued,
    claim_notice,
    finish_notice,
    notice_counts,
    queue_dunning,
    queue_statement,
    queued_notices,
)
from core.dunning.plan import DunningMessage, dedupe_key, plan_dunning, plan_statement
from core.dunning.rules import (
    DEFAULT_RULE,
    DunningLevel,
    DunningRule,
    Pause,
    SendingHours,
    define_rule,
    lift_pause,
    load_rules,
    pause_dunning,
    sending_hours,
    set_location_hours,
)

__all__ = [
    "DEFAULT_RULE",
    "DunningLevel",
    "DunningMessage",
    "DunningRule",
    "Limits",
    "Notice",
    "OpenLocations",
    "Pause",
    "Queued",
    "SendingHours",
    "claim_notice",
    "dedupe_key",
    "define_rule",
    "finish_notice",
    "lift_pause",
    "load_rules",
    "notice_counts",
    "pause_dunning",
    "plan_dunning",
    "plan_statement",
    "queue_dunning",
    "queue_statement",
    "queued_notices",
    "sending_hours",
    "set_location_hours",
]
