"""Digests posted to Slack (issue 6): each claimed once, the ATB digest's figures kept
so that the next one can show the change (AR-193).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    t = "digest_post"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=60), nullable=False),
        sa.Column("as_of", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("bounds", sa.String(length=60), nullable=False),
        sa.Column("total_minor", MINOR, nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("claimed_at", MOMENT, nullable=True),
        sa.Column("posted_at", MOMENT, nullable=True),
        sa.Column("message_ts", sa.String(length=40), nullable=True),
        sa.Column("file_id", sa.String(length=40), nullable=True),
        sa.CheckConstraint("kind IN ('atb','cash')", name=op.f("ck_digest_post_kind")),
        sa.CheckConstraint(
            "state IN ('open','posting','posted')", name=op.f("ck_digest_post_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_post")),
        sa.UniqueConstraint(
            "kind",
            "period",
            "scope",
            "currency",
            name=op.f("uq_digest_post_kind_period_scope_currency"),
        ),
    )
    op.create_index(
        "ix_digest_post_previous", t, ["kind", "scope", "currency", "as_of"], unique=False
    )
    t = "digest_figure"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.String(length=60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest_id"], ["digest_post.id"], name=op.f("fk_digest_figure_digest_id_digest_post")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_figure")),
        sa.UniqueConstraint(
            "digest_id",
            "group_key",
            "position",
            name=op.f("uq_digest_figure_digest_id_group_key_position"),
        ),
    )


def downgrade() -> None:
    op.drop_table("digest_figure")
    op.drop_index("ix_digest_post_previous", table_name="digest_post")
    op.drop_table("digest_post")
