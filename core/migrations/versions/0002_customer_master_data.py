"""Customer master data: MRN, names, phonetic key, date of birth, language, contacts.

Plain ADD COLUMN and CREATE INDEX only: SQLite does both in place, where a batch
rebuild of customer_account (which every ledger table references) would not be safe.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customer_account", sa.Column("mrn", sa.String(length=40), nullable=True))
    op.add_column("customer_account", sa.Column("last_name", sa.String(length=100)))
    op.add_column("customer_account", sa.Column("first_name", sa.String(length=100)))
    op.add_column("customer_account", sa.Column("name_key", sa.String(length=20)))
    op.add_column("customer_account", sa.Column("date_of_birth", sa.Integer()))
    op.add_column(
        "customer_account",
        sa.Column("language", sa.String(length=35), server_default="en", nullable=False),
    )
    op.create_index("uq_customer_account_mrn", "customer_account", ["mrn"], unique=True)
    op.create_index("ix_customer_account_name_key", "customer_account", ["name_key"])
    op.create_index("ix_customer_account_guarantor_id", "customer_account", ["guarantor_id"])
    op.create_table(
        "customer_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("normalized", sa.String(length=300), nullable=False),
        sa.Column("is_primary", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('phone','email','telegram','postal')", name=op.f("ck_customer_contact_kind")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_customer_contact_account_id_customer_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_contact")),
    )
    op.create_index("ix_customer_contact_lookup", "customer_contact", ["kind", "normalized"])
    op.create_index("ix_customer_contact_account", "customer_contact", ["account_id"])


def downgrade() -> None:
    op.drop_table("customer_contact")
    op.drop_index("ix_customer_account_guarantor_id", "customer_account")
    op.drop_index("ix_customer_account_name_key", "customer_account")
    op.drop_index("uq_customer_account_mrn", "customer_account")
    for column in ("language", "date_of_birth", "name_key", "first_name", "last_name", "mrn"):
        op.drop_column("customer_account", column)
