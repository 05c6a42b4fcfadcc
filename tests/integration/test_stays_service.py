"""Check-in, keys, reversal, check-out and reinstatement on the real database."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from core.errors import (
    FolioError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    RoomUnavailable,
    ValidationError,
)
from core.services import folios, rooms, stays
from tests.factories import make_booking

DAY = dt.timedelta(days=1)
NOT_AN_ID: Any = "1"
TABLES = (
    "bookings",
    "folios",
    "folio_lines",
    "rooms",
    "key_issue_log",
    "housekeeping_tasks",
    "audit_log",
    "event_outbox",
)


def db_state(db) -> dict[str, list[tuple]]:
    """Every row of the tables a stay change touches, to prove a refusal changed nothing."""
    with db.owner.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))] for t in TABLES}


def one(db, sql: str, **params) -> tuple:
    with db.owner.connect() as conn:
        return tuple(conn.execute(text(sql), params).one())


def rows(db, sql: str, **params) -> list[tuple]:
    with db.owner.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def event_names(db) -> list[str]:
    return [name for (name,) in rows(db, "SELECT name FROM event_outbox ORDER BY id")]


def events(db, name: str) -> list[dict]:
    return [p for (p,) in rows(db, "SELECT payload FROM event_outbox WHERE name = :n ORDER BY id", n=name)]


def audit(db, action: str) -> list[tuple]:
    return rows(db, "SELECT resource_id, user_id, details FROM audit_log WHERE action = :a ORDER BY id", a=action)


def set_room(db, hotel, number: str, hk_status: str) -> None:
    with db.owner.begin() as conn:
        conn.execute(
            text("UPDATE rooms SET hk_status = :s WHERE id = :r"), {"s": hk_status, "r": hotel.room_ids[number]}
        )


def set_hotel(db, hotel, **values) -> None:
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    with db.owner.begin() as conn:
        conn.execute(text(f"UPDATE hotels SET {assignments} WHERE id = :h"), {"h": hotel.hotel_id, **values})


def booking_row(db, booking_id: int) -> tuple:
    return one(
        db,
        "SELECT status, room_id, queued, actual_check_in IS NOT NULL, actual_check_out IS NOT NULL, check_in, check_out"
        " FROM bookings WHERE id = :b",
        b=booking_id,
    )


@pytest.fixture
def arrival(db, hotel) -> tuple[int, int]:
    """Today's arrival in room 101 (inspected, vacant): (booking_id, folio_id)."""
    return make_booking(db.owner, hotel, check_in=hotel.business_date, nights=2, room_number="101")


def in_house(db, hotel, room: str = "101", nights: int = 2) -> tuple[int, int]:
    booking, folio = make_booking(db.owner, hotel, check_in=hotel.business_date, nights=nights, room_number=room)
    stays.check_in(hotel.front_desk, booking)
    return booking, folio


# --- check-in ------------------------------------------------------------------------------------


def test_check_in_makes_the_guest_in_house_issues_keys_and_emits_guest_checked_in(db, hotel, arrival):
    booking, folio = arrival
    result = stays.check_in(hotel.front_desk, booking, keys=2)

    room = hotel.room_ids["101"]
    assert (result.booking_id, result.room_id, result.room_number, result.queued) == (booking, room, "101", False)
    assert result.folio_id == folio and result.checked_in_at is not None
    status, room_id, queued, has_in, has_out, _ci, check_out = booking_row(db, booking)
    assert (status, room_id, queued, has_in, has_out) == ("checked_in", room, False, True, False)
    valid_until = dt.datetime.combine(check_out, dt.time(11, 0), tzinfo=dt.UTC)
    fd = hotel.user_ids[hotel.front_desk.role]
    assert rows(db, "SELECT booking_id, room_id, kind, key_count, valid_until, issued_by FROM key_issue_log") == [
        (booking, room, "new", 2, valid_until, fd)
    ]
    assert result.keys is not None and result.keys.valid_until == valid_until
    assert event_names(db) == ["guest.checkedIn"]
    assert events(db, "guest.checkedIn") == [{"hotel_id": hotel.hotel_id, "booking_id": booking, "room_id": room}]
    [(resource, user, details)] = audit(db, "stay.checked_in")
    assert (resource, user) == (str(booking), fd)
    assert details["business_date"] == hotel.business_date.isoformat()
    assert (details["room_number"], details["keys"], details["folio_id"]) == ("101", 2, folio)
    assert "override" not in details
    assert rows(db, "SELECT count(*) FROM audit_log") == [(1,)]


