"""Gateway payments' tables: which card payment became which journal entry, and the
refunds and disputes that took money back from it.

Each row is written in the same transaction as its journal entry and never changed
(on PostgreSQL a trigger refuses it): the payment's gateway id is unique, so however
many times or in whatever order the gateway reports a payment, one entry records it.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table

from core.db.metadata import Currency, Minor, UtcDateTime, metadata

gateway_payment = Table(
    "gateway_payment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payment_ref", String(255), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("entry_id", Integer, ForeignKey("journal_entry.id"), nullable=False, unique=True),
    Column("token_id", Integer, ForeignKey("pay_link.id")),
    Column("service_code", String(30)),
    Column("amount_minor", Minor, nullable=False),
    Column("currency", Currency, nullable=False),
    Column("balance_after_minor", Minor, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('payment','prepay')", name="kind"),
    CheckConstraint("amount_minor > 0", name="amount"),
    Index("ix_gateway_payment_account", "account_id"),
)

gateway_reversal = Table(
    "gateway_reversal",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ref", String(255), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),
    Column("payment_id", Integer, ForeignKey("gateway_payment.id"), nullable=False),
    Column("entry_id", Integer, ForeignKey("journal_entry.id"), nullable=False, unique=True),
    Column("amount_minor", Minor, nullable=False),
    Column("reason", String(60), nullable=False, server_default=""),
    Column("balance_after_minor", Minor, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('refund','dispute')", name="kind"),
    CheckConstraint("amount_minor > 0", name="amount"),
    Index("ix_gateway_reversal_payment", "payment_id"),
)
