"""Dunning's tables: rules and their levels, pauses, sending hours, and the history of
notices (one row per level decided for an account, from queued to sent).

``dunning_notice`` is the history that makes dunning exactly-once: a level is decided
once per account, rule and *anchor* (the due date of the oldest open item it is about),
so a second run the same day, or the next day, plans nothing new for it; a notice left
unsent at the end of its day is ``expired`` and no longer counts, so the next day's run
decides it again under a new dedupe key.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)

from core.db.metadata import Currency, DayNumber, Minor, UtcDateTime, metadata

ACTIONS = ("message", "collections")
PAUSE_REASONS = ("promise_to_pay", "dispute", "plan", "hardship", "other")
NOTICE_STATUSES = ("queued", "sending", "sent", "failed", "skipped", "expired", "done")

dunning_rule = Table(
    "dunning_rule",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(30), nullable=False, unique=True),
    Column("name", String(120), nullable=False),
    # NULL: any financial class / any location; the most specific rule wins.
    Column("financial_class", String(30)),
    Column("location", String(30)),
    Column("min_balance_minor", Minor, nullable=False, server_default="0"),
    Column("min_gap_days", Integer, nullable=False, server_default="7"),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    CheckConstraint("min_balance_minor >= 0", name="min_balance"),
    CheckConstraint("min_gap_days BETWEEN 0 AND 365", name="gap"),
)

dunning_level = Table(
    "dunning_level",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rule_id", Integer, ForeignKey("dunning_rule.id"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("days_after_due", Integer, nullable=False),
    Column("template", String(60), nullable=False),
    Column("action", String(12), nullable=False, server_default="message"),
    CheckConstraint("level >= 1", name="level"),
    CheckConstraint("days_after_due BETWEEN -90 AND 3650", name="days"),
    CheckConstraint("action IN ('message','collections')", name="action"),
    UniqueConstraint("rule_id", "level"),
    UniqueConstraint("rule_id", "days_after_due"),
)

dunning_pause = Table(
    "dunning_pause",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    # NULL: the whole account; otherwise only this item is left out of dunning.
    Column("item_id", Integer, ForeignKey("ar_item.id")),
    Column("reason", String(20), nullable=False),
    Column("note", String(300), nullable=False, server_default=""),
    Column("from_day", DayNumber, nullable=False),
    # The last day of the pause; NULL: until lifted.
    Column("until_day", DayNumber),
    Column("created_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("lifted_at", UtcDateTime),
    Column("lifted_by", String(120)),
    CheckConstraint(
        "reason IN ('promise_to_pay','dispute','plan','hardship','other')", name="reason"
    ),
    CheckConstraint("until_day IS NULL OR until_day >= from_day", name="dates"),
    Index("ix_dunning_pause_account", "account_id"),
    Index("ix_dunning_pause_item", "item_id"),
)

location_hours = Table(
    "location_hours",
    metadata,
    Column("location", String(30), primary_key=True),
    Column("time_zone", String(60), nullable=False),
    # Messages that do not answer the patient go out between these minutes of the day.
    Column("send_from_minute", Integer, nullable=False, server_default="480"),
    Column("send_until_minute", Integer, nullable=False, server_default="1260"),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    CheckConstraint(
        "send_from_minute >= 0 AND send_from_minute < send_until_minute "
        "AND send_until_minute <= 1440",
        name="window",
    ),
)

dunning_notice = Table(
    "dunning_notice",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(120), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("recipient_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("rule", String(30), nullable=False),
    Column("level", Integer, nullable=False),
    Column("anchor_day", DayNumber, nullable=False),
    Column("planned_day", DayNumber, nullable=False),
    Column("template", String(60), nullable=False),
    Column("action", String(12), nullable=False),
    Column("location", String(30), nullable=False),
    Column("channel", String(10)),
    Column("address", String(64)),
    Column("verified", Boolean, nullable=False, server_default="0"),
    Column("locale", String(35), nullable=False),
    Column("currency", Currency, nullable=False),
    Column("amount_minor", Minor, nullable=False),
    Column("overdue_minor", Minor, nullable=False),
    Column("status", String(10), nullable=False),
    Column("queued_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("failure", String(40)),
    CheckConstraint(
        "status IN ('queued','sending','sent','failed','skipped','expired','done')",
        name="status",
    ),
    CheckConstraint("action IN ('message','collections')", name="action"),
    # A level is decided once per account, rule and anchor; expired notices step aside.
    Index(
        "uq_dunning_notice_level",
        "account_id",
        "rule",
        "level",
        "anchor_day",
        unique=True,
        sqlite_where=text("status <> 'expired'"),
        postgresql_where=text("status <> 'expired'"),
    ),
    Index("ix_dunning_notice_account_day", "account_id", "planned_day"),
    Index("ix_dunning_notice_status", "status", "planned_day"),
)
