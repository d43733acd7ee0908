"""The table of approval requests (AR-026, AR-088): one row per request, updated only as
it moves from pending to a decision. The decision itself is written once, under a
``WHERE status = 'pending'`` condition, so two approvers can never both win."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from core.db.metadata import Currency, Minor, UtcDateTime, metadata

KINDS = ("write_off", "refund", "write_off_reversal")
STATUSES = ("pending", "approved", "rejected", "posted", "expired")
LEVELS = ("supervisor", "manager")
MESSAGE_STATES = ("none", "posting", "posted")

approval_request = Table(
    "approval_request",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    # NULL: everything open at approval (a write-off of the whole balance).
    Column("amount_minor", Minor),
    Column("currency", Currency, nullable=False),
    Column("entry_type", String(30), ForeignKey("entry_type.code")),
    Column("item_id", Integer, ForeignKey("ar_item.id")),
    Column("reverses_entry_id", Integer, ForeignKey("journal_entry.id")),
    Column("reason", String(30), ForeignKey("reason_code.code"), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("requested_by", String(120), nullable=False),
    Column("requester_name", String(120), nullable=False),
    # No foreign key: machine actors request too (the small-balance job).
    Column("requester_staff_id", Integer),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("status", String(10), nullable=False, server_default="pending"),
    Column("needs_role", String(12), nullable=False, server_default="supervisor"),
    Column("escalated_by", String(120)),
    Column("decided_by", String(120)),
    Column("decider_name", String(120)),
    Column("decided_at", UtcDateTime),
    Column("decision_note", Text),
    Column("entry_key", String(200)),
    Column("posted_minor", Minor),
    # The request's Slack message: claimed (posting) before it is posted, then posted with
    # its channel and ts; message_channel is where it goes from the claim on.
    Column("message_channel", String(40)),
    Column("message_ts", String(40)),
    Column("message_state", String(10), nullable=False, server_default="none"),
    Column("message_claimed_at", UtcDateTime),
    CheckConstraint(f"kind IN {KINDS!r}", name="kind"),
    CheckConstraint(f"status IN {STATUSES!r}", name="status"),
    CheckConstraint(f"needs_role IN {LEVELS!r}", name="needs_role"),
    CheckConstraint(f"message_state IN {MESSAGE_STATES!r}", name="message_state"),
    CheckConstraint("amount_minor IS NULL OR amount_minor > 0", name="amount"),
    CheckConstraint("kind = 'write_off' OR amount_minor IS NOT NULL", name="amount_given"),
    Index("ix_approval_request_status", "status", "needs_role"),
    Index("ix_approval_request_account", "account_id", "status"),
)

OFFER_STATUSES = ("open", "refund", "transfer", "expired")

refund_offer = Table(
    "refund_offer",
    metadata,
    # A refund asked for while the patient's relatives owe: held until its asker picks
    # "transfer the credit" or "refund anyway" (AR-057). Decided once, like a request.
    Column("id", Integer, primary_key=True),
    Column("token", String(32), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("amount_minor", Minor, nullable=False),
    Column("currency", Currency, nullable=False),
    Column("reason", String(30), ForeignKey("reason_code.code"), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("asked_by", String(120), nullable=False),
    Column("asked_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("status", String(10), nullable=False, server_default="open"),
    Column("decided_at", UtcDateTime),
    Column("to_account_id", Integer, ForeignKey("customer_account.id")),
    # The transfer as decided: "<item id>:<minor>,..." of the relative's items moved.
    Column("plan", Text),
    CheckConstraint(f"status IN {OFFER_STATUSES!r}", name="status"),
    CheckConstraint("amount_minor > 0", name="amount"),
)
