"""Payment plans' tables: the plan, its instalment schedule, the signed agreement and
the autopay charges.

A plan's schedule and agreement are history and are never changed (on PostgreSQL a
trigger refuses it); only the plan row itself changes, when it completes, autopay is
turned on or it goes into default. A plan in default is stored ``cancelled`` with the
day and the instalment it defaulted on (``defaulted_on``, ``defaulted_seq``): it no
longer holds the account's one active plan, and dunning no longer pauses for it.

``plan_charge`` keeps each attempt to charge a saved card for an instalment: claimed
(``charging``) under its idempotency key before the gateway is asked, then
``succeeded`` with the gateway's payment id or ``failed`` with the reason. One row per
(plan, instalment, attempt): a second scheduler, or a re-run, cannot make it twice.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from core.db.metadata import Currency, DayNumber, Minor, UtcDateTime, metadata

payment_plan = Table(
    "payment_plan",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("status", String(10), nullable=False, server_default="active"),
    Column("instalment_count", Integer, nullable=False),
    Column("total_minor", Minor, nullable=False),
    Column("currency", Currency, nullable=False),
    Column("interval_months", Integer, nullable=False),
    # Payments posted after this journal entry count towards the plan.
    Column("after_entry_id", Integer, nullable=False),
    Column("enrolled_at", UtcDateTime, nullable=False),
    Column("enrolled_by", String(120), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("autopay_customer_ref", String(255)),
    Column("autopay_method_ref", String(255)),
    Column("autopay_set_at", UtcDateTime),
    Column("defaulted_on", DayNumber),
    Column("defaulted_seq", Integer),
    CheckConstraint("status IN ('active','completed','cancelled')", name="status"),
    CheckConstraint("instalment_count > 0 AND total_minor > 0", name="amounts"),
    CheckConstraint("interval_months > 0", name="interval"),
    # One active plan per account.
    Index(
        "uq_payment_plan_active",
        "account_id",
        unique=True,
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
)

plan_instalment = Table(
    "plan_instalment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("payment_plan.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("due_day", DayNumber, nullable=False),
    Column("amount_minor", Minor, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount"),
    UniqueConstraint("plan_id", "seq"),
)

plan_agreement = Table(
    "plan_agreement",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("payment_plan.id"), nullable=False, unique=True),
    Column("version", String(40), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("accepted_at", UtcDateTime, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("actor", String(120), nullable=False),
    # The exact text accepted, for the patient's copy (AR-147); the digest is its
    # SHA-256. Empty for agreements signed before arbot kept the text.
    Column("text", Text),
)

CHARGE_STATUSES = ("charging", "succeeded", "failed")

plan_charge = Table(
    "plan_charge",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("payment_plan.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("amount_minor", Minor, nullable=False),
    Column("currency", Currency, nullable=False),
    Column("charge_day", DayNumber, nullable=False),
    Column("status", String(10), nullable=False, server_default="charging"),
    Column("payment_ref", String(200)),
    Column("failure", String(60)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    CheckConstraint(f"status IN {CHARGE_STATUSES!r}", name="status"),
    CheckConstraint("amount_minor > 0 AND attempt > 0", name="amounts"),
    UniqueConstraint("plan_id", "seq", "attempt"),
)
