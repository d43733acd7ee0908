"""Posting a payer's 835 remittance advice to the ledger (AR-068).

The 835 is read by :mod:`core.imports.era`; here each claim is matched to what arbot
billed and posted. A claim's number (``CLP01``) is the transaction number arbot billed
it under (``T00000012``: the number an invoice and the account view show, sent as the
claim's patient control number). The claim's item is, when the operator names the
payer's own customer account (an insurer billed its share of a split visit), the item
that transaction made on that account; else the one item it made on a person's account
for a payer to pay (the account's financial class, not self-pay). Per claim:

* what the payer paid (``CLP04``) is a payment on the item's account, applied to that
  item (method ``eft`` for ACH or an unknown method, ``check`` for a cheque, ``wire``;
  reference: the trace number);
* what the payer adjusted off (groups ``CO``, ``OA``, ``PI``, ``CR``) is a contractual
  allowance on that item, its note listing the reason codes (``CO-45 20.00``);
* the patient's share (group ``PR``: deductible, coinsurance, co-pay): on a payer's own
  item, what is left of it once paid and adjusted, up to that share, moves to the
  patient's account (an 835 adjudicates the whole visit, of which the patient's part of
  a split is on their account already); on a patient's own item it stays open there.

Each part is posted under its own idempotency key,
``era/<payer>/<trace>/<claim>/<n>/paid|adjusted|patient``: the payer's account and the
835's payer id (``TRN03``, else ``N1*PR``), the trace number, the claim, and which of
that claim's CLPs under the trace it is (a payer may split a claim).

Provider-level adjustments (``PLB``: interest, a recoupment of an earlier claim) count
in the file's total but are not posted: they are the general ledger's, or a claim of
their own, for a person to post.

Everything is checked before anything is written. The file is refused whole when a
remittance's total paid (``BPR02``) is not its claims' payments less its provider-level
adjustments (``PLB``). A claim is rejected, with its segment and a plain reason, for a
person to handle, when it was denied (status 4), reverses a payment (22), is not the
payer's (23) or prices a predetermination (25); when the payer calls it a duplicate
(``OA-18``/``CO-18``); when it has a negative amount, does not balance (charged = paid
+ adjusted), posts nothing, names no transaction that billed the payer, or settles more
than is open of it (with the file's claims before it). The others go in. Running the
same file again posts only what is missing, so a run cut short is completed by the
next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.auth import Actor
from core.clock import today
from core.db import Database
from core.errors import ArbotError, ValidationError
from core.imports import BatchRefused, Reject, Report
from core.imports.era import Claim, Remittance, read_835
from core.imports.lookup import accounts_by_number
from core.ledger.accounts import Account
from core.ledger.application import Rule
from core.ledger.bulk import existing_keys
from core.ledger.items import Item, load_items
from core.ledger.model import SELF_PAYERS, entry_id_of
from core.ledger.tables import ar_item, customer_account, journal_line
from core.money import Money, currency_exponent
from core.services.memos import post_memo, transfer_item
from core.services.payments import record_payment

PAYER_ADJUSTS = ("CO", "OA", "PI", "CR")
REFUSED = {
    "4": "the payer denied it: correct and resubmit it, or bill the patient",
    "22": "it reverses an earlier payment: reverse that payment by hand",
    "23": "the payer says it is not its claim",
    "25": "it prices a predetermination only, nothing is paid",
}
DUPLICATE = "18"
"""The adjustment reason of a claim the payer took for a duplicate: nothing to post."""
PERSONS = ("patient", "guarantor", "employee")
METHODS = {"ACH": "eft", "BOP": "eft", "CHK": "check", "FWT": "wire", "NON": "none"}
REASON = "ERA"
"""The reason code of what a remittance posts (migration 0023)."""


@dataclass(frozen=True, slots=True)
class _Posting:
    """One claim, checked: what it posts and where, under which key."""

    remittance: Remittance
    claim: Claim
    key_prefix: str
    item: Item
    amounts: dict[str, int]
    """``paid``, ``adjusted``, ``patient`` (moved to the patient): the parts to post."""
    patient_id: int | None
    posted: frozenset[str]
    """Which of the parts a run before posted."""

    def key(self, part: str) -> str:
        return f"{self.key_prefix}/{part}"

    @property
    def done(self) -> bool:
        return self.posted >= set(self.amounts)


async def import_remittance(
    db: Database, actor: Actor, text: str, *, payer: str | None, currency: str, label: str
) -> Report:
    """Post the 835 ``text``: from the payer whose account number is ``payer`` when the
    payer's shares are billed to its own account (a visit split between payers), else
    against the patients' items billed to a payer (their financial class)."""
    try:
        remittances = read_835(text, currency_exponent(currency))
    except ValidationError as exc:
        raise BatchRefused(str(exc), Report("remittance", 0)) from None
    claims = [(r, c) for r in remittances for c in r.claims]
    report = Report("remittance", len(claims))
    report.amount = Money(sum(r.paid_minor for r in remittances), currency)
    for r in remittances:
        _check_total(r, currency, report)
    async with db.read() as conn:
        account = None
        if payer is not None:
            account = (await accounts_by_number(conn, [payer])).get(payer)
            if account is None:
                raise BatchRefused(f"there is no payer account {payer}", report)
            if account.currency != currency:
                raise BatchRefused(f"account {payer} is kept in {account.currency}", report)
        planner = _Planner(conn, account, currency)
        postings = []
        for r, claim in claims:
            try:
                postings.append(await planner.plan(r, claim))
            except ValidationError as exc:
                report.rejects.append(Reject(claim.segment, claim.number, str(exc)))
    for p in postings:
        if p.done:
            report.already += 1
            continue
        try:
            await _post(db, actor, p, currency)
        except ArbotError as exc:
            report.rejects.append(Reject(p.claim.segment, p.claim.number, str(exc)))
            continue
        report.written += 1
    report.rejects.sort(key=lambda r: r.row)
    async with db.transaction() as tx:
        report.audit(tx, actor, label)
    return report


