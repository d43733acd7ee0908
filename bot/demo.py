"""A demo clinic: a few hundred patients with a year of charges and payments.

Everything goes through the same core services staff and webhooks use, with
deterministic data (a seeded random generator), so every run tells the same story.
Loading twice does nothing the second time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from core.auth import Actor
from core.clock import SystemClock, today
from core.customers import NewCustomer, register_customer
from core.db import Database
from core.errors import NotFound
from core.ledger.accounts import load_account
from core.money import Money
from core.services.adjustments import dispute_item, write_off
from core.services.charges import post_charge
from core.services.payments import record_payment

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
    ("consultation", 8_000, 25_000),
    ("lab", 2_500, 12_000),
    ("imaging", 15_000, 90_000),
    ("procedure", 30_000, 250_000),
    ("medication", 1_500, 9_000),
]
METHODS = ["card", "cash", "cheque", "bank_transfer"]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    patients: int
    charges: int
    payments: int

    def __str__(self) -> str:
        return (
            f"demo clinic loaded: {self.patients} patients, {self.charges} charges, "
            f"{self.payments} payments"
        )


async def load_demo(
    db: Database, *, patients: int = 300, seed: int = 7, currency: str = "USD"
) -> DemoSummary | str:
    actor = Actor.system("demo")
    prefix = f"D{seed}-"
    async with db.read() as conn:
        try:
            await load_account(conn, number=f"{prefix}00001")
            return "demo clinic already loaded; nothing to do"
        except NotFound:
            pass
    rng = random.Random(seed)
    end = today(SystemClock())
    charges = payments = 0
    guarantors: list[int] = []
    for n in range(1, patients + 1):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        guarantor = rng.choice(guarantors) if guarantors and rng.random() < 0.15 else None
        first, last = name.split(" ", 1)
        account = await register_customer(
            db,
            actor,
            NewCustomer(
                last_name=last,
                first_name=first,
                currency=currency,
                number=f"{prefix}{n:05d}",
                mrn=f"MRN{seed:02d}{n:06d}",
                date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randint(0, 30_000)),
                phone=f"+1555{seed % 10}{n:06d}",
                language=rng.choice(["en", "en", "en", "es"]),
                financial_class=rng.choice(CLASSES),
                location=rng.choice(["main", "main", "north"]),
                patient_type=rng.choice(["OP", "OP", "OP", "IP"]),
                guarantor_id=guarantor,
            ),
        )
        if rng.random() < 0.1:
            guarantors.append(account.id)
        for visit in range(rng.randint(1, 4)):
            served = end - timedelta(days=rng.randint(0, 365))
            doctor = rng.choice(DOCTORS)
            total = 0
            for line in range(rng.randint(1, 2)):
                category, low, high = rng.choice(SERVICES)
                amount = Money(rng.randint(low // 100, high // 100) * 100, currency)
                entry = await post_charge(
                    db,
                    actor,
                    account_id=account.id,
                    amount=amount,
                    service_date=served,
                    key=f"{prefix}{n}-{visit}-{line}",
                    category=category,
                    doctor=doctor,
                    source="demo",
                    description=category,
                )
                total += amount.minor
                charges += 1
                if rng.random() < 0.02:
                    await dispute_item(
                        db,
                        actor,
                        item_id=entry.item_ids[0],
                        disputed=True,
                        on=served,
                        reason="patient disputes the amount",
                        source="demo",
                    )
            payments += await _pay(
                db, actor, rng, account.id, total, served, end, f"{prefix}{n}-{visit}", currency
            )
    return DemoSummary(patients, charges, payments)


async def _pay(
    db: Database,
    actor: Actor,
    rng: random.Random,
    account_id: int,
    total: int,
    served: date,
    end: date,
    key: str,
    currency: str,
) -> int:
    paid_on = served + timedelta(days=rng.randint(5, 75))
    roll = rng.random()
    if paid_on > end or roll < 0.25:
        return 0
    share = 1.0 if roll < 0.75 else rng.choice([0.3, 0.5, 0.8])
    amount = Money(max(100, int(total * share) // 100 * 100), currency)
    await record_payment(
        db,
        actor,
        account_id=account_id,
        amount=amount,
        received_on=paid_on,
        key=f"{key}-pay",
        method=rng.choice(METHODS),
        source="demo",
    )
    if share < 1.0 and rng.random() < 0.1:
        await write_off(
            db,
            actor,
            account_id=account_id,
            key=f"{key}-wo",
            on=paid_on,
            reason="CHARITY",
            note="hardship application approved",
            source="demo",
        )
    return 1
