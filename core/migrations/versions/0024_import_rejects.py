"""The exceptions queue (AR-067, AR-174): rows the billing interface rejected, kept
until someone fixes or dismisses them.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    t = "import_reject"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("batch", sa.String(length=200), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("row_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("row_values", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("note", sa.String(length=300), server_default="", nullable=False),
        sa.CheckConstraint(
            "kind IN ('patients', 'services', 'charges', 'payments', 'remittance')",
            name=op.f(f"ck_{t}_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'fixed', 'dismissed')", name=op.f(f"ck_{t}_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("kind", "batch", "row", name=op.f(f"uq_{t}_kind_batch_row")),
    )
    op.create_index("ix_import_reject_status", t, ["status", "kind", "id"])


def downgrade() -> None:
    op.drop_index("ix_import_reject_status", table_name="import_reject")
    op.drop_table("import_reject")
