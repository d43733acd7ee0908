"""Customer statuses with dated history (AR-046, AR-062, AR-203).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("effective_day", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "status IN ('active','credit_hold','disputed','in_collections','bad_debt',"
            "'inactive','flagged_for_deletion')",
            name=op.f("ck_customer_status_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_customer_status_account_id_customer_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_status")),
    )
    op.create_index("ix_customer_status_account", "customer_status", ["account_id", "id"])
    # The history is evidence (AR-046): never edited, like the ledger.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER customer_status_immutable BEFORE UPDATE OR DELETE ON customer_status "
            "FOR EACH ROW EXECUTE FUNCTION arbot_immutable()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER customer_status_no_{action.lower()} BEFORE {action} ON "
                "customer_status BEGIN SELECT RAISE(ABORT, "
                "'immutable: customer_status rows are never changed'); END"
            )


def downgrade() -> None:
    op.drop_table("customer_status")
