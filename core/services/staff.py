"""Staff accounts: sign-in (the login dialog's hotel list is ``core.services.directory.list_hotels``) and user
management.

Passwords exist in clear only inside the call that hashes or verifies them (argon2); they and their
hashes never reach an audit row, an event or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core import normalize
from core.auth import Actor, Permission, Role, hash_password, verify_password
from core.db.transaction import tenant_session
from core.errors import AuthenticationFailed, InvalidTransition, PermissionDenied, ValidationError
from core.events.catalog import StaffChanged
from core.models import Hotel, StaffUser
from core.services.uow import UnitOfWork, bound_engine, requires, unit_of_work
from core.validation import require_username

MAX_PASSWORD_LENGTH = 256  # argon2 would hash more, but nobody types more; refuses megabyte "passwords"
SIGN_IN_FAILED = "Unknown hotel, user name or password, or the account is disabled."


@dataclass(frozen=True)
class StaffRow:
    id: int
    username: str
    full_name: str
    role: Role
    active: bool


def _row(user: StaffUser) -> StaffRow:
    return StaffRow(user.id, user.username, user.full_name, Role(user.role), user.active)


# --- before anyone signs in ----------------------------------------------------------------------


# An argon2 hash of a random string: unknown users cost as much time as known ones.
_DUMMY_HASH: str | None = None


def _spend_verify_time(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("not-a-real-account-password")
    verify_password(_DUMMY_HASH, password)


def sign_in(hotel_name: str, username: str, password: str) -> Actor:
    """The Actor for a staff user of ``hotel_name``, or AuthenticationFailed with one message whatever
    was wrong (hotel, user, disabled account or password), so the dialog reveals nothing."""
    if any("\x00" in value or len(value) > MAX_PASSWORD_LENGTH for value in (hotel_name, username, password)):
        raise AuthenticationFailed(SIGN_IN_FAILED)  # PostgreSQL text cannot hold NUL; nobody types 256+
    engine = bound_engine()
    with tenant_session(engine, None) as session:
        hotel_id = session.scalars(select(Hotel.id).where(Hotel.name == hotel_name.strip())).one_or_none()
    if hotel_id is None:
        _spend_verify_time(password)
        raise AuthenticationFailed(SIGN_IN_FAILED)
    with tenant_session(engine, hotel_id) as session:
        login = username.strip().lower()
        user = session.scalars(select(StaffUser).where(StaffUser.username == login)).one_or_none()
        if user is None:
            _spend_verify_time(password)
            raise AuthenticationFailed(SIGN_IN_FAILED)
        if not verify_password(user.password_hash, password) or not user.active:
            raise AuthenticationFailed(SIGN_IN_FAILED)
        return Actor(hotel_id=hotel_id, role=Role(user.role), user_id=user.id, username=user.username)


# --- user management -----------------------------------------------------------------------------


def _checked_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationError(f"{role!r} is not a role; choose one of {choices}.") from None


def _checked_username(username: str) -> str:
    """Sign-in compares lower case, so a username is stored trimmed and lower case."""
    return require_username((username or "").strip().lower())


def _hashed(password: str) -> str:
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"A password may have at most {MAX_PASSWORD_LENGTH} characters.")
    return hash_password(password)  # refuses passwords shorter than 8 characters


def _may_grant(actor: Actor, role: Role) -> None:
    if role is Role.ADMIN and actor.role is not Role.ADMIN:
        raise PermissionDenied("Only an administrator may give the administrator role.")


def _may_manage(actor: Actor, user: StaffUser) -> None:
    """A manager may not touch an administrator's account (that would be a way to become one)."""
    if user.role == Role.ADMIN.value and actor.role is not Role.ADMIN:
        raise PermissionDenied("Only an administrator may change an administrator's account.")


def _keep_an_admin(uow: UnitOfWork, user: StaffUser) -> None:
    """Refuse to remove the last active administrator. Locking every active admin row makes two
    terminals demoting each other's admins at once wait for each other instead of both succeeding."""
    if user.role != Role.ADMIN.value or not user.active:
        return
    admins = uow.session.scalars(
        select(StaffUser.id).where(StaffUser.role == Role.ADMIN.value, StaffUser.active).with_for_update()
    ).all()
    if set(admins) <= {user.id}:
        raise InvalidTransition(f"{user.username} is the last active administrator of this hotel.")


