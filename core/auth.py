"""Who may do what (BI-19): staff roles, their permissions, and the actor behind each change.

Every core service takes an :class:`Actor` and calls :func:`require` before it writes,
so no channel (Slack, the patient bot, a script) can go around the rules. Staff are
scoped to locations, so that several locations share one database each run by its own
staff (BI-18); a refusal names the missing permission.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Column, Integer, Row, String, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Tx, inserted_id
from core.db.metadata import Minor, UtcDateTime, metadata
from core.errors import NotFound, PermissionDenied, ValidationError


class StaffRole(StrEnum):
    CLERK = "clerk"
    BILLER = "biller"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    ADMIN = "admin"
    AUDITOR = "auditor"


class Permission(StrEnum):
    VIEW_ACCOUNTS = "view_accounts"
    MANAGE_ACCOUNTS = "manage_accounts"
    POST_CHARGE = "post_charge"
    RECORD_PAYMENT = "record_payment"
    APPLY_CASH = "apply_cash"
    DISPUTE = "dispute"
    FOLLOW_UP = "follow_up"
    """Collect: be assigned accounts and flag them for follow-up (AR-045, AR-101)."""
    REQUEST_WRITE_OFF = "request_write_off"
    REQUEST_REFUND = "request_refund"
    APPROVE_WRITE_OFF = "approve_write_off"
    REFUND = "refund"
    REVERSE_ENTRY = "reverse_entry"
    CLOSE_PERIOD = "close_period"
    VIEW_REPORTS = "view_reports"
    VIEW_AUDIT = "view_audit"
    MANAGE_STAFF = "manage_staff"
    MANAGE_CATALOGUE = "manage_catalogue"


P = Permission
# Clerks take the money and hear first that a patient overpaid: they may ask for a
# refund, never grant one (AR-058).
_CLERK = {P.VIEW_ACCOUNTS, P.RECORD_PAYMENT, P.DISPUTE, P.REQUEST_REFUND, P.FOLLOW_UP}
_BILLER = _CLERK | {
    P.POST_CHARGE,
    P.APPLY_CASH,
    P.REQUEST_WRITE_OFF,
    P.MANAGE_ACCOUNTS,
    P.VIEW_REPORTS,
}
_SUPERVISOR = _BILLER | {P.APPROVE_WRITE_OFF, P.REFUND, P.REVERSE_ENTRY}
_MANAGER = _SUPERVISOR | {P.CLOSE_PERIOD, P.VIEW_AUDIT, P.MANAGE_CATALOGUE}

ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.CLERK: frozenset(_CLERK),
    StaffRole.BILLER: frozenset(_BILLER),
    StaffRole.SUPERVISOR: frozenset(_SUPERVISOR),
    StaffRole.MANAGER: frozenset(_MANAGER),
    StaffRole.ADMIN: frozenset(Permission),
    StaffRole.AUDITOR: frozenset({P.VIEW_ACCOUNTS, P.VIEW_REPORTS, P.VIEW_AUDIT}),
}

_MACHINE_PERMISSIONS = {
    # Scheduled jobs post small-balance write-offs, statements and plan instalments.
    "system": frozenset(Permission) - {P.MANAGE_STAFF, P.CLOSE_PERIOD},
    # Payment webhooks record payments, refunds and card-dispute reversals.
    "webhook": frozenset(
        {P.VIEW_ACCOUNTS, P.RECORD_PAYMENT, P.APPLY_CASH, P.REVERSE_ENTRY, P.REFUND, P.DISPUTE}
    ),
    "patient": frozenset({P.DISPUTE}),
    # Whoever runs ``arbot`` on the server already holds the database: an administrator.
    "operator": frozenset(Permission),
}

DEFAULT_APPROVAL_LIMITS: dict[StaffRole, int | None] = {
    StaffRole.SUPERVISOR: 50_000,
    StaffRole.MANAGER: None,
    StaffRole.ADMIN: None,
}
"""A role's approval limit in minor units (500.00 in a currency with cents) when the
staff user has none of their own; ``None`` is no limit (AR-088)."""

APPROVER_LEVELS: dict[StaffRole, str] = {
    StaffRole.SUPERVISOR: "supervisor",
    StaffRole.MANAGER: "manager",
    StaffRole.ADMIN: "manager",
}
"""Who a request above a supervisor's limit escalates to: managers and administrators."""

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,39}$")

