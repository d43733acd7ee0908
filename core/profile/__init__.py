"""The customer profile: what staff keep about an account besides who the patient is.

- ``demographics``: edits to names, date of birth, language, classes and location,
  with before and after in the audit trail (AR-039).
- ``credit``: credit ceilings, payment terms and risk classes, dated (AR-035, AR-043,
  AR-044), and whether a charge would pass the ceiling.
- ``addresses``: any number, of every kind, dated; the bill-to address (AR-032, AR-042).
- ``notes``: free text, append-only (AR-037).
- ``relationships``: guarantor, employer, institution, insurer, nested and dated, with
  each level's own credit profile (AR-041).
- ``chats``: the Telegram chats and SMS numbers linked to an account.

Every change checks ``manage_accounts`` at the account's location, is written in one
transaction with its audit record, and is refused whole on bad input.
"""

from core.profile.addresses import Address, add_address, addresses_of, bill_to_address
from core.profile.chats import accounts_for_chat, chat_address, link_chat, unlink_chat
from core.profile.credit import (
    CreditProfile,
    credit_profile_of,
    define_payment_terms,
    over_credit_limit,
    set_credit_profile,
)
from core.profile.demographics import update_customer
from core.profile.notes import Note, add_note, notes_of
from core.profile.relationships import (
    Relationship,
    Responsible,
    end_relationship,
    guarantees,
    relate,
    relationships_of,
    responsibility_chain,
)

__all__ = [
    "Address",
    "CreditProfile",
    "Note",
    "Relationship",
    "Responsible",
    "accounts_for_chat",
    "add_address",
    "add_note",
    "addresses_of",
    "bill_to_address",
    "chat_address",
    "credit_profile_of",
    "define_payment_terms",
    "end_relationship",
    "guarantees",
    "link_chat",
    "notes_of",
    "over_credit_limit",
    "relate",
    "relationships_of",
    "responsibility_chain",
    "set_credit_profile",
    "unlink_chat",
    "update_customer",
]
