"""Action and callback ids: the names Slack sends back when a button is pressed.

Values on buttons are ids only (an account id, an opaque pending-payment token),
never amounts the server would trust.
"""

from __future__ import annotations

from bot.staff.words import ParseError
from core.db.metadata import MAX_ID

COMMAND = "/ar"


def id_in(value: str, what: str) -> int:
    """The database id in a button's value (or a modal's metadata), which Slack sends
    back as text anyone could have forged: digits only, 18 at most (``what`` names it in
    the refusal: "an account")."""
    if not value.isascii() or not value.isdigit() or len(value) > 18 or int(value) > MAX_ID:
        raise ParseError(f"this button does not name {what}")
    return int(value)


VIEW_ACCOUNT = "ar_view_account"
"""A "View" button on a search result; its value is the account id."""

CONFIRM_PAYMENT = "ar_confirm_payment"
"""Record a payment that leaves a credit balance; its value is a pending-payment token."""

CANCEL_PAYMENT = "ar_cancel_payment"
"""Drop such a payment; its value is the same token."""

APPROVE_REQUEST = "ar_approve_request"
"""Approve a write-off, refund or reversal request; its value is the request id."""

RETRY_CARD_REFUND = "ar_retry_card_refund"
"""Ask the payment gateway again for an approved refund's card share; the request id."""

REJECT_REQUEST = "ar_reject_request"
"""Reject such a request: opens :data:`REJECT_MODAL`; its value is the request id."""

REJECT_MODAL = "ar_reject_modal"
"""The modal asking why a request is rejected; its private_metadata is the request id."""

REJECT_REASON_BLOCK = "ar_reject_reason"
REJECT_REASON_INPUT = "ar_reject_reason_input"
"""The block and the text input holding the reason in :data:`REJECT_MODAL`."""

FOLLOW_UP_DONE = "ar_follow_up_done"
FOLLOW_UP_SNOOZE = "ar_follow_up_snooze"
"""A worklist's Done and Snooze (7 days) buttons; the value is the follow-up's id."""

APPLY_UNAPPLIED = "ar_apply_unapplied"
"""Apply an account's unapplied cash; its value is ``<account id>/<payment entry id>``."""

ACCOUNT_NEWER = "ar_account_newer"
ACCOUNT_OLDER = "ar_account_older"
"""Page an account view's activity; the value is the view's place (``lookup.Where``)."""

ACCOUNT_KIND = "ar_account_kind_"
"""Prefix of the activity filter buttons (``ar_account_kind_payments`` ...); same value."""

ACCOUNT_DATE = "ar_account_date"
"""The account view's datepicker; its block id holds the view's place."""

ACCOUNT_INVOICE = "ar_account_invoice"
"""The account view's "Open an invoice" menu of its open items; the option's value is
the item's entry id (``/ar invoice``)."""

ACCOUNT_ENTRY = "ar_account_entry"
"""The account view's "Open an entry" menu of the activity shown; the option's value is
the entry id (``/ar entry``)."""

ENTRY_INVOICE = "ar_entry_invoice"
"""The entry view's "Open the invoice" button of a billed entry; value: the entry id."""

ACCOUNT_CHARGE = "ar_account_charge"
ACCOUNT_PAYMENT = "ar_account_payment"
ACCOUNT_WRITEOFF = "ar_account_writeoff"
ACCOUNT_PAYLINK = "ar_account_paylink"
ACCOUNT_LINK = "ar_account_link"
"""The account view's action buttons (AR-050): post charge, record payment and request
write-off open their modals, send pay link and link code answer with the link or code;
the value is the account id."""

CHARGE_MODAL = "ar_charge_modal"
"""The charge modal (``/ar charge [account]``); its private_metadata is
``<channel id or ->/<account id or ->``."""

CHARGE_ACCOUNT = "ar_charge_account"
"""The block holding the account number, when the command did not name one."""

