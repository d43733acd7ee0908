"""Late fees (AR-107, AR-151): the reason code their finance-charge entries carry, so
that a fee is told apart from a finance charge a person posted by hand.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    reason = sa.table(
        "reason_code",
        sa.column("code", sa.String),
        sa.column("description", sa.String),
        sa.column("kind", sa.String),
        sa.column("active", sa.Boolean),
    )
    op.bulk_insert(
        reason,
        [
            {
                "code": "LATE_FEE",
                "description": "Late fee under the office's late-fee policy",
                "kind": "finance_charge",
                "active": True,
            }
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM reason_code WHERE code = 'LATE_FEE'")
