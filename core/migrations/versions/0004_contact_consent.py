"""Consent to be contacted, per channel and address, with its history.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.CheckConstraint(
            "channel IN ('sms','telegram','email')", name=op.f("ck_contact_consent_channel")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_consent")),
    )
    op.create_index("ix_contact_consent_address", "contact_consent", ["channel", "address", "id"])


def downgrade() -> None:
    op.drop_table("contact_consent")
