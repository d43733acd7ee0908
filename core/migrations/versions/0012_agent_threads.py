"""Threads between a patient's chat and the staff channel ("talk to a person").

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_thread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("staff_channel", sa.String(length=40), nullable=False),
        sa.Column("thread_ts", sa.String(length=40), nullable=False),
        sa.Column("opened_at", MOMENT, nullable=False),
        sa.Column("last_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_thread")),
        sa.UniqueConstraint("thread_ts", name=op.f("uq_agent_thread_thread_ts")),
    )
    op.create_index("ix_agent_thread_chat", "agent_thread", ["channel", "address"])


def downgrade() -> None:
    op.drop_index("ix_agent_thread_chat", table_name="agent_thread")
    op.drop_table("agent_thread")
