"""``/ar atb --by ... --basis ...`` through Slack agrees with core's own aged trial
balance (``core.ledger.aging.aged_trial_balance``) for every grouping and every basis
(AR-187, AR-191, AR-192)."""

from __future__ import annotations

from datetime import date

import pytest

from core.db import Database
from core.ledger.accounts import Account
from core.ledger.aging import Atb, AtbQuery, Basis, GroupBy, aged_trial_balance
from core.services.charges import post_charge
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.core.helpers import ADMIN, usd

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
AS_OF = date(2026, 6, 30)  # the test clock's day


async def charge(
    db: Database, account: Account, amount: str, served: date, billed: date, doctor: str | None
) -> None:
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd(amount), service_date=served,
        bill_date=billed, doctor=doctor, key=f"c-{account.id}-{served}",
    )  # fmt: skip


@pytest.fixture
async def clinic(db: Database) -> dict[str, Account]:
    """Three accounts whose charges sit in different buckets by service, bill and due date
    (NET30: due 30 days after the bill). Luis is guaranteed by Ana; Ana paid 30."""
    ana = await patient(db, "López", "Ana")
    luis = await patient(
        db, "Chen", "Luis", location="north", financial_class="commercial", guarantor_id=ana.id
    )
    mia = await patient(db, "Ortiz", "Mia", financial_class="medicaid")
    await charge(db, ana, "100.00", date(2026, 6, 20), date(2026, 6, 20), "dr-lee")
    await charge(db, ana, "250.00", date(2026, 2, 10), date(2026, 4, 5), "dr-kim")
    await charge(db, luis, "40.00", date(2026, 5, 1), date(2026, 5, 20), None)
    await charge(db, mia, "75.00", date(2025, 12, 1), date(2026, 1, 15), "dr-lee")
    await record_payment(db, ADMIN, account_id=ana.id, amount=usd("30.00"),
                         received_on=date(2026, 6, 25), key="pay-ana", method="cash")  # fmt: skip
    return {"ana": ana, "luis": luis, "mia": mia}


def dollars(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}${abs(minor) / 100:,.2f}"


def table_line(label: str, minor: int, percent: str, accounts: int) -> str:
    """A row of the ATB's fixed-width table, as a person reads it in the code block."""
    return f"{label:<12} {minor / 100:>16,.2f} {percent:>8} {accounts:>9}"


async def core_atb(db: Database, by: GroupBy, basis: Basis) -> Atb:
    async with db.read() as conn:
        return await aged_trial_balance(
            conn, AtbQuery(as_of=AS_OF, currency="USD", basis=basis, group_by=by)
        )


def group_totals(clinic: dict[str, Account]) -> dict[GroupBy, dict[str, str]]:
    """The groups a person should see for each ``--by``, with their totals worked out by
    hand: Ana's 30.00 pays her oldest charge (250.00, Dr Kim's) first."""
    ana, mia = clinic["ana"].number, clinic["mia"].number
    return {
        GroupBy.FINANCIAL_CLASS: {
            "self_pay": "$320.00", "commercial": "$40.00", "medicaid": "$75.00"
        },
        GroupBy.LOCATION: {"main": "$395.00", "north": "$40.00"},
        GroupBy.GUARANTOR: {ana: "$360.00", mia: "$75.00"},
        GroupBy.DOCTOR: {"dr-kim": "$220.00", "dr-lee": "$175.00", "(none)": "$40.00"},
    }  # fmt: skip


def group_line(report: Atb, key: str, total: int) -> str:
    members = len({r.account_id for r in report.rows if (r.group or "(none)") == key})
    return f"• {key}: {dollars(total)} ({members} account{'' if members == 1 else 's'})"


BY = [GroupBy.FINANCIAL_CLASS, GroupBy.LOCATION, GroupBy.GUARANTOR, GroupBy.DOCTOR]


@pytest.mark.parametrize("basis", list(Basis), ids=str)
@pytest.mark.parametrize("by", BY, ids=str)
async def test_atb_by_every_group_and_basis_matches_cores_aged_trial_balance(
    slack: Slack, db: Database, clinic: dict[str, Account], by: GroupBy, basis: Basis
) -> None:
    shown = text_of(await slack.command(f"atb --by {by.value} --basis {basis.value}", "U0BILLER"))
    report = await core_atb(db, by, basis)

    assert f"as of Jun 30, 2026 (USD, aged by {basis.value} date)" in shown
    assert report.total_minor == 43_500  # 465.00 charged, 30.00 paid
    for bucket in report.buckets:
        line = table_line(bucket.label, bucket.amount_minor, str(bucket.percent), bucket.accounts)
        assert line in shown, (line, shown)
    assert table_line("Total", report.total_minor, "100.00", 3) in shown
    assert f"*By {by.value.replace('_', ' ')}*" in shown
    wanted = group_totals(clinic)[by]
    assert set(report.groups) == set(wanted)
    totals = {key: sum(b.amount_minor for b in buckets) for key, buckets in report.groups.items()}
    assert {key: dollars(total) for key, total in totals.items()} == wanted
    grouped = shown.split("*By ")[1].split("*Largest balances*")[0]
    # Largest group first, every group once, nothing else.
    assert [ln for ln in grouped.splitlines() if ln.startswith("• ")] == [
        group_line(report, key, totals[key]) for key in sorted(totals, key=lambda k: -totals[k])
    ]


async def test_the_basis_moves_money_between_buckets_as_the_dates_say(
    slack: Slack, clinic: dict[str, Account]
) -> None:
    """Mia's 75.00: served Dec 1 (211 days: over 180), billed Jan 15 (166: 151-180), due
    Feb 14 (136: 121-150). Each basis puts it in its own bucket, and only it is there."""
    where = {"service": "over 180", "bill": "151-180", "due": "121-150"}
    for basis, label in where.items():
        shown = text_of(await slack.command(f"atb --basis {basis}", "U0BILLER"))
        assert table_line(label, 7500, "17.24", 1) in shown, (basis, shown)