def test_a_booking_whose_folio_was_closed_checks_in_on_a_new_open_folio(db, hotel, arrival):
    booking, folio = arrival
    with db.owner.begin() as conn:
        conn.execute(text("UPDATE folios SET status = 'closed', closed_at = now() WHERE id = :f"), {"f": folio})

    result = stays.check_in(hotel.front_desk, booking)

    assert result.folio_id is not None and result.folio_id != folio
    opened = rows(db, "SELECT id, status FROM folios WHERE booking_id = :b ORDER BY id", b=booking)
    assert opened == [(folio, "closed"), (result.folio_id, "open")]
    [(_, _, details)] = audit(db, "stay.checked_in")
    assert details["folio_id"] == result.folio_id


def test_keys_are_valid_until_the_hotels_check_out_time_in_its_time_zone(db, hotel, arrival):
    booking, _folio = arrival
    set_hotel(db, hotel, timezone="America/New_York", check_out_time=dt.time(12, 30))
    result = stays.check_in(hotel.front_desk, booking)
    check_out = booking_row(db, booking)[6]
    local = dt.datetime.combine(check_out, dt.time(12, 30), tzinfo=ZoneInfo("America/New_York"))
    assert result.keys is not None and result.keys.valid_until == local.astimezone(dt.UTC)
    assert rows(db, "SELECT valid_until FROM key_issue_log") == [(local,)]
    assert local.utcoffset() != dt.timedelta(0)  # the conversion really happened


def test_bad_key_counts_are_refused_and_nothing_changes(db, hotel, arrival):
    booking, _folio = arrival
    before = db_state(db)
    bad_counts: tuple[Any, ...] = (0, 11, -1, True, "2", 2.0)
    for keys in bad_counts:
        with pytest.raises(ValidationError, match="Between 1 and 10 keys"):
            stays.check_in(hotel.front_desk, booking, keys=keys)
    assert db_state(db) == before
    issued = stays.check_in(hotel.front_desk, booking, keys=10).keys
    assert issued is not None and issued.key_count == 10


def test_housekeeping_cannot_check_in_and_nothing_changes(db, hotel, arrival):
    booking, _folio = arrival
    before = db_state(db)
    with pytest.raises(PermissionDenied, match="housekeeping role may not check guests in or out"):
        stays.check_in(hotel.housekeeping, booking)
    assert db_state(db) == before


def test_unknown_or_other_hotels_bookings_are_not_found(db, hotel, other_hotel):
    foreign, _ = make_booking(db.owner, other_hotel, check_in=other_hotel.business_date, room_number="101")
    before = db_state(db)
    for step in (stays.check_in, stays.check_out, stays.reverse_check_in, stays.reinstate_check_out):
        for booking_id in (foreign, 424242):
            with pytest.raises(NotFound):
                step(hotel.front_desk, booking_id)
    with pytest.raises(ValidationError):
        stays.check_in(hotel.front_desk, NOT_AN_ID)
    assert db_state(db) == before


def test_a_room_not_ready_refuses_check_in_unless_the_arrival_is_queued(db, hotel, arrival):
    booking, _folio = arrival
    set_room(db, hotel, "101", "dirty")
    before = db_state(db)
    with pytest.raises(RoomUnavailable, match="Room 101 is dirty, not ready"):
        stays.check_in(hotel.front_desk, booking)
    assert db_state(db) == before

    queued = stays.check_in(hotel.front_desk, booking, queue=True)
    assert (queued.queued, queued.checked_in_at, queued.keys) == (True, None, None)
    assert booking_row(db, booking)[:3] == ("confirmed", hotel.room_ids["101"], True)
    assert event_names(db) == ["booking.updated"]
    assert [r[0] for r in audit(db, "stay.queued")] == [str(booking)]
    assert rows(db, "SELECT count(*) FROM key_issue_log") == [(0,)]

    again = db_state(db)
    assert stays.check_in(hotel.front_desk, booking, queue=True).queued  # already queued: nothing new
    assert db_state(db) == again

    set_room(db, hotel, "101", "inspected")
    assert not stays.check_in(hotel.front_desk, booking).queued
    assert booking_row(db, booking)[:3] == ("checked_in", hotel.room_ids["101"], False)


