"""Customer profile: credit terms, addresses, relationships, notes, chat links.

Credit profiles and notes are evidence, like the status history: the database refuses
to update or delete them (AR-035, AR-037). Addresses, relationships and chat links get
their end dates set when they are replaced or ended.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APPEND_ONLY = ("credit_profile", "customer_note")


def _id_and_account() -> list[sa.Column[int]]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
    ]


def _keys(table: str) -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f(f"fk_{table}_account_id_customer_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _dates(table: str, start: str, end: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{end} IS NULL OR {end} >= {start}", name=op.f(f"ck_{table}_dates"))


def upgrade() -> None:
    op.create_table(
        "credit_profile",
        *_id_and_account(),
        sa.Column(
            "credit_limit_minor",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("terms_code", sa.String(length=20), nullable=False),
        sa.Column("risk_class", sa.String(length=20), nullable=True),
        sa.Column("effective_from", sa.Integer(), nullable=False),
        sa.Column("effective_to", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "credit_limit_minor IS NULL OR credit_limit_minor BETWEEN 0 AND 999999999999999",
            name=op.f("ck_credit_profile_credit_limit"),
        ),
        _dates("credit_profile", "effective_from", "effective_to"),
        sa.ForeignKeyConstraint(
            ["terms_code"],
            ["payment_terms.code"],
            name=op.f("fk_credit_profile_terms_code_payment_terms"),
        ),
        *_keys("credit_profile"),
    )
    op.create_index("ix_credit_profile_account", "credit_profile", ["account_id", "id"])

    op.create_table(
        "customer_address",
        *_id_and_account(),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("line1", sa.String(length=200), nullable=False),
        sa.Column("line2", sa.String(length=200), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("is_primary", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('home','billing','work','other')", name=op.f("ck_customer_address_kind")
        ),
        sa.CheckConstraint("length(country) = 2", name=op.f("ck_customer_address_country")),
        _dates("customer_address", "valid_from", "valid_to"),
        *_keys("customer_address"),
    )
    op.create_index("ix_customer_address_account", "customer_address", ["account_id", "kind"])

    op.create_table(
        "customer_note",
        *_id_and_account(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.CheckConstraint("length(text) BETWEEN 1 AND 4000", name=op.f("ck_customer_note_text")),
        *_keys("customer_note"),
    )
    op.create_index("ix_customer_note_account", "customer_note", ["account_id", "id"])

    _relationships()
    _chat_links()
    for table in APPEND_ONLY:
        _append_only(table)


def _relationships() -> None:
    table = "customer_relationship"
    op.create_table(
        table,
        *_id_and_account(),
        sa.Column("related_account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("effective_from", sa.Integer(), nullable=False),
        sa.Column("effective_to", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.CheckConstraint(
            "kind IN ('guarantor','employer','institution','insurer')",
            name=op.f("ck_customer_relationship_kind"),
        ),
        sa.CheckConstraint(
            "account_id <> related_account_id", name=op.f("ck_customer_relationship_not_self")
        ),
        _dates(table, "effective_from", "effective_to"),
        sa.ForeignKeyConstraint(
            ["related_account_id"],
            ["customer_account.id"],
            name=op.f("fk_customer_relationship_related_account_id_customer_account"),
        ),
        *_keys(table),
    )
    op.create_index("ix_customer_relationship_account", table, ["account_id", "kind"])
    op.create_index("ix_customer_relationship_related", table, ["related_account_id", "kind"])


def _chat_links() -> None:
    op.create_table(
        "chat_link",
        *_id_and_account(),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by", sa.String(length=120), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel IN ('telegram','sms')", name=op.f("ck_chat_link_channel")),
        *_keys("chat_link"),
    )
    active = sa.text("unlinked_at IS NULL")
    op.create_index(
        "uq_chat_link_active",
        "chat_link",
        ["channel", "address", "account_id"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    op.create_index("ix_chat_link_account", "chat_link", ["account_id"])


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION arbot_immutable()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'immutable: {table} rows are never changed'); END"
        )


def downgrade() -> None:
    for table in (
        "chat_link",
        "customer_relationship",
        "customer_note",
        "customer_address",
        "credit_profile",
    ):
        op.drop_table(table)
