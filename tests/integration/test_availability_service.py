"""Availability on a real PostgreSQL: counts per room type (sold, out of order, what is left on the tightest
night), the rooms that can be assigned, permissions, bad input, and query shapes that stay indexed under RLS.

Like the bookings tests, one database serves the module and each test has a hotel of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.errors import PermissionDenied, ValidationError
from core.services import availability
from core.services.availability import FreeRoom, TypeAvailability
from tests.factories import add_overlay, make_booking, make_hotel, set_hk, unique_name
from tests.query_plans import assert_bookings_indexed, make_busy_hotel

DAY = dt.timedelta(days=1)
NOT_AN_ID: Any = "STD"
SHARED_DATABASE = True  # see tests/conftest.py: shares_database


def counts(hotel, start: dt.date, nights: int = 1) -> dict[str, tuple[int, int, int, int]]:
    """code -> (physical, out of order, sold, available)."""
    found = availability.availability_by_type(hotel.front_desk, start, start + nights * DAY)
    return {t.code: (t.physical, t.out_of_order, t.sold, t.available) for t in found}


def free_numbers(hotel, start: dt.date, nights: int = 1, room_type: str | None = None) -> list[str]:
    type_id = hotel.room_type_ids[room_type] if room_type else None
    return [r.number for r in availability.free_rooms(hotel.front_desk, start, start + nights * DAY, type_id)]


def test_an_empty_hotel_has_every_room_available(db, hotel):
    found = availability.availability_by_type(hotel.front_desk, hotel.business_date, hotel.business_date + 2 * DAY)
    assert found == (
        TypeAvailability(hotel.room_type_ids["DBL"], "DBL", "Double", 5, 0, 0, 5),
        TypeAvailability(hotel.room_type_ids["STD"], "STD", "Standard", 5, 0, 0, 5),
    )
    assert free_numbers(hotel, hotel.business_date) == [f"1{i:02d}" for i in range(1, 11)]


def test_active_stays_count_assigned_or_not_and_other_statuses_do_not(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, nights=2, room_number="101")
    make_booking(db.owner, hotel, check_in=today - DAY, nights=2, room_number="103", status="checked_in")
    make_booking(db.owner, hotel, check_in=today, nights=1)  # no room yet: still takes a Standard
    for status in ("cancelled", "no_show", "checked_out"):
        make_booking(db.owner, hotel, check_in=today, nights=2, room_number="105", status=status)
    make_booking(db.owner, hotel, check_in=today - 2 * DAY, nights=2, room_number="107")  # left this morning
    make_booking(db.owner, hotel, check_in=today + DAY, nights=2, room_number="109")  # arrives tomorrow

    assert counts(hotel, today)["STD"] == (5, 0, 3, 2)
    assert counts(hotel, today)["DBL"] == (5, 0, 0, 5)
    assert free_numbers(hotel, today, room_type="STD") == ["105", "107", "109"]
    assert free_numbers(hotel, today, nights=2, room_type="STD") == ["105", "107"]


def test_an_upgraded_stay_takes_the_room_of_the_better_type(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, nights=1, room_number="102", room_type="STD")

    assert counts(hotel, today)["STD"] == (5, 0, 0, 5)
    assert counts(hotel, today)["DBL"] == (5, 0, 1, 4)


def test_the_tightest_night_of_the_window_is_reported(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, nights=1, room_number="101")
    for number in ("101", "103", "105"):
        make_booking(db.owner, hotel, check_in=today + 2 * DAY, nights=1, room_number=number)
    add_overlay(db, hotel, "107", "out_of_order", today + 2 * DAY, today + 3 * DAY)

    assert counts(hotel, today, nights=4)["STD"] == (5, 1, 3, 1)
    assert counts(hotel, today, nights=2)["STD"] == (5, 0, 1, 4)
    assert counts(hotel, today + 3 * DAY)["STD"] == (5, 0, 0, 5)


def test_out_of_order_leaves_inventory_and_out_of_service_stays_in_it_but_is_not_assignable(db, hotel):
    today = hotel.business_date
    add_overlay(db, hotel, "101", "out_of_order", today, today + 3 * DAY)
    add_overlay(db, hotel, "103", "out_of_service", today + DAY, today + 2 * DAY)
    add_overlay(db, hotel, "105", "out_of_order", today, today + 3 * DAY, released=True)
    add_overlay(db, hotel, "107", "out_of_order", today - 5 * DAY, today)  # ended this morning

    assert counts(hotel, today, nights=2)["STD"] == (5, 1, 0, 4)
    assert free_numbers(hotel, today, room_type="STD") == ["103", "105", "107", "109"]
    assert free_numbers(hotel, today, nights=2, room_type="STD") == ["105", "107", "109"]


def test_an_out_of_order_room_that_is_also_sold_counts_once(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, nights=1, room_number="101")
    add_overlay(db, hotel, "101", "out_of_order", today, today + DAY)

    assert counts(hotel, today)["STD"] == (5, 0, 1, 4)


def test_overbooking_shows_as_a_negative_number(db, hotel):
    today = hotel.business_date
    for _ in range(7):
        make_booking(db.owner, hotel, check_in=today, nights=1)
    assert counts(hotel, today)["STD"] == (5, 0, 7, -2)


def test_free_rooms_put_ready_rooms_first_then_floor_and_number(db):
    tower = make_hotel(db.owner, unique_name("Tower"), rooms=20)
    set_hk(db, tower, "dirty", "101", "102")
    set_hk(db, tower, "clean", "103")
    found = availability.free_rooms(tower.front_desk, tower.business_date, tower.business_date + DAY)

    assert [r.number for r in found[:3]] == ["104", "105", "106"]
    assert [r.number for r in found[-3:]] == ["101", "102", "103"]
    assert found[-1] == FreeRoom(tower.room_ids["103"], "103", 1, tower.room_type_ids["STD"], "STD", "clean", False)

    relaxed = make_hotel(db.owner, unique_name("Relaxed"), rooms=4, inspection_required=False)
    set_hk(db, relaxed, "clean", "101")
    set_hk(db, relaxed, "dirty", "102")
    assert [
        (r.number, r.ready)
        for r in availability.free_rooms(relaxed.front_desk, relaxed.business_date, relaxed.business_date + DAY)
    ] == [
        ("101", True),
        ("103", True),
        ("104", True),
        ("102", False),
    ]


def test_other_hotels_do_not_count(db, hotel, other_hotel):
    today = hotel.business_date
    for number in ("101", "103"):
        make_booking(db.owner, other_hotel, check_in=today, nights=1, room_number=number)

    assert counts(hotel, today)["STD"] == (5, 0, 0, 5)
    assert counts(other_hotel, today)["STD"] == (2, 0, 2, 0)
    assert availability.free_rooms(hotel.front_desk, today, today + DAY, other_hotel.room_type_ids["STD"]) == ()


def test_permissions_and_bad_input(db, hotel):
    today = hotel.business_date
    # House counts show no guest: housekeeping may plan with them; the room picker is for bookings.
    assert availability.availability_by_type(hotel.housekeeping, today, today + DAY)
    with pytest.raises(PermissionDenied):
        availability.free_rooms(hotel.housekeeping, today, today + DAY)
    bad_windows: list[tuple[Any, Any]] = [
        (today, today),
        (today + DAY, today),
        (today, today + 366 * DAY),
        (dt.datetime.now(), today + DAY),
        ("2030-01-01", "2030-01-02"),
        (None, today),
    ]
    for start, end in bad_windows:
        with pytest.raises(ValidationError):
            availability.availability_by_type(hotel.front_desk, start, end)
        with pytest.raises(ValidationError):
            availability.free_rooms(hotel.front_desk, start, end)
    with pytest.raises(ValidationError):
        availability.free_rooms(hotel.front_desk, today, today + DAY, room_type_id=NOT_AN_ID)
    assert len(availability.availability_by_type(hotel.front_desk, today, today + 365 * DAY)) == 2


def test_availability_queries_are_served_by_an_index_under_rls(db):
    busy = make_busy_hotel(db)
    today = busy.business_date
    actor = busy.front_desk

    sent = assert_bookings_indexed(
        db,
        busy,
        [
            lambda: availability.free_rooms(actor, today, today + 2 * DAY),
            lambda: availability.free_rooms(actor, today + 50 * DAY, today + 52 * DAY, busy.room_type_ids["DBL"]),
        ],
    )
    assert sent == 2
    read = assert_bookings_indexed(
        db, busy, [lambda: availability.availability_by_type(actor, today + 3 * DAY, today + 10 * DAY)]
    )
    assert read == 2  # the stays sold, the stays in out-of-order rooms
    assert counts(busy, today + 4 * DAY)["STD"] == (50, 0, 50, 0)