def test_clean_is_ready_only_when_the_hotel_does_not_require_inspection(db, hotel, arrival):
    booking, _folio = arrival
    set_room(db, hotel, "101", "clean")
    with pytest.raises(RoomUnavailable, match="clean, not ready"):
        stays.check_in(hotel.front_desk, booking)
    set_hotel(db, hotel, inspection_required=False)
    assert stays.check_in(hotel.front_desk, booking).room_number == "101"


def test_a_booking_without_a_room_is_refused_and_never_queued(db, hotel):
    booking, _folio = make_booking(db.owner, hotel, check_in=hotel.business_date)
    before = db_state(db)
    with pytest.raises(InvalidTransition, match="has no room yet"):
        stays.check_in(hotel.front_desk, booking, queue=True)
    assert db_state(db) == before


def test_an_occupied_room_is_refused_even_when_queueing(db, hotel, arrival):
    booking, _folio = arrival
    # an overstaying guest still in house in 101 (their stay ended today, so no date overlap)
    make_booking(db.owner, hotel, check_in=hotel.business_date - 2 * DAY, room_number="101", status="checked_in")
    set_room(db, hotel, "101", "dirty")
    before = db_state(db)
    with pytest.raises(RoomUnavailable, match=r"Room 101 is occupied: booking T.* is in house"):
        stays.check_in(hotel.front_desk, booking, queue=True)
    assert db_state(db) == before


def test_out_of_order_and_out_of_service_rooms_are_refused(db, hotel, arrival):
    booking, _folio = arrival
    room = hotel.room_ids["101"]
    with db.owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO room_overlays (hotel_id, room_id, kind, starts_on, ends_on, reason, released)"
                " VALUES (:h, :r, 'out_of_order', :d, :d + 5, 'Old leak', true),"
                " (:h, :r, 'out_of_service', :d + 1, :d + 2, 'Carpet', false)"
            ),
            {"h": hotel.hotel_id, "r": room, "d": hotel.business_date},
        )
    before = db_state(db)
    with pytest.raises(RoomUnavailable, match=r"Room 101 is out of service from .* \(Carpet\)"):
        stays.check_in(hotel.front_desk, booking, queue=True)
    assert db_state(db) == before


def test_check_in_into_a_room_out_of_service_today_is_refused_even_when_it_is_inspected(db, hotel, arrival):
    booking, _folio = arrival
    today = hotel.business_date
    placed = rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["101"], today, today + DAY, "Broken shower")
    (code,) = one(db, "SELECT confirmation_code FROM bookings WHERE id = :b", b=booking)
    assert placed.bookings_in_window == (code,)  # the desk was told to move the arrival
    assert rooms.get_room(hotel.front_desk, hotel.room_ids["101"]).ready is False  # inspected, but blocked today
    before = db_state(db)
    for queue in (False, True):  # not ready, and not worth queueing for either
        with pytest.raises(RoomUnavailable, match=r"Room 101 is out of service from .* \(Broken shower\)"):
            stays.check_in(hotel.front_desk, booking, queue=queue)
    assert db_state(db) == before
    assert booking_row(db, booking)[:3] == ("confirmed", hotel.room_ids["101"], False)


