"""Each payer's invoice behind a billed transaction, as a document sends it (BI-05, BI-14).

A transaction that billed a visit made one A/R item for each account that owes part
of it: a split visit bills the patient and the insurer. Each of them gets an invoice
of its own, numbered with the transaction's number, that shows what it owes: every
line it has a part of, with the line's list price and amount and, where the line was
split, its own part; the total of its item, what was paid or credited on it so far and
what is open. The invoice is addressed to the account's bill-to address, and carries
what the office may want on it (BI-14): the account's payment terms, the patient's
MRN on the patient's own invoice, and on a payer's the patient the visit was for.

The patient of a visit is the account that owes the lines no one shares; where every
line was split, the one person among the accounts on every line. Invoices name
services, never a diagnosis. Reading writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.billing.invoice_view import InvoiceLine, InvoicePayer, InvoiceView, invoice_view
from core.errors import ValidationError
from core.ledger.tables import ar_item, customer_account, payment_terms
from core.money import Money
from core.profile.addresses import Address, bill_to_address
from core.statements import PERSON_TYPES


@dataclass(frozen=True, slots=True)
class BillTo:
    """Who an invoice is addressed to."""

    account_id: int
    number: str
    name: str
    customer_type: str
    financial_class: str
    terms: str
    """The account's payment terms, as the office describes them ("Net 30 days")."""
    mrn: str | None
    address: Address | None

    @property
    def is_person(self) -> bool:
        """A patient, guarantor or employee: someone who pays the office themselves."""
        return self.customer_type in PERSON_TYPES


@dataclass(frozen=True, slots=True)
class PayerLine:
    """One line of the visit as this payer's invoice shows it."""

    service_code: str
    description: str
    service_date: date
    quantity: int
    unit_price: Money
    """The service's list price, each."""
    line_amount: Money
    """What the whole line was billed."""
    amount: Money
    """This payer's part of the line: the whole line unless it was split."""
    doctor: str | None
    location: str


@dataclass(frozen=True, slots=True)
class PayerInvoice:
    number: str
    billed: date
    due: date
    bill_to: BillTo
    lines: tuple[PayerLine, ...]
    total: Money
    open: Money
    split: bool
    """Some line was shared with another payer: the invoice shows this payer's part."""
    patient: tuple[str, str] | None
    """The number and name of the patient the visit was for, when it is another account."""
    reversed_by: str | None

    @property
    def paid(self) -> Money:
        """What was paid or credited on the invoice so far."""
        return Money(self.total.minor - self.open.minor, self.total.currency)


async def payer_invoices(
    conn: AsyncConnection, entry_id: int, as_of: date, account_number: str | None = None
) -> tuple[PayerInvoice, ...]:
    """The invoice of each account entry ``entry_id`` billed (only ``account_number``'s
    when given), with what is open on ``as_of``. An entry that bills nothing is refused
    with what it is (:func:`~core.billing.invoice_view.invoice_view`)."""
    view = await invoice_view(conn, entry_id, as_of)
    payers = view.payers
    if account_number is not None:
        payers = tuple(p for p in view.payers if p.number == account_number.strip())
        if not payers:
            billed = ", ".join(p.number for p in view.payers) or "no account"
            raise ValidationError(
                f"{view.entry_number} billed nothing to {account_number.strip()}; "
                f"it billed {billed}"
            )
    if not payers:
        raise ValidationError(f"{view.entry_number} billed no account")
    numbers = {p.number for p in view.payers} | {n for ln in view.lines for n, _ in ln.shares}
    accounts = await _accounts(conn, numbers, as_of)
    described = await _descriptions(conn, entry_id)
    patient = _patient_of(view, accounts)
    invoices = []
    for payer in payers:
        lines = _lines_for(view, payer, patient, described)
        of_other = patient is not None and patient != payer.number
        invoices.append(
            PayerInvoice(
                view.entry_number,
                view.billed,
                payer.due_date,
                accounts[payer.number],
                lines,
                payer.amount,
                payer.open,
                any(ln.amount != ln.line_amount for ln in lines),
                (patient, accounts[patient].name) if of_other and patient else None,
                view.reversed_by,
            )
        )
    return tuple(invoices)


async def _accounts(conn: AsyncConnection, numbers: set[str], on: date) -> dict[str, BillTo]:
    ca = customer_account
    rows = await conn.execute(
        select(
            ca.c.id,
            ca.c.number,
            ca.c.name,
            ca.c.customer_type,
            ca.c.financial_class,
            payment_terms.c.description,
            ca.c.mrn,
        )
        .join(payment_terms, payment_terms.c.code == ca.c.terms_code)
        .where(ca.c.number.in_(sorted(numbers)))
    )
    found = {}
    for r in rows.all():
        address = await bill_to_address(conn, r.id, on)
        found[r.number] = BillTo(
            r.id,
            r.number,
            r.name,
            r.customer_type,
            r.financial_class,
            r.description,
            r.mrn,
            address,
        )
    return found


async def _descriptions(conn: AsyncConnection, entry_id: int) -> dict[int, str]:
    """Each item's description by account: the one line of a charge posted as an amount."""
    rows = await conn.execute(
        select(ar_item.c.account_id, ar_item.c.description).where(ar_item.c.entry_id == entry_id)
    )
    return {r.account_id: r.description for r in rows}


def _patient_of(view: InvoiceView, accounts: dict[str, BillTo]) -> str | None:
    """The number of the account the visit was posted to: it owes every line no one
    shares and comes first among the payers; where every line was split, it has a part
    of each line, and it is a person when the others are payers."""
    if not view.lines:
        return None
    if any(not ln.shares for ln in view.lines):
        return view.payers[0].number if view.payers else None
    on_every_line = set.intersection(*({n for n, _ in ln.shares} for ln in view.lines))
    order = [p.number for p in view.payers]
    candidates = sorted(
        on_every_line,
        key=lambda n: (
            not accounts[n].is_person,
            order.index(n) if n in order else len(order),
            n,
        ),
    )
    return candidates[0] if candidates else None


def _lines_for(
    view: InvoiceView, payer: InvoicePayer, patient: str | None, described: dict[int, str]
) -> tuple[PayerLine, ...]:
    """The lines ``payer`` has a part of; a charge posted as a plain amount is one line."""
    if not view.lines:
        amount = payer.amount
        what = described.get(payer.account_id) or view.kind.replace("_", " ")
        return (PayerLine("", what, view.billed, 1, amount, amount, amount, None, ""),)
    shown = []
    for ln in view.lines:
        part = _part(ln, payer.number, patient)
        if part.minor:
            shown.append(
                PayerLine(
                    ln.service_code,
                    ln.description,
                    ln.service_date,
                    ln.quantity,
                    ln.list_unit,
                    ln.amount,
                    part,
                    ln.doctor,
                    ln.location,
                )
            )
    return tuple(shown)


def _part(line: InvoiceLine, number: str, patient: str | None) -> Money:
    if not line.shares:
        return line.amount if number == patient else Money(0, line.amount.currency)
    shares = dict(line.shares)
    return shares.get(number, Money(0, line.amount.currency))
