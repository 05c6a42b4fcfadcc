"""Rooms service on a real PostgreSQL: the three status layers, the housekeeping state machine, bulk
changes, out-of-order / out-of-service windows, queued arrivals, and skip/sleep discrepancies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

from core.errors import InvalidTransition, NotFound, PermissionDenied, RoomUnavailable, ValidationError
from core.services import rooms
from core.services.rooms import TRANSITIONS, check_transition
from core.services.uow import unit_of_work
from tests.factories import make_booking, make_hotel, set_hk

DAY = dt.timedelta(days=1)


# --- helpers: read the database as its owner ----------------------------------------------------


def _rows(db, sql: str, **params: Any) -> list[Any]:
    with db.owner.connect() as conn:
        return list(conn.execute(text(sql), params))


def audit(db, hotel, action: str) -> list[Any]:
    return _rows(
        db,
        "SELECT resource_id, details, user_id FROM audit_log WHERE hotel_id = :h AND action = :a ORDER BY id",
        h=hotel.hotel_id,
        a=action,
    )


def events(db, hotel, name: str) -> list[dict[str, Any]]:
    rows = _rows(
        db, "SELECT payload FROM event_outbox WHERE hotel_id = :h AND name = :n ORDER BY id", h=hotel.hotel_id, n=name
    )
    return [row.payload for row in rows]


def status_of(db, hotel, number: str) -> str:
    return _rows(db, "SELECT hk_status FROM rooms WHERE id = :r", r=hotel.room_ids[number])[0].hk_status


def snapshot(db) -> tuple[Any, ...]:
    """Everything these services may write, to prove a refusal changed nothing."""
    return (
        _rows(db, "SELECT id, hk_status, hk_occupancy, hk_status_changed_at FROM rooms ORDER BY id"),
        _rows(db, "SELECT id, kind, starts_on, ends_on, released FROM room_overlays ORDER BY id"),
        _rows(db, "SELECT count(*) FROM audit_log"),
        _rows(db, "SELECT count(*) FROM event_outbox"),
        _rows(db, "SELECT id, status, queued FROM bookings ORDER BY id"),
    )


def queue_booking(db, booking_id: int) -> None:
    with db.owner.begin() as conn:
        conn.execute(text("UPDATE bookings SET queued = true WHERE id = :b"), {"b": booking_id})


def code_of(db, booking_id: int) -> str:
    return _rows(db, "SELECT confirmation_code FROM bookings WHERE id = :b", b=booking_id)[0].confirmation_code


def by_number(rows: list[rooms.RoomRow]) -> dict[str, rooms.RoomRow]:
    return {row.number: row for row in rows}


# --- listing -------------------------------------------------------------------------------------


def test_list_rooms_shows_occupancy_condition_overlay_and_readiness(db, hotel):
    today = hotel.business_date
    booking_id, _ = make_booking(
        db.owner, hotel, check_in=today, room_number="102", room_type="DBL", status="checked_in"
    )
    set_hk(db, hotel, "clean", "103")
    rooms.put_room_out_of_order(hotel.manager, hotel.room_ids["105"], today, today + 3 * DAY, "Leaking pipe")
    rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["107"], today + DAY, today + 2 * DAY, "Paint")

    listed = by_number(rooms.list_rooms(hotel.front_desk))

    assert list(listed) == ["101", "102", "103", "104", "105", "106", "107", "108", "109", "110"]
    assert listed["101"].occupancy == "vacant" and listed["101"].ready and listed["101"].overlay_kind is None
    assert listed["102"].occupancy == "occupied" and listed["102"].in_house_booking_id == booking_id
    assert listed["102"].room_type_code == "DBL"
    assert listed["103"].hk_status == "clean" and not listed["103"].ready  # the hotel inspects
    assert listed["105"].overlay_kind == "out_of_order" and listed["105"].overlay_reason == "Leaking pipe"
    assert listed["105"].overlay_ends_on == today + 3 * DAY and not listed["105"].ready
    assert listed["107"].overlay_kind is None and listed["107"].ready  # its window starts tomorrow


def test_list_rooms_filters_by_floor_type_condition_occupancy_and_readiness(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, room_number="102", room_type="DBL", status="checked_in")
    set_hk(db, hotel, "clean", "103")
    rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["105"], today, today + DAY, "Carpet")
    actor = hotel.housekeeping

    assert len(rooms.list_rooms(actor, floor=1)) == 10
    assert rooms.list_rooms(actor, floor=2) == []
    doubles = rooms.list_rooms(actor, room_type_id=hotel.room_type_ids["DBL"])
    assert [r.number for r in doubles] == ["102", "104", "106", "108", "110"]
    assert [r.number for r in rooms.list_rooms(actor, hk_status="clean")] == ["103"]
    assert [r.number for r in rooms.list_rooms(actor, occupancy="occupied")] == ["102"]
    assert [r.number for r in rooms.list_rooms(actor, ready=False)] == ["103", "105"]
    assert [r.number for r in rooms.list_rooms(actor, floor=1, occupancy="vacant", hk_status="clean")] == ["103"]


def test_list_rooms_refuses_bad_filters(db, hotel):
    bad: list[dict[str, Any]] = [
        {"hk_status": "sparkly"},
        {"occupancy": "maybe"},
        {"floor": "1"},
        {"floor": True},
        {"room_type_id": -3},
    ]
    for filters in bad:
        with pytest.raises(ValidationError):
            rooms.list_rooms(hotel.front_desk, **filters)


def test_get_room_and_room_types_stay_within_the_hotel(db, hotel, other_hotel):
    listed = {row.id for row in rooms.list_rooms(hotel.front_desk)}
    assert listed == set(hotel.room_ids.values())
    with pytest.raises(NotFound):
        rooms.get_room(hotel.front_desk, other_hotel.room_ids["101"])
    assert {t.id for t in rooms.list_room_types(hotel.front_desk)} == set(hotel.room_type_ids.values())
    row = rooms.get_room(hotel.housekeeping, hotel.room_ids["104"])
    assert (row.number, row.room_type_code, row.hk_status, row.occupancy) == ("104", "DBL", "inspected", "vacant")
    types = rooms.list_room_types(hotel.front_desk)
    assert [(t.code, t.room_count, str(t.base_rate), t.max_occupancy) for t in types] == [
        ("DBL", 5, "150.00", 3),
        ("STD", 5, "100.00", 2),
    ]


# --- the state machine ---------------------------------------------------------------------------

ALLOWED = {
    ("dirty", "pickup"),
    ("dirty", "clean"),
    ("pickup", "clean"),
    ("pickup", "dirty"),
    ("clean", "inspected"),
    ("clean", "dirty"),
    ("clean", "pickup"),
    ("inspected", "dirty"),
    ("inspected", "pickup"),
}


@pytest.mark.parametrize("current", list(TRANSITIONS))
@pytest.mark.parametrize("target", list(TRANSITIONS))
def test_state_machine_allows_exactly_the_documented_transitions(current, target):
    if current == target or (current, target) in ALLOWED:
        check_transition("101", current, target, inspection_required=True)
    else:
        with pytest.raises(InvalidTransition, match="Room 101"):
            check_transition("101", current, target, inspection_required=True)


def test_inspected_is_never_a_target_without_inspection():
    for current in TRANSITIONS:
        with pytest.raises(InvalidTransition, match="does not use inspection"):
            check_transition("101", current, "inspected", inspection_required=False)


def test_each_status_change_writes_one_audit_row_and_one_event(db, hotel):
    room_id = hotel.room_ids["101"]
    before = _rows(db, "SELECT hk_status_changed_at FROM rooms WHERE id = :r", r=room_id)[0][0]

    change = rooms.set_room_status(hotel.housekeeping, room_id, "dirty")

    assert change.changed_room_ids == (room_id,) and change.unchanged_room_ids == ()
    assert status_of(db, hotel, "101") == "dirty"
    assert _rows(db, "SELECT hk_status_changed_at FROM rooms WHERE id = :r", r=room_id)[0][0] > before
    [row] = audit(db, hotel, "room.status_changed")
    assert row.resource_id == str(room_id) and row.user_id == hotel.user_ids[hotel.housekeeping.role]
    assert row.details == {"number": "101", "from": "inspected", "to": "dirty"}
    assert events(db, hotel, "room.statusChanged") == [{"hotel_id": hotel.hotel_id, "room_ids": [room_id]}]
    for status in ("pickup", "clean", "inspected"):
        rooms.set_room_status(hotel.housekeeping, room_id, status)
        assert status_of(db, hotel, "101") == status
    assert [r.details["to"] for r in audit(db, hotel, "room.status_changed")] == [
        "dirty",
        "pickup",
        "clean",
        "inspected",
    ]


def test_inspecting_a_dirty_room_or_an_unknown_status_is_refused_and_changes_nothing(db, hotel):
    set_hk(db, hotel, "dirty", "101")
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="Room 101 is dirty: it must be clean before it can be inspected"):
        rooms.set_room_status(hotel.housekeeping, hotel.room_ids["101"], "inspected")
    assert snapshot(db) == before
    statuses: list[Any] = ["sparkly", "", None, "DIRTY"]
    for status in statuses:
        with pytest.raises(ValidationError, match="dirty, pickup, clean, inspected"):
            rooms.set_room_status(hotel.front_desk, hotel.room_ids["101"], status)
    assert snapshot(db) == before


# --- bulk ----------------------------------------------------------------------------------------


def test_bulk_change_writes_one_audit_row_per_room_and_one_event_for_all(db, hotel):
    numbers = ["101", "102", "103"]
    ids = [hotel.room_ids[n] for n in numbers]

    change = rooms.set_rooms_status(hotel.front_desk, ids, "dirty")

    assert change.changed_room_ids == tuple(sorted(ids))
    assert [status_of(db, hotel, n) for n in numbers] == ["dirty"] * 3
    assert sorted(int(r.resource_id) for r in audit(db, hotel, "room.status_changed")) == sorted(ids)
    assert events(db, hotel, "room.statusChanged") == [{"hotel_id": hotel.hotel_id, "room_ids": sorted(ids)}]


def test_bulk_change_is_all_or_nothing_and_names_the_room_that_cannot_move(db, hotel):
    set_hk(db, hotel, "clean", "101", "103")
    set_hk(db, hotel, "dirty", "105")
    before = snapshot(db)
    ids = [hotel.room_ids[n] for n in ("101", "103", "105")]
    with pytest.raises(InvalidTransition, match="Room 105 is dirty"):
        rooms.set_rooms_status(hotel.housekeeping, ids, "inspected")
    assert snapshot(db) == before


def test_bulk_change_leaves_rooms_already_in_that_status_alone(db, hotel):
    set_hk(db, hotel, "dirty", "101")
    ids = [hotel.room_ids["101"], hotel.room_ids["102"], hotel.room_ids["101"]]  # a repeat is harmless

    change = rooms.set_rooms_status(hotel.housekeeping, ids, "dirty")

    assert change.changed_room_ids == (hotel.room_ids["102"],)
    assert change.unchanged_room_ids == (hotel.room_ids["101"],)
    assert [r.resource_id for r in audit(db, hotel, "room.status_changed")] == [str(hotel.room_ids["102"])]
    again = rooms.set_rooms_status(hotel.housekeeping, ids, "dirty")
    assert again.changed_room_ids == () and len(events(db, hotel, "room.statusChanged")) == 1


def test_bulk_change_refuses_bad_room_lists_and_changes_nothing(db, hotel):
    before = snapshot(db)
    valid = hotel.room_ids["101"]
    bad_lists: list[Any] = [
        [],
        ["101"],
        [valid, True],
        [valid, 0],
        [2**70],
        "101",
        None,
        range(1, rooms.MAX_BULK_ROOMS + 2),
    ]
    for bad in bad_lists:
        with pytest.raises(ValidationError):
            rooms.set_rooms_status(hotel.front_desk, bad, "dirty")
    with pytest.raises(NotFound, match="Room 999999 was not found"):
        rooms.set_rooms_status(hotel.front_desk, [valid, 999_999], "dirty")
    assert snapshot(db) == before


def test_bulk_change_refuses_a_room_of_another_hotel_and_changes_nothing(db, hotel, other_hotel):
    before = snapshot(db)
    ids = [hotel.room_ids["101"], other_hotel.room_ids["102"]]
    with pytest.raises(NotFound, match=f"Room {other_hotel.room_ids['102']} was not found"):
        rooms.set_rooms_status(hotel.front_desk, ids, "dirty")
    assert snapshot(db) == before


# --- queued arrivals -----------------------------------------------------------------------------


def test_a_room_becoming_ready_flags_its_queued_arrival_of_today(db, hotel):
    today = hotel.business_date
    queued, _ = make_booking(db.owner, hotel, check_in=today, room_number="101")
    later, _ = make_booking(db.owner, hotel, check_in=today + DAY, room_number="103")
    make_booking(db.owner, hotel, check_in=today, room_number="105")  # not queued
    queue_booking(db, queued)
    queue_booking(db, later)
    set_hk(db, hotel, "dirty", "101", "103", "105")
    ids = [hotel.room_ids[n] for n in ("101", "103", "105")]

    cleaned = rooms.set_rooms_status(hotel.housekeeping, ids, "clean")
    assert cleaned.queued_arrivals == ()  # clean is not ready while the hotel inspects
    inspected = rooms.set_rooms_status(hotel.housekeeping, ids, "inspected")

    assert inspected.queued_arrivals == (
        rooms.QueuedArrival(queued, code_of(db, queued), hotel.room_ids["101"], "101"),
    )
    assert events(db, hotel, "booking.updated") == [{"hotel_id": hotel.hotel_id, "booking_id": queued}]
    assert _rows(db, "SELECT queued FROM bookings WHERE id = :b", b=queued)[0].queued  # the desk clears it
    again = rooms.set_rooms_status(hotel.housekeeping, ids, "inspected")  # already ready: no second flag
    assert again.queued_arrivals == () and len(events(db, hotel, "booking.updated")) == 1


def test_an_out_of_service_room_is_not_ready_so_its_queued_arrival_waits(db, hotel):
    today = hotel.business_date
    queued, _ = make_booking(db.owner, hotel, check_in=today, room_number="101")
    queue_booking(db, queued)
    rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["101"], today, today + DAY, "Broken lamp")
    set_hk(db, hotel, "clean", "101")
    change = rooms.set_room_status(hotel.housekeeping, hotel.room_ids["101"], "inspected")
    assert change.queued_arrivals == () and events(db, hotel, "booking.updated") == []


# --- out of order / out of service ---------------------------------------------------------------


def test_out_of_order_window_is_stored_audited_announced_and_shown(db, hotel):
    today = hotel.business_date
    room_id = hotel.room_ids["101"]

    placed = rooms.put_room_out_of_order(
        hotel.manager, room_id, today, today + 3 * DAY, "  Water damage  ", return_status="clean"
    )

    overlay = placed.overlay
    assert (overlay.room_number, overlay.kind, overlay.reason) == ("101", "out_of_order", "Water damage")
    assert (overlay.starts_on, overlay.ends_on, overlay.return_status, overlay.released) == (
        today,
        today + 3 * DAY,
        "clean",
        False,
    )
    assert placed.bookings_in_window == ()
    [row] = audit(db, hotel, "room.out_of_order")
    assert row.resource_id == str(overlay.id)
    assert row.details["room_id"] == room_id and row.details["reason"] == "Water damage"
    assert events(db, hotel, "room.statusChanged") == [{"hotel_id": hotel.hotel_id, "room_ids": [room_id]}]
    assert rooms.list_overlays(hotel.front_desk) == [overlay]
    assert rooms.get_room(hotel.front_desk, room_id).overlay_kind == "out_of_order"
    assert status_of(db, hotel, "101") == "inspected"  # the condition layer is left alone


def test_out_of_order_is_refused_over_a_booking_assigned_to_the_room(db, hotel):
    today = hotel.business_date
    booking_id, _ = make_booking(db.owner, hotel, check_in=today + 2 * DAY, nights=2, room_number="101")
    before = snapshot(db)
    with pytest.raises(RoomUnavailable, match=f"booking {code_of(db, booking_id)}.*Move the booking"):
        rooms.put_room_out_of_order(hotel.manager, hotel.room_ids["101"], today + DAY, today + 3 * DAY, "Paint")
    assert snapshot(db) == before
    make_booking(db.owner, hotel, check_in=today, room_number="103", status="checked_in")
    with pytest.raises(RoomUnavailable, match="Room 103 cannot go out of order"):
        rooms.put_room_out_of_order(hotel.manager, hotel.room_ids["103"], today, today + DAY, "Paint")


def test_out_of_order_may_start_on_a_departure_day_and_ignores_cancelled_bookings(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, nights=2, room_number="101")  # leaves on today + 2
    make_booking(db.owner, hotel, check_in=today + 2 * DAY, room_number="101", status="cancelled")
    placed = rooms.put_room_out_of_order(
        hotel.manager, hotel.room_ids["101"], today + 2 * DAY, today + 4 * DAY, "Tiles"
    )
    assert placed.overlay.starts_on == today + 2 * DAY


def test_out_of_service_keeps_the_bookings_and_lists_them_for_the_desk(db, hotel):
    today = hotel.business_date
    booking_id, _ = make_booking(db.owner, hotel, check_in=today + DAY, room_number="101")
    placed = rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["101"], today, today + 3 * DAY, "TV broken")
    assert placed.bookings_in_window == (code_of(db, booking_id),)
    assert placed.overlay.kind == "out_of_service"
    assert len(audit(db, hotel, "room.out_of_service")) == 1


BAD_WINDOWS: list[tuple[int, int, Any, str, str]] = [
    (2, 1, "Paint", "dirty", "come back after"),
    (1, 1, "Paint", "dirty", "come back after"),
    (-1, 2, "Paint", "dirty", "cannot start before today"),
    (0, 400, "Paint", "dirty", "at most 366 days"),
    (0, 1, "   ", "dirty", "required"),
    (0, 1, "x" * 201, "dirty", "too long"),
    (0, 1, "Paint\u202eevil", "dirty", "invisible"),
    (0, 1, "Paint\x00", "dirty", "control"),
    (0, 1, 42, "dirty", "must be text"),
    (0, 1, "Paint", "sparkly", "return status"),
]


def test_bad_windows_are_refused_and_change_nothing(db, hotel):
    today = hotel.business_date
    before = snapshot(db)
    for starts, ends, reason, return_status, message in BAD_WINDOWS:
        with pytest.raises(ValidationError, match=message):
            rooms.put_room_out_of_order(
                hotel.manager, hotel.room_ids["101"], today + starts * DAY, today + ends * DAY, reason, return_status
            )
    now = dt.datetime.now()
    with pytest.raises(ValidationError, match="must be a date"):
        rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["101"], now, now + DAY, "Paint")
    with pytest.raises(NotFound):
        rooms.put_room_out_of_service(hotel.manager, 999_999, today, today + DAY, "Paint")
    assert snapshot(db) == before


def test_overlapping_windows_of_one_room_are_refused_with_a_readable_message(db, hotel):
    today = hotel.business_date
    rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["101"], today + DAY, today + 4 * DAY, "Paint")
    before = snapshot(db)
    with pytest.raises(ValidationError, match=r"Room 101 is already out of service .*Paint"):
        rooms.put_room_out_of_order(hotel.manager, hotel.room_ids["101"], today, today + 2 * DAY, "Leak")
    assert snapshot(db) == before
    # Another room, or the same room right after the window, is fine.
    rooms.put_room_out_of_order(hotel.manager, hotel.room_ids["103"], today, today + 2 * DAY, "Leak")
    rooms.put_room_out_of_order(hotel.manager, hotel.room_ids["101"], today + 4 * DAY, today + 5 * DAY, "Leak")


def test_front_desk_and_housekeeping_cannot_manage_windows(db, hotel):
    today = hotel.business_date
    placed = rooms.put_room_out_of_order(hotel.manager, hotel.room_ids["103"], today, today + DAY, "Paint")
    before = snapshot(db)
    for actor in (hotel.front_desk, hotel.housekeeping):
        with pytest.raises(PermissionDenied, match="may not manage rooms"):
            rooms.put_room_out_of_order(actor, hotel.room_ids["101"], today, today + DAY, "Paint")
        with pytest.raises(PermissionDenied):
            rooms.put_room_out_of_service(actor, hotel.room_ids["101"], today, today + DAY, "Paint")
        with pytest.raises(PermissionDenied):
            rooms.release_overlay(actor, placed.overlay.id)
    assert snapshot(db) == before
    # They can still change the housekeeping condition.
    rooms.set_room_status(hotel.housekeeping, hotel.room_ids["101"], "dirty")
    rooms.set_room_status(hotel.front_desk, hotel.room_ids["102"], "dirty")
    # Admin and manager can.
    assert rooms.release_overlay(hotel.admin, placed.overlay.id).overlay.released


# --- releasing windows ---------------------------------------------------------------------------


def test_releasing_a_window_early_puts_the_room_in_its_return_status(db, hotel):
    today = hotel.business_date
    room_id = hotel.room_ids["101"]
    placed = rooms.put_room_out_of_order(hotel.manager, room_id, today, today + 5 * DAY, "Leak", "clean")
    set_hk(db, hotel, "dirty", "101")  # the repair left a mess

    released = rooms.release_overlay(hotel.manager, placed.overlay.id)

    assert released.overlay.released and released.room_status == "clean"
    assert status_of(db, hotel, "101") == "clean"
    assert _rows(db, "SELECT released FROM room_overlays WHERE id = :o", o=placed.overlay.id)[0].released
    assert [r.resource_id for r in audit(db, hotel, "room_overlay.released")] == [str(placed.overlay.id)]
    [change] = audit(db, hotel, "room.status_changed")
    assert change.details["from"] == "dirty" and change.details["to"] == "clean"
    assert change.details["cause"] == "released"
    assert len(events(db, hotel, "room.statusChanged")) == 2  # placed, released
    assert rooms.get_room(hotel.front_desk, room_id).overlay_kind is None
    assert rooms.list_overlays(hotel.front_desk) == []
    assert [o.id for o in rooms.list_overlays(hotel.front_desk, include_past=True)] == [placed.overlay.id]
    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="already released"):
        rooms.release_overlay(hotel.manager, placed.overlay.id)
    assert snapshot(db) == before


def test_cancelling_a_future_window_leaves_the_room_status_alone(db, hotel):
    today = hotel.business_date
    placed = rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["101"], today + DAY, today + 3 * DAY, "Paint")
    released = rooms.release_overlay(hotel.manager, placed.overlay.id)
    assert released.room_status == "inspected" and audit(db, hotel, "room.status_changed") == []


def test_releasing_a_window_flags_the_queued_arrival_when_the_room_returns_ready(db, hotel):
    today = hotel.business_date
    placed = rooms.put_room_out_of_service(
        hotel.manager, hotel.room_ids["101"], today, today + 3 * DAY, "Lamp", "inspected"
    )
    queued, _ = make_booking(db.owner, hotel, check_in=today, room_number="101")
    queue_booking(db, queued)
    released = rooms.release_overlay(hotel.manager, placed.overlay.id)
    assert [a.booking_id for a in released.queued_arrivals] == [queued]
    assert events(db, hotel, "booking.updated") == [{"hotel_id": hotel.hotel_id, "booking_id": queued}]


def test_windows_of_another_hotel_cannot_be_released(db, hotel, other_hotel):
    today = other_hotel.business_date
    theirs = rooms.put_room_out_of_order(other_hotel.manager, other_hotel.room_ids["101"], today, today + DAY, "Leak")
    with pytest.raises(NotFound):
        rooms.release_overlay(hotel.manager, theirs.overlay.id)
    assert rooms.list_overlays(hotel.manager) == []


def test_an_ended_window_returns_the_room_at_the_night_roll(db, hotel):
    today = hotel.business_date
    queued, _ = make_booking(db.owner, hotel, check_in=today, room_number="101")
    queue_booking(db, queued)
    with db.owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO room_overlays (hotel_id, room_id, kind, starts_on, ends_on, reason, return_status)"
                " VALUES (:h, :r, 'out_of_order', :d - 3, :d, 'Leak', 'inspected')"
            ),
            {"h": hotel.hotel_id, "r": hotel.room_ids["101"], "d": today},
        )
    set_hk(db, hotel, "dirty", "101")

    with unit_of_work(hotel.admin, None) as uow:
        changed = rooms.apply_overlay_returns(uow)
        uow.commit()

    assert changed == (hotel.room_ids["101"],)
    assert status_of(db, hotel, "101") == "inspected"
    assert events(db, hotel, "booking.updated") == [{"hotel_id": hotel.hotel_id, "booking_id": queued}]
    assert audit(db, hotel, "room.status_changed")[0].details["cause"] == "window ended"


# --- hotels that do not inspect ------------------------------------------------------------------


def test_without_inspection_clean_is_ready_and_inspected_is_refused(db):
    relaxed = make_hotel(db.owner, "Hotel Simple", rooms=3, inspection_required=False)
    today = relaxed.business_date
    queued, _ = make_booking(db.owner, relaxed, check_in=today, room_number="101")
    queue_booking(db, queued)
    set_hk(db, relaxed, "dirty", "101")
    set_hk(db, relaxed, "clean", "103")

    listed = by_number(rooms.list_rooms(relaxed.front_desk))
    assert listed["103"].ready and listed["102"].ready  # 102 is still 'inspected' from before
    change = rooms.set_room_status(relaxed.housekeeping, relaxed.room_ids["101"], "clean")
    assert [a.booking_id for a in change.queued_arrivals] == [queued]

    before = snapshot(db)
    with pytest.raises(InvalidTransition, match="does not use inspection"):
        rooms.set_room_status(relaxed.housekeeping, relaxed.room_ids["101"], "inspected")
    with pytest.raises(ValidationError, match="choose clean"):
        rooms.put_room_out_of_order(relaxed.manager, relaxed.room_ids["102"], today, today + DAY, "Paint", "inspected")
    assert snapshot(db) == before


# --- skip and sleep ------------------------------------------------------------------------------


def test_housekeeping_reports_reveal_skips_and_sleeps(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, room_number="102", room_type="DBL", status="checked_in")
    actor = hotel.housekeeping

    skip = rooms.record_seen_occupancy(actor, hotel.room_ids["102"], "vacant")
    sleep = rooms.record_seen_occupancy(actor, hotel.room_ids["101"], "occupied")
    agreed = rooms.record_seen_occupancy(actor, hotel.room_ids["103"], "vacant")

    assert skip is not None and (skip.kind, skip.front_office, skip.housekeeping) == ("skip", "occupied", "vacant")
    assert sleep is not None and sleep.kind == "sleep"
    assert agreed is None
    found = rooms.list_discrepancies(hotel.front_desk)
    assert [(d.room_number, d.kind) for d in found] == [("101", "sleep"), ("102", "skip")]
    assert all(d.reported_at is not None for d in found)
    assert len(audit(db, hotel, "room.occupancy_seen")) == 3
    assert rooms.get_room(hotel.front_desk, hotel.room_ids["102"]).hk_seen == "vacant"


def test_a_report_made_before_the_guest_checked_in_is_out_of_date(db, hotel):
    booking_id, _ = make_booking(db.owner, hotel, check_in=hotel.business_date, room_number="101")
    rooms.record_seen_occupancy(hotel.housekeeping, hotel.room_ids["101"], "vacant")
    with db.owner.begin() as conn:  # the desk checks the guest in after the report
        conn.execute(
            text("UPDATE bookings SET status = 'checked_in', actual_check_in = now() WHERE id = :b"), {"b": booking_id}
        )
    assert rooms.list_discrepancies(hotel.front_desk) == []
    rooms.record_seen_occupancy(hotel.housekeeping, hotel.room_ids["101"], "vacant")  # a new report counts
    assert [d.kind for d in rooms.list_discrepancies(hotel.front_desk)] == ["skip"]


def test_a_report_must_be_vacant_or_occupied_on_a_room_of_this_hotel(db, hotel, other_hotel):
    before = snapshot(db)
    reports: list[Any] = ["empty", "", None, "Vacant"]
    for seen in reports:
        with pytest.raises(ValidationError, match="vacant or occupied"):
            rooms.record_seen_occupancy(hotel.housekeeping, hotel.room_ids["101"], seen)
    with pytest.raises(NotFound):
        rooms.record_seen_occupancy(hotel.housekeeping, other_hotel.room_ids["101"], "vacant")
    assert snapshot(db) == before