CHARGE_SERVICE = "ar_charge_service_"
CHARGE_QUANTITY = "ar_charge_quantity_"
CHARGE_DATE = "ar_charge_date_"
"""Prefixes of the blocks of charge line ``n`` (``ar_charge_service_0`` ...)."""

FIELD = "value"
"""The action id of the one element in each modal input block."""

ADD_NOTE = "ar_add_note"
"""The account view's "Add note" button: opens :data:`NOTE_MODAL`; its value is the
account id."""

ACCOUNT_DETAILS = "ar_account_details"
"""The account view's "Edit details" button: opens :data:`DETAILS_MODAL`; value: the
account id."""

DETAILS_MODAL = "ar_details_modal"
"""The patient's details (names, date of birth, language, financial class, patient
type); its private_metadata is ``<channel id or ->/<account id>``."""

DETAILS_FIRST = "ar_details_first"
DETAILS_LAST = "ar_details_last"
DETAILS_BORN = "ar_details_born"
DETAILS_LANGUAGE = "ar_details_language"
DETAILS_CLASS = "ar_details_class"
DETAILS_TYPE = "ar_details_type"
"""The blocks of :data:`DETAILS_MODAL`, one field each."""

NOTE_MODAL = "ar_note_modal"
"""The note modal; its private_metadata is ``<channel id or ->/<account id>``."""

NOTE_TEXT = "ar_note_text"
"""The block holding the note in :data:`NOTE_MODAL`."""

PAYMENT_MODAL = "ar_payment_modal"
"""The payment modal (``/ar payment split [account]``, the account view's "Record
payment"): one cheque split over up to :data:`bot.staff.split.ROWS` accounts; its
private_metadata is ``<channel id or ->/<account id or ->``."""

PAYMENT_AMOUNT = "ar_payment_amount"
PAYMENT_METHOD = "ar_payment_method"
PAYMENT_REFERENCE = "ar_payment_reference"
"""The blocks of the cheque's amount, method and reference in :data:`PAYMENT_MODAL`."""

PAYMENT_ACCOUNT = "ar_payment_account_"
PAYMENT_PART = "ar_payment_part_"
"""Prefixes of the blocks of row ``n``: the account paid for and its part of the cheque."""

PAYMENT_CREDIT = "ar_payment_credit"
"""The checkbox allowing a part to leave its account in credit (AR-095)."""

TRANSFER_CREDIT = "ar_transfer_credit"
"""Move a refund's credit to a relative who owes instead (AR-057); its value is
``<refund offer token>/<the relative's account id>``."""

REFUND_ANYWAY = "ar_refund_anyway"
"""Ask for the refund after all; its value is the refund offer's token."""

WRITEOFF_MODAL = "ar_writeoff_modal"
"""The write-off request modal (the account view's "Request write-off"); its
private_metadata is ``<channel id or ->/<account id>``."""

WRITEOFF_AMOUNT = "ar_writeoff_amount"
WRITEOFF_REASON = "ar_writeoff_reason"
WRITEOFF_NOTE = "ar_writeoff_note"
"""The blocks of :data:`WRITEOFF_MODAL`: the amount (or "all"), the reason code, the note."""

IMPORT_FIX = "ar_import_fix"
IMPORT_DISMISS = "ar_import_dismiss"
"""A rejected import row's Fix and Dismiss buttons (``/ar rejects``, AR-067); the value
is the reject's id."""

IMPORT_FIX_MODAL = "ar_import_fix_modal"
IMPORT_DISMISS_MODAL = "ar_import_dismiss_modal"
"""The modals editing a rejected row to send it again, and asking why it is dismissed;
their private_metadata is ``<channel id or ->/<reject id>``."""

IMPORT_COLUMN = "ar_import_col_"
"""Prefix of :data:`IMPORT_FIX_MODAL`'s blocks, one per column of the row."""

IMPORT_NOTE = "ar_import_note"
"""The block holding why a row is dismissed in :data:`IMPORT_DISMISS_MODAL`."""
