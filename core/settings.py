"""One settings object, read once from the environment (12-factor).

Every external base URL is configurable so that tests and local development talk to
fakes on 127.0.0.1. Secrets are never defaulted and never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.billing.invoice_config import InvoiceSetup
    from core.ledger.aging import AgingRule

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///arbot.db"
_PREFIXED = {
    "currency": "ARBOT_CURRENCY",
    "small_balance": "ARBOT_SMALL_BALANCE",
    "scheduler": "ARBOT_SCHEDULER",
    "plan_min_balance": "ARBOT_PLAN_MIN_BALANCE",
    "plan_counts": "ARBOT_PLAN_COUNTS",
    "plan_min_instalment": "ARBOT_PLAN_MIN_INSTALMENT",
    "plan_first_due_days": "ARBOT_PLAN_FIRST_DUE_DAYS",
    "plan_reminder_days": "ARBOT_PLAN_REMINDER_DAYS",
    "plan_grace_days": "ARBOT_PLAN_GRACE_DAYS",
    "plan_retry_days": "ARBOT_PLAN_RETRY_DAYS",
    "bad_debt_days": "ARBOT_BAD_DEBT_DAYS",
    "bad_debt_min": "ARBOT_BAD_DEBT_MIN",
    "bad_debt_after_collections_days": "ARBOT_BAD_DEBT_AFTER_COLLECTIONS_DAYS",
    "atb_digest": "ARBOT_ATB_DIGEST",
    "atb_digest_channel": "ARBOT_ATB_DIGEST_CHANNEL",
    "atb_digest_channels": "ARBOT_ATB_DIGEST_CHANNELS",
    "cash_digest_channel": "ARBOT_CASH_DIGEST_CHANNEL",
    "approval_expiry_days": "ARBOT_APPROVAL_EXPIRY_DAYS",
    "late_fee": "ARBOT_LATE_FEE",
    "late_fee_max": "ARBOT_LATE_FEE_MAX",
    "late_fee_days": "ARBOT_LATE_FEE_DAYS",
    "late_fee_min": "ARBOT_LATE_FEE_MIN",
    "late_fee_day": "ARBOT_LATE_FEE_DAY",
    "late_fee_locations": "ARBOT_LATE_FEE_LOCATIONS",
    "aging_basis": "ARBOT_AGING_BASIS",
    "aging_buckets": "ARBOT_AGING_BUCKETS",
    "aging_disputed": "ARBOT_AGING_DISPUTED",
    "retention_years": "ARBOT_RETENTION_YEARS",
    "practice_name": "ARBOT_PRACTICE_NAME",
    "practice_address": "ARBOT_PRACTICE_ADDRESS",
    "practice_phone": "ARBOT_PRACTICE_PHONE",
    "practice_tax_id": "ARBOT_PRACTICE_TAX_ID",
    "invoice_logo": "ARBOT_INVOICE_LOGO",
    "invoice_colour": "ARBOT_INVOICE_COLOUR",
    "invoice_fields": "ARBOT_INVOICE_FIELDS",
}
"""Fields read from an ``ARBOT_``-prefixed variable rather than their upper-case name."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    currency: str = "USD"
    account_number_format: str = "A{id:07d}"
    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    telegram_bot_username: str = ""
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    slack_approvals_channel: str = ""
    slack_patient_channel: str = ""
    approval_expiry_days: int = 14
    """Days a write-off or refund request waits for a decision before it expires."""
    small_balance: str = "0"
    plan_min_balance: str = "100.00"
    plan_counts: str = "3,6,12"
    plan_min_instalment: str = "25.00"
    plan_first_due_days: int = 14
    plan_reminder_days: int = 3
    plan_grace_days: int = 30
    plan_retry_days: str = "3,7"
    bad_debt_days: int = 0
    bad_debt_min: str = "0.01"
    bad_debt_after_collections_days: str = "30"
    late_fee: str = ""
    """Empty: no late fees (the default). ``1.5%`` of the overdue amount, or ``10.00``."""
    late_fee_max: str = ""
    late_fee_days: int = 30
    late_fee_min: str = "10.00"
    late_fee_day: int = 1
    late_fee_locations: str = ""
    aging_basis: str = "service"
    """The office's aging rule (AR-194): items age from their ``service``, ``bill`` or
    ``due`` date, in buckets up to ``aging_buckets`` days, disputed ones ``aged`` or
    ``current``."""
    aging_buckets: str = "30,60,90,120,150,180"
    aging_disputed: str = "aged"
    retention_years: int = 0
    """Years a settled, idle account is kept before the ``retention`` job flags it for
    deletion (AR-204); 0: never."""
    practice_name: str = ""
    practice_address: str = ""
    """The practice's address on its invoices (BI-05): lines separated by ``|``."""
    practice_phone: str = ""
    practice_tax_id: str = ""
    invoice_logo: str = ""
    """A PNG or JPEG file printed at the top of each invoice (BI-05); empty: none."""
    invoice_colour: str = "#1F3A5F"
    invoice_fields: str = ""
    """The extra fields invoices carry, for everyone and per financial class (BI-14):
    ``terms,patient_id;medicare=terms,patient_id,service_codes``."""
    atb_digest: str = "daily"
    atb_digest_channel: str = ""
    atb_digest_channels: str = ""
    cash_digest_channel: str = ""
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""
    twilio_api_base: str = "https://api.twilio.com"
    public_base_url: str = ""
    scheduler: str = "on"
    """``arbot serve`` runs the scheduler in-process unless ``ARBOT_SCHEDULER=off``."""
    host: str = "127.0.0.1"
    port: int = 8080

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``DATABASE_URL``, ``PORT`` ... (upper-case field names; ``ARBOT_CURRENCY``,
        ``ARBOT_SMALL_BALANCE``)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = _PREFIXED.get(f.name, f.name.upper())
            if name in env and env[name] != "":
                raw = env[name]
                values[f.name] = int(raw) if f.type in ("int", int) else raw
        return cls(**values)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        secret = ("token", "secret", "key", "auth")
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            hidden = value and any(word in f.name for word in secret)
            parts.append(f"{f.name}={'***' if hidden else repr(value)}")
        shown = ", ".join(parts)
        return f"Settings({shown})"


