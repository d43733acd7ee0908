"""The office's aging rule (AR-194): a digest keeps the basis it aged by and, with a
month-end snapshot, whether disputed items counted as current, so that a digest's
bucket lists and later comparisons age the same way it did.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest_post") as batch:
        batch.add_column(
            sa.Column("basis", sa.String(length=10), server_default="service", nullable=False)
        )
        batch.add_column(
            sa.Column("disputed_current", sa.Boolean(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("atb_snapshot") as batch:
        batch.add_column(
            sa.Column("disputed_current", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("atb_snapshot") as batch:
        batch.drop_column("disputed_current")
    with op.batch_alter_table("digest_post") as batch:
        batch.drop_column("disputed_current")
        batch.drop_column("basis")
