"""Approvals: money that leaves A/R on one person's request and another's say-so.

A clerk or biller *requests* a write-off (AR-026), a refund of a credit balance
(AR-058) or the reversal of a write-off (AR-028); a supervisor *approves* or *rejects*
it (AR-088), never the requester (segregation of duties). An approver may approve up
to their approval limit, their own or their role's default; above a supervisor's limit
the request escalates to the managers. Approving posts the write-off, refund or
reversal in the same transaction that records the decision, so a request is posted
exactly once however many people press the button. Small balances within the clinic's
tolerance are written off at once, with no approval (AR-091).

The request row remembers who asked, who decided, when and why, and which entry it
posted: the write-off audit listing (AR-061) reads it. It also holds the slot of the
request's one message in the approvals channel (:mod:`core.approvals.messages`).
"""

from core.approvals.decisions import approve, pending_for, reject
from core.approvals.messages import Claim, claim_message, release_message, set_message, unsent
from core.approvals.model import (
    AlreadyDecided,
    Decision,
    Outcome,
    Request,
    RequestKind,
    Status,
    load_request,
)
from core.approvals.offers import (
    RefundOffer,
    Relative,
    Transferred,
    offer_refund,
    refund_anyway,
    transfer_instead,
)
from core.approvals.requests import (
    expire_stale,
    pending_older_than,
    request_refund,
    request_reversal_of_write_off,
    request_write_off,
)

__all__ = [
    "AlreadyDecided",
    "Claim",
    "Decision",
    "Outcome",
    "RefundOffer",
    "Relative",
    "Request",
    "RequestKind",
    "Status",
    "Transferred",
    "approve",
    "claim_message",
    "expire_stale",
    "load_request",
    "offer_refund",
    "pending_for",
    "pending_older_than",
    "refund_anyway",
    "reject",
    "release_message",
    "request_refund",
    "request_reversal_of_write_off",
    "request_write_off",
    "set_message",
    "transfer_instead",
    "unsent",
]