def aging_rule(settings: Settings) -> AgingRule:
    """The office's aging rule from ``ARBOT_AGING_*`` (AR-194); a value that makes no
    sense is refused with the variable's name, so that the process stops at start."""
    from core.errors import ValidationError
    from core.ledger.aging import AgingRule, parse_basis, parse_bounds, parse_disputed

    name = "ARBOT_AGING_BASIS"
    try:
        basis = parse_basis(settings.aging_basis)
        name = "ARBOT_AGING_BUCKETS"
        bounds = parse_bounds(settings.aging_buckets)
        name = "ARBOT_AGING_DISPUTED"
        return AgingRule(basis, bounds, parse_disputed(settings.aging_disputed))
    except ValidationError as exc:
        raise ValidationError(f"{name}: {exc}") from None


def invoice_setup(settings: Settings) -> InvoiceSetup:
    """The office's invoices from ``ARBOT_PRACTICE_*`` and ``ARBOT_INVOICE_*`` (BI-05,
    BI-14); a colour, a logo or a field list that makes no sense is refused with the
    variable's name, so that a command stops at start and writes nothing."""
    from core.billing.invoice_config import (
        InvoiceSetup,
        check_logo,
        parse_colour,
        parse_fields,
        practice_of,
    )
    from core.errors import ValidationError

    name = "ARBOT_INVOICE_COLOUR"
    try:
        colour = parse_colour(settings.invoice_colour)
        name = "ARBOT_INVOICE_LOGO"
        logo = check_logo(settings.invoice_logo) if settings.invoice_logo.strip() else None
        name = "ARBOT_INVOICE_FIELDS"
        fields = parse_fields(settings.invoice_fields)
    except ValidationError as exc:
        raise ValidationError(f"{name}: {exc}") from None
    practice = practice_of(
        settings.practice_name,
        settings.practice_address,
        settings.practice_phone,
        settings.practice_tax_id,
    )
    return InvoiceSetup(practice, logo, colour, fields)
