"""Billing's tables: the catalogue, its prices and rules, stock, charge detail, drafts.

The catalogue (``service``, ``service_price``, ``pricing_rule``) and stock levels are
master data that staff edit. What a posting leaves behind (``charge_line``,
``charge_share``, ``stock_movement``, ``prepayment``, ``prepayment_use``) is history
and, like the journal it explains, is never updated or deleted.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from core.db.metadata import Currency, DayNumber, Minor, UtcDateTime, metadata

CATEGORIES = ("consultation", "imaging", "lab", "procedure", "material", "medication", "other")
_CATEGORY_CHECK = "category IN (" + ",".join(f"'{c}'" for c in CATEGORIES) + ")"

stock_item = Table(
    "stock_item",
    metadata,
    Column("code", String(30), primary_key=True),
    Column("description", String(200), nullable=False),
    Column("unit", String(20), nullable=False, server_default="each"),
    # Kept centrally (one store for every location) or per location (BI-25).
    Column("central", Boolean, nullable=False, server_default="0"),
    # What happens when billing would take stock below zero (BI-11).
    Column("negative_policy", String(10), nullable=False, server_default="refuse"),
    Column("reorder_level", Integer),
    CheckConstraint("negative_policy IN ('refuse','allow')", name="negative_policy"),
)

stock_level = Table(
    "stock_level",
    metadata,
    Column("item_code", String(30), ForeignKey("stock_item.code"), primary_key=True),
    Column("location", String(30), primary_key=True),
    Column("quantity", Integer, nullable=False, server_default="0"),
)

stock_movement = Table(
    "stock_movement",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_code", String(30), ForeignKey("stock_item.code"), nullable=False),
    Column("location", String(30), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("balance_after", Integer, nullable=False),
    Column("reason", String(20), nullable=False),
    Column("entry_id", Integer, ForeignKey("journal_entry.id")),
    # The movement took the level below zero under the 'allow' policy: listed for review.
    Column("flagged", Boolean, nullable=False, server_default="0"),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    CheckConstraint("delta <> 0", name="nonzero"),
    CheckConstraint("reason IN ('charge','reversal','receipt','count','import')", name="reason"),
    Index("ix_stock_movement_item", "item_code", "location", "id"),
    Index("ix_stock_movement_entry", "entry_id"),
)

service = Table(
    "service",
    metadata,
    Column("code", String(30), primary_key=True),
    Column("description", String(200), nullable=False),
    Column("category", String(20), nullable=False),
    Column("price_minor", Minor, nullable=False),
    Column("currency", Currency, nullable=False),
    # A GL code of its own; when empty, the revenue account of the category.
    Column("revenue_gl", String(20)),
    Column("stock_item_code", String(30), ForeignKey("stock_item.code")),
    Column("active", Boolean, nullable=False, server_default="1"),
    CheckConstraint(_CATEGORY_CHECK, name="category"),
    CheckConstraint("price_minor >= 0", name="price"),
)

service_price = Table(
    "service_price",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("service_code", String(30), ForeignKey("service.code"), nullable=False),
    Column("location", String(30), nullable=False),
    Column("price_minor", Minor, nullable=False),
    Column("valid_from", DayNumber, nullable=False),
    Column("valid_to", DayNumber),
    CheckConstraint("price_minor >= 0", name="price"),
    CheckConstraint("valid_to IS NULL OR valid_from <= valid_to", name="validity"),
    Index("ix_service_price_lookup", "service_code", "location", "valid_from"),
)

pricing_rule = Table(
    "pricing_rule",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("percent_bp", Integer),
    Column("amount_minor", Minor),
    Column("currency", Currency),
    Column("service_code", String(30), ForeignKey("service.code")),
    Column("category", String(20)),
    Column("payer_account_id", Integer, ForeignKey("customer_account.id")),
    Column("financial_class", String(30)),
    Column("account_id", Integer, ForeignKey("customer_account.id")),
    Column("location", String(30)),
    Column("requires_prepayment", Boolean, nullable=False, server_default="0"),
    Column("valid_from", DayNumber, nullable=False),
    Column("valid_to", DayNumber),
    Column("priority", Integer, nullable=False, server_default="100"),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    CheckConstraint("kind IN ('percent','amount','fixed')", name="kind"),
    CheckConstraint(
        "(kind = 'percent' AND percent_bp BETWEEN 1 AND 10000 AND amount_minor IS NULL) OR "
        "(kind <> 'percent' AND percent_bp IS NULL AND amount_minor >= 0 "
        "AND currency IS NOT NULL)",
        name="value",
    ),
    CheckConstraint("valid_to IS NULL OR valid_from <= valid_to", name="validity"),
)

charge_line = Table(
    "charge_line",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("journal_entry.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("service_code", String(30), ForeignKey("service.code"), nullable=False),
    Column("description", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("list_unit_minor", Minor, nullable=False),
    Column("amount_minor", Minor, nullable=False),
    Column("currency", Currency, nullable=False),
    # Which rule set the price, so its effect on revenue can be reported (BI-26, BI-27).
    Column("rule_id", Integer, ForeignKey("pricing_rule.id")),
    Column("override_reason", String(200)),
    Column("service_day", DayNumber, nullable=False),
    Column("doctor", String(60)),
    Column("location", String(30), nullable=False),
    CheckConstraint("quantity > 0", name="quantity"),
    CheckConstraint("amount_minor >= 0", name="amount"),
    UniqueConstraint("entry_id", "seq"),
    Index("ix_charge_line_rule", "rule_id"),
)

charge_share = Table(
    "charge_share",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("journal_entry.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("payer_account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("amount_minor", Minor, nullable=False),
    CheckConstraint("amount_minor >= 0", name="amount"),
    UniqueConstraint("entry_id", "seq", "payer_account_id"),
)

prepayment = Table(
    "prepayment",
    metadata,
    Column("entry_id", Integer, ForeignKey("journal_entry.id"), primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    # For this service only (a bundle of sessions); empty: for any charge.
    Column("service_code", String(30), ForeignKey("service.code")),
    Column("amount_minor", Minor, nullable=False),
    Column("currency", Currency, nullable=False),
    Column("received_day", DayNumber, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount"),
    Index("ix_prepayment_account", "account_id"),
)

prepayment_use = Table(
    "prepayment_use",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("prepayment_entry_id", Integer, ForeignKey("prepayment.entry_id"), nullable=False),
    Column("use_entry_id", Integer, ForeignKey("journal_entry.id"), nullable=False),
    Column("amount_minor", Minor, nullable=False),
    CheckConstraint("amount_minor <> 0", name="nonzero"),
    Index("ix_prepayment_use_prepayment", "prepayment_entry_id"),
)

charge_draft = Table(
    "charge_draft",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    Column("status", String(10), nullable=False, server_default="draft"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finalised_by", String(120)),
    Column("entry_id", Integer, ForeignKey("journal_entry.id")),
    Column("note", Text, nullable=False, server_default=""),
    CheckConstraint("status IN ('draft','final','void')", name="status"),
    CheckConstraint("(status = 'final') = (entry_id IS NOT NULL)", name="final_entry"),
    Index("ix_charge_draft_account", "account_id", "status"),
)

charge_draft_line = Table(
    "charge_draft_line",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("draft_id", Integer, ForeignKey("charge_draft.id"), nullable=False),
    Column("service_code", String(30), ForeignKey("service.code"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("service_day", DayNumber, nullable=False),
    Column("doctor", String(60)),
    Column("location", String(30)),
    Column("unit_price_minor", Minor),
    Column("override_reason", String(200)),
    # Payer shares as JSON: [{"payer_account_id": 7, "percent_bp": 8000}, ...].
    Column("splits", Text, nullable=False, server_default="[]"),
    CheckConstraint("quantity > 0", name="quantity"),
    Index("ix_charge_draft_line_draft", "draft_id"),
)

IMMUTABLE = ("stock_movement", "charge_line", "charge_share", "prepayment", "prepayment_use")
"""Billing history: written with the entries it explains, never changed."""
