"""Posting a payer's 835 remittance advice to the ledger (AR-068).

The 835 is read by :mod:`core.imports.era`; here each claim is matched to what arbot
billed and posted. A claim's number (``CLP01``) is the transaction number arbot billed
it under (``T00000012``: the number an invoice and the account view show, sent as the
claim's patient control number). The claim's item is, when the operator names the
payer's own customer account (an insurer billed its share of a split visit), the item
that transaction made on that account; else the one item it made on a patient's
account for a payer to pay (the account's financial class, not self-pay). Per claim,
each under its own idempotency key (``era/<trace>/<claim>/paid|adjusted|patient``):

* what the payer paid (``CLP04``) is a payment on the item's account, applied to that
  item (method ``eft`` for an ACH payment, ``check`` for a cheque; reference: the
  trace number);
* what the payer adjusted off (groups ``CO``, ``OA``, ``PI``, ``CR``) is a contractual
  allowance on that item, its note listing the reason codes (``CO-45 20.00``);
* the patient's share (group ``PR``: deductible, coinsurance, co-pay) moves from the
  payer's item to the patient's account, where the patient bot and statements show it;
  on a patient's own item it simply stays open there.

Provider-level adjustments (``PLB``: interest, a recoupment of an earlier claim) count
in the file's total but are not posted: they are the general ledger's, or a claim of
their own, for a person to post.

Everything is checked before anything is written. The file is refused whole when a
remittance's total paid (``BPR02``) is not its claims' payments less its provider-level
adjustments (``PLB``). A claim is rejected, with its segment and a plain reason, when it
does not balance (charged = paid + adjusted), is a reversal or not the payer's, names
no transaction that billed the payer, or asks more than is open of it; the others go
in. Running the same file again posts only what is missing, so a run cut short is
completed by the next.
"""

from __future__ import annotations

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
    "22": "it reverses an earlier payment: reverse that payment by hand",
    "23": "the payer says it is not its claim",
    "25": "it prices a predetermination only, nothing is paid",
}
PERSONS = ("patient", "guarantor", "employee")
METHODS = {"ACH": "eft", "CHK": "check", "FWT": "wire", "BOP": "eft", "NON": "none"}
REASON = "ERA"
"""The reason code of what a remittance posts (migration 0023)."""
PARTS = ("paid", "adjusted", "patient")


@dataclass(frozen=True, slots=True)
class _Posting:
    remittance: Remittance
    claim: Claim
    item: Item
    patient_id: int | None
    posted: frozenset[str]
    """Which of the claim's parts a run before posted."""

    def key(self, part: str) -> str:
        return era_key(self.remittance, self.claim, part)


def era_key(remittance: Remittance, claim: Claim, part: str) -> str:
    return f"era/{remittance.trace or '-'}/{claim.number}/{part}"


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
        postings = []
        for r, claim in claims:
            try:
                postings.append(await _plan(conn, r, claim, account, currency))
            except ValidationError as exc:
                report.rejects.append(Reject(claim.segment, claim.number, str(exc)))
    for p in postings:
        if p.posted == frozenset(_parts(p.claim, account)):
            report.already += 1
            continue
        try:
            await _post(db, actor, p, currency)
        except ArbotError as exc:
            report.rejects.append(Reject(p.claim.segment, p.claim.number, str(exc)))
            continue
        report.written += 1
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


def _parts(claim: Claim, payer: Account | None) -> list[str]:
    """What the claim posts: the patient's share moves only off a payer's own account."""
    share = claim.adjusted("PR") if payer is not None else 0
    amounts = (claim.paid_minor, claim.adjusted(*PAYER_ADJUSTS), share)
    return [part for part, amount in zip(PARTS, amounts, strict=True) if amount]


async def _plan(
    conn: AsyncConnection, r: Remittance, claim: Claim, payer: Account | None, currency: str
) -> _Posting:
    """The claim checked against the ledger: what it posts, and on which item."""

    def cents(minor: int) -> Money:
        return Money(minor, currency)

    if claim.status in REFUSED:
        raise ValidationError(f"claim status {claim.status}: {REFUSED[claim.status]}")
    money = [claim.paid_minor, *(a.amount_minor for a in claim.adjustments)]
    if any(m < 0 for m in money):
        raise ValidationError("a negative payment or adjustment (a correction) is posted by hand")
    adjusted = sum(a.amount_minor for a in claim.adjustments)
    if claim.charged_minor != claim.paid_minor + adjusted:
        raise ValidationError(
            f"the claim does not balance: charged {cents(claim.charged_minor)}, paid "
            f"{cents(claim.paid_minor)}, adjusted {cents(adjusted)}"
        )
    entry_id = entry_id_of(claim.number)
    if entry_id is None:
        raise ValidationError(f"{claim.number!r} is not a transaction number arbot billed")
    item = await _claimed_item(conn, entry_id, claim.number, payer)
    keys = [era_key(r, claim, part) for part in _parts(claim, payer)]
    posted = frozenset(k.rsplit("/", 1)[1] for k in await existing_keys(conn, keys))
    patient_id = None
    if payer is not None and claim.adjusted("PR"):
        patient_id = await _patient(conn, entry_id, payer.id)
        if patient_id is None:
            raise ValidationError(
                f"transaction {claim.number} names no one patient to take their share"
            )
    if not posted:
        asked = claim.paid_minor + claim.adjusted(*PAYER_ADJUSTS)
        if payer is not None:
            asked += claim.adjusted("PR")
        if asked > item.open.minor:
            raise ValidationError(
                f"it settles {cents(asked)} but {item.open} is open of transaction {claim.number}"
            )
    return _Posting(r, claim, item, patient_id, posted)


async def _claimed_item(
    conn: AsyncConnection, entry_id: int, claim: str, payer: Account | None
) -> Item:
    """The item the claim is about: what the transaction billed the payer's account, or
    (no payer account) the one item it billed a patient for a payer to pay."""
    rows = await conn.execute(
        select(ar_item.c.id, ar_item.c.account_id, ar_item.c.payer).where(
            ar_item.c.entry_id == entry_id, ar_item.c.amount_minor > 0
        )
    )
    if payer is not None:
        ids = [r.id for r in rows if r.account_id == payer.id]
        whom = payer.number
    else:
        ids = [r.id for r in rows if (r.payer or "self") not in SELF_PAYERS]
        whom = "a payer"
    if len(ids) != 1:
        raise ValidationError(f"transaction {claim} billed nothing to {whom}")
    [item] = await load_items(conn, item_ids=ids)
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
    if claim.paid_minor and "paid" not in p.posted:
        await record_payment(
            db,
            actor,
            account_id=p.item.account_id,
            amount=Money(claim.paid_minor, currency),
            received_on=on,
            key=p.key("paid"),
            method=METHODS.get(r.method, "eft"),
            reference=(r.trace or claim.number)[:120],
            rules=(Rule("selected", (p.item.id,)),),
            source="import",
        )
    taken = claim.adjusted(*PAYER_ADJUSTS)
    if taken and "adjusted" not in p.posted:
        await post_memo(
            db,
            actor,
            memo_type="CONTRACTUAL",
            account_id=p.item.account_id,
            amount=Money(taken, currency),
            on=on,
            key=p.key("adjusted"),
            reason=REASON,
            note=_note(claim, currency),
            item_id=p.item.id,
            source="import",
        )
    share = claim.adjusted("PR")
    if share and p.patient_id is not None and "patient" not in p.posted:
        await transfer_item(
            db,
            actor,
            item_id=p.item.id,
            to_account_id=p.patient_id,
            on=on,
            key=p.key("patient"),
            amount=Money(share, currency),
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
