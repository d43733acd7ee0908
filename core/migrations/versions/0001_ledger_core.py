"""ledger core: chart, accounts, journal, items, allocations, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-23 03:46:07.122538
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.migrations.ledger_sql import constraints_sql, seed_rows

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_log_prev_hash")),
    )
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"], unique=False)

    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("locations", sa.String(length=400), nullable=True),
        sa.Column("slack_user_id", sa.String(length=40), nullable=True),
        sa.Column(
            "approval_limit_minor",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("slack_user_id", name=op.f("uq_staff_user_slack_user_id")),
    )
    op.create_table(
        "entry_type",
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("description", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_entry_type")),
    )
    op.create_table(
        "fiscal_period",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("start_day", sa.Integer(), nullable=False),
        sa.Column("end_day", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=120), nullable=True),
        sa.CheckConstraint("start_day <= end_day", name=op.f("ck_fiscal_period_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fiscal_period")),
        sa.UniqueConstraint("name", name=op.f("uq_fiscal_period_name")),
    )
    op.create_table(
        "gl_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "kind IN ('asset','liability','revenue','contra_revenue','expense')",
            name=op.f("ck_gl_account_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gl_account")),
        sa.UniqueConstraint("code", name=op.f("uq_gl_account_code")),
    )
    op.create_table(
        "payment_terms",
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=120), nullable=False),
        sa.Column("net_days", sa.Integer(), nullable=False),
        sa.CheckConstraint("net_days >= 0", name=op.f("ck_payment_terms_net_days")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_payment_terms")),
    )
    op.create_table(
        "reason_code",
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("description", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_reason_code")),
    )
    op.create_table(
        "customer_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sort_name", sa.String(length=200), nullable=False),
        sa.Column("customer_type", sa.String(length=20), server_default="patient", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "financial_class", sa.String(length=30), server_default="self_pay", nullable=False
        ),
        sa.Column("location", sa.String(length=30), server_default="main", nullable=False),
        sa.Column("patient_type", sa.String(length=2), nullable=True),
        sa.Column("guarantor_id", sa.Integer(), nullable=True),
        sa.Column("terms_code", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "patient_type IS NULL OR patient_type IN ('IP','OP')",
            name=op.f("ck_customer_account_patient_type"),
        ),
        sa.ForeignKeyConstraint(
            ["guarantor_id"],
            ["customer_account.id"],
            name=op.f("fk_customer_account_guarantor_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["terms_code"],
            ["payment_terms.code"],
            name=op.f("fk_customer_account_terms_code_payment_terms"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_account")),
        sa.UniqueConstraint("number", name=op.f("uq_customer_account_number")),
    )
    op.create_index(
        "ix_customer_account_sort_name", "customer_account", ["sort_name"], unique=False
    )

    op.create_table(
        "journal_entry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("entry_type", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("reason_code", sa.String(length=30), nullable=True),
        sa.Column("effective_day", sa.Integer(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("memo", sa.Text(), server_default="", nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("length(idempotency_key) > 0", name=op.f("ck_journal_entry_key")),
        sa.CheckConstraint("line_count >= 2", name=op.f("ck_journal_entry_two_lines")),
        sa.CheckConstraint(
            "reverses_id IS NULL OR reverses_id < id",
            name=op.f("ck_journal_entry_reverses_earlier"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_type"],
            ["entry_type.code"],
            name=op.f("fk_journal_entry_entry_type_entry_type"),
        ),
        sa.ForeignKeyConstraint(
            ["reason_code"],
            ["reason_code.code"],
            name=op.f("fk_journal_entry_reason_code_reason_code"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["journal_entry.id"],
            name=op.f("fk_journal_entry_reverses_id_journal_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entry")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journal_entry_idempotency_key")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_journal_entry_reverses_id")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=60), nullable=False),
        sa.Column("effective_day", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_application_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_application_entry_id_journal_entry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_application_idempotency_key")),
    )
    op.create_table(
        "journal_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("gl_account_id", sa.Integer(), nullable=False),
        sa.Column("customer_account_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "amount_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_journal_line_nonzero")),
        sa.CheckConstraint(
            "amount_minor BETWEEN -999999999999999 AND 999999999999999",
            name=op.f("ck_journal_line_fifteen_digits"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_journal_line_currency")),
        sa.ForeignKeyConstraint(
            ["customer_account_id"],
            ["customer_account.id"],
            name=op.f("fk_journal_line_customer_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_journal_line_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(
            ["gl_account_id"],
            ["gl_account.id"],
            name=op.f("fk_journal_line_gl_account_id_gl_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_line")),
        sa.UniqueConstraint("entry_id", "line_no", name=op.f("uq_journal_line_entry_id_line_no")),
    )
    op.create_index(
        "ix_journal_line_gl",
        "journal_line",
        ["gl_account_id", "customer_account_id"],
        unique=False,
    )

    op.create_table(
        "ar_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "amount_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("effective_day", sa.Integer(), nullable=False),
        sa.Column("service_day", sa.Integer(), nullable=False),
        sa.Column("bill_day", sa.Integer(), nullable=False),
        sa.Column("due_day", sa.Integer(), nullable=False),
        sa.Column("doctor", sa.String(length=60), nullable=True),
        sa.Column("payer", sa.String(length=30), nullable=True),
        sa.Column("ref_item_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_ar_item_nonzero")),
        sa.CheckConstraint("bill_day <= due_day", name=op.f("ck_ar_item_due_after_bill")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_ar_item_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_ar_item_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id", "line_no"],
            ["journal_line.entry_id", "journal_line.line_no"],
            name=op.f("fk_ar_item_entry_id_journal_line"),
        ),
        sa.ForeignKeyConstraint(
            ["ref_item_id"], ["ar_item.id"], name=op.f("fk_ar_item_ref_item_id_ar_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ar_item")),
        sa.UniqueConstraint("entry_id", "line_no", name=op.f("uq_ar_item_entry_id_line_no")),
    )
    op.create_index("ix_ar_item_account", "ar_item", ["account_id", "effective_day"], unique=False)
    op.create_index(
        "ix_ar_item_atb",
        "ar_item",
        ["currency", "account_id", "effective_day", "service_day", "amount_minor"],
        unique=False,
    )

    op.create_table(
        "allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("match_no", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column(
            "amount_minor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("effective_day", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("service_day", sa.Integer(), nullable=False),
        sa.Column("bill_day", sa.Integer(), nullable=False),
        sa.Column("due_day", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_allocation_nonzero")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name=op.f("fk_allocation_account_id_customer_account"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
            name=op.f("fk_allocation_application_id_application"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["ar_item.id"], name=op.f("fk_allocation_item_id_ar_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation")),
        sa.UniqueConstraint(
            "application_id",
            "match_no",
            "item_id",
            name=op.f("uq_allocation_application_id_match_no_item_id"),
        ),
    )
    op.create_index(
        "ix_allocation_item",
        "allocation",
        ["item_id", "effective_day", "amount_minor"],
        unique=False,
    )

    op.create_index(
        "ix_allocation_atb",
        "allocation",
        ["currency", "account_id", "effective_day", "service_day", "amount_minor"],
        unique=False,
    )

    op.create_table(
        "item_dispute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("effective_day", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["ar_item.id"], name=op.f("fk_item_dispute_item_id_ar_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_dispute")),
    )
    op.create_index("ix_item_dispute_item", "item_dispute", ["item_id", "id"], unique=False)

    _constraints()
    _seed()


def downgrade() -> None:
    raise RuntimeError("the first ledger migration is never undone: its tables are the books")


def _constraints() -> None:
    for statement in constraints_sql(op.get_bind().dialect.name):
        op.execute(statement)


def _seed() -> None:
    for table_name, rows in seed_rows().items():
        table = sa.table(table_name, *(sa.column(name) for name in rows[0]))
        op.bulk_insert(table, rows)
