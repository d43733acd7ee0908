"""Patient chats: identity checks and lock-outs, conversation state, inbound event
deduplication and the outbox of messages with their delivery outcomes (AR-179).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def _check(table: str, name: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}"))


def _chat_key(table: str) -> list[SchemaItem]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("channel", "address", name=op.f(f"uq_{table}_channel_address")),
    ]


def upgrade() -> None:
    t = "inbound_event"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=120), nullable=False),
        sa.Column("claimed_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_event")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_inbound_event_source_event_id")),
    )

    t = "chat_identity"
    op.create_table(
        t,
        *_chat_key(t),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", MOMENT, nullable=True),
        sa.Column("updated_at", MOMENT, nullable=False),
        _check(t, "failures", "failures >= 0"),
    )

    t = "chat_state"
    op.create_table(
        t,
        *_chat_key(t),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("data", sa.Text(), server_default="{}", nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        _check(t, "version", "version > 0"),
    )

    t = "outbox"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("status", sa.String(length=10), server_default="claimed", nullable=False),
        sa.Column("failure", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("provider_ref", sa.String(length=120), nullable=True),
        sa.Column("finished_at", MOMENT, nullable=True),
        _check(t, "status", "status IN ('claimed', 'sent', 'failed')"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_outbox_account_id_customer_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    # The delivery report (AR-179) reads a period's failed sends.
    op.create_index("ix_outbox_status_created", t, ["status", "created_at"])
    op.create_index("ix_outbox_account", t, ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_account", table_name="outbox")
    op.drop_index("ix_outbox_status_created", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("chat_state")
    op.drop_table("chat_identity")
    op.drop_table("inbound_event")
