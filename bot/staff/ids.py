"""Action and callback ids: the names Slack sends back when a button is pressed.

Values on buttons are ids only (an account id, an opaque pending-payment token),
never amounts the server would trust.
"""

from __future__ import annotations

COMMAND = "/ar"

VIEW_ACCOUNT = "ar_view_account"
"""A "View" button on a search result; its value is the account id."""

CONFIRM_PAYMENT = "ar_confirm_payment"
"""Record a payment that leaves a credit balance; its value is a pending-payment token."""

CANCEL_PAYMENT = "ar_cancel_payment"
"""Drop such a payment; its value is the same token."""
