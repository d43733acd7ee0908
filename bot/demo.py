"""A demo clinic: a few hundred patients with a year of charges and payments, as the
CSV files a hospital's systems would send, imported through the billing interface.

``arbot demo files --out DIR`` writes ``services.csv``, ``patients.csv``,
``charges.csv`` and ``payments.csv`` (and ``payments.control``, the payment batch's
control totals as ``arbot import payments`` options); ``make demo`` imports them with
``arbot import``. ``arbot demo load`` does both in one step. The data are deterministic
(a seeded random generator, dates relative to today), so every run tells the same
story; importing twice writes nothing the second time.
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from core.auth import Actor
from core.clock import SystemClock, today
from core.db import Database
from core.imports import Control, Report, Row, read_csv
from core.imports.charges import import_charges
from core.imports.patients import import_patients
from core.imports.payments import import_payments
from core.imports.services import import_services

FIRST = [
    "Ana",
    "Luis",
    "Maria",
    "John",
    "Grace",
    "Omar",
    "Mei",
    "Ivan",
    "Fatima",
    "Peter",
    "Sofia",
    "Kwame",
    "Emma",
    "Raj",
    "Lucia",
    "Tom",
    "Aiko",
    "Carlos",
    "Nina",
    "Sam",
]
LAST = [
    "Johnson",
    "Garcia",
    "Smith",
    "Nguyen",
    "Okafor",
    "Müller",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Silva",
    "Chen",
    "Brown",
    "Lopez",
    "Ivanova",
    "Dubois",
    "Patel",
    "Kim",
    "Jonson",
    "Schmidt",
    "Moreno",
]
CLASSES = ["self_pay", "self_pay", "commercial", "medicare", "medicaid", "workers_comp"]
DOCTORS = ["Dr. Rivera", "Dr. Chen", "Dr. Okafor", "Dr. Schmidt"]
SERVICES = [
    # code, description, category, price, inventory item, stock
    ("CONS", "Consultation", "consultation", "120.00", "", ""),
    ("CONS-FU", "Follow-up consultation", "consultation", "80.00", "", ""),
    ("LAB-CBC", "Complete blood count", "lab", "35.00", "", ""),
    ("LAB-LIPID", "Lipid panel", "lab", "55.00", "", ""),
    ("XR-CHEST", "Chest X-ray", "imaging", "180.00", "", ""),
    ("US-ABD", "Abdominal ultrasound", "imaging", "420.00", "", ""),
    ("PROC-SUTURE", "Wound suture", "procedure", "350.00", "", ""),
    ("PROC-ENDO", "Endoscopy", "procedure", "1250.00", "", ""),
    ("MED-AMOX", "Amoxicillin 500 mg (box)", "medication", "18.50", "AMOX500", "5000"),
    ("MAT-DRESS", "Wound dressing", "material", "12.00", "DRESS", "5000"),
]
METHODS = ["card", "cash", "cheque", "bank_transfer"]
TRY_IT = {
    1: ("Ana", "López", date(1980, 4, 12), "en"),
    2: ("María", "García", date(1975, 9, 3), "es"),
}
"""Two demo patients to try the patient bot with (README): known names, dates of birth
and languages, and no payments, so they owe something. Their phone is +1555<seed>00000n."""
PATIENT_COLUMNS = [
    "account_number", "mrn", "last_name", "first_name", "date_of_birth", "phone", "email",
    "language", "location", "financial_class", "patient_type", "guarantor_account",
    "sms_consent",
]  # fmt: skip
CHARGE_COLUMNS = [
    "external_id", "account_number", "service_code", "quantity", "service_date", "doctor",
    "location", "unit_price",
]  # fmt: skip
PAYMENT_COLUMNS = [
    "external_id", "account_number", "amount", "currency", "method", "reference",
    "received_date",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoFiles:
    folder: Path
    patients: int
    charges: int
    payments: int
    payment_control: Control


def _write(path: Path, columns: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


def write_demo_files(folder: Path, *, patients: int = 300, seed: int = 7) -> DemoFiles:
    """Write the demo clinic's four CSV files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    end = today(SystemClock())
    prefix = f"D{seed}-"
    prices = {code: int(price.replace(".", "")) for code, _, _, price, _, _ in SERVICES}
    people: list[list[object]] = []
    charges: list[list[object]] = []
    payments: list[list[object]] = []
    guarantors: list[str] = []
    for n in range(1, patients + 1):
        number = f"{prefix}{n:05d}"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        guarantor = rng.choice(guarantors) if guarantors and rng.random() < 0.15 else ""
        born = date(1940, 1, 1) + timedelta(days=rng.randint(0, 30_000))
        location = rng.choice(["main", "main", "north"])
        language = rng.choice(["en", "en", "en", "es"])
        if n in TRY_IT:
            first, last, born, language = TRY_IT[n]
            guarantor = ""
        people.append([
            number, f"MRN{seed:02d}{n:06d}", last, first, born.isoformat(),
            f"+1555{seed % 10}{n:06d}", f"patient{n}@example.org",
            language, location, rng.choice(CLASSES),
            rng.choice(["outpatient", "outpatient", "outpatient", "inpatient"]), guarantor,
            "yes" if n in TRY_IT or rng.random() < 0.7 else "",
        ])  # fmt: skip
        if rng.random() < 0.1:
            guarantors.append(number)
        for visit in range(rng.randint(1, 4)):
            served = end - timedelta(days=rng.randint(0, 365))
            doctor = rng.choice(DOCTORS)
            total = 0
            for line in range(rng.randint(1, 2)):
                code = rng.choice(SERVICES)[0]
                quantity = 1 if not code.startswith(("MED", "MAT")) else rng.randint(1, 3)
                charges.append([
                    f"{prefix}{n}-{visit}-{line}", number, code, quantity, served.isoformat(),
                    doctor, location, "",
                ])  # fmt: skip
                total += prices[code] * quantity
            paid_on = served + timedelta(days=rng.randint(5, 75))
            roll = rng.random()
            if paid_on > end or roll < 0.25 or n in TRY_IT:
                continue
            share = 100 if roll < 0.75 else rng.choice([30, 50, 80])
            amount = max(100, total * share // 100 // 100 * 100)
            payments.append([
                f"{prefix}{n}-{visit}-pay", number, f"{amount // 100}.{amount % 100:02d}", "USD",
                rng.choice(METHODS), f"R{seed}{n:05d}{visit}", paid_on.isoformat(),
            ])  # fmt: skip
    _write(folder / "services.csv", ["code", "description", "category", "price", "currency",
                                     "inventory_item", "stock"],
           [[c, d, cat, p, "USD", i, s] for c, d, cat, p, i, s in SERVICES])  # fmt: skip
    _write(folder / "patients.csv", PATIENT_COLUMNS, people)
    _write(folder / "charges.csv", CHARGE_COLUMNS, charges)
    _write(folder / "payments.csv", PAYMENT_COLUMNS, payments)
    paid = sum(int(str(p[2]).replace(".", "")) for p in payments)
    control = Control(len(payments), f"{paid // 100}.{paid % 100:02d}")
    (folder / "payments.control").write_text(
        f"--control-rows {control.rows} --control-amount {control.amount}\n"
    )
    return DemoFiles(folder, len(people), len(charges), len(payments), control)


async def load_demo(db: Database, *, patients: int = 300, seed: int = 7) -> str:
    """Write the demo files to a scratch folder and import them, as ``make demo`` does."""
    actor = Actor.system("demo")
    with tempfile.TemporaryDirectory() as scratch:
        files = write_demo_files(Path(scratch), patients=patients, seed=seed)
        reports: list[Report] = []
        loaders: tuple[tuple[str, Callable[[list[str], list[Row]], Awaitable[Report]]], ...] = (
            ("services", lambda h, r: import_services(db, actor, h, r)),
            ("patients", lambda h, r: import_patients(db, actor, h, r)),
            ("charges", lambda h, r: import_charges(db, actor, h, r, label="demo charges")),
            ("payments", lambda h, r: import_payments(db, actor, h, r,
                                                      control=files.payment_control,
                                                      label="demo payments")),
        )  # fmt: skip
        for kind, run in loaders:
            header, rows = read_csv(files.folder / f"{kind}.csv")
            reports.append(await run(header, rows))
    if all(r.written == 0 for r in reports):
        return "demo clinic already loaded; nothing to do"
    by_kind = {r.kind: r for r in reports}
    return (
        f"demo clinic loaded: {by_kind['patients'].written} patients, "
        f"{by_kind['charges'].written} charges, {by_kind['payments'].written} payments"
    )
