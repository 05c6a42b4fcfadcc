"""Roles, named permissions, the Actor every service receives, and password hashing (argon2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import PermissionDenied, ValidationError


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    FRONT_DESK = "front_desk"
    HOUSEKEEPING = "housekeeping"


class Permission(StrEnum):
    ROOMS_READ = "rooms.read"
    ROOM_STATUS = "rooms.status"  # housekeeping condition, discrepancies
    ROOMS_MANAGE = "rooms.manage"  # room types, out-of-order / out-of-service
    GUESTS_READ = "guests.read"
    GUESTS_WRITE = "guests.write"
    BOOKINGS_READ = "bookings.read"
    BOOKINGS_WRITE = "bookings.write"  # create, update, assign, cancel, no-show, reinstate
    CHECK_IN_OUT = "stays.check_in_out"
    FOLIO_POST = "folios.post"  # charges, payments, refunds, close
    FOLIO_VOID = "folios.void"
    OVERRIDE = "override"  # early/late check-in, unsettled check-out
    HOUSEKEEPING = "housekeeping.work"  # start / complete own tasks
    HOUSEKEEPING_SUPERVISE = "housekeeping.supervise"  # create, assign, inspect
    NIGHT_AUDIT = "night_audit.run"
    STAFF_MANAGE = "staff.manage"
    AUDIT_READ = "audit.read"
    PMS_MANAGE = "pms.manage"  # connect, disconnect, sync


_FRONT_DESK = {
    Permission.ROOMS_READ,
    Permission.ROOM_STATUS,
    Permission.GUESTS_READ,
    Permission.GUESTS_WRITE,
    Permission.BOOKINGS_READ,
    Permission.BOOKINGS_WRITE,
    Permission.CHECK_IN_OUT,
    Permission.FOLIO_POST,
    Permission.HOUSEKEEPING_SUPERVISE,
    Permission.NIGHT_AUDIT,
}
_HOUSEKEEPING = {
    Permission.ROOMS_READ,
    Permission.ROOM_STATUS,
    Permission.HOUSEKEEPING,
    Permission.HOUSEKEEPING_SUPERVISE,
}
_MANAGER = (
    _FRONT_DESK
    | _HOUSEKEEPING
    | {
        Permission.ROOMS_MANAGE,
        Permission.FOLIO_VOID,
        Permission.OVERRIDE,
        Permission.STAFF_MANAGE,
        Permission.AUDIT_READ,
        Permission.PMS_MANAGE,
    }
)

# The one permission table. The UI hides what a role lacks; services refuse it anyway.
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MANAGER: frozenset(_MANAGER),
    Role.FRONT_DESK: frozenset(_FRONT_DESK),
    Role.HOUSEKEEPING: frozenset(_HOUSEKEEPING),
}

_DESCRIPTIONS = {
    Permission.FOLIO_VOID: "void charges",
    Permission.OVERRIDE: "override front-desk rules",
    Permission.STAFF_MANAGE: "manage staff",
    Permission.PMS_MANAGE: "manage PMS connections",
    Permission.AUDIT_READ: "read the audit log",
    Permission.ROOMS_MANAGE: "manage rooms",
    Permission.BOOKINGS_WRITE: "change bookings",
    Permission.BOOKINGS_READ: "see bookings",
    Permission.FOLIO_POST: "post to folios",
    Permission.CHECK_IN_OUT: "check guests in or out",
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in staff user of one hotel (``user_id`` None for system work)."""

    hotel_id: int
    role: Role
    user_id: int | None = None
    username: str = "system"

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            what = _DESCRIPTIONS.get(permission, permission.value)
            raise PermissionDenied(f"The {self.role.value.replace('_', ' ')} role may not {what}.")


_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
