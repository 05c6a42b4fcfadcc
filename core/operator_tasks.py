"""Jobs an operator runs from the command line with the owner connection, before any staff user exists."""

from __future__ import annotations

from sqlalchemy import Engine, select

from core.auth import Role, hash_password
from core.db.transaction import tenant_session
from core.errors import NotFound, ValidationError
from core.models import AuditEntry, Hotel, StaffUser
from core.validation import require_username


def add_user(owner: Engine, *, hotel_name: str, username: str, role: str, full_name: str, password: str) -> int:
    """Add a staff user with an argon2 hash; the audit row records that the command line did it."""
    try:
        role_value = Role(role)
    except ValueError:
        raise ValidationError(f"Unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}.") from None
    require_username(username)
    password_hash = hash_password(password)
    with tenant_session(owner, None) as session:
        hotel_id = session.scalar(select(Hotel.id).where(Hotel.name == hotel_name))
    if hotel_id is None:
        raise NotFound(f"There is no hotel named {hotel_name!r}.")
    with tenant_session(owner, hotel_id) as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
            raise ValidationError(f"User {username!r} already exists in {hotel_name}.")
        user = StaffUser(
            hotel_id=hotel_id,
            username=username,
            full_name=full_name.strip()[:120] or username,
            role=role_value.value,
            password_hash=password_hash,
        )
        session.add(user)
        session.flush()
        session.add(
            AuditEntry(
                hotel_id=hotel_id,
                user_id=None,
                action="staff.added",
                resource_type="staff_user",
                resource_id=str(user.id),
                details={"username": username, "role": role_value.value, "via": "command line"},
            )
        )
        return user.id