staff_user = Table(
    "staff_user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False),
    Column("role", String(20), nullable=False),
    Column("locations", String(400)),
    Column("slack_user_id", String(40), unique=True),
    Column("approval_limit_minor", Minor),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Whoever asks: a staff user, a patient, a scheduled job or a webhook."""

    kind: str
    id: str
    name: str
    role: StaffRole | None = None
    locations: frozenset[str] | None = None
    approval_limit_minor: int | None = None

    @property
    def label(self) -> str:
        """How the actor appears on entries and in the audit trail."""
        return f"{self.kind}:{self.id}"

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.kind == "staff":
            return ROLE_PERMISSIONS[self.role] if self.role else frozenset()
        return _MACHINE_PERMISSIONS.get(self.kind, frozenset())

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls("system", job, job)

    @classmethod
    def webhook(cls, source: str) -> Actor:
        return cls("webhook", source, source)

    @classmethod
    def operator(cls, user: str) -> Actor:
        """The person running ``arbot`` on the server (``user`` is their login)."""
        return cls("operator", user, f"operator {user}")


def approver_level(actor: Actor) -> str | None:
    """``"supervisor"`` or ``"manager"`` for staff who approve; ``None`` for others."""
    return APPROVER_LEVELS.get(actor.role) if actor.kind == "staff" and actor.role else None


def approval_limit(actor: Actor) -> int | None:
    """The most, in minor units, ``actor`` may approve: their own limit, else their role's
    default; ``None`` is unlimited. Machine actors carry no limit (AR-088)."""
    if actor.kind != "staff":
        return None
    if actor.approval_limit_minor is not None:
        return actor.approval_limit_minor
    return DEFAULT_APPROVAL_LIMITS.get(actor.role, 0) if actor.role else 0


def require(actor: Actor, permission: Permission, location: str | None = None) -> None:
    """Refuse unless ``actor`` holds ``permission`` (at ``location`` when given)."""
    if permission not in actor.permissions:
        who = f"{actor.name} ({actor.role or actor.kind})"
        raise PermissionDenied(f"{who} lacks the permission '{permission.value}'")
    if location is not None and actor.locations is not None and location not in actor.locations:
        raise PermissionDenied(
            f"{actor.name} may not work on accounts of location '{location}' "
            f"(permission '{permission.value}' is limited to {', '.join(sorted(actor.locations))})"
        )


def _actor(row: Row[Any]) -> Actor:
    locations = row.locations
    return Actor(
        kind="staff",
        id=str(row.id),
        name=row.name,
        role=StaffRole(row.role),
        locations=frozenset(locations.split(",")) if locations else None,
        approval_limit_minor=row.approval_limit_minor,
    )


async def add_staff(
    tx: Tx,
    by: Actor,
    *,
    name: str,
    role: str,
    locations: Iterable[str] = (),
    slack_user_id: str | None = None,
    approval_limit_minor: int | None = None,
) -> Actor:
    require(by, Permission.MANAGE_STAFF)
    try:
        staff_role = StaffRole(role)
    except ValueError as exc:
        roles = ", ".join(r.value for r in StaffRole)
        raise ValidationError(f"{role!r} is not a role; use one of {roles}") from exc
    if not name.strip():
        raise ValidationError("a staff user needs a name")
    if slack_user_id is not None and not SLACK_USER.match(slack_user_id):
        raise ValidationError(
            f"{slack_user_id!r} is not a Slack user id (U or W and capitals or digits: U0123ABCD)"
        )
    if approval_limit_minor is not None and approval_limit_minor < 0:
        raise ValidationError("an approval limit cannot be negative")
    joined = ",".join(sorted(set(locations))) or None
    try:
        new_id = inserted_id(
            await tx.conn.execute(
                staff_user.insert().values(
                    name=name.strip(),
                    role=staff_role.value,
                    locations=joined,
                    slack_user_id=slack_user_id,
                    approval_limit_minor=approval_limit_minor,
                    created_at=tx.db.clock.now(),
                )
            )
        )
    except IntegrityError as exc:
        raise ValidationError(f"Slack user {slack_user_id} is already a staff user") from exc
    tx.audit(
        by.label,
        "admin",
        "staff.add",
        f"staff {new_id}",
        name=name,
        role=role,
        locations=joined,
        approval_limit_minor=approval_limit_minor,
    )
    row = (await tx.conn.execute(select(staff_user).where(staff_user.c.id == new_id))).one()
    return _actor(row)


async def load_staff(
    conn: AsyncConnection, *, staff_id: int | None = None, slack_user_id: str | None = None
) -> Actor:
    query = select(staff_user).where(staff_user.c.active.is_(True))
    if staff_id is not None:
        query = query.where(staff_user.c.id == staff_id)
    else:
        query = query.where(staff_user.c.slack_user_id == slack_user_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("no active staff user matches")
    return _actor(row)


async def list_staff(conn: AsyncConnection) -> list[Actor]:
    rows = await conn.execute(select(staff_user).order_by(staff_user.c.id))
    return [_actor(r) for r in rows]


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A staff user as the directory shows them: who they act as, and how to reach them."""

    actor: Actor
    slack_user_id: str | None
    active: bool
    created_at: datetime


async def staff_directory(conn: AsyncConnection) -> list[StaffMember]:
    """Every staff user, active or not, oldest first (``arbot staff list``)."""
    rows = await conn.execute(select(staff_user).order_by(staff_user.c.id))
    return [StaffMember(_actor(r), r.slack_user_id, bool(r.active), r.created_at) for r in rows]
