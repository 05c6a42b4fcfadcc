"""Staff accounts on a real database: sign-in, user management and the rules that keep an administrator."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from core.auth import Role
from core.db.transaction import tenant_session
from core.errors import AuthenticationFailed, InvalidTransition, NotFound, PermissionDenied, ValidationError
from core.services import directory, staff
from tests.factories import PASSWORD

NEW_PASSWORD = "new-secret-42"


def _state(db) -> dict:
    """Everything a refused call must leave as it was, password hashes included."""
    with db.owner.connect() as conn:
        users = conn.execute(
            text("SELECT id, username, full_name, role, active, password_hash FROM staff_users ORDER BY id")
        ).all()
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in ("audit_log", "event_outbox")]
    return {"users": [tuple(u) for u in users], "counts": counts}


def _audit(db) -> list[tuple]:
    with db.owner.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT action, user_id, resource_id, details FROM audit_log WHERE resource_type = 'staff_user'"
                    " ORDER BY id"
                )
            )
        ]


def _events(db) -> list[dict]:
    with db.owner.connect() as conn:
        return [r.payload for r in conn.execute(text("SELECT payload FROM event_outbox WHERE name = 'staff.changed'"))]


def _no_secrets_anywhere(db, *passwords: str) -> None:
    with db.owner.connect() as conn:
        hashes = list(conn.execute(text("SELECT password_hash FROM staff_users")).scalars())
        written = " ".join(
            str(v)
            for v in conn.execute(
                text("SELECT details::text FROM audit_log UNION ALL SELECT payload::text FROM event_outbox")
            ).scalars()
        )
    for secret in (*passwords, *hashes, "$argon2"):
        assert secret not in written


# --- sign-in -------------------------------------------------------------------------------------


def test_the_sign_in_hotel_list_names_every_hotel_in_order(db, hotel, other_hotel):
    assert [(h.id, h.name) for h in directory.list_hotels()] == [
        (hotel.hotel_id, "Hotel Aurora"),
        (other_hotel.hotel_id, "Hotel Borealis"),
    ]


def test_sign_in_returns_the_actor_of_the_user(db, hotel):
    actor = staff.sign_in("Hotel Aurora", "  Front-Desk ", PASSWORD)

    assert actor.hotel_id == hotel.hotel_id
    assert actor.role is Role.FRONT_DESK
    assert actor.user_id == hotel.user_ids[Role.FRONT_DESK]
    assert actor.username == "front-desk"


def test_sign_in_fails_with_one_message_whatever_was_wrong(db, hotel, other_hotel):
    staff.deactivate_user(hotel.manager, hotel.user_ids[Role.HOUSEKEEPING])
    attempts = [
        ("Hotel Nowhere", "front-desk", PASSWORD),  # unknown hotel
        ("Hotel Aurora", "nobody", PASSWORD),  # unknown user
        ("Hotel Aurora", "front-desk", "wrong-password"),  # wrong password
        ("Hotel Aurora", "housekeeping", PASSWORD),  # deactivated
        ("Hotel Aurora", "front-desk", ""),
        ("Hotel Aurora", "front\x00desk", PASSWORD),  # PostgreSQL text cannot hold NUL
        ("Hotel Aurora", "front-desk", "x" * 10_000),
    ]
    messages = set()
    for hotel_name, username, password in attempts:
        with pytest.raises(AuthenticationFailed) as refused:
            staff.sign_in(hotel_name, username, password)
        messages.add(str(refused.value))
    assert messages == {staff.SIGN_IN_FAILED}
    # the same user name in another hotel is another account
    assert staff.sign_in("Hotel Borealis", "front-desk", PASSWORD).hotel_id == other_hotel.hotel_id


# --- adding users --------------------------------------------------------------------------------


def test_manager_adds_a_user_who_can_then_sign_in(db, hotel):
    row = staff.add_user(hotel.manager, "A.Lindqvist", "  Astrid Lindqvist ", "front_desk", "s3cret-pass")

    assert (row.username, row.full_name, row.role, row.active) == (
        "a.lindqvist",
        "Astrid Lindqvist",
        Role.FRONT_DESK,
        True,
    )
    with db.owner.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM staff_users WHERE id = :i"), {"i": row.id}).scalar_one()
    assert stored.startswith("$argon2id$")
    assert staff.sign_in("Hotel Aurora", "a.lindqvist", "s3cret-pass").user_id == row.id
    assert _audit(db) == [
        (
            "staff.added",
            hotel.manager.user_id,
            str(row.id),
            {"username": "a.lindqvist", "full_name": "Astrid Lindqvist", "role": "front_desk"},
        ),
    ]
    assert _events(db) == [{"hotel_id": hotel.hotel_id, "user_id": row.id}]
    _no_secrets_anywhere(db, "s3cret-pass")


def test_add_user_refuses_bad_input_and_changes_nothing(db, hotel):
    before = _state(db)
    refusals = [
        (("x", "Name", "front_desk", NEW_PASSWORD), ValidationError, "2 to 40 characters"),
        (("bad name", "Name", "front_desk", NEW_PASSWORD), ValidationError, "2 to 40 characters"),
        (("a" * 41, "Name", "front_desk", NEW_PASSWORD), ValidationError, "2 to 40 characters"),
        (("front-desk", "Name", "front_desk", NEW_PASSWORD), ValidationError, "already taken"),
        (("newbie", "", "front_desk", NEW_PASSWORD), ValidationError, "full name is required"),
        (("newbie", "N" * 101, "front_desk", NEW_PASSWORD), ValidationError, "full name is too long"),
        (("newbie", "Name\x07", "front_desk", NEW_PASSWORD), ValidationError, "control"),
        (("newbie", "Name", "owner", NEW_PASSWORD), ValidationError, "not a role"),
        (("newbie", "Name", "front_desk", "short"), ValidationError, "at least 8 characters"),
        (("newbie", "Name", "front_desk", "p" * 257), ValidationError, "at most 256"),
        (("newbie", "Name", "admin", NEW_PASSWORD), PermissionDenied, "Only an administrator"),
    ]
    for args, error, message in refusals:
        with pytest.raises(error, match=message):
            staff.add_user(hotel.manager, *args)
    with pytest.raises(PermissionDenied):
        staff.add_user(hotel.front_desk, "newbie", "Name", "front_desk", NEW_PASSWORD)
    assert _state(db) == before


def test_only_an_admin_creates_an_admin(db, hotel):
    row = staff.add_user(hotel.admin, "second-admin", "Second Admin", Role.ADMIN, NEW_PASSWORD)
    assert row.role is Role.ADMIN


# --- roles ---------------------------------------------------------------------------------------


def test_change_role_audits_old_and_new_role(db, hotel):
    user_id = hotel.user_ids[Role.FRONT_DESK]

    row = staff.change_role(hotel.manager, user_id, "manager")
    again = staff.change_role(hotel.manager, user_id, Role.MANAGER)  # no change: nothing written

    assert row.role is Role.MANAGER and again == row
    assert [(a[0], a[3]) for a in _audit(db)] == [
        ("staff.role_changed", {"username": "front-desk", "old_role": "front_desk", "new_role": "manager"})
    ]
    assert staff.sign_in("Hotel Aurora", "front-desk", PASSWORD).role is Role.MANAGER


def test_a_manager_cannot_make_or_touch_an_admin(db, hotel):
    before = _state(db)
    admin_id = hotel.user_ids[Role.ADMIN]
    with pytest.raises(PermissionDenied, match="Only an administrator may give"):
        staff.change_role(hotel.manager, hotel.user_ids[Role.FRONT_DESK], Role.ADMIN)
    with pytest.raises(PermissionDenied, match="administrator's account"):
        staff.change_role(hotel.manager, admin_id, Role.FRONT_DESK)
    with pytest.raises(PermissionDenied, match="administrator's account"):
        staff.deactivate_user(hotel.manager, admin_id)
    with pytest.raises(PermissionDenied, match="administrator's account"):
        staff.reset_password(hotel.manager, admin_id, NEW_PASSWORD)
    assert _state(db) == before


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(db, hotel):
    admin_id = hotel.user_ids[Role.ADMIN]
    before = _state(db)
    with pytest.raises(InvalidTransition, match="last active administrator"):
        staff.change_role(hotel.admin, admin_id, Role.MANAGER)
    assert _state(db) == before

    second = staff.add_user(hotel.admin, "second-admin", "Second Admin", Role.ADMIN, NEW_PASSWORD)
    staff.deactivate_user(hotel.admin, second.id)  # an inactive admin does not count
    with pytest.raises(InvalidTransition, match="last active administrator"):
        staff.change_role(hotel.admin, admin_id, Role.MANAGER)

    staff.reactivate_user(hotel.admin, second.id)
    assert staff.change_role(hotel.admin, admin_id, Role.MANAGER).role is Role.MANAGER
    second_actor = staff.sign_in("Hotel Aurora", "second-admin", NEW_PASSWORD)
    with pytest.raises(InvalidTransition, match="last active administrator"):
        staff.change_role(second_actor, second.id, Role.FRONT_DESK)


def test_two_admins_demoting_each_other_at_once_leave_one_admin(db, hotel):
    """Another terminal has demoted the second admin but not yet committed; our demotion of the first
    admin must wait for it and then refuse, instead of both going through and leaving no admin."""
    second = staff.add_user(hotel.admin, "second-admin", "Second Admin", Role.ADMIN, NEW_PASSWORD)
    second_actor = staff.sign_in("Hotel Aurora", "second-admin", NEW_PASSWORD)
    outcome: list[object] = []

    def demote_first_admin() -> None:
        try:
            outcome.append(staff.change_role(second_actor, hotel.user_ids[Role.ADMIN], Role.MANAGER))
        except InvalidTransition as exc:
            outcome.append(exc)

    with tenant_session(db.app, hotel.hotel_id) as other_terminal:
        other_terminal.execute(text("UPDATE staff_users SET role = 'manager' WHERE id = :i"), {"i": second.id})
        worker = threading.Thread(target=demote_first_admin)
        worker.start()
        time.sleep(0.5)
        assert outcome == []  # waiting for the other terminal's row lock
    worker.join(10)

    assert len(outcome) == 1 and isinstance(outcome[0], InvalidTransition)
    with db.owner.connect() as conn:
        admins = conn.execute(text("SELECT count(*) FROM staff_users WHERE role = 'admin' AND active")).scalar_one()
    assert admins == 1


# --- activation ----------------------------------------------------------------------------------


def test_deactivated_users_cannot_sign_in_until_reactivated(db, hotel):
    user_id = hotel.user_ids[Role.HOUSEKEEPING]

    assert staff.deactivate_user(hotel.manager, user_id).active is False
    assert staff.deactivate_user(hotel.manager, user_id).active is False  # already: nothing written
    with pytest.raises(AuthenticationFailed):
        staff.sign_in("Hotel Aurora", "housekeeping", PASSWORD)
    assert staff.reactivate_user(hotel.manager, user_id).active is True
    assert staff.sign_in("Hotel Aurora", "housekeeping", PASSWORD).user_id == user_id

    assert [a[0] for a in _audit(db)] == ["staff.deactivated", "staff.reactivated"]
    assert len(_events(db)) == 2


def test_nobody_deactivates_themselves_or_another_hotels_user(db, hotel, other_hotel):
    before = _state(db)
    with pytest.raises(InvalidTransition, match="your own account"):
        staff.deactivate_user(hotel.manager, hotel.manager.user_id)
    with pytest.raises(NotFound, match="Staff user"):
        staff.deactivate_user(hotel.manager, other_hotel.user_ids[Role.FRONT_DESK])
    with pytest.raises(NotFound):
        staff.change_role(hotel.manager, 999_999, Role.FRONT_DESK)
    assert _state(db) == before


def test_list_staff_shows_this_hotels_users_only(db, hotel, other_hotel):
    rows = staff.list_staff(hotel.manager)
    assert [(r.username, r.role) for r in rows] == [
        ("admin", Role.ADMIN),
        ("front-desk", Role.FRONT_DESK),
        ("housekeeping", Role.HOUSEKEEPING),
        ("manager", Role.MANAGER),
    ]


# --- passwords -----------------------------------------------------------------------------------


def test_reset_password_replaces_the_old_one(db, hotel):
    user_id = hotel.user_ids[Role.FRONT_DESK]

    staff.reset_password(hotel.manager, user_id, NEW_PASSWORD)

    with pytest.raises(AuthenticationFailed):
        staff.sign_in("Hotel Aurora", "front-desk", PASSWORD)
    assert staff.sign_in("Hotel Aurora", "front-desk", NEW_PASSWORD).user_id == user_id
    assert [a[0] for a in _audit(db)] == ["staff.password_reset"]
    _no_secrets_anywhere(db, NEW_PASSWORD, PASSWORD)


def test_reset_password_refuses_a_short_one_and_changes_nothing(db, hotel):
    before = _state(db)
    with pytest.raises(ValidationError, match="at least 8"):
        staff.reset_password(hotel.manager, hotel.user_ids[Role.FRONT_DESK], "1234567")
    assert _state(db) == before


def test_any_role_changes_its_own_password_given_the_current_one(db, hotel):
    actor = hotel.housekeeping
    before = _state(db)
    with pytest.raises(AuthenticationFailed, match="current password is not correct"):
        staff.change_own_password(actor, "not-the-password", NEW_PASSWORD)
    with pytest.raises(ValidationError, match="at least 8"):
        staff.change_own_password(actor, PASSWORD, "short")
    assert _state(db) == before

    staff.change_own_password(actor, PASSWORD, NEW_PASSWORD)

    assert staff.sign_in("Hotel Aurora", "housekeeping", NEW_PASSWORD).user_id == actor.user_id
    assert _audit(db)[-1][:3] == ("staff.password_changed", actor.user_id, str(actor.user_id))
    _no_secrets_anywhere(db, NEW_PASSWORD, PASSWORD)
