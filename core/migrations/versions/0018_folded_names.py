"""Names searched without their accents: "garcia" finds García, "munoz" finds Muñoz.

``customer_account.sort_name`` (what a search by name looks up, and what lists sort
by) and ``name_key`` (how the last name sounds) were made from the name as written,
so a name with accents was found only when typed with them. Both are now made from
the name casefolded with each letter's marks taken off; this revision remakes them so
for the accounts already on file. The rules are written out here as they were on the
day, so that the revision does the same whatever the code does later.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import unicodedata

import jellyfish
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BATCH = 5_000


_UNMARKED = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ı": "i", "æ": "ae",
                           "œ": "oe", "þ": "th", "ħ": "h", "ŧ": "t"})  # fmt: skip


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_UNMARKED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _sort_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if "," in cleaned:
        return _folded(cleaned)
    *first, last = cleaned.split(" ")
    return _folded(" ".join([last, *first]))


def upgrade() -> None:
    conn = op.get_bind()
    accounts = sa.table(
        "customer_account",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("sort_name", sa.String),
        sa.column("last_name", sa.String),
        sa.column("name_key", sa.String),
    )
    change = (
        accounts.update()
        .where(accounts.c.id == sa.bindparam("b_id"))
        .values(sort_name=sa.bindparam("b_sort"), name_key=sa.bindparam("b_key"))
    )
    after = 0
    while rows := conn.execute(  # a batch at a time: a hospital's list need not fit in memory
        sa.select(accounts).where(accounts.c.id > after).order_by(accounts.c.id).limit(BATCH)
    ).all():
        after = rows[-1].id
        changed = []
        for r in rows:
            sort = _sort_name(r.name)
            key = (
                str(jellyfish.metaphone(_folded(r.last_name.strip())))[:20]
                if r.last_name is not None
                else r.name_key
            )
            if (sort, key) != (r.sort_name, r.name_key):
                changed.append({"b_id": r.id, "b_sort": sort, "b_key": key})
        if changed:
            conn.execute(change, changed)


def downgrade() -> None:
    """Nothing to undo: a folded name is still a name's sort key, only kinder to search."""