def test_only_confirmed_bookings_check_in(db, hotel):
    others = {
        status: make_booking(db.owner, hotel, check_in=hotel.business_date, room_number=room, status=status)[0]
        for status, room in (("checked_in", "101"), ("checked_out", "103"), ("cancelled", "105"), ("no_show", "107"))
    }
    before = db_state(db)
    for status, booking in others.items():
        word = {"checked_in": "checked in", "checked_out": "checked out", "no_show": "a no-show"}.get(status, status)
        with pytest.raises(InvalidTransition, match=f"is {word}; only a confirmed booking can be checked in"):
            stays.check_in(hotel.manager, booking, override_reason="Try anyway")
    assert db_state(db) == before


def test_early_arrival_is_refused_without_an_override_and_front_desk_cannot_override(db, hotel):
    tomorrow = hotel.business_date + DAY
    booking, _folio = make_booking(db.owner, hotel, check_in=tomorrow, room_number="101")
    before = db_state(db)
    with pytest.raises(InvalidTransition, match=f"arrives on {tomorrow}.*override an early check-in"):
        stays.check_in(hotel.front_desk, booking)
    with pytest.raises(PermissionDenied, match="may not override"):
        stays.check_in(hotel.front_desk, booking, override_reason="Flight arrived early")
    with pytest.raises(ValidationError, match="override reason"):
        stays.check_in(hotel.manager, booking, override_reason="  ")
    assert db_state(db) == before


def test_manager_overrides_an_early_arrival_and_the_stay_starts_today(db, hotel):
    today = hotel.business_date
    booking, _folio = make_booking(db.owner, hotel, check_in=today + DAY, nights=2, room_number="101")
    result = stays.check_in(hotel.manager, booking, override_reason="Flight arrived early")
    assert not result.queued
    assert booking_row(db, booking)[0] == "checked_in"
    assert booking_row(db, booking)[5:] == (today, today + 3 * DAY)
    [(_res, _user, details)] = audit(db, "stay.checked_in")
    assert (details["override"], details["override_reason"]) == ("early", "Flight arrived early")
    assert details["original_check_in"] == (today + DAY).isoformat()


def test_an_early_arrival_cannot_take_a_room_booked_for_tonight(db, hotel):
    today = hotel.business_date
    make_booking(db.owner, hotel, check_in=today, nights=1, room_number="101", last_name="Tonight")
    booking, _folio = make_booking(db.owner, hotel, check_in=today + DAY, room_number="101")
    before = db_state(db)
    with pytest.raises(RoomUnavailable, match=f"booked from {today} to {today + DAY}"):
        stays.check_in(hotel.manager, booking, override_reason="Early")
    assert db_state(db) == before


def test_late_arrivals_need_an_override_and_then_stay_at_least_tonight(db, hotel):
    today = hotel.business_date
    over, _ = make_booking(db.owner, hotel, check_in=today - 2 * DAY, nights=2, room_number="101")
    due_yesterday, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=3, room_number="103")
    before = db_state(db)
    with pytest.raises(InvalidTransition, match=r"that stay is over.*late check-in"):
        stays.check_in(hotel.front_desk, over)
    with pytest.raises(InvalidTransition, match=f"was due on {today - DAY}.*late check-in"):
        stays.check_in(hotel.front_desk, due_yesterday)
    assert db_state(db) == before

    stays.check_in(hotel.manager, over, override_reason="Guest arrived after the night audit")
    stays.check_in(hotel.admin, due_yesterday, override_reason="Delayed flight")
    assert booking_row(db, over)[5:] == (today, today + DAY)
    assert booking_row(db, due_yesterday)[5:] == (today, today + 2 * DAY)
    assert [d["override"] for _r, _u, d in audit(db, "stay.checked_in")] == ["late", "late"]


# --- keys ----------------------------------------------------------------------------------------


def test_duplicate_keys_are_logged_for_an_in_house_guest_only(db, hotel, arrival):
    booking, _folio = arrival
    before = db_state(db)
    with pytest.raises(InvalidTransition, match="only a checked in booking"):
        stays.issue_duplicate_keys(hotel.front_desk, booking)
    assert db_state(db) == before

    stays.check_in(hotel.front_desk, booking, keys=2)
    issued = stays.issue_duplicate_keys(hotel.front_desk, booking, keys=3)
    assert (issued.kind, issued.key_count) == ("duplicate", 3)
    assert rows(db, "SELECT kind, key_count FROM key_issue_log ORDER BY id") == [("new", 2), ("duplicate", 3)]
    assert [r[0] for r in audit(db, "stay.keys_duplicated")] == [str(booking)]
    before = db_state(db)
    with pytest.raises(ValidationError):
        stays.issue_duplicate_keys(hotel.front_desk, booking, keys=11)
    with pytest.raises(PermissionDenied):
        stays.issue_duplicate_keys(hotel.housekeeping, booking)
    assert db_state(db) == before


