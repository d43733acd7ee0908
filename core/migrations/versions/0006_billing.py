"""Billing: service catalogue, price lists, pricing rules, stock, charge detail, drafts,
prepayments held for a service (BI-01, BI-03, BI-10, BI-11, BI-24..27, AR-087).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HISTORY = ("stock_movement", "charge_line", "charge_share", "prepayment", "prepayment_use")
INDEXES = (
    ("ix_stock_movement_item", "stock_movement", ["item_code", "location", "id"]),
    ("ix_stock_movement_entry", "stock_movement", ["entry_id"]),
    ("ix_service_price_lookup", "service_price", ["service_code", "location", "valid_from"]),
    ("ix_charge_line_rule", "charge_line", ["rule_id"]),
    ("ix_prepayment_account", "prepayment", ["account_id"]),
    ("ix_prepayment_use_prepayment", "prepayment_use", ["prepayment_entry_id"]),
    ("ix_charge_draft_account", "charge_draft", ["account_id", "status"]),
    ("ix_charge_draft_line_draft", "charge_draft_line", ["draft_id"]),
)


def upgrade() -> None:
    op.create_table(
        "stock_item",
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=20), server_default="each", nullable=False),
        sa.Column("central", sa.Boolean(), server_default="0", nullable=False),
        sa.Column(
            "negative_policy", sa.String(length=10), server_default="refuse", nullable=False
        ),
        sa.Column("reorder_level", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "negative_policy IN ('refuse','allow')", name=op.f("ck_stock_item_negative_policy")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_stock_item")),
    )
    op.create_table(
        "stock_level",
        sa.Column("item_code", sa.String(length=30), nullable=False),
        sa.Column("location", sa.String(length=30), nullable=False),
        sa.Column("quantity", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["item_code"], ["stock_item.code"], name=op.f("fk_stock_level_item_code_stock_item")
        ),
        sa.PrimaryKeyConstraint("item_code", "location", name=op.f("pk_stock_level")),
    )
    op.create_table(
        "stock_movement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=30), nullable=False),
        sa.Column("location", sa.String(length=30), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("flagged", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.CheckConstraint(
            "reason IN ('charge','reversal','receipt','count','import')",
            name=op.f("ck_stock_movement_reason"),
        ),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_stock_movement_nonzero")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_stock_movement_entry_id_journal_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["item_code"], ["stock_item.code"], name=op.f("fk_stock_movement_item_code_stock_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movement")),
    )
    op.create_table(
        "service",
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("price_minor", MINOR, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("revenue_gl", sa.String(length=20), nullable=True),
        sa.Column("stock_item_code", sa.String(length=30), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "category IN ('consultation','imaging','lab','procedure','material',"
            "'medication','other')",
            name=op.f("ck_service_category"),
        ),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_service_price")),
        sa.ForeignKeyConstraint(
            ["stock_item_code"],
            ["stock_item.code"],
            name=op.f("fk_service_stock_item_code_stock_item"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_service")),
    )
    op.create_table(
        "service_price",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=30), nullable=False),
        sa.Column("location", sa.String(length=30), nullable=False),
        sa.Column("price_minor", MINOR, nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_service_price_price")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from <= valid_to", name=op.f("ck_service_price_validity")
        ),
        sa.ForeignKeyConstraint(
            ["service_code"], ["service.code"], name=op.f("fk_service_price_service_code_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_price")),
    )
    op.create_table(
        "pricing_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("percent_bp", sa.Integer(), nullable=True),
        sa.Column("amount_minor", MINOR, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("service_code", sa.String(length=30), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("payer_account_id", sa.Integer(), nullable=True),
        sa.Column("financial_class", sa.String(length=30), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(length=30), nullable=True),
        sa.Column("requires_prepayment", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("valid_from", sa.Integer(), nullable=False),
        sa.Column("valid_to", sa.Integer(), nullable=True),
        sa.Column("priority", sa.Integer(), server_default="100", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.CheckConstraint(
            "(kind = 'percent' AND percent_bp BETWEEN 1 AND 10000 AND amount_minor IS NULL) OR "
            "(kind <> 'percent' AND percent_bp IS NULL AND amount_minor >= 0 "
            "AND currency IS NOT NULL)",
            name=op.f("ck_pricing_rule_value"),
        ),
        sa.CheckConstraint(
            "kind IN ('percent','amount','fixed')", name=op.f("ck_pricing_rule_kind")
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from <= valid_to", name=op.f("ck_pricing_rule_validity")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_pricing_rule_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_account_id"],
            ["customer_account.id"],
            name=op.f("fk_pricing_rule_payer_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["service_code"], ["service.code"], name=op.f("fk_pricing_rule_service_code_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_rule")),
    )
    op.create_table(
        "charge_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=30), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("list_unit_minor", MINOR, nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("override_reason", sa.String(length=200), nullable=True),
        sa.Column("service_day", sa.Integer(), nullable=False),
        sa.Column("doctor", sa.String(length=60), nullable=True),
        sa.Column("location", sa.String(length=30), nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_charge_line_amount")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_charge_line_quantity")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_charge_line_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["pricing_rule.id"], name=op.f("fk_charge_line_rule_id_pricing_rule")
        ),
        sa.ForeignKeyConstraint(
            ["service_code"], ["service.code"], name=op.f("fk_charge_line_service_code_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_line")),
        sa.UniqueConstraint("entry_id", "seq", name=op.f("uq_charge_line_entry_id_seq")),
    )
    op.create_table(
        "charge_share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payer_account_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_charge_share_amount")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_charge_share_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(
            ["payer_account_id"],
            ["customer_account.id"],
            name=op.f("fk_charge_share_payer_account_id_customer_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_share")),
        sa.UniqueConstraint(
            "entry_id",
            "seq",
            "payer_account_id",
            name=op.f("uq_charge_share_entry_id_seq_payer_account_id"),
        ),
    )
    op.create_table(
        "prepayment",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=30), nullable=True),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_day", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_prepayment_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_prepayment_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_prepayment_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(
            ["service_code"], ["service.code"], name=op.f("fk_prepayment_service_code_service")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_prepayment")),
    )
    op.create_table(
        "prepayment_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prepayment_entry_id", sa.Integer(), nullable=False),
        sa.Column("use_entry_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_prepayment_use_nonzero")),
        sa.ForeignKeyConstraint(
            ["prepayment_entry_id"],
            ["prepayment.entry_id"],
            name=op.f("fk_prepayment_use_prepayment_entry_id_prepayment"),
        ),
        sa.ForeignKeyConstraint(
            ["use_entry_id"],
            ["journal_entry.id"],
            name=op.f("fk_prepayment_use_use_entry_id_journal_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepayment_use")),
    )
    op.create_table(
        "charge_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="draft", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalised_by", sa.String(length=120), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "(status = 'final') = (entry_id IS NOT NULL)", name=op.f("ck_charge_draft_final_entry")
        ),
        sa.CheckConstraint(
            "status IN ('draft','final','void')", name=op.f("ck_charge_draft_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_charge_draft_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_charge_draft_entry_id_journal_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_draft")),
    )
    op.create_table(
        "charge_draft_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=30), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("service_day", sa.Integer(), nullable=False),
        sa.Column("doctor", sa.String(length=60), nullable=True),
        sa.Column("location", sa.String(length=30), nullable=True),
        sa.Column("unit_price_minor", MINOR, nullable=True),
        sa.Column("override_reason", sa.String(length=200), nullable=True),
        sa.Column("splits", sa.Text(), server_default="[]", nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_charge_draft_line_quantity")),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["charge_draft.id"],
            name=op.f("fk_charge_draft_line_draft_id_charge_draft"),
        ),
        sa.ForeignKeyConstraint(
            ["service_code"],
            ["service.code"],
            name=op.f("fk_charge_draft_line_service_code_service"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_draft_line")),
    )

    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    # Billing history is evidence beside the journal: never edited.
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in HISTORY:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION arbot_immutable()"
            )
            continue
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'immutable: {table} rows are never changed'); END"
            )


def downgrade() -> None:
    for table in (
        "charge_draft_line",
        "charge_draft",
        "prepayment_use",
        "prepayment",
        "charge_share",
        "charge_line",
        "pricing_rule",
        "service_price",
        "service",
        "stock_movement",
        "stock_level",
        "stock_item",
    ):
        op.drop_table(table)