def _check_total(r: Remittance, currency: str, report: Report) -> None:
    claims = sum(c.paid_minor for c in r.claims)
    if claims - r.provider_minor != r.paid_minor:
        paid, summed = Money(r.paid_minor, currency), Money(claims, currency)
        provider = Money(r.provider_minor, currency)
        raise BatchRefused(
            f"remittance {r.trace or '(no trace number)'} pays {paid} (BPR02), but its claims "
            f"pay {summed} less {provider} of provider adjustments (PLB): the file is refused",
            report,
        )


class _Planner:
    """Checks each claim against the ledger and against the file's claims before it:
    one claim may come in several CLPs, each settling part of the same item."""

    def __init__(self, conn: AsyncConnection, payer: Account | None, currency: str) -> None:
        self.conn, self.payer, self.currency = conn, payer, currency
        self.pending: dict[int, int] = {}
        """Item -> what the file's claims before settle of it, not posted yet."""
        self.seen: dict[tuple[int, str], int] = {}

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    async def plan(self, r: Remittance, claim: Claim) -> _Posting:
        _refuse(claim, self.money)
        entry_id = entry_id_of(claim.number)
        if entry_id is None:
            raise ValidationError(f"{claim.number!r} is not a transaction number arbot billed")
        item = await _claimed_item(self.conn, entry_id, claim.number, self.payer)
        prefix = self._prefix(r, claim)
        paid, adjusted = claim.paid_minor, claim.adjusted(*PAYER_ADJUSTS)
        keys = [f"{prefix}/{part}" for part in ("paid", "adjusted", "patient")]
        found = await existing_keys(self.conn, keys)
        posted = frozenset(k.rsplit("/", 1)[1] for k in found)
        unposted = (0 if "paid" in posted else paid) + (0 if "adjusted" in posted else adjusted)
        left = item.open.minor - self.pending.get(item.id, 0) - unposted
        if left < 0:
            asked = self.money(unposted + self.pending.get(item.id, 0))
            raise ValidationError(
                f"it settles {asked} but {item.open} is open of transaction {claim.number}"
            )
        # The payer's item keeps what it was billed; the patient's share of it moves to
        # the patient (the rest of their share is on their account already).
        share = min(claim.adjusted("PR"), left) if self.payer is not None else 0
        patient_id = None
        if share and "patient" not in posted:
            assert self.payer is not None
            patient_id = await _patient(self.conn, entry_id, self.payer.id)
            if patient_id is None:
                raise ValidationError(
                    f"transaction {claim.number} names no one patient to take their share"
                )
        amounts = {
            k: v for k, v in (("paid", paid), ("adjusted", adjusted), ("patient", share)) if v
        }
        if not amounts:
            raise ValidationError(
                "nothing to post: the payer paid and adjusted nothing, the patient owes it all"
            )
        moved = 0 if "patient" in posted else share
        self.pending[item.id] = self.pending.get(item.id, 0) + unposted + moved
        return _Posting(r, claim, prefix, item, amounts, patient_id, posted)

    def _prefix(self, r: Remittance, claim: Claim) -> str:
        """``era/<payer>/<trace>/<claim>/<n>``: the payer (its account, and who the 835
        says it is), its trace number, the claim and which of the claim's CLPs under
        that trace it is, so that two CLPs of one claim are two postings."""
        who = ":".join(x for x in (self.payer.number if self.payer else "", r.payer_id) if x)
        trace = r.trace or "-"
        n = self.seen.get((id(r), claim.number), 0) + 1
        self.seen[(id(r), claim.number)] = n
        return f"era/{who or r.payer or '-'}/{trace}/{claim.number}/{n}"[:190]


