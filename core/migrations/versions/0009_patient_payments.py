"""Pay links, gateway payments, payment plans and signed agreements (AR-017,
AR-059, AR-147, BI-23).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)
APPEND_ONLY = ("gateway_payment", "gateway_reversal", "plan_instalment", "plan_agreement")


def _fk(table: str, column: str, target: str, key: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{key}"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def _check(table: str, name: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{name}"))


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))


def _unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def _pay_link() -> None:
    t = "pay_link"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=12), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=True),
        sa.Column("service_code", sa.String(length=30), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
        sa.Column("opened_count", sa.Integer(), server_default="0", nullable=False),
        _check(t, "choice", "choice IN ('balance','overdue','instalment','amount','prepay')"),
        _check(t, "amount", "amount_minor IS NULL OR amount_minor > 0"),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "service_code", "service", "code"),
        _pk(t),
        _unique(t, "token_hash"),
    )
    op.create_index("ix_pay_link_account", t, ["account_id"])


def _gateway() -> None:
    t = "gateway_payment"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_ref", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("service_code", sa.String(length=30), nullable=True),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_after_minor", MINOR, nullable=False),
        sa.Column("recorded_at", MOMENT, nullable=False),
        _check(t, "kind", "kind IN ('payment','prepay')"),
        _check(t, "amount", "amount_minor > 0"),
        _fk(t, "account_id", "customer_account"),
        _fk(t, "entry_id", "journal_entry"),
        _fk(t, "token_id", "pay_link"),
        _pk(t),
        _unique(t, "payment_ref"),
        _unique(t, "entry_id"),
    )
    op.create_index("ix_gateway_payment_account", t, ["account_id"])
    t = "gateway_reversal"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        sa.Column("reason", sa.String(length=60), server_default="", nullable=False),
        sa.Column("balance_after_minor", MINOR, nullable=False),
        sa.Column("recorded_at", MOMENT, nullable=False),
        _check(t, "kind", "kind IN ('refund','dispute')"),
        _check(t, "amount", "amount_minor > 0"),
        _fk(t, "payment_id", "gateway_payment"),
        _fk(t, "entry_id", "journal_entry"),
        _pk(t),
        _unique(t, "ref"),
        _unique(t, "entry_id"),
    )
    op.create_index("ix_gateway_reversal_payment", t, ["payment_id"])


def _plans() -> None:
    t = "payment_plan"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="active", nullable=False),
        sa.Column("instalment_count", sa.Integer(), nullable=False),
        sa.Column("total_minor", MINOR, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("interval_months", sa.Integer(), nullable=False),
        sa.Column("after_entry_id", sa.Integer(), nullable=False),
        sa.Column("enrolled_at", MOMENT, nullable=False),
        sa.Column("enrolled_by", sa.String(length=120), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("autopay_customer_ref", sa.String(length=255), nullable=True),
        sa.Column("autopay_method_ref", sa.String(length=255), nullable=True),
        sa.Column("autopay_set_at", MOMENT, nullable=True),
        _check(t, "status", "status IN ('active','completed','cancelled')"),
        _check(t, "amounts", "instalment_count > 0 AND total_minor > 0"),
        _check(t, "interval", "interval_months > 0"),
        _fk(t, "account_id", "customer_account"),
        _pk(t),
        _unique(t, "idempotency_key"),
    )
    active = sa.text("status = 'active'")
    op.create_index(
        "uq_payment_plan_active",
        t,
        ["account_id"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    t = "plan_instalment"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_day", sa.Integer(), nullable=False),
        sa.Column("amount_minor", MINOR, nullable=False),
        _check(t, "amount", "amount_minor > 0"),
        _fk(t, "plan_id", "payment_plan"),
        _pk(t),
        _unique(t, "plan_id", "seq"),
    )
    t = "plan_agreement"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("accepted_at", MOMENT, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        _fk(t, "plan_id", "payment_plan"),
        _pk(t),
        _unique(t, "plan_id"),
    )


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


def upgrade() -> None:
    _pay_link()
    _gateway()
    _plans()
    for table in APPEND_ONLY:
        _append_only(table)
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
                "code": "CARD_REFUND",
                "description": "Card payment refunded through the gateway",
                "kind": "refund",
                "active": True,
            }
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM reason_code WHERE code = 'CARD_REFUND'")
    for table in (
        "plan_agreement",
        "plan_instalment",
        "payment_plan",
        "gateway_reversal",
        "gateway_payment",
        "pay_link",
    ):
        op.drop_table(table)
