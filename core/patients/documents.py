"""Links to a patient's documents: a payment's receipt (AR-023) and the copy of a
payment plan's signed agreement (AR-147), as PDF files the patient opens from the chat.

The chat sends ``PUBLIC_BASE_URL/documents/<token>``: a link, not an attachment, so it
works the same on Telegram, by SMS and on the console, and the file is made when it is
opened, from the ledger as posted (a receipt) or the text the patient accepted (an
agreement). The token is opaque (256 random bits); only its SHA-256 is stored, with
what it opens, for a year. A link opens one document of one account and nothing else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, select

from core.db import Database, inserted_id
from core.db.metadata import UtcDateTime, metadata
from core.errors import NotFound, ValidationError
from core.patients.paylinks import token_hash

DOCUMENT_LINK_TTL = timedelta(days=366)


class DocumentKind(StrEnum):
    RECEIPT = "receipt"
    AGREEMENT = "agreement"


document_link = Table(
    "document_link",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("kind", String(12), nullable=False),
    Column("account_id", Integer, ForeignKey("customer_account.id"), nullable=False),
    # What it opens: the gateway payment's id (a receipt) or the plan's id (an agreement).
    Column("ref", String(200), nullable=False),
    Column("language", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('receipt','agreement')", name="kind"),
    Index("ix_document_link_account", "account_id"),
)


@dataclass(frozen=True, slots=True)
class DocumentLink:
    kind: DocumentKind
    account_id: int
    ref: str
    language: str


async def issue_document_link(
    db: Database, *, kind: DocumentKind, account_id: int, ref: str, language: str
) -> str:
    """A new link's token for ``PUBLIC_BASE_URL/documents/<token>``; shown once, never
    stored. ``language`` is the chat's, which the document is written in."""
    kind = DocumentKind(kind)
    if not ref.strip() or len(ref) > 200 or not language.strip() or len(language) > 16:
        raise ValidationError("a document link needs what it opens and the reader's language")
    token = secrets.token_urlsafe(32)
    async with db.transaction() as tx:
        now = tx.db.clock.now()
        link_id = inserted_id(
            await tx.conn.execute(
                document_link.insert().values(
                    token_hash=token_hash(token),
                    kind=kind.value,
                    account_id=account_id,
                    ref=ref.strip(),
                    language=language.strip(),
                    created_at=now,
                    expires_at=now + DOCUMENT_LINK_TTL,
                )
            )
        )
        tx.audit(
            "patient:document-link",
            "patient",
            "patient.document_link",
            f"account {account_id}",
            id=link_id,
            kind=kind.value,
        )
    return token


async def open_document_link(db: Database, token: str) -> DocumentLink:
    """What the link opens. :class:`NotFound` for an unknown or expired link."""
    cleaned = token.strip()
    if not 20 <= len(cleaned) <= 100:
        raise NotFound("this document link is not valid")
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(document_link).where(document_link.c.token_hash == token_hash(cleaned))
            )
        ).first()
        if row is None or row.expires_at <= db.clock.now():
            raise NotFound("this document link is not valid or has expired")
    return DocumentLink(DocumentKind(row.kind), row.account_id, row.ref, row.language)
