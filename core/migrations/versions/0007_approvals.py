"""Approval requests for write-offs, refunds and write-off reversals; one-time link
codes for patients' chats; journal entries by day for the dashboard (AR-026, AR-028,
AR-058, AR-088, AR-091, BI-15).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, key: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{key}"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def _check(table: str, name: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    t = "approval_request"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("entry_type", sa.String(length=30), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("reverses_entry_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requester_name", sa.String(length=120), nullable=False),
        sa.Column("requester_staff_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", MOMENT, nullable=False),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("needs_role", sa.String(length=12), server_default="supervisor", nullable=False),
        sa.Column("escalated_by", sa.String(length=120), nullable=True),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decider_name", sa.String(length=120), nullable=True),
        sa.Column("decided_at", MOMENT, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("entry_key", sa.String(length=200), nullable=True),
        sa.Column("posted_minor", MINOR, nullable=True),
        sa.Column("message_channel", sa.String(length=40), nullable=True),
        sa.Column("message_ts", sa.String(length=40), nullable=True),
        _check(t, "kind", "kind IN ('write_off', 'refund', 'write_off_reversal')"),
        _check(t, "status", "status IN ('pending', 'approved', 'rejected', 'posted', 'expired')"),
        _check(t, "needs_role", "needs_role IN ('supervisor', 'manager')"),
        _check(t, "amount", "amount_minor IS NULL OR amount_minor > 0"),
        _check(t, "amount_given", "kind = 'write_off' OR amount_minor IS NOT NULL"),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "entry_type", "entry_type", "code"),
        _fk(t, "item_id", "ar_item"),
        _fk(t, "reverses_entry_id", "journal_entry"),
        _fk(t, "reason", "reason_code", "code"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_request")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_approval_request_idempotency_key")),
    )
    op.create_index("ix_approval_request_status", t, ["status", "needs_role"])
    op.create_index("ix_approval_request_account", t, ["account_id", "status"])

    t = "link_code"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.Column("used_at", MOMENT, nullable=True),
        sa.Column("used_by_channel", sa.String(length=10), nullable=True),
        sa.Column("used_by_address", sa.String(length=64), nullable=True),
        _fk(t, "account_id", "customer_account"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_link_code_code_hash")),
    )
    op.create_index("ix_link_code_account", t, ["account_id"])
    # The dashboard's "billed today" and "collected today" look entries up by day.
    op.create_index("ix_journal_entry_day", "journal_entry", ["effective_day", "kind"])


def downgrade() -> None:
    op.drop_index("ix_journal_entry_day", table_name="journal_entry")
    op.drop_table("link_code")
    op.drop_table("approval_request")
