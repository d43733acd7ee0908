"""Builders for the plan, statement and bad-debt job tests: patients on payment plans,
runs of a job on a given day at a given hour (the clock moves with it)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, time

from sqlalchemy import func, select

from core.clock import FixedClock
from core.db import Database
from core.ledger.accounts import Account
from core.ledger.tables import journal_entry
from core.patients.paylinks import PayOrder, open_pay_link
from core.patients.reach import reach
from core.plans import AGREEMENT_VERSION, Plan, PlanPolicy, enrol_plan, load_plan
from scheduler.ports import Ports
from scheduler.report import JobReport
from scheduler.runner import run_job
from tests.core.patients.paying import PATIENT

LINK = re.compile(r"https://clinic\.example/pay/(\S+)")
DIGEST = hashlib.sha256(b"I agree to pay my instalments").hexdigest()


async def enrol(
    db: Database, account: Account, first_due: date, count: int = 3, key: str | None = None
) -> Plan:
    """``account`` on a plan of ``count`` monthly instalments, the first due ``first_due``."""
    return await enrol_plan(
        db,
        PATIENT,
        account_id=account.id,
        count=count,
        policy=PlanPolicy(),
        agreement_version=AGREEMENT_VERSION,
        agreement_digest=DIGEST,
        channel="telegram",
        key=key or f"plan-{account.id}",
        first_due=first_due,
    )


async def plan_now(db: Database, plan_id: int) -> Plan:
    async with db.read() as conn:
        return await load_plan(conn, plan_id)


async def chat_of(db: Database, account: Account) -> str:
    async with db.read() as conn:
        found = await reach(conn, account.id)
    assert found is not None
    return found.address


async def run_on(
    db: Database, clock: FixedClock, ports: Ports, job: str, day: date, hour: int = 14
) -> JobReport | None:
    """Run ``job`` for ``day`` with the clock at ``hour``:00 UTC that day (10:00 in New
    York at 14)."""
    clock.moment = datetime.combine(day, time(hour), tzinfo=UTC)
    return await run_job(db, clock, ports, job, as_of=day)


async def order_in(db: Database, text: str) -> PayOrder:
    """Open the pay link in a message, as the patient would."""
    found = LINK.search(text)
    assert found is not None, text
    return await open_pay_link(db, found.group(1))


async def entry_count(db: Database, kind: str | None = None) -> int:
    query = select(func.count()).select_from(journal_entry)
    if kind is not None:
        query = query.where(journal_entry.c.kind == kind)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())
