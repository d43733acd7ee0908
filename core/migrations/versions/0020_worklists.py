"""Collectors and follow-ups (AR-045, AR-101, AR-005, AR-100): who collects each account
(every assignment kept), and accounts flagged for follow-up on a review date.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    t = "collector_assignment"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("at", MOMENT, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "staff_id", "staff_user"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
    )
    op.create_index("ix_collector_assignment_account", t, ["account_id", "id"])
    op.create_index("ix_collector_assignment_staff", t, ["staff_id"])
    t = "follow_up"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("due_day", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("outcome", sa.String(length=300), server_default="", nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("closed_at", MOMENT, nullable=True),
        sa.Column("closed_by", sa.String(length=120), nullable=True),
        sa.CheckConstraint("status IN ('open','done')", name=op.f(f"ck_{t}_status")),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "staff_id", "staff_user"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("request_key", name=op.f(f"uq_{t}_request_key")),
    )
    op.create_index("ix_follow_up_staff", t, ["staff_id", "status", "due_day"])
    op.create_index("ix_follow_up_account", t, ["account_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_follow_up_account", table_name="follow_up")
    op.drop_index("ix_follow_up_staff", table_name="follow_up")
    op.drop_table("follow_up")
    op.drop_index("ix_collector_assignment_staff", table_name="collector_assignment")
    op.drop_index("ix_collector_assignment_account", table_name="collector_assignment")
    op.drop_table("collector_assignment")
