"""The ledger's tables.

``journal_entry``/``journal_line`` are the double-entry journal. Each line on the A/R
control account names a customer account (the subledger) and becomes one ``ar_item``:
a charge or debit memo (positive, an open item) or a payment or credit (negative,
unapplied until matched). ``allocation`` rows match credits to debits; each match is
two rows (debit side negative, credit side positive) that sum to zero, effective on a
date, so any item's open amount as of any date is its amount plus its allocations up
to that date. Nothing here is ever updated or deleted: corrections are new rows. The
one exception is derived and kept by the database itself: ``ar_item.open_minor``, the
item's amount plus every allocation to it, which each allocation row adds to as it is
inserted (migration 0015's triggers refuse any other change).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from core.db.metadata import Currency, DayNumber, Minor, UtcDateTime, metadata

gl_account = Table(
    "gl_account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(120), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("role", String(30), nullable=False),
    Column("category", String(30)),
    Column("active", Boolean, nullable=False, server_default="1"),
    CheckConstraint(
        "kind IN ('asset','liability','revenue','contra_revenue','expense')", name="kind"
    ),
)

payment_terms = Table(
    "payment_terms",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("description", String(120), nullable=False),
    Column("net_days", Integer, nullable=False),
    CheckConstraint("net_days >= 0", name="net_days"),
)

customer_account = Table(
    "customer_account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("sort_name", String(200), nullable=False),
    Column("customer_type", String(20), nullable=False, server_default="patient"),
    Column("currency", Currency, nullable=False),
    Column("financial_class", String(30), nullable=False, server_default="self_pay"),
    Column("location", String(30), nullable=False, server_default="main"),
    Column("patient_type", String(2)),
    Column("guarantor_id", Integer, ForeignKey("customer_account.id")),
    Column("terms_code", String(20), ForeignKey("payment_terms.code"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Master data beyond what the ledger needs (core.customers): who the patient is.
    Column("mrn", String(40)),
    Column("last_name", String(100)),
    Column("first_name", String(100)),
    Column("name_key", String(20)),
    Column("date_of_birth", DayNumber),
    Column("language", String(35), nullable=False, server_default="en"),
    CheckConstraint("patient_type IS NULL OR patient_type IN ('IP','OP')", name="patient_type"),
    Index("ix_customer_account_sort_name", "sort_name"),
    Index("uq_customer_account_mrn", "mrn", unique=True),
    Index("ix_customer_account_name_key", "name_key"),
    Index("ix_customer_account_guarantor_id", "guarantor_id"),
)

customer_status = Table(
    "customer_status",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("status", String(30), nullable=False),
    Column("effective_day", DayNumber, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", String(300), nullable=False),
    CheckConstraint(
        "status IN ('active','credit_hold','disputed','in_collections','bad_debt',"
        "'inactive','flagged_for_deletion')",
        name="status",
    ),
    Index("ix_customer_status_account", "account_id", "id"),
)

contact_consent = Table(
    "contact_consent",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(20), nullable=False),
    Column("address", String(300), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("source", String(60), nullable=False),
    Column("actor", String(120), nullable=False),
    CheckConstraint("channel IN ('sms','telegram','email')", name="channel"),
    Index("ix_contact_consent_address", "channel", "address", "id"),
)

customer_contact = Table(
    "customer_contact",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value", String(300), nullable=False),
    Column("normalized", String(300), nullable=False),
    Column("is_primary", Boolean, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('phone','email','telegram','postal')", name="kind"),
    Index("ix_customer_contact_lookup", "kind", "normalized"),
    Index("ix_customer_contact_account", "account_id"),
)

# The customer profile (core.profile): credit terms, addresses, notes, who stands
# behind an account and which chats reach it. "_to" days are the last day something
# applies (inclusive); NULL means open-ended.

credit_profile = Table(
    "credit_profile",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("credit_limit_minor", Minor),
    Column("terms_code", String(20), ForeignKey("payment_terms.code"), nullable=False),
    Column("risk_class", String(20)),
    Column("effective_from", DayNumber, nullable=False),
    Column("effective_to", DayNumber),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", String(300), nullable=False),
    CheckConstraint(
        "credit_limit_minor IS NULL OR credit_limit_minor BETWEEN 0 AND 999999999999999",
        name="credit_limit",
    ),
    CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="dates"),
    Index("ix_credit_profile_account", "account_id", "id"),
)

customer_address = Table(
    "customer_address",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("line1", String(200), nullable=False),
    Column("line2", String(200)),
    Column("city", String(100), nullable=False),
    Column("region", String(100)),
    Column("postal_code", String(20)),
    Column("country", String(2), nullable=False),
    Column("is_primary", Boolean, nullable=False, server_default="0"),
    Column("valid_from", DayNumber, nullable=False),
    Column("valid_to", DayNumber),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('home','billing','work','other')", name="kind"),
    CheckConstraint("length(country) = 2", name="country"),
    CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="dates"),
    Index("ix_customer_address_account", "account_id", "kind"),
)

customer_note = Table(
    "customer_note",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("text", Text, nullable=False),
    CheckConstraint("length(text) BETWEEN 1 AND 4000", name="text"),
    Index("ix_customer_note_account", "account_id", "id"),
)

customer_relationship = Table(
    "customer_relationship",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("related_account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("effective_from", DayNumber, nullable=False),
    Column("effective_to", DayNumber),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    CheckConstraint("kind IN ('guarantor','employer','institution','insurer')", name="kind"),
    CheckConstraint("account_id <> related_account_id", name="not_self"),
    CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="dates"),
    Index("ix_customer_relationship_account", "account_id", "kind"),
    Index("ix_customer_relationship_related", "related_account_id", "kind"),
)

chat_link = Table(
    "chat_link",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("address", String(64), nullable=False),
    Column("linked_at", UtcDateTime, nullable=False),
    Column("linked_by", String(120), nullable=False),
    Column("verified_at", UtcDateTime),
    Column("unlinked_at", UtcDateTime),
    CheckConstraint("channel IN ('telegram','sms')", name="channel"),
    # One active link per chat and account; the lookup by chat uses the same index.
    Index(
        "uq_chat_link_active",
        "channel",
        "address",
        "account_id",
        unique=True,
        sqlite_where=text("unlinked_at IS NULL"),
        postgresql_where=text("unlinked_at IS NULL"),
    ),
    Index("ix_chat_link_account", "account_id"),
)

entry_type = Table(
    "entry_type",
    metadata,
    Column("code", String(30), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("description", String(120), nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
)

reason_code = Table(
    "reason_code",
    metadata,
    Column("code", String(30), primary_key=True),
    Column("description", String(120), nullable=False),
    Column("kind", String(30)),
    Column("active", Boolean, nullable=False, server_default="1"),
)

fiscal_period = Table(
    "fiscal_period",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False, unique=True),
    Column("start_day", DayNumber, nullable=False),
    Column("end_day", DayNumber, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("closed_by", String(120)),
    CheckConstraint("start_day <= end_day", name="range"),
)

journal_entry = Table(
    "journal_entry",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("entry_type", String(30), ForeignKey("entry_type.code"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("reason_code", String(30), ForeignKey("reason_code.code")),
    Column("effective_day", DayNumber, nullable=False),
    Column("posted_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("source", String(40), nullable=False),
    Column("memo", Text, nullable=False, server_default=""),
    Column("reference", String(120)),
    Column("reverses_id", Integer, ForeignKey("journal_entry.id"), unique=True),
    Column("line_count", Integer, nullable=False),
    CheckConstraint("line_count >= 2", name="two_lines"),
    CheckConstraint("length(idempotency_key) > 0", name="key"),
    CheckConstraint("reverses_id IS NULL OR reverses_id < id", name="reverses_earlier"),
    Index("ix_journal_entry_day", "effective_day", "kind"),
    Index("ix_journal_entry_reference", "reference"),
)

journal_line = Table(
    "journal_line",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("journal_entry.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("gl_account_id", Integer, ForeignKey("gl_account.id"), nullable=False),
    Column("customer_account_id", Integer, ForeignKey("customer_account.id")),
    Column("currency", Currency, nullable=False),
    Column("amount_minor", Minor, nullable=False),
    CheckConstraint("amount_minor <> 0", name="nonzero"),
    CheckConstraint(
        "amount_minor BETWEEN -999999999999999 AND 999999999999999", name="fifteen_digits"
    ),
    CheckConstraint("length(currency) = 3", name="currency"),
    UniqueConstraint("entry_id", "line_no"),
    Index("ix_journal_line_gl", "gl_account_id", "customer_account_id"),
)

ar_item = Table(
    "ar_item",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("journal_entry.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("currency", Currency, nullable=False),
    Column("amount_minor", Minor, nullable=False),
    Column("effective_day", DayNumber, nullable=False),
    Column("service_day", DayNumber, nullable=False),
    Column("bill_day", DayNumber, nullable=False),
    Column("due_day", DayNumber, nullable=False),
    Column("doctor", String(60)),
    Column("payer", String(30)),
    Column("ref_item_id", Integer, ForeignKey("ar_item.id")),
    Column("description", String(200), nullable=False, server_default=""),
    # The amount plus every allocation ever made to it; see the module's docstring.
    # A new item opens whole: posting writes its amount here too.
    Column("open_minor", Minor, nullable=False),
    CheckConstraint("amount_minor <> 0", name="nonzero"),
    CheckConstraint("bill_day <= due_day", name="due_after_bill"),
    UniqueConstraint("entry_id", "line_no"),
    ForeignKeyConstraint(
        ["entry_id", "line_no"], ["journal_line.entry_id", "journal_line.line_no"]
    ),
    Index("ix_ar_item_account", "account_id", "effective_day"),
    # The ATB's first half: open items only, each basis date covered, the service date
    # (the default basis) first (make bench).
    Index(
        "ix_ar_item_open",
        "currency",
        "account_id",
        "effective_day",
        "service_day",
        "open_minor",
        "bill_day",
        "due_day",
        sqlite_where=text("open_minor <> 0"),
        postgresql_where=text("open_minor <> 0"),
    ),
)

application = Table(
    "application",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("method", String(60), nullable=False),
    Column("effective_day", DayNumber, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("source", String(40), nullable=False),
    Column("entry_id", Integer, ForeignKey("journal_entry.id")),
)

allocation = Table(
    "allocation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("application_id", Integer, ForeignKey("application.id"), nullable=False),
    Column("match_no", Integer, nullable=False),
    Column("item_id", Integer, ForeignKey("ar_item.id"), nullable=False),
    Column("amount_minor", Minor, nullable=False),
    Column("effective_day", DayNumber, nullable=False),
    # Copies of the item's own facts, which never change: aging sums allocations per
    # account and bucket without looking each item up (make bench: 2.3 s -> 1.3 s).
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("currency", Currency, nullable=False),
    Column("service_day", DayNumber, nullable=False),
    Column("bill_day", DayNumber, nullable=False),
    Column("due_day", DayNumber, nullable=False),
    Column("item_day", DayNumber, nullable=False),  # the item's effective day
    CheckConstraint("amount_minor <> 0", name="nonzero"),
    UniqueConstraint("application_id", "match_no", "item_id"),
    Index("ix_allocation_item", "item_id", "effective_day", "amount_minor"),
    # The ATB's second half: what was applied after its date, to items open on it.
    Index(
        "ix_allocation_late",
        "currency",
        "effective_day",
        "item_day",
        "account_id",
        "service_day",
        "amount_minor",
        "bill_day",
        "due_day",
    ),
)

item_dispute = Table(
    "item_dispute",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("ar_item.id"), nullable=False),
    Column("disputed", Boolean, nullable=False),
    Column("effective_day", DayNumber, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", String(200), nullable=False),
    Index("ix_item_dispute_item", "item_id", "id"),
)

IMMUTABLE_TABLES = (
    "journal_entry",
    "journal_line",
    "ar_item",
    "application",
    "allocation",
    "item_dispute",
    "audit_log",
    "credit_profile",
    "customer_note",
)
"""Tables whose rows are never updated or deleted, in any database."""
