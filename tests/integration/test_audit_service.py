"""Audit log search on a real database: filters, names, newest first, pages of 50, one hotel only."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from core.auth import Role
from core.errors import PermissionDenied, ValidationError
from core.services import audit, guests
from core.services.audit import AuditFilter
from core.services.guests import GuestInput

T0 = dt.datetime(2030, 5, 10, 8, 0, tzinfo=dt.UTC)


def _write(db, hotel_id: int, rows: list[tuple]) -> list[int]:
    """Audit rows as (minutes after T0, user_id, action, resource_type, resource_id); returns their ids."""
    ids = []
    with db.owner.begin() as conn:
        for minutes, user_id, action, resource_type, resource_id in rows:
            ids.append(
                conn.execute(
                    text(
                        "INSERT INTO audit_log (hotel_id, at, user_id, action, resource_type, resource_id, details)"
                        " VALUES (:h, :at, :u, :a, :t, :r, '{\"n\": 1}') RETURNING id"
                    ),
                    {
                        "h": hotel_id,
                        "at": T0 + dt.timedelta(minutes=minutes),
                        "u": user_id,
                        "a": action,
                        "t": resource_type,
                        "r": resource_id,
                    },
                ).scalar_one()
            )
    return ids


@pytest.fixture
def history(db, hotel, other_hotel):
    fd, mgr = hotel.user_ids[Role.FRONT_DESK], hotel.user_ids[Role.MANAGER]
    ids = _write(
        db,
        hotel.hotel_id,
        [
            (0, fd, "booking.created", "booking", "7"),
            (10, fd, "folio.charge_posted", "folio", "3"),
            (20, mgr, "folio.charge_voided", "folio", "3"),
            (30, None, "booking.no_show", "booking", "8"),
            (40, fd, "folio.charge_posted", "folio", "4"),
            (50, mgr, "booking.cancelled", "booking", "7"),
        ],
    )
    _write(db, other_hotel.hotel_id, [(5, other_hotel.user_ids[Role.MANAGER], "booking.created", "booking", "7")])
    return ids


def _ids(page) -> list[int]:
    return [row.id for row in page.rows]


def test_search_without_filters_lists_this_hotels_rows_newest_first_with_names(db, hotel, history):
    page = audit.search_audit(hotel.manager)

    assert _ids(page) == history[::-1]
    assert page.next_before_id is None
    newest, system_row = page.rows[0], page.rows[2]
    assert (newest.action, newest.resource_type, newest.resource_id) == ("booking.cancelled", "booking", "7")
    assert (newest.user_name, newest.at, newest.details) == ("Manager User", T0 + dt.timedelta(minutes=50), {"n": 1})
    assert (system_row.user_id, system_row.user_name) == (None, "system")


def test_search_filters_by_action_resource_user_and_time_window(db, hotel, history):
    fd = hotel.user_ids[Role.FRONT_DESK]
    searches = {
        "action": (AuditFilter(action="folio.charge_posted"), [history[4], history[1]]),
        "resource": (AuditFilter(resource_type="booking", resource_id=7), [history[5], history[0]]),
        "resource type": (AuditFilter(resource_type="folio"), [history[4], history[2], history[1]]),
        "user": (AuditFilter(user_id=fd), [history[4], history[1], history[0]]),
        "window": (
            AuditFilter(since=T0 + dt.timedelta(minutes=10), until=T0 + dt.timedelta(minutes=40)),
            [history[3], history[2], history[1]],
        ),
        "combined": (
            AuditFilter(action="folio.charge_posted", user_id=fd, since=T0 + dt.timedelta(minutes=15)),
            [history[4]],
        ),
        "no match": (AuditFilter(action="guest.created"), []),
    }
    found = {name: _ids(audit.search_audit(hotel.manager, criteria)) for name, (criteria, _) in searches.items()}
    assert found == {name: expected for name, (_, expected) in searches.items()}


def test_search_pages_by_fifty_with_before_id(db, hotel):
    written = _write(db, hotel.hotel_id, [(i, None, "room.status_changed", "room", str(i % 7)) for i in range(120)])

    pages, before = [], None
    while True:
        page = audit.search_audit(hotel.manager, AuditFilter(action="room.status_changed"), before_id=before)
        pages.append(_ids(page))
        before = page.next_before_id
        if before is None:
            break

    assert [len(p) for p in pages] == [50, 50, 20]
    assert [i for p in pages for i in p] == written[::-1]


def test_search_sees_rows_that_services_wrote(db, hotel):
    row = guests.create_guest(hotel.front_desk, GuestInput(last_name="Okafor"))

    page = audit.search_audit(hotel.admin, AuditFilter(resource_type="guest", resource_id=row.id))

    assert [(r.action, r.user_name) for r in page.rows] == [("guest.created", "Front_Desk User")]


def test_search_refuses_odd_criteria(db, hotel, history):
    refusals = [
        (AuditFilter(since=dt.datetime(2030, 5, 10, 8, 0)), "needs a time zone"),
        (AuditFilter(until=dt.datetime(2030, 5, 10, 8, 0)), "needs a time zone"),
        (AuditFilter(since=T0, until=T0), "must be before its end"),
        (AuditFilter(since=T0 + dt.timedelta(hours=1), until=T0), "must be before its end"),
        (AuditFilter(action="x" * 101), "too long"),
        (AuditFilter(resource_id="7\x00"), "control"),
    ]
    for criteria, message in refusals:
        with pytest.raises(ValidationError, match=message):
            audit.search_audit(hotel.manager, criteria)


def test_only_roles_with_audit_access_may_search(db, hotel, history):
    for actor in (hotel.front_desk, hotel.housekeeping):
        with pytest.raises(PermissionDenied, match="may not read the audit log"):
            audit.search_audit(actor)
    assert len(audit.search_audit(hotel.admin).rows) == len(history)
