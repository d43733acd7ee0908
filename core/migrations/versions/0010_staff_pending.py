"""Held Slack payments awaiting confirmation, approval messages' claimed slot, and refund
offers waiting for "transfer the credit" or "refund anyway" (AR-095, AR-088, AR-057).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    t = "pending_payment"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("asked_by", sa.String(length=120), nullable=False),
        sa.Column("asked_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.Column("status", sa.String(length=10), server_default="held", nullable=False),
        sa.Column("decided_at", MOMENT, nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('held', 'confirmed', 'cancelled', 'expired')",
            name=op.f("ck_pending_payment_status"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_pending_payment_amount")),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "entry_id", "journal_entry"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_payment")),
        sa.UniqueConstraint("token", name=op.f("uq_pending_payment_token")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_pending_payment_idempotency_key")),
    )
    op.create_index("ix_pending_payment_account", t, ["account_id", "status"])

    # The approval message's slot: claimed (posting) before the post, so it goes out once.
    with op.batch_alter_table("approval_request") as batch:
        batch.add_column(
            sa.Column("message_state", sa.String(length=10), server_default="none", nullable=False)
        )
        batch.add_column(sa.Column("message_claimed_at", MOMENT, nullable=True))
        batch.create_check_constraint(
            op.f("ck_approval_request_message_state"),
            "message_state IN ('none', 'posting', 'posted')",
        )
    op.execute("UPDATE approval_request SET message_state = 'posted' WHERE message_ts IS NOT NULL")

    t = "refund_offer"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("asked_by", sa.String(length=120), nullable=False),
        sa.Column("asked_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("decided_at", MOMENT, nullable=True),
        sa.Column("to_account_id", sa.Integer(), nullable=True),
        sa.Column("plan", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'refund', 'transfer', 'expired')",
            name=op.f("ck_refund_offer_status"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refund_offer_amount")),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "to_account_id", "customer_account"),
        sa.ForeignKeyConstraint(
            ["reason"], ["reason_code.code"], name=op.f("fk_refund_offer_reason_reason_code")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_offer")),
        sa.UniqueConstraint("token", name=op.f("uq_refund_offer_token")),
    )


def downgrade() -> None:
    op.drop_table("refund_offer")
    with op.batch_alter_table("approval_request") as batch:
        batch.drop_constraint(op.f("ck_approval_request_message_state"), type_="check")
        batch.drop_column("message_claimed_at")
        batch.drop_column("message_state")
    op.drop_table("pending_payment")