# --- reversing a check-in ------------------------------------------------------------------------


def test_a_check_in_is_reversed_the_same_day_when_the_folio_is_untouched(db, hotel):
    booking, folio = in_house(db, hotel)
    charge = folios.post_charge(hotel.front_desk, folio, "Minibar", Decimal("4.00"))
    folios.void_charge(hotel.manager, charge.line_id, "Wrong guest")

    result = stays.reverse_check_in(hotel.front_desk, booking)

    assert (result.status, result.room_id, result.folio_id) == ("confirmed", hotel.room_ids["101"], folio)
    status, room_id, _q, has_in, _out, _ci, _co = booking_row(db, booking)
    assert (status, room_id, has_in) == ("confirmed", hotel.room_ids["101"], False)
    assert event_names(db)[-1] == "booking.updated"
    [(_res, _user, details)] = audit(db, "stay.check_in_reversed")
    assert details["business_date"] == hotel.business_date.isoformat()
    assert stays.check_in(hotel.front_desk, booking).room_number == "101"  # and can check in again


def test_a_reversed_early_check_in_gets_its_booked_dates_back(db, hotel):
    today = hotel.business_date
    booking, _folio = make_booking(db.owner, hotel, check_in=today + DAY, nights=2, room_number="101")
    stays.check_in(hotel.manager, booking, override_reason="Early")
    stays.reverse_check_in(hotel.front_desk, booking)
    assert booking_row(db, booking)[5:] == (today + DAY, today + 3 * DAY)


def test_a_check_in_with_postings_or_from_another_day_is_not_reversed(db, hotel):
    booking, folio = in_house(db, hotel)
    folios.post_charge(hotel.front_desk, folio, "Minibar", Decimal("4.00"))
    before = db_state(db)
    with pytest.raises(FolioError, match=re.escape("balance EUR 4.00")):
        stays.reverse_check_in(hotel.front_desk, booking)
    assert db_state(db) == before

    other, _ = in_house(db, hotel, room="103")
    set_hotel(db, hotel, business_date=hotel.business_date + DAY)
    not_in_house, _ = make_booking(db.owner, hotel, check_in=hotel.business_date + DAY)
    before = db_state(db)
    with pytest.raises(InvalidTransition, match="only be reversed on the day"):
        stays.reverse_check_in(hotel.front_desk, other)
    with pytest.raises(InvalidTransition, match="only a checked in booking"):
        stays.reverse_check_in(hotel.front_desk, not_in_house)
    assert db_state(db) == before


# --- check-out -----------------------------------------------------------------------------------


