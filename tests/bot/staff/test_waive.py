"""``/ar waive``: a supervisor waives a late fee (AR-107) by reversing it; anything else
is refused with the reason and nothing is posted."""

from __future__ import annotations

import pytest

from core.db import Database
from core.latefees import LateFeePolicy, charge_late_fee, late_fees_due
from core.ledger.accounts import Account
from core.ledger.model import entry_id_of
from core.ledger.posting import load_entry, reversed_by
from core.services.payments import record_payment
from tests.bot.staff.conftest import Slack, patient, text_of
from tests.core.dunning_helpers import AS_OF, owes
from tests.core.helpers import ADMIN, balance_of, usd
from tests.scheduler.plan_helpers import entry_count

pytestmark = pytest.mark.usefixtures("staff", "catalogue")
POLICY = LateFeePolicy(currency="USD", flat_minor=1500)


async def late(db: Database, name: str = "López") -> tuple[Account, str, str]:
    """An account 60 days late with June's $15.00 fee: (account, charge, fee numbers)."""
    account = await patient(db, name, "Ana")
    charge = await owes(db, account, "200.00", 60)
    async with db.read() as conn:
        [due] = [d for d in await late_fees_due(conn, AS_OF, POLICY) if d.account_id == account.id]
    fee = await charge_late_fee(db, ADMIN, due, AS_OF, POLICY)
    return account, charge.number, fee.number


async def test_a_supervisor_waives_a_late_fee_once(slack: Slack, db: Database) -> None:
    ana, _, fee = await late(db)
    assert await balance_of(db, ana.id) == usd("215.00")

    shown = text_of(await slack.command(f"waive {fee} ADMIN first time late", "U0SUPER"))

    assert f"Waived the late fee *{fee}* of *$15.00* on *{ana.number}*  Ana López" in shown
    assert "New balance: *$200.00*" in shown
    assert await balance_of(db, ana.id) == usd("200.00")
    async with db.read() as conn:
        number = await reversed_by(conn, int(fee[1:]))
        assert number is not None and f"reversed by {number}" in shown
        reversal = await load_entry(conn, entry_id=entry_id_of(number))
    assert (reversal.entry_type, reversal.reason_code) == ("REVERSAL", "ADMIN")
    assert reversal.memo == "late fee waived: first time late"

    posted = await entry_count(db)
    again = text_of(await slack.command(f"waive {fee} ADMIN again", "U0SUPER"))
    assert f"{fee} was already waived or reversed, by {number}" in again
    assert await entry_count(db) == posted


async def test_a_paid_fee_waived_leaves_its_payment_as_credit(slack: Slack, db: Database) -> None:
    ana, _, fee = await late(db)
    await record_payment(
        db, ADMIN, account_id=ana.id, amount=usd("215.00"), received_on=AS_OF, key="all",
        method="cash",
    )  # fmt: skip

    shown = text_of(await slack.command(f"waive {fee} CHARITY", "U0SUPER"))

    assert "New balance: *-$15.00* (credit)" in shown
    assert await balance_of(db, ana.id) == usd("-15.00")


async def test_only_late_fees_are_waived_and_bad_input_says_what_to_fix(
    slack: Slack, db: Database
) -> None:
    ana, charge, fee = await late(db)
    posted = await entry_count(db)

    for text, user, says in (
        (f"waive {charge} ADMIN", "U0SUPER", f"{charge} is a charge, not a late fee"),
        ("waive", "U0SUPER", "usage: /ar waive &lt;entry number of a late fee"),
        (f"waive {fee}", "U0SUPER", "usage: /ar waive"),
        ("waive T99999999 ADMIN", "U0SUPER", "there is no entry T99999999"),
        (f"waive {fee} NOSUCH", "U0SUPER", "'NOSUCH' is not a defined reason code"),
        (f"waive {fee} ADMIN", "U0BILLER", "lacks the permission 'reverse_entry'"),
        # Without the permission, whether an entry exists is not said either.
        ("waive T99999998 ADMIN", "U0BILLER", "lacks the permission 'reverse_entry'"),
    ):
        assert says in text_of(await slack.command(text, user)), text

    assert await entry_count(db) == posted
    assert await balance_of(db, ana.id) == usd("215.00")
