"""Each item's open amount kept on the item, so the ATB reads open items only (issue 2).

``ar_item.open_minor`` is the item's amount plus every allocation ever made to it. The
database keeps it: an allocation row, as it is inserted, adds its amount to its item
(trigger ``allocation_settles_item``). Nothing else may change it: an update of
``open_minor`` that does not equal the item's amount plus its allocations is refused
(SQLite), or any update not made by that trigger is refused (PostgreSQL). Every other
column of ``ar_item`` stays immutable, as before. A new item opens at its whole amount
because posting writes it so; ``arbot audit verify`` checks every item's kept amount
against its allocations. (A trigger refusing any other opening amount doubled the cost
of inserting an item, make bench: bulk imports.)

``allocation.item_day`` copies its item's effective day, like the other copies, so the
ATB can add back what was applied after its date without looking each item up.

The ATB's covering indexes change with it: open items only (a partial index), and
allocations by their own date.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: ar_item's facts: every column but open_minor, never changed once posted.
ITEM_FACTS = (
    "id",
    "entry_id",
    "line_no",
    "account_id",
    "currency",
    "amount_minor",
    "effective_day",
    "service_day",
    "bill_day",
    "due_day",
    "doctor",
    "payer",
    "ref_item_id",
    "description",
)
# The service date, the default basis, before the other two: SQLite reads an index
# row's columns only as far as it needs (make bench: 10% off the ATB's first half).
OPEN_INDEX = (
    "currency",
    "account_id",
    "effective_day",
    "service_day",
    "open_minor",
    "bill_day",
    "due_day",
)
LATE_INDEX = (
    "currency",
    "effective_day",
    "item_day",
    "account_id",
    "service_day",
    "amount_minor",
    "bill_day",
    "due_day",
)
_APPLIED = "(SELECT coalesce(sum(a.amount_minor), 0) FROM allocation a WHERE a.item_id = {id})"
_IMMUTABLE = "SELECT RAISE(ABORT, 'immutable: ar_item rows are never changed')"


def _sqlite_guards() -> list[str]:
    facts = ", ".join(ITEM_FACTS)
    return [
        f"CREATE TRIGGER ar_item_no_update BEFORE UPDATE OF {facts} ON ar_item "
        f"BEGIN {_IMMUTABLE}; END",
        "CREATE TRIGGER ar_item_open_is_derived BEFORE UPDATE OF open_minor ON ar_item "
        f"WHEN NEW.open_minor <> NEW.amount_minor + {_APPLIED.format(id='NEW.id')} "
        "BEGIN SELECT RAISE(ABORT, 'immutable: ar_item open amounts follow allocations'); END",
        "CREATE TRIGGER allocation_no_update BEFORE UPDATE ON allocation "
        "BEGIN SELECT RAISE(ABORT, 'immutable: allocation rows are never changed'); END",
        "CREATE TRIGGER allocation_settles_item AFTER INSERT ON allocation BEGIN "
        "UPDATE ar_item SET open_minor = open_minor + NEW.amount_minor WHERE id = NEW.item_id; "
        "END",
    ]


def _postgres_guards() -> list[str]:
    facts = ", ".join(ITEM_FACTS)
    return [
        # pg_trigger_depth() is 1 for a statement's own update, 2 inside the trigger
        # below: only allocations move an open amount.
        """CREATE FUNCTION arbot_open_is_derived() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF pg_trigger_depth() < 2 THEN
            RAISE EXCEPTION 'immutable: ar_item open amounts follow allocations'
              USING ERRCODE = 'integrity_constraint_violation';
          END IF;
          RETURN NEW;
        END $$""",
        """CREATE FUNCTION arbot_settle_item() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE ar_item SET open_minor = open_minor + NEW.amount_minor WHERE id = NEW.item_id;
          RETURN NULL;
        END $$""",
        f"CREATE TRIGGER ar_item_immutable BEFORE UPDATE OF {facts} OR DELETE ON ar_item "
        "FOR EACH ROW EXECUTE FUNCTION arbot_immutable()",
        "CREATE TRIGGER ar_item_open_is_derived BEFORE UPDATE OF open_minor ON ar_item "
        "FOR EACH ROW EXECUTE FUNCTION arbot_open_is_derived()",
        "CREATE TRIGGER allocation_immutable BEFORE UPDATE OR DELETE ON allocation "
        "FOR EACH ROW EXECUTE FUNCTION arbot_immutable()",
        "CREATE TRIGGER allocation_settles_item AFTER INSERT ON allocation "
        "FOR EACH ROW EXECUTE FUNCTION arbot_settle_item()",
    ]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # The append-only guards refuse the backfill; they come back, narrowed, below.
    if postgres:
        op.execute("DROP TRIGGER ar_item_immutable ON ar_item")
        op.execute("DROP TRIGGER allocation_immutable ON allocation")
    else:
        op.execute("DROP TRIGGER ar_item_no_update")
        op.execute("DROP TRIGGER allocation_no_update")
    op.add_column("ar_item", sa.Column("open_minor", MINOR, nullable=False, server_default="0"))
    op.add_column(
        "allocation", sa.Column("item_day", sa.Integer(), nullable=False, server_default="0")
    )
    op.execute(
        f"UPDATE ar_item SET open_minor = amount_minor + {_APPLIED.format(id='ar_item.id')}"
    )
    op.execute(
        "UPDATE allocation SET item_day = "
        "(SELECT i.effective_day FROM ar_item i WHERE i.id = allocation.item_id)"
    )
    if postgres:
        # SQLite cannot drop a column default: there an item whose open amount was
        # left out opens at 0, which the invariant check reports.
        op.alter_column("ar_item", "open_minor", server_default=None)
        op.alter_column("allocation", "item_day", server_default=None)
    for statement in _postgres_guards() if postgres else _sqlite_guards():
        op.execute(statement)
    op.drop_index("ix_ar_item_atb", table_name="ar_item")
    op.drop_index("ix_allocation_atb", table_name="allocation")
    op.create_index(
        "ix_ar_item_open",
        "ar_item",
        list(OPEN_INDEX),
        sqlite_where=sa.text("open_minor <> 0"),
        postgresql_where=sa.text("open_minor <> 0"),
    )
    op.create_index("ix_allocation_late", "allocation", list(LATE_INDEX))


_NEW_TRIGGERS = (
    ("ar_item", "ar_item_open_is_derived"),
    ("allocation", "allocation_settles_item"),
)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_allocation_late", table_name="allocation")
    op.drop_index("ix_ar_item_open", table_name="ar_item")
    if postgres:
        for table, trigger in (*_NEW_TRIGGERS, ("ar_item", "ar_item_immutable")):
            op.execute(f"DROP TRIGGER {trigger} ON {table}")
        for function in ("arbot_open_is_derived", "arbot_settle_item"):
            op.execute(f"DROP FUNCTION {function}()")
        op.execute(
            "CREATE TRIGGER ar_item_immutable BEFORE UPDATE OR DELETE ON ar_item "
            "FOR EACH ROW EXECUTE FUNCTION arbot_immutable()"
        )
    else:
        for _table, trigger in (*_NEW_TRIGGERS, ("ar_item", "ar_item_no_update")):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute(
            f"CREATE TRIGGER ar_item_no_update BEFORE UPDATE ON ar_item BEGIN {_IMMUTABLE}; END"
        )
    op.drop_column("allocation", "item_day")
    op.drop_column("ar_item", "open_minor")
    op.create_index(
        "ix_ar_item_atb",
        "ar_item",
        ["currency", "account_id", "effective_day", "service_day", "amount_minor"],
    )
    op.create_index(
        "ix_allocation_atb",
        "allocation",
        ["currency", "account_id", "effective_day", "service_day", "amount_minor"],
    )