def test_check_out_closes_the_folio_dirties_the_room_and_queues_a_cleaning_task(db, hotel):
    booking, folio = in_house(db, hotel)
    folios.post_charge(hotel.front_desk, folio, "Room", Decimal("200.00"))
    folios.take_payment(hotel.front_desk, folio, Decimal("200.00"))
    already = len(event_names(db))
    room = hotel.room_ids["101"]

    result = stays.check_out(hotel.front_desk, booking)

    assert (result.folio_id, result.folio_closed, result.balance) == (folio, True, Decimal("0.00"))
    assert booking_row(db, booking)[0] == "checked_out" and booking_row(db, booking)[4]
    assert one(db, "SELECT status, closed_at IS NOT NULL FROM folios WHERE id = :f", f=folio) == ("closed", True)
    assert one(db, "SELECT hk_status FROM rooms WHERE id = :r", r=room) == ("dirty",)
    assert rows(db, "SELECT id, room_id, kind, priority, business_date, status FROM housekeeping_tasks") == [
        (result.task_id, room, "checkout_clean", 2, hotel.business_date, "open")
    ]
    assert event_names(db)[already:] == [
        "guest.checkedOut",
        "folio.closed",
        "room.statusChanged",
        "housekeeping.taskCreated",
    ]
    assert events(db, "room.statusChanged") == [{"hotel_id": hotel.hotel_id, "room_ids": [room]}]
    assert events(db, "housekeeping.taskCreated") == [
        {"hotel_id": hotel.hotel_id, "task_id": result.task_id, "room_id": room}
    ]
    [(_res, _user, details)] = audit(db, "stay.checked_out")
    assert (details["folio_closed"], details["task_id"]) == (True, result.task_id)
    assert [r[0] for r in audit(db, "folio.closed")] == [str(folio)]
    # the room and the task change through the rooms and housekeeping services, with their own audit rows
    [(resource, _user, change)] = audit(db, "room.status_changed")
    assert (resource, change["from"], change["to"]) == (str(room), "inspected", "dirty")
    assert [r[0] for r in audit(db, "housekeeping_task.created")] == [str(result.task_id)]


def test_a_check_out_waiting_on_the_night_audit_carries_the_new_business_date(db, hotel):
    """The audit holds the in-house bookings while it moves the date on; a check-out that waited for one
    must be dated the new day (its cleaning task, its audit row), not the day it started in."""
    booking, folio = in_house(db, hotel)
    folios.post_charge(hotel.front_desk, folio, "Room", Decimal("200.00"))
    folios.take_payment(hotel.front_desk, folio, Decimal("200.00"))
    tomorrow = hotel.business_date + dt.timedelta(days=1)
    done: list[Any] = []
    with db.owner.connect() as audit_run:
        audit_run.execute(text("SELECT 1 FROM bookings WHERE id = :b FOR UPDATE"), {"b": booking})
        audit_run.execute(
            text("UPDATE hotels SET business_date = :d WHERE id = :h"), {"d": tomorrow, "h": hotel.hotel_id}
        )
        worker = threading.Thread(target=lambda: done.append(stays.check_out(hotel.front_desk, booking)))
        worker.start()
        _wait_for_lock_wait(db)
        audit_run.commit()
    worker.join(10)
    [result] = done
    assert one(db, "SELECT business_date FROM housekeeping_tasks WHERE id = :t", t=result.task_id) == (tomorrow,)
    [(_res, _user, details)] = audit(db, "stay.checked_out")
    assert details["business_date"] == tomorrow.isoformat()


def _wait_for_lock_wait(db) -> None:
    """Until some session of the database waits for a row lock."""
    for _ in range(200):
        waiting = one(
            db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )[0]
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the check-out never waited for the booking's lock")


def test_an_unsettled_folio_refuses_check_out_with_the_amount(db, hotel):
    booking, folio = in_house(db, hotel)
    folios.post_charge(hotel.front_desk, folio, "Room", Decimal("150.00"))
    before = db_state(db)
    with pytest.raises(FolioError, match=re.escape("balance of EUR 150.00 to pay")):
        stays.check_out(hotel.front_desk, booking)
    with pytest.raises(PermissionDenied, match="may not override"):
        stays.check_out(hotel.front_desk, booking, override_reason="Company pays")
    with pytest.raises(PermissionDenied):
        stays.check_out(hotel.housekeeping, booking)
    assert db_state(db) == before

    folios.take_payment(hotel.front_desk, folio, Decimal("170.00"))
    with pytest.raises(FolioError, match=re.escape("in credit by EUR 20.00")):
        stays.check_out(hotel.front_desk, booking)


