"""Typed errors: each says what is wrong in words a billing clerk can act on."""


class ArbotError(Exception):
    """Base of every error arbot raises on purpose; ``str()`` is the user-facing message."""


class ValidationError(ArbotError):
    """Input that cannot be accepted: a malformed amount, a wrong currency, a missing field."""


class NotFound(ArbotError):
    """A referenced account, item, entry or user does not exist."""


class UnbalancedEntry(ValidationError):
    """A journal entry whose lines do not sum to zero in every currency."""


class PeriodClosed(ArbotError):
    """Posting into a fiscal period that has been closed (AR-123)."""


class IdempotencyConflict(ArbotError):
    """An idempotency key reused for a different request."""


class PermissionDenied(ArbotError):
    """The actor lacks a permission; the message names it (BI-19)."""


class InvalidState(ArbotError):
    """The operation does not fit the current state (reversing twice, over-applying)."""
