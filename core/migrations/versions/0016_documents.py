"""A patient's documents (issue 5, AR-023, AR-147): links to a payment's receipt and a
plan agreement's copy as PDF files, and the exact text each agreement was accepted in.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    t = "document_link"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.CheckConstraint("kind IN ('receipt','agreement')", name=op.f(f"ck_{t}_kind")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f(f"fk_{t}_account_id_customer_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.UniqueConstraint("token_hash", name=op.f(f"uq_{t}_token_hash")),
    )
    op.create_index("ix_document_link_account", t, ["account_id"])
    # Nullable: agreements signed before this revision kept only the text's digest.
    op.add_column("plan_agreement", sa.Column("text", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("plan_agreement", "text")
    op.drop_index("ix_document_link_account", table_name="document_link")
    op.drop_table("document_link")