def test_manager_overrides_an_unsettled_check_out_and_the_folio_stays_open(db, hotel):
    booking, folio = in_house(db, hotel)
    folios.post_charge(hotel.front_desk, folio, "Room", Decimal("150.00"))

    result = stays.check_out(hotel.manager, booking, override_reason="Company invoice to follow")

    assert (result.folio_closed, result.balance) == (False, Decimal("150.00"))
    assert booking_row(db, booking)[0] == "checked_out"
    assert one(db, "SELECT status FROM folios WHERE id = :f", f=folio) == ("open",)
    assert "folio.closed" not in event_names(db)
    [(_res, _user, details)] = audit(db, "stay.checked_out")
    assert details["folio_left_open"] is True
    assert (details["override_reason"], details["unsettled_balance"]) == ("Company invoice to follow", "150.00")
    # the balance is settled later on the same folio, which then closes
    folios.take_payment(hotel.front_desk, folio, Decimal("150.00"))
    assert folios.close_folio(hotel.front_desk, folio).status == "closed"


def test_only_in_house_guests_check_out(db, hotel, arrival):
    booking, _folio = arrival
    before = db_state(db)
    with pytest.raises(InvalidTransition, match="is confirmed; only a checked in booking can be checked out"):
        stays.check_out(hotel.manager, booking, override_reason="Anyway")
    assert db_state(db) == before


# --- reinstating a check-out ---------------------------------------------------------------------


def test_a_check_out_is_reinstated_the_same_day_with_a_new_folio(db, hotel):
    booking, old_folio = in_house(db, hotel)
    stays.check_out(hotel.front_desk, booking)

    result = stays.reinstate_check_out(hotel.front_desk, booking)

    assert result.status == "checked_in" and result.folio_id != old_folio
    status, _room, _q, has_in, has_out, _ci, _co = booking_row(db, booking)
    assert (status, has_in, has_out) == ("checked_in", True, False)
    assert rows(db, "SELECT id, status FROM folios WHERE booking_id = :b ORDER BY id", b=booking) == [
        (old_folio, "closed"),
        (result.folio_id, "open"),
    ]
    assert one(db, "SELECT hk_status FROM rooms WHERE id = :r", r=hotel.room_ids["101"]) == ("dirty",)
    assert event_names(db)[-1] == "booking.reinstated"
    [(_res, _user, details)] = audit(db, "stay.reinstated")
    assert details["folio_id"] == result.folio_id

    # checked out again the same day: the room's open cleaning task is reused, not duplicated
    again = stays.check_out(hotel.front_desk, booking)
    assert rows(db, "SELECT count(*) FROM housekeeping_tasks") == [(1,)]
    assert again.folio_id == result.folio_id and again.folio_closed


def test_an_overridden_check_out_is_reinstated_on_its_still_open_folio(db, hotel):
    booking, folio = in_house(db, hotel)
    folios.post_charge(hotel.front_desk, folio, "Room", Decimal("90.00"))
    stays.check_out(hotel.manager, booking, override_reason="Invoice")
    assert stays.reinstate_check_out(hotel.front_desk, booking).folio_id == folio
    assert rows(db, "SELECT count(*) FROM folios WHERE booking_id = :b", b=booking) == [(1,)]


def test_a_check_out_is_not_reinstated_after_the_night_audit_or_once_the_room_is_let(db, hotel):
    first, _ = in_house(db, hotel, room="101", nights=1)
    second, _ = in_house(db, hotel, room="103", nights=1)
    stays.check_out(hotel.front_desk, first)
    stays.check_out(hotel.front_desk, second)
    # room 101 cleaned and let to a walk-in the same day
    set_room(db, hotel, "101", "inspected")
    walk_in, _ = in_house(db, hotel, room="101", nights=1)
    assert booking_row(db, walk_in)[0] == "checked_in"
    before = db_state(db)
    with pytest.raises(RoomUnavailable, match="Room 101 has been let again"):
        stays.reinstate_check_out(hotel.front_desk, first)
    assert db_state(db) == before

    set_hotel(db, hotel, business_date=hotel.business_date + DAY)
    before = db_state(db)
    with pytest.raises(InvalidTransition, match="before the night audit"):
        stays.reinstate_check_out(hotel.front_desk, second)
    with pytest.raises(InvalidTransition, match="only a checked out booking"):
        stays.reinstate_check_out(hotel.front_desk, walk_in)
    with pytest.raises(PermissionDenied):
        stays.reinstate_check_out(hotel.housekeeping, second)
    assert db_state(db) == before
