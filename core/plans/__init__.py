"""Payment plans: paying a balance over time, interest-free (AR-059, AR-147, AR-148, BI-22).

A self-pay patient whose balance is large enough may split it into instalments. The
clinic's :class:`PlanPolicy` says which plans are offered; :func:`plan_offers` computes
each schedule so that it adds up exactly to the balance. Enrolling (:func:`enrol_plan`)
stores the plan, its schedule and the signed agreement; :func:`plan_of` tells where a
plan stands, with what each instalment has been paid; :func:`set_autopay` keeps the
gateway's references to a saved card so the scheduler can charge instalments.

The scheduler's side (AR-148, AR-162): :mod:`core.plans.instalments` finds instalments
falling due and puts plans missed past the grace period in default (status
``defaulted``: dunning takes the account up again); :mod:`core.plans.autopay` charges
saved cards off-session, each attempt once, with retries after a decline.
"""

from core.plans.enrolment import (
    AGREEMENT_VERSION,
    Instalment,
    Plan,
    SignedAgreement,
    agreement_text_digest,
    enrol_plan,
    load_plan,
    plan_of,
    set_autopay,
    signed_agreement,
)
from core.plans.schedule import PlanOffer, PlanPolicy, add_months, plan_offers, split

__all__ = [
    "AGREEMENT_VERSION",
    "Instalment",
    "Plan",
    "PlanOffer",
    "PlanPolicy",
    "SignedAgreement",
    "add_months",
    "agreement_text_digest",
    "enrol_plan",
    "load_plan",
    "plan_of",
    "plan_offers",
    "set_autopay",
    "signed_agreement",
    "split",
]
