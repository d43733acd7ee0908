"""Payers' remittance advice (AR-068): the reason code of what an 835 posts, the
payer's contractual allowances and the patient's share moved to their account.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
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
                "code": "ERA",
                "description": "As the payer's remittance advice (835) says",
                "kind": None,
                "active": True,
            }
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM reason_code WHERE code = 'ERA'")
