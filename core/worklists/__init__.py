"""Collectors and their worklists (AR-045, AR-101, AR-005, AR-100).

A supervisor assigns an account to a collector, a staff user mapped to a Slack user who
may collect (``follow_up``: clerks and up, not auditors) at the account's location
(:func:`assign_collector`); each assignment is a new row, so who had the account before
stays on record. Anyone who may collect there flags an account for follow-up on a review
date with a note (:func:`flag_follow_up`): the flag belongs to the account's collector,
or to whoever set it when the account has none. A collector's worklist
(:func:`worklist`) is their flags due by today, oldest first, then the coming ones, then
their accounts that owe but have no flag yet -- so nothing assigned falls out of sight
(AR-005). A flag is closed when done, with what came of it, or snoozed to a later day
(AR-100); either by its owner or by someone who manages accounts at the location. The
``follow-ups`` job reminds each collector of what is due (:func:`due_by_owner`).
"""

from __future__ import annotations

from core.worklists.flags import (
    assign_collector,
    close_follow_up,
    flag_follow_up,
    snooze_follow_up,
)
from core.worklists.lists import due_by_owner, staff_named, worklist
from core.worklists.model import (
    Collector,
    Flag,
    FlagStatus,
    Unflagged,
    Worklist,
    collector_assignment,
    collector_of,
    follow_up,
    load_flag,
    open_flags,
)

__all__ = [
    "Collector",
    "Flag",
    "FlagStatus",
    "Unflagged",
    "Worklist",
    "assign_collector",
    "close_follow_up",
    "collector_assignment",
    "collector_of",
    "due_by_owner",
    "flag_follow_up",
    "follow_up",
    "load_flag",
    "open_flags",
    "snooze_follow_up",
    "staff_named",
    "worklist",
]
