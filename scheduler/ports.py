"""What the scheduler is given: the ports it sends through and the settings its jobs read.

``bot`` builds a :class:`Ports` with the real messengers (DESIGN: bot wires everything);
tests build one with fakes. Every port may be missing: a job that needs one it was not
given says so in its report and sends nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Protocol

from core.baddebt import BadDebtRule
from core.dunning import SendingHours
from core.latefees import LateFeePolicy
from core.ledger.aging import AgingRule
from core.ports import Delivery, OutboundMessage, PaymentGateway, StaffMessenger, StaffPost
from scheduler.pacing import DEFAULT_RATES, default_hours


class Sender(Protocol):
    """Sends one message to a patient once: the shape of ``bot.patient.outbound.deliver``
    with its database and messengers bound. Returns None when ``dedupe_key`` was
    already claimed (nothing was sent)."""

    def __call__(
        self,
        *,
        channel: str,
        address: str,
        message: OutboundMessage,
        kind: str,
        account_id: int | None = None,
        dedupe_key: str | None = None,
    ) -> Awaitable[Delivery | None]: ...


class Renderer(Protocol):
    """Renders ``templates/patient/<name>.txt.j2`` in the language of ``tag`` (the shape
    of ``bot.patient.texts.say``)."""

    def __call__(self, tag: str | None, name: str, **context: Any) -> str: ...


class StaffRenderer(Protocol):
    """Renders ``templates/slack/<template>.json.j2`` into a Slack payload ``{"text": ...,
    "blocks": [...]}`` (the shape of ``bot.staff.digest.render``)."""

    def __call__(self, template: str, locale: str = "en_US", **context: Any) -> dict[str, Any]: ...


def staff_post(channel: str, payload: Mapping[str, Any]) -> StaffPost:
    """A rendered Slack payload (``{"text": ..., "blocks": [...]}``) as a post to
    ``channel`` (a channel id, or a user id for a direct message)."""
    return StaffPost(channel, str(payload["text"]), blocks=tuple(payload.get("blocks", ())))


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """Where and how often the digests go (``ARBOT_ATB_DIGEST*``,
    ``ARBOT_CASH_DIGEST_CHANNEL``; built by ``scheduler.digests.digest_settings``)."""

    atb: str = "daily"
    """``daily``, ``weekly`` (the first run of each ISO week) or ``off``."""
    atb_channel: str = ""
    """The consolidated ATB digest of every location, for managers (BI-20)."""
    atb_channels: Mapping[str, str] = field(default_factory=dict)
    """Location -> channel of that location's ATB digest."""
    cash_channel: str = ""
    top: int = 5
    """Largest balances listed in an ATB digest (AR-187)."""
    zone: tzinfo | None = None
    """Where a day starts and ends for the cash digest (None: the system's zone)."""
    locale: str = "en_US"


@dataclass(frozen=True, slots=True)
class Ports:
    send: Sender | None = None
    render: Renderer | None = None
    staff: StaffMessenger | None = None
    channels: frozenset[str] | None = None
    """The channels ``send`` can reach (None: all); reminders for others wait queued."""
    pay_base_url: str = ""
    """Where pay links point (``PUBLIC_BASE_URL``); links are ``<base>/pay/<token>``."""
    currency: str = "USD"
    small_balances: Mapping[str, int] = field(default_factory=dict)
    """Small-balance tolerance in minor units per payer (``self`` for what patients owe),
    AR-055; a payer not listed is never written off automatically."""
    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    hours: SendingHours = field(default_factory=default_hours)
    """Sending hours of every location without its own (``location_hours``)."""
    gateway: PaymentGateway | None = None
    """Charges saved cards for plans on autopay (AR-148); None: no charge is made."""
    plan_reminder_days: int = 3
    """Days ahead an instalment is reminded (``ARBOT_PLAN_REMINDER_DAYS``)."""
    plan_grace_days: int = 30
    """Days an instalment may stay unpaid before the plan defaults
    (``ARBOT_PLAN_GRACE_DAYS``)."""
    plan_retry_days: tuple[int, ...] = (3, 7)
    """Days after the due date a declined autopay charge is tried again
    (``ARBOT_PLAN_RETRY_DAYS``)."""
    approval_expiry_days: int = 14
    """Days a request waits for approval before it expires (``ARBOT_APPROVAL_EXPIRY_DAYS``;
    0: never)."""
    bad_debt: BadDebtRule | None = None
    """When accounts go to bad debt by themselves (AR-060); None: never."""
    late_fee: LateFeePolicy | None = None
    """How late fees are charged (AR-107, ``ARBOT_LATE_FEE*``); None: never."""
    retention_years: int = 0
    """Years a settled, idle account is kept before it is flagged for deletion (AR-204,
    ``ARBOT_RETENTION_YEARS``); 0: never flagged."""
    aging: AgingRule = field(default_factory=AgingRule)
    """How the ATB digests and month-end snapshots age items (AR-194, ``ARBOT_AGING_*``)."""
    staff_render: StaffRenderer | None = None
    digests: DigestSettings = field(default_factory=DigestSettings)
