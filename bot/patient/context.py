"""What the patient channels are given: the services they work with, by injection.

``bot.web.make_app`` builds one :class:`PatientContext` and hands it to each channel's
``mount`` (Telegram, SMS, the pay page, the Stripe webhook); nothing is global.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.patient.events import Handler
from core.db import Database
from core.plans import PlanPolicy
from core.ports import PatientMessenger, PaymentGateway, StaffMessenger
from core.settings import Settings

if TYPE_CHECKING:
    from core.patients.gateway import GatewayOutcome

Notify = Callable[["GatewayOutcome"], Awaitable[None]]
"""Called after a gateway event was posted (receipt, refund or dispute notice)."""


@dataclass(slots=True)
class PatientContext:
    db: Database
    settings: Settings
    conversation: Handler
    messengers: dict[str, PatientMessenger] = field(default_factory=dict)
    """By identity channel: ``telegram``, ``sms``."""
    gateway: PaymentGateway | None = None
    staff: StaffMessenger | None = None
    notify: Notify | None = None
    plan_policy: PlanPolicy = field(default_factory=PlanPolicy)
