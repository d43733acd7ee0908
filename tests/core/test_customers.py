"""Customers: master data checked before it is written, and statuses and consent
(AR-049, AR-046, AR-062)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.clock import FixedClock
from core.customers import (
    NewCustomer,
    may_contact,
    name_key,
    phone_number,
    record_consent,
    register_customer,
    set_status,
    status_of,
)
from core.db import Database
from core.errors import InvalidState, PermissionDenied, ValidationError
from core.ledger.accounts import CUSTOMER_TYPES
from core.ledger.tables import (
    contact_consent,
    customer_account,
    customer_contact,
    customer_status,
)
from core.services.charges import post_charge
from tests.core.helpers import ADMIN, CLERK, usd


def patient(last: str, first: str = "Ana", **kw: object) -> NewCustomer:
    return NewCustomer(last_name=last, first_name=first, currency="USD", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phone": "555-0100"}, "not a phone number in international form"),
        ({"email": "ana@"}, "not an e-mail address"),
        ({"date_of_birth": date(2031, 1, 1)}, "not a plausible date of birth"),
        ({"language": "xx-QQ-zz"}, "not a language arbot knows"),
        ({"last_name": " "}, "needs a last name"),
    ],
)
async def test_bad_master_data_is_refused_and_nothing_written(
    db: Database, change: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {"last_name": "Rossi", "first_name": "Ana", "currency": "USD"}
    with pytest.raises(ValidationError, match=message):
        await register_customer(db, ADMIN, NewCustomer(**(fields | change)))  # type: ignore[arg-type]
    async with db.read() as conn:
        for table in (customer_account, customer_contact):
            assert (await conn.execute(select(func.count()).select_from(table))).scalar() == 0


async def test_a_medical_record_number_belongs_to_one_account(db: Database) -> None:
    await register_customer(db, ADMIN, patient("Chen", mrn="M1"))
    with pytest.raises(ValidationError, match="M1 is already on another account"):
        await register_customer(db, ADMIN, patient("Chan", mrn="M1"))


async def test_registering_needs_the_permission(db: Database) -> None:
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await register_customer(db, CLERK, patient("Brown", location="north"))


def test_keys_and_numbers() -> None:
    assert name_key("Johnson") == name_key("Jonson") == name_key("Jonsen")
    assert name_key("Müller") == name_key("Mueller")
    assert phone_number("+44 20 7946 0958") == "+442079460958"
    with pytest.raises(ValidationError):
        phone_number("0044 20")


async def test_status_changes_are_kept_with_their_dates(db: Database) -> None:
    """AR-046, AR-062, AR-203: credit hold, collections, inactive, each with who and why."""
    account = await register_customer(db, ADMIN, patient("Haddad", "Omar"))
    assert (
        await set_status(
            db,
            ADMIN,
            account_id=account.id,
            status="credit_hold",
            reason="cheque bounced twice",
            on=date(2026, 3, 1),
        )
        == "active"
    )
    await set_status(
        db,
        ADMIN,
        account_id=account.id,
        status="in_collections",
        reason="sent to agency",
        on=date(2026, 5, 1),
    )
    async with db.read() as conn:
        assert await status_of(conn, account.id, as_of=date(2026, 2, 28)) == "active"
        assert await status_of(conn, account.id, as_of=date(2026, 4, 1)) == "credit_hold"
        assert await status_of(conn, account.id) == "in_collections"
        history = (
            await conn.execute(
                select(customer_status.c.status, customer_status.c.actor, customer_status.c.reason)
                .where(customer_status.c.account_id == account.id)
                .order_by(customer_status.c.id)
            )
        ).all()
    assert [tuple(r) for r in history] == [
        ("credit_hold", "staff:1", "cheque bounced twice"),
        ("in_collections", "staff:1", "sent to agency"),
    ]
    with pytest.raises(InvalidState, match="already in collections"):
        await set_status(
            db,
            ADMIN,
            account_id=account.id,
            status="in_collections",
            reason="again",
            on=date(2026, 5, 2),
        )
    with pytest.raises(ValidationError, match="'closed' is not an account status"):
        await set_status(
            db, ADMIN, account_id=account.id, status="closed", reason="x", on=date(2026, 5, 2)
        )
    with pytest.raises(ValidationError, match="reason is required"):
        await set_status(
            db, ADMIN, account_id=account.id, status="active", reason=" ", on=date(2026, 5, 2)
        )


async def test_charges_to_an_inactive_account_are_refused(db: Database) -> None:
    """AR-052: an inactive or to-be-deleted account takes no new charges."""
    account = await register_customer(db, ADMIN, patient("Silva", "Lucia"))
    await set_status(
        db,
        ADMIN,
        account_id=account.id,
        status="inactive",
        reason="moved abroad",
        on=date(2026, 6, 1),
    )
    with pytest.raises(InvalidState, match="is inactive: charges are refused"):
        await post_charge(
            db,
            ADMIN,
            account_id=account.id,
            amount=usd("10"),
            service_date=date(2026, 6, 2),
            key="c",
        )
    await set_status(
        db, ADMIN, account_id=account.id, status="active", reason="returned", on=date(2026, 6, 3)
    )
    await post_charge(
        db, ADMIN, account_id=account.id, amount=usd("10"), service_date=date(2026, 6, 3), key="c"
    )
    with pytest.raises(PermissionDenied, match="'manage_accounts'"):
        await set_status(
            db, CLERK, account_id=account.id, status="credit_hold", reason="x", on=date(2026, 6, 4)
        )


async def test_sms_needs_an_opt_in_and_a_stop_is_honoured_at_once(
    db: Database, clock: FixedClock
) -> None:
    """Consent per channel with time and source; a STOP covers every account on that phone."""
    async with db.read() as conn:
        assert not await may_contact(conn, "sms", "+1 555 010 2030")
        assert await may_contact(conn, "telegram", "4242")
    await record_consent(
        db, ADMIN, channel="sms", address="+1 (555) 010-2030", granted=True, source="intake form"
    )
    async with db.read() as conn:
        assert await may_contact(conn, "sms", "+15550102030")
    clock.advance(hours=2)
    await record_consent(
        db, ADMIN, channel="sms", address="+15550102030", granted=False, source="sms STOP"
    )
    await record_consent(
        db, ADMIN, channel="telegram", address="4242", granted=False, source="bot /stop"
    )
    async with db.read() as conn:
        assert not await may_contact(conn, "sms", "+1-555-010-2030")
        assert not await may_contact(conn, "telegram", "4242")
        history = (
            await conn.execute(
                select(contact_consent.c.granted, contact_consent.c.source, contact_consent.c.at)
                .where(contact_consent.c.channel == "sms")
                .order_by(contact_consent.c.id)
            )
        ).all()
    assert [(r.granted, r.source) for r in history] == [(True, "intake form"), (False, "sms STOP")]
    assert history[1].at - history[0].at == timedelta(hours=2)
    with pytest.raises(ValidationError, match="'fax' is not a channel"):
        await record_consent(db, ADMIN, channel="fax", address="1", granted=True, source="x")
    with pytest.raises(ValidationError, match="where the consent came from"):
        await record_consent(
            db, ADMIN, channel="email", address="a@b.co", granted=True, source=" "
        )


async def test_the_customer_type_is_a_coded_attribute(db: Database) -> None:
    """AR-030: patient, employee, business, education, government, insurer, guarantor
    or other; anything else is refused and nothing is written."""
    for n, kind in enumerate(CUSTOMER_TYPES):
        account = await register_customer(db, ADMIN, patient(f"Kind{n}", customer_type=kind))
        assert account.customer_type == kind
    with pytest.raises(ValidationError, match="'school' is not a customer type; use one of"):
        await register_customer(db, ADMIN, patient("Okoro", customer_type="school"))
    async with db.read() as conn:
        count = await conn.execute(select(func.count()).select_from(customer_account))
        assert count.scalar_one() == len(CUSTOMER_TYPES)
