"""The desk's lists through the public services (core.services.desk_lists): the day's arrivals and
departures, who is in house, the room rack with its counts of stays lacking a room, and the list of those
stays. Each list must reach bookings through an index under row-level security and guests by primary key.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

from core.errors import PermissionDenied, ValidationError
from core.services import desk_lists
from core.services.desk_lists import RackUnassigned
from tests.factories import add_overlay, make_booking
from tests.query_plans import capturing, make_busy_hotel, scans

DAY = dt.timedelta(days=1)
NOT_A_DATE: Any = "today"  # what a careless caller might pass; typed Any so the type checker lets the test try
SHARED_DATABASE = True  # see tests/conftest.py: shares_database


def execute(db, sql: str, **params: Any) -> Any:
    with db.owner.begin() as conn:
        return conn.execute(text(sql), params)


def test_arrivals_departures_and_in_house(db, hotel, other_hotel):
    today = hotel.business_date
    due, _ = make_booking(db.owner, hotel, check_in=today, room_number="101", last_name="Young")
    arrived, _ = make_booking(db.owner, hotel, check_in=today, room_number="103", status="checked_in", last_name="Abel")
    make_booking(db.owner, hotel, check_in=today, status="cancelled", last_name="Gone")
    leaving, _ = make_booking(db.owner, hotel, check_in=today - 2 * DAY, room_number="110", status="checked_in")
    left, _ = make_booking(db.owner, hotel, check_in=today - 2 * DAY, room_number="105", status="checked_out")
    staying, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=4, room_number="108", status="checked_in")
    make_booking(db.owner, other_hotel, check_in=today, room_number="101")
    make_booking(db.owner, other_hotel, check_in=today - DAY, room_number="102", status="checked_in")

    arriving = desk_lists.arrivals(hotel.front_desk, today)
    assert [r.booking_id for r in arriving] == [arrived, due]
    assert (arriving[0].guest_name, arriving[0].room_number, arriving[0].room_type_code) == ("Abel, Test", "103", "STD")
    assert (arriving[1].status, arriving[1].nights, arriving[1].vip) == ("confirmed", 2, False)
    assert [r.booking_id for r in desk_lists.departures(hotel.front_desk, today)] == [left, leaving]
    assert [(r.room_number, r.booking_id) for r in desk_lists.in_house(hotel.front_desk)] == [
        ("103", arrived),
        ("108", staying),
        ("110", leaving),
    ]
    assert desk_lists.arrivals(hotel.front_desk, today + DAY) == ()
    for read in (
        lambda: desk_lists.arrivals(hotel.housekeeping, today),
        lambda: desk_lists.departures(hotel.housekeeping, today),
        lambda: desk_lists.in_house(hotel.housekeeping),
    ):
        with pytest.raises(PermissionDenied):
            read()
    for bad in (
        lambda: desk_lists.arrivals(hotel.front_desk, NOT_A_DATE),
        lambda: desk_lists.departures(hotel.front_desk, dt.datetime.now()),
    ):
        with pytest.raises(ValidationError):
            bad()


def test_room_rack_shows_who_holds_each_room_each_night(db, hotel, other_hotel):
    today = hotel.business_date
    stay, _ = make_booking(
        db.owner, hotel, check_in=today - DAY, nights=3, room_number="101", status="checked_in", last_name="Ito"
    )
    later, _ = make_booking(db.owner, hotel, check_in=today + 2 * DAY, nights=5, room_number="101", last_name="Berg")
    make_booking(db.owner, hotel, check_in=today, room_number="103", status="cancelled")
    add_overlay(db, hotel, "105", "out_of_order", today + DAY, today + 2 * DAY)
    add_overlay(db, hotel, "106", "out_of_service", today, today + DAY, released=True)
    # An early departure keeps its booked nights; the stay that took the room over is shown on them.
    early, _ = make_booking(
        db.owner, hotel, check_in=today - 2 * DAY, nights=4, room_number="107", status="checked_out", last_name="Kim"
    )
    next_in, _ = make_booking(db.owner, hotel, check_in=today + DAY, nights=2, room_number="107", last_name="Lee")
    make_booking(db.owner, other_hotel, check_in=today, room_number="101")
    make_booking(db.owner, hotel, check_in=today + DAY, nights=1)  # no room yet
    make_booking(db.owner, hotel, check_in=today + 2 * DAY, nights=5, room_type="DBL")  # no room, past the range
    make_booking(db.owner, hotel, check_in=today, room_type="DBL", status="cancelled")

    rack = desk_lists.room_rack(hotel.front_desk, today, days=4)

    assert rack.days == tuple(today + i * DAY for i in range(4))
    assert [r.number for r in rack.rooms] == [f"1{i:02d}" for i in range(1, 11)]
    assert (rack.rooms[1].room_type_code, rack.rooms[1].floor, rack.rooms[1].hk_status) == ("DBL", 1, "inspected")
    room_101, room_103, room_105, room_106, room_107 = (rack.rooms[i] for i in (0, 2, 4, 5, 6))
    assert [c.booking_id if c else None for c in room_101.cells] == [stay, stay, later, later]
    assert [c.starts_here if c else None for c in room_101.cells] == [True, False, True, False]
    first = room_101.cells[0]
    assert first is not None and (first.label, first.status) == ("Ito, Test", "checked_in")
    assert room_103.cells == (None, None, None, None)
    assert [(c.status, c.label) if c else None for c in room_105.cells] == [
        None,
        ("out_of_order", "Leaking tap"),
        None,
        None,
    ]
    assert room_106.cells == (None, None, None, None)
    assert [(c.booking_id, c.status, c.starts_here) if c else None for c in room_107.cells] == [
        (early, "checked_out", True),
        (next_in, "confirmed", True),
        (next_in, "confirmed", False),
        None,
    ]
    assert rack.unassigned == (RackUnassigned("DBL", (0, 0, 1, 1)), RackUnassigned("STD", (0, 1, 0, 0)))

    past = desk_lists.room_rack(hotel.front_desk, today - 3 * DAY, days=3)
    assert [c.booking_id if c else None for c in past.rooms[6].cells] == [None, early, early]
    assert [c.booking_id if c else None for c in past.rooms[0].cells] == [None, None, stay]
    assert past.unassigned == ()


def test_unassigned_stays_lists_the_stays_the_rack_counts(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, room_number="101")
    double, _ = make_booking(db.owner, hotel, check_in=today + 2 * DAY, nights=5, room_type="DBL", last_name="Dahl")
    single, _ = make_booking(db.owner, hotel, check_in=today + DAY, nights=1, last_name="Sand")
    make_booking(db.owner, hotel, check_in=today + 4 * DAY, nights=1)  # after the range
    make_booking(db.owner, hotel, check_in=today - 2 * DAY, nights=2, status="checked_out", room_number="103")

    stays = desk_lists.unassigned_stays(hotel.front_desk, today, 4)

    assert [(r.booking_id, r.guest_name, r.room_type_code, r.room_id) for r in stays] == [
        (single, "Sand, Test", "STD", None),
        (double, "Dahl, Test", "DBL", None),
    ]
    assert desk_lists.room_rack(hotel.front_desk, today, 4).unassigned == (
        RackUnassigned("DBL", (0, 0, 1, 1)),
        RackUnassigned("STD", (0, 1, 0, 0)),
    )
    for bad in (
        lambda: desk_lists.unassigned_stays(hotel.front_desk, today, 0),
        lambda: desk_lists.room_rack(hotel.front_desk, today, days=0),
        lambda: desk_lists.room_rack(hotel.front_desk, today, days=63),
        lambda: desk_lists.room_rack(hotel.front_desk, NOT_A_DATE),
    ):
        with pytest.raises(ValidationError):
            bad()
    for read in (
        lambda: desk_lists.unassigned_stays(hotel.housekeeping, today),
        lambda: desk_lists.room_rack(hotel.housekeeping, today),
    ):
        with pytest.raises(PermissionDenied):
            read()


# --- plans ---------------------------------------------------------------------------------------


def _narrowed(index: str, condition: str) -> bool:
    """The bookings index scan narrows by more than the hotel: a date, or the in-house partial index."""
    return index == "ix_bookings_hotel_id_in_house" or any(column in condition for column in ("check_in", "check_out"))


def test_every_desk_list_reads_bookings_by_an_index_and_guests_by_key_under_rls(db):
    """EXPLAIN each statement the lists send, as the runtime role with the tenant set and sequential scans
    priced out. Under RLS a non-leakproof condition (range ``&&``, lower(), LIKE) cannot be an index
    condition, so such a shape shows up as a scan narrowed by the hotel only."""
    busy = make_busy_hotel(db)
    today, actor = busy.business_date, busy.front_desk
    with capturing(db, "") as statements:  # every statement, guests' look-ups included
        in_house = desk_lists.in_house(actor)
        arriving = desk_lists.arrivals(actor, today)
        desk_lists.departures(actor, today)
        rack = desk_lists.room_rack(actor, today - 7 * DAY)
        desk_lists.unassigned_stays(actor, today)
    assert len(in_house) == 100 and len(arriving) == 100 and len(rack.rooms) == 100
    assert {c.status for room in rack.rooms for c in room.cells if c} == {"checked_out", "checked_in", "confirmed"}

    bookings_read = guests_read = 0
    for sql, node_type, index, condition in scans(db, busy, statements, "bookings"):
        bookings_read += 1
        assert node_type != "Seq Scan" and _narrowed(index, condition), f"{sql}\n{node_type} {index}: {condition}"
    for sql, node_type, index, condition in scans(db, busy, statements, "guests"):
        guests_read += 1
        assert "guest_id" in condition, f"{sql}\n{node_type} {index}: {condition}"
    assert bookings_read >= 7 and guests_read >= 6
