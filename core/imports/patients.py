"""Importing patients from the hospital's patient master (AR-040, AR-031, AR-038).

Each row opens an account with its master data, exactly as staff registering the
patient would (:func:`core.customers.register_in`). The medical record number is the
row's identity: a patient whose MRN is on file already counts as already imported
(an MRN on file under another account number is rejected, never merged). A row may
name its guarantor's account number, on file or anywhere in the same file: guarantors
are opened before the patients they guarantee, whatever the order of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select

from core.auth import Actor, Permission, require
from core.clock import today
from core.customers import NewCustomer, check_customer, consent_in, phone_number, register_in
from core.db import Database, Tx
from core.errors import ArbotError
from core.imports import (
    Control,
    Reject,
    Report,
    Row,
    RowError,
    check_count,
    check_header,
    day,
    required,
)
from core.ledger.tables import customer_account

REQUIRED = ("mrn", "last_name", "first_name", "date_of_birth")
OPTIONAL = (
    "account_number",
    "phone",
    "email",
    "language",
    "location",
    "financial_class",
    "patient_type",
    "guarantor_account",
    "sms_consent",
)
CONSENT = {"yes": True, "y": True, "no": False, "n": False, "": None}
"""``sms_consent``: the patient agreed to (or refused) billing texts at registration."""
PATIENT_TYPES = {"inpatient": "IP", "outpatient": "OP", "": None}


@dataclass(frozen=True, slots=True)
class _Patient:
    row: int
    new: NewCustomer
    guarantor: str
    sms_consent: bool | None = None


def _patient(row: Row, currency: str) -> _Patient:
    kind = row.get("patient_type").lower()
    if kind not in PATIENT_TYPES:
        raise RowError(f"patient_type {kind!r} is neither inpatient nor outpatient")
    new = NewCustomer(
        last_name=required(row, "last_name"),
        first_name=required(row, "first_name"),
        currency=currency,
        date_of_birth=day(row, "date_of_birth"),
        mrn=required(row, "mrn"),
        number=row.get("account_number") or None,
        phone=row.get("phone") or None,
        email=row.get("email") or None,
        language=row.get("language") or "en",
        financial_class=row.get("financial_class") or "self_pay",
        location=row.get("location") or "main",
        patient_type=PATIENT_TYPES[kind],
    )
    consent = row.get("sms_consent").strip().lower()
    if consent not in CONSENT:
        raise RowError(f"sms_consent {consent!r} is neither yes nor no")
    if CONSENT[consent] and not new.phone:
        raise RowError("sms_consent is yes but the row has no phone")
    return _Patient(row.number, new, row.get("guarantor_account"), CONSENT[consent])


def _in_order(patients: list[_Patient]) -> list[_Patient]:
    """Guarantors named in the file first, then those they guarantee."""
    numbers = {p.new.number for p in patients if p.new.number}
    ordered: list[_Patient] = []
    placed: set[str] = set()
    waiting = patients
    while waiting:
        ready = [p for p in waiting if p.guarantor not in numbers or p.guarantor in placed]
        if not ready:  # a circle of guarantors: let the first one fail on its own
            ready = waiting[:1]
        ordered += ready
        placed |= {p.new.number for p in ready if p.new.number}
        waiting = [p for p in waiting if p not in ready]
    return ordered


async def import_patients(
    db: Database,
    actor: Actor,
    header: Sequence[str],
    rows: Sequence[Row],
    *,
    currency: str = "USD",
    number_format: str = "A{id:07d}",
    control: Control | None = None,
) -> Report:
    """Open an account for every valid patient row not on file yet, in one transaction;
    a row count in ``control`` that disagrees refuses the batch."""
    require(actor, Permission.MANAGE_ACCOUNTS)
    check_header("patients", header, REQUIRED, OPTIONAL)
    report = Report("patients", rows=len(rows))
    check_count(report, control)
    born_before = today(db.clock)
    valid: list[_Patient] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            patient = _patient(row, currency)
            check_customer(patient.new, born_before)
            if patient.new.mrn in seen:
                raise RowError(f"mrn {patient.new.mrn} is already on row {seen[patient.new.mrn]}")
        except ArbotError as exc:
            report.rejects.append(Reject(row.number, row.get("mrn"), str(exc)))
            continue
        seen[str(patient.new.mrn)] = row.number
        valid.append(patient)
    if valid:
        async with db.transaction() as tx:
            for patient in _in_order(valid):
                await _one(tx, actor, patient, report, number_format)
            if report.written:  # a rerun that changed nothing leaves no trace
                report.audit(tx, actor, "patients")
    report.rejects.sort(key=lambda r: r.row)
    return report


async def _one(
    tx: Tx, actor: Actor, patient: _Patient, report: Report, number_format: str
) -> None:
    new = patient.new
    try:
        on_file = (
            await tx.conn.execute(
                select(customer_account.c.number).where(customer_account.c.mrn == new.mrn)
            )
        ).scalar()
        if on_file is not None:
            if new.number and on_file != new.number:
                raise RowError(f"mrn {new.mrn} is on file under account {on_file}")
            report.already += 1
            return
        if patient.guarantor:
            guarantor = (
                await tx.conn.execute(
                    select(customer_account.c.id).where(
                        customer_account.c.number == patient.guarantor
                    )
                )
            ).scalar()
            if guarantor is None:
                raise RowError(f"guarantor account {patient.guarantor} is not on file")
            new = replace(new, guarantor_id=guarantor)
        audited = len(tx.pending_audit)
        try:
            async with tx.conn.begin_nested():  # a refused row leaves nothing behind
                await register_in(tx, actor, new, number_format=number_format, source="import")
                if patient.sms_consent is not None and new.phone:
                    await consent_in(
                        tx,
                        actor,
                        channel="sms",
                        address=phone_number(new.phone),
                        granted=patient.sms_consent,
                        source="import",
                    )
        except ArbotError:
            del tx.pending_audit[audited:]
            raise
    except ArbotError as exc:
        report.rejects.append(Reject(patient.row, new.mrn or "", str(exc)))
        return
    report.written += 1
