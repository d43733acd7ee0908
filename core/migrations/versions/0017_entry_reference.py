"""Search by a posting's reference (AR-082): a cheque number or the card processor's
payment id, as a bank statement or an insurer's letter names a payment, finds the
account it was posted to. An index on ``journal_entry.reference`` keeps that a lookup.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_journal_entry_reference", "journal_entry", ["reference"])


def downgrade() -> None:
    op.drop_index("ix_journal_entry_reference", table_name="journal_entry")