def _refuse(claim: Claim, money: Callable[[int], Money]) -> None:
    """What no claim posts: a status for a person, a duplicate, a negative amount, a
    claim that does not balance."""
    if claim.status in REFUSED:
        raise ValidationError(f"claim status {claim.status}: {REFUSED[claim.status]}")
    for a in claim.adjustments:
        if a.reason == DUPLICATE and a.group in ("OA", "CO"):
            raise ValidationError(
                f"the payer says it is a duplicate claim ({a.group}-{a.reason}): nothing is posted"
            )
    amounts = [claim.paid_minor, *(a.amount_minor for a in claim.adjustments)]
    if any(m < 0 for m in amounts):
        raise ValidationError("a negative payment or adjustment (a correction) is posted by hand")
    adjusted = sum(a.amount_minor for a in claim.adjustments)
    if claim.charged_minor != claim.paid_minor + adjusted:
        raise ValidationError(
            f"the claim does not balance: charged {money(claim.charged_minor)}, paid "
            f"{money(claim.paid_minor)}, adjusted {money(adjusted)}"
        )


async def _claimed_item(
    conn: AsyncConnection, entry_id: int, claim: str, payer: Account | None
) -> Item:
    """The item the claim is about: what the transaction billed the payer's account, or
    (no payer account) the one item it billed a person for a payer to pay."""
    ca = customer_account
    rows = await conn.execute(
        select(ar_item.c.id, ar_item.c.account_id, ar_item.c.payer, ca.c.customer_type)
        .join(ca, ca.c.id == ar_item.c.account_id)
        .where(ar_item.c.entry_id == entry_id, ar_item.c.amount_minor > 0)
    )
    if payer is not None:
        ids = [r.id for r in rows if r.account_id == payer.id]
        if not ids:
            raise ValidationError(f"transaction {claim} billed nothing to {payer.number}")
    else:
        ids = [
            r.id
            for r in rows
            if r.customer_type in PERSONS and (r.payer or "self") not in SELF_PAYERS
        ]
        if len(ids) != 1:
            how = "no patient" if not ids else "more than one patient"
            raise ValidationError(
                f"transaction {claim} billed {how} to a payer: name the payer's account "
                "with --payer"
            )
    [item] = await load_items(conn, item_ids=ids[:1])
    return item


async def _patient(conn: AsyncConnection, entry_id: int, payer_id: int) -> int | None:
    """The one person's account the billed transaction names besides the payer."""
    ca = customer_account
    rows = await conn.execute(
        select(ca.c.id)
        .distinct()
        .join(journal_line, journal_line.c.customer_account_id == ca.c.id)
        .where(
            journal_line.c.entry_id == entry_id,
            ca.c.id != payer_id,
            ca.c.customer_type.in_(PERSONS),
        )
    )
    found = list(rows.scalars())
    return found[0] if len(found) == 1 else None


async def _post(db: Database, actor: Actor, p: _Posting, currency: str) -> None:
    claim, r = p.claim, p.remittance
    on = r.paid_on or today(db.clock)
    todo = {part: Money(v, currency) for part, v in p.amounts.items() if part not in p.posted}
    if "paid" in todo:
        await record_payment(
            db,
            actor,
            account_id=p.item.account_id,
            amount=todo["paid"],
            received_on=on,
            key=p.key("paid"),
            method=METHODS.get(r.method, "eft"),
            reference=(r.trace or claim.number)[:120],
            rules=(Rule("selected", (p.item.id,)),),
            source="import",
        )
    if "adjusted" in todo:
        await post_memo(
            db,
            actor,
            memo_type="CONTRACTUAL",
            account_id=p.item.account_id,
            amount=todo["adjusted"],
            on=on,
            key=p.key("adjusted"),
            reason=REASON,
            note=_note(claim, currency),
            item_id=p.item.id,
            source="import",
        )
    if "patient" in todo and p.patient_id is not None:
        await transfer_item(
            db,
            actor,
            item_id=p.item.id,
            to_account_id=p.patient_id,
            on=on,
            key=p.key("patient"),
            amount=todo["patient"],
            reason=REASON,
            source="import",
        )


def _note(claim: Claim, currency: str) -> str:
    """``835 claim T00000012: CO-45 20.00, OA-23 5.00``: what a person reads on the entry."""
    parts = [
        f"{a.group}-{a.reason} {Money(a.amount_minor, currency).to_decimal()}"
        for a in claim.adjustments
        if a.group in PAYER_ADJUSTS
    ]
    return f"835 claim {claim.number}: {', '.join(parts)}"[:200]  # an item's description