def _changed(uow: UnitOfWork, user: StaffUser, action: str, **details: Any) -> StaffRow:
    uow.audit(action, "staff_user", user.id, username=user.username, **details)
    uow.emit(StaffChanged(hotel_id=uow.actor.hotel_id, user_id=user.id))
    uow.commit()
    return _row(user)


@requires(Permission.STAFF_MANAGE)
def list_staff(actor: Actor) -> list[StaffRow]:
    with unit_of_work(actor, Permission.STAFF_MANAGE) as uow:
        users = uow.session.scalars(select(StaffUser).order_by(StaffUser.username)).all()
        return [_row(user) for user in users]


@requires(Permission.STAFF_MANAGE)
def add_user(actor: Actor, username: str, full_name: str, role: Role | str, password: str) -> StaffRow:
    """A new active staff account. Only an administrator may create another administrator."""
    login = _checked_username(username)
    name = normalize.clean_text(full_name, "The full name", max_length=100, required=True)
    new_role = _checked_role(role)
    _may_grant(actor, new_role)
    password_hash = _hashed(password)
    with unit_of_work(actor, Permission.STAFF_MANAGE) as uow:
        if uow.session.scalars(select(StaffUser.id).where(StaffUser.username == login)).first() is not None:
            raise ValidationError(f"The username {login!r} is already taken in this hotel.")
        user = StaffUser(
            hotel_id=actor.hotel_id, username=login, full_name=name, role=new_role.value, password_hash=password_hash
        )
        uow.session.add(user)
        uow.flush()
        return _changed(uow, user, "staff.added", full_name=name, role=new_role.value)


@requires(Permission.STAFF_MANAGE)
def change_role(actor: Actor, user_id: int, role: Role | str) -> StaffRow:
    new_role = _checked_role(role)
    _may_grant(actor, new_role)
    with unit_of_work(actor, Permission.STAFF_MANAGE) as uow:
        user = uow.get(StaffUser, user_id, "Staff user", lock=True)
        _may_manage(actor, user)
        if user.role == new_role.value:
            return _row(user)
        if new_role is not Role.ADMIN:
            _keep_an_admin(uow, user)
        old_role, user.role = user.role, new_role.value
        return _changed(uow, user, "staff.role_changed", old_role=old_role, new_role=new_role.value)


@requires(Permission.STAFF_MANAGE)
def deactivate_user(actor: Actor, user_id: int) -> StaffRow:
    """The account can no longer sign in; its history stays."""
    with unit_of_work(actor, Permission.STAFF_MANAGE) as uow:
        user = uow.get(StaffUser, user_id, "Staff user", lock=True)
        _may_manage(actor, user)
        if user.id == actor.user_id:
            raise InvalidTransition("You cannot deactivate your own account.")
        if not user.active:
            return _row(user)
        _keep_an_admin(uow, user)
        user.active = False
        return _changed(uow, user, "staff.deactivated")


@requires(Permission.STAFF_MANAGE)
def reactivate_user(actor: Actor, user_id: int) -> StaffRow:
    with unit_of_work(actor, Permission.STAFF_MANAGE) as uow:
        user = uow.get(StaffUser, user_id, "Staff user", lock=True)
        _may_manage(actor, user)
        if user.active:
            return _row(user)
        user.active = True
        return _changed(uow, user, "staff.reactivated")


@requires(Permission.STAFF_MANAGE)
def reset_password(actor: Actor, user_id: int, new_password: str) -> StaffRow:
    """Set a new password for someone who forgot theirs."""
    password_hash = _hashed(new_password)
    with unit_of_work(actor, Permission.STAFF_MANAGE) as uow:
        user = uow.get(StaffUser, user_id, "Staff user", lock=True)
        _may_manage(actor, user)
        user.password_hash = password_hash
        return _changed(uow, user, "staff.password_reset")


@requires(Permission.ROOMS_READ)
def change_own_password(actor: Actor, old_password: str, new_password: str) -> StaffRow:
    """Any signed-in user may change their own password, given the current one.

    Checked with ROOMS_READ because that permission is held by every role (tests/integration/test_permissions.py
    asserts it); the permission table has no "signed in" permission of its own."""
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in staff user has a password to change.")
    password_hash = _hashed(new_password)
    with unit_of_work(actor, Permission.ROOMS_READ) as uow:
        user = uow.get(StaffUser, actor.user_id, "Staff user", lock=True)
        if not user.active or not verify_password(user.password_hash, old_password):
            raise AuthenticationFailed("The current password is not correct.")
        user.password_hash = password_hash
        return _changed(uow, user, "staff.password_changed")
