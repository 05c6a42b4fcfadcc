"""Bookings service on a real PostgreSQL: create with folio, walk-in, changes, room assignment, moves and
swaps, cancel with refunds, no-show, reinstate, the desk's lists and the room rack, permissions, and
refusals that leave the database as it was.

One database serves the whole module and every test gets a hotel of its own: row-level security keeps
hotels apart, owner-side checks filter by hotel, and cloning a database per test would cost about a
second each.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from core.auth import Actor
from core.errors import InvalidTransition, NotFound, PermissionDenied, RoomUnavailable, ValidationError
from core.services import bookings
from core.services.bookings import CODE_ALPHABET, CODE_LENGTH
from tests.factories import HotelFixture, add_overlay, make_booking, make_hotel, set_hk, unique_name
from tests.query_plans import assert_bookings_indexed, make_busy_hotel

DAY = dt.timedelta(days=1)
NOT_A_FLAG: Any = "yes"  # what a careless caller might pass; typed Any so the type checker lets the test try
NOT_A_DATE: Any = "today"
SHARED_DATABASE = True  # see tests/conftest.py: shares_database


# --- helpers: set up and read the database as its owner ------------------------------------------


def rows(db, sql: str, **params: Any) -> list[Any]:
    with db.owner.connect() as conn:
        return list(conn.execute(text(sql), params))


def execute(db, sql: str, **params: Any) -> Any:
    with db.owner.begin() as conn:
        return conn.execute(text(sql), params)


def make_guest(db, hotel, last: str = "Moreau", first: str = "Anne") -> int:
    return execute(
        db,
        "INSERT INTO guests (hotel_id, last_name, first_name, name_norm, first_norm)"
        " VALUES (:h, :l, :f, lower(:l || ' ' || :f), lower(:f)) RETURNING id",
        h=hotel.hotel_id,
        l=last,
        f=first,
    ).scalar_one()


def add_line(db, hotel, folio_id: int, kind: str, amount: str, description: str = "Card") -> int:
    return execute(
        db,
        "INSERT INTO folio_lines (hotel_id, folio_id, kind, description, amount, business_date)"
        " VALUES (:h, :f, :k, :d, :a, current_date) RETURNING id",
        h=hotel.hotel_id,
        f=folio_id,
        k=kind,
        d=description,
        a=Decimal(amount),
    ).scalar_one()


def booking_row(db, booking_id: int) -> Any:
    return rows(db, "SELECT * FROM bookings WHERE id = :b", b=booking_id)[0]


def hk(db, hotel, number: str) -> str:
    return rows(db, "SELECT hk_status FROM rooms WHERE id = :r", r=hotel.room_ids[number])[0].hk_status


def events(db, hotel) -> list[tuple[str, dict[str, Any]]]:
    found = rows(db, "SELECT name, payload FROM event_outbox WHERE hotel_id = :h ORDER BY id", h=hotel.hotel_id)
    return [(r.name, r.payload) for r in found]


def event_names(db, hotel) -> list[str]:
    return [name for name, _ in events(db, hotel)]


def audits(db, hotel) -> list[Any]:
    return rows(
        db,
        "SELECT action, resource_type, resource_id, details, user_id FROM audit_log WHERE hotel_id = :h ORDER BY id",
        h=hotel.hotel_id,
    )


def snapshot(db, hotel) -> dict[str, list[Any]]:
    """Everything a booking change may write, to prove a refusal changed nothing."""
    tables = {
        "bookings": "SELECT id, status, room_id, check_in, check_out, adults, children, rate, room_type_id,"
        " do_not_move, notes, actual_check_in, updated_at FROM bookings",
        "folios": "SELECT id, status FROM folios",
        "lines": "SELECT id, amount FROM folio_lines",
        "keys": "SELECT id FROM key_issue_log",
        "rooms": "SELECT id, hk_status, hk_status_changed_at FROM rooms",
        "audit": "SELECT id FROM audit_log",
        "outbox": "SELECT id FROM event_outbox",
    }
    return {name: rows(db, f"{sql} WHERE hotel_id = :h ORDER BY id", h=hotel.hotel_id) for name, sql in tables.items()}


def refused(db, hotel, error: type[Exception], call: Callable[[], Any], match: str | None = None) -> str:
    """``call`` raises ``error`` and the hotel's data is exactly as before; returns the message."""
    before = snapshot(db, hotel)
    with pytest.raises(error, match=match) as raised:
        call()
    assert snapshot(db, hotel) == before
    return str(raised.value)


def book(hotel, guest_id: int, start: dt.date, nights: int = 2, room_type: str = "STD", **kwargs: Any):
    return bookings.create_booking(
        hotel.front_desk, guest_id, hotel.room_type_ids[room_type], start, start + nights * DAY, **kwargs
    )


def check_in_directly(db, booking_id: int) -> None:
    """Check in as the stays service would (it is not under test here)."""
    execute(db, "UPDATE bookings SET status = 'checked_in', actual_check_in = now() WHERE id = :b", b=booking_id)


# --- create --------------------------------------------------------------------------------------


def test_create_booking_writes_booking_open_folio_audit_and_one_event(db, hotel):
    guest = make_guest(db, hotel)
    today = hotel.business_date

    made = bookings.create_booking(
        hotel.front_desk, guest, hotel.room_type_ids["DBL"], today, today + 3 * DAY, adults=2, children=1
    )

    assert (made.status, made.room_id, made.guest_name, made.room_type_code) == (
        "confirmed",
        None,
        "Moreau, Anne",
        "DBL",
    )
    assert (made.nights, made.adults, made.children, made.rate) == (3, 2, 1, Decimal("150.00"))
    assert len(made.confirmation_code) == CODE_LENGTH and set(made.confirmation_code) <= set(CODE_ALPHABET)
    assert (made.folio_status, made.currency, made.balance) == ("open", "EUR", Decimal("0.00"))
    folios = rows(db, "SELECT booking_id, currency, status FROM folios WHERE hotel_id = :h", h=hotel.hotel_id)
    assert [tuple(f) for f in folios] == [(made.booking_id, "EUR", "open")]
    assert events(db, hotel) == [
        (
            "booking.created",
            {
                "hotel_id": hotel.hotel_id,
                "booking_id": made.booking_id,
                "confirmation_code": made.confirmation_code,
                "check_in": today.isoformat(),
                "check_out": (today + 3 * DAY).isoformat(),
            },
        )
    ]
    [entry] = audits(db, hotel)
    assert (entry.action, entry.resource_type, entry.resource_id) == (
        "booking.created",
        "booking",
        str(made.booking_id),
    )
    assert entry.user_id == hotel.user_ids[hotel.front_desk.role]
    assert entry.details["rate"] == "150.00" and entry.details["room"] is None


def test_create_booking_with_a_room_a_rate_and_notes_assigns_it_in_the_same_transaction(db, hotel):
    guest = make_guest(db, hotel)
    made = book(
        hotel, guest, hotel.business_date + DAY, room_id=hotel.room_ids["103"], rate="89.5", notes="Late arrival"
    )

    assert (made.room_number, made.rate, made.notes) == ("103", Decimal("89.50"), "Late arrival")
    assert event_names(db, hotel) == ["booking.created", "booking.roomAssigned"]
    assert events(db, hotel)[1][1] == {
        "hotel_id": hotel.hotel_id,
        "booking_id": made.booking_id,
        "room_id": hotel.room_ids["103"],
        "room_number": "103",
    }
    assert [a.action for a in audits(db, hotel)] == ["booking.created"]


def test_confirmation_codes_are_unique(db, hotel):
    guest = make_guest(db, hotel)
    codes = {book(hotel, guest, hotel.business_date + i * DAY, nights=1).confirmation_code for i in range(8)}
    assert len(codes) == 8


def test_create_is_refused_when_the_room_type_is_sold_out_and_nothing_changes(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    for number in ("101", "103", "105"):
        make_booking(db.owner, hotel, check_in=today, nights=3, room_number=number)
    make_booking(db.owner, hotel, check_in=today + DAY, nights=1)  # unassigned: still takes a Standard room
    add_overlay(db, hotel, "107", "out_of_order", today, today + 5 * DAY)

    message = refused(db, hotel, RoomUnavailable, lambda: book(hotel, guest, today + DAY, nights=3))
    assert "Standard" in message and "sold out on the night of" in message

    # The next night after those stays still has the fifth room and the freed ones.
    assert book(hotel, guest, today + 3 * DAY, nights=1).status == "confirmed"


def test_create_in_a_taken_or_blocked_room_is_refused_with_room_and_dates(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    make_booking(db.owner, hotel, check_in=today + DAY, nights=2, room_number="101")
    add_overlay(db, hotel, "103", "out_of_service", today + 2 * DAY, today + 4 * DAY)

    message = refused(db, hotel, RoomUnavailable, lambda: book(hotel, guest, today, room_id=hotel.room_ids["101"]))
    assert "Room 101" in message and today.strftime("%b %Y") in message
    message = refused(
        db, hotel, RoomUnavailable, lambda: book(hotel, guest, today + DAY, room_id=hotel.room_ids["103"])
    )
    assert "Room 103 is out of service" in message
    refused(
        db, hotel, ValidationError, lambda: book(hotel, guest, today, room_id=hotel.room_ids["102"]), "not a Standard"
    )
    # Back to back is fine: the earlier stay leaves the day this one arrives.
    assert book(hotel, guest, today + 3 * DAY, room_id=hotel.room_ids["101"]).room_number == "101"


def test_create_refuses_bad_input_and_changes_nothing(db, hotel, other_hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    foreign_guest = make_guest(db, other_hotel)
    std = hotel.room_type_ids["STD"]

    def create(**overrides: Any) -> Callable[[], Any]:
        args: dict[str, Any] = {"guest_id": guest, "room_type_id": std, "check_in": today, "check_out": today + DAY}
        args.update(overrides)
        return lambda: bookings.create_booking(hotel.front_desk, **args)

    cases: list[tuple[type[Exception], Callable[[], Any]]] = [
        (ValidationError, create(check_in=today - DAY)),  # before the business date
        (ValidationError, create(check_out=today)),  # no night
        (ValidationError, create(check_in=today + DAY, check_out=today)),  # reversed
        (ValidationError, create(check_out=today + 366 * DAY)),
        (ValidationError, create(check_in=dt.datetime.now())),
        (ValidationError, create(check_in="2030-01-01")),
        (ValidationError, create(adults=0)),
        (ValidationError, create(adults=3)),  # a Standard room sleeps two
        (ValidationError, create(adults=True)),
        (ValidationError, create(children=11)),
        (ValidationError, create(children=-1)),
        (ValidationError, create(rate=Decimal("-1"))),
        (ValidationError, create(rate="12.345")),
        (ValidationError, create(rate=Decimal("1000000"))),
        (ValidationError, create(rate="NaN")),
        (ValidationError, create(rate=1.5)),
        (ValidationError, create(notes="x" * 2001)),
        (ValidationError, create(notes="bell\x07")),
        (ValidationError, create(notes="evil\u202etxt")),
        (ValidationError, create(guest_id="1")),
        (ValidationError, create(room_id=0)),
        (NotFound, create(guest_id=foreign_guest)),
        (NotFound, create(guest_id=10**12)),
        (NotFound, create(room_type_id=other_hotel.room_type_ids["STD"])),
        (NotFound, create(room_id=other_hotel.room_ids["101"])),
    ]
    for error, call in cases:
        refused(db, hotel, error, call)


# --- walk-in -------------------------------------------------------------------------------------


def test_walk_in_books_assigns_and_checks_in_the_best_ready_room_in_one_transaction(db, hotel):
    guest = make_guest(db, hotel)
    set_hk(db, hotel, "dirty", "101")
    today = hotel.business_date

    stay = bookings.walk_in(hotel.front_desk, guest, hotel.room_type_ids["STD"], today + 2 * DAY, keys=3)

    assert (stay.status, stay.room_number, stay.check_in, stay.check_out) == (
        "checked_in",
        "103",
        today,
        today + 2 * DAY,
    )
    assert stay.actual_check_in is not None and stay.folio_status == "open"
    keys = rows(
        db, "SELECT room_id, kind, key_count, valid_until FROM key_issue_log WHERE booking_id = :b", b=stay.booking_id
    )
    assert [(k.room_id, k.kind, k.key_count) for k in keys] == [(hotel.room_ids["103"], "new", 3)]
    assert keys[0].valid_until.date() == today + 2 * DAY
    assert event_names(db, hotel) == ["booking.created", "booking.roomAssigned", "guest.checkedIn"]
    assert events(db, hotel)[2][1] == {
        "hotel_id": hotel.hotel_id,
        "booking_id": stay.booking_id,
        "room_id": hotel.room_ids["103"],
    }
    assert [a.action for a in audits(db, hotel)] == ["booking.walk_in"]


def test_walk_in_needs_a_ready_vacant_room(db, hotel):
    guest = make_guest(db, hotel)
    today = hotel.business_date
    std = hotel.room_type_ids["STD"]
    set_hk(db, hotel, "clean", "101")
    in_house, _ = make_booking(
        db.owner, hotel, check_in=today - 3 * DAY, nights=2, room_number="103", status="checked_in"
    )

    message = refused(
        db,
        hotel,
        RoomUnavailable,
        lambda: bookings.walk_in(hotel.front_desk, guest, std, today + DAY, room_id=hotel.room_ids["101"]),
    )
    assert "Room 101 is clean" in message and "inspected" in message
    # The guest in 103 should have left yesterday but is still checked in: the room is not vacant.
    message = refused(
        db,
        hotel,
        RoomUnavailable,
        lambda: bookings.walk_in(hotel.front_desk, guest, std, today + DAY, room_id=hotel.room_ids["103"]),
    )
    assert "occupied" in message
    set_hk(db, hotel, "dirty", "105", "107", "109")
    refused(
        db,
        hotel,
        RoomUnavailable,
        lambda: bookings.walk_in(hotel.front_desk, guest, std, today + DAY),
        "No ready Standard",
    )
    refused(db, hotel, ValidationError, lambda: bookings.walk_in(hotel.front_desk, guest, std, today))
    refused(db, hotel, PermissionDenied, lambda: bookings.walk_in(hotel.housekeeping, guest, std, today + DAY))
    assert booking_row(db, in_house).status == "checked_in"


def test_walk_in_takes_a_clean_room_where_the_hotel_does_not_inspect(db):
    relaxed = make_hotel(db.owner, unique_name("Relaxed"), rooms=4, inspection_required=False)
    set_hk(db, relaxed, "clean", "101", "103")
    guest = make_guest(db, relaxed)
    today = relaxed.business_date

    stay = bookings.walk_in(
        relaxed.manager, guest, relaxed.room_type_ids["STD"], today + DAY, room_id=relaxed.room_ids["103"]
    )
    assert (stay.room_number, stay.status) == ("103", "checked_in")


# --- update --------------------------------------------------------------------------------------


def test_update_changes_dates_and_party_with_one_audit_row_and_event(db, hotel):
    guest = make_guest(db, hotel)
    made = book(hotel, guest, hotel.business_date + DAY, room_id=hotel.room_ids["105"])
    new_in, new_out = hotel.business_date + 2 * DAY, hotel.business_date + 6 * DAY

    changed = bookings.update_booking(hotel.front_desk, made.booking_id, check_in=new_in, check_out=new_out, adults=2)

    assert (changed.check_in, changed.check_out, changed.adults, changed.room_number) == (new_in, new_out, 2, "105")
    assert event_names(db, hotel)[-1:] == ["booking.updated"] and len(events(db, hotel)) == 3
    entry = audits(db, hotel)[-1]
    assert entry.action == "booking.updated"
    assert entry.details["adults"] == {"from": 1, "to": 2}
    assert entry.details["check_out"] == {
        "from": (hotel.business_date + 3 * DAY).isoformat(),
        "to": new_out.isoformat(),
    }

    # Giving the same values again changes nothing and says nothing.
    before = snapshot(db, hotel)
    bookings.update_booking(hotel.front_desk, made.booking_id, check_in=new_in, adults=2)
    assert snapshot(db, hotel) == before


def test_update_is_refused_when_the_assigned_room_or_the_type_is_not_free(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    made = book(hotel, guest, today, nights=2, room_id=hotel.room_ids["101"])
    make_booking(db.owner, hotel, check_in=today + 3 * DAY, nights=2, room_number="101")
    add_overlay(db, hotel, "101", "out_of_order", today + 10 * DAY, today + 12 * DAY)

    message = refused(
        db,
        hotel,
        RoomUnavailable,
        lambda: bookings.update_booking(hotel.front_desk, made.booking_id, check_out=today + 4 * DAY),
    )
    assert "Room 101" in message
    refused(
        db,
        hotel,
        RoomUnavailable,
        lambda: bookings.update_booking(
            hotel.front_desk, made.booking_id, check_in=today + 9 * DAY, check_out=today + 11 * DAY
        ),
        "out of order",
    )

    # Every Double is taken for the first night: a change of type cannot squeeze in.
    for number in ("102", "104", "106", "108", "110"):
        make_booking(db.owner, hotel, check_in=today, nights=1, room_number=number, room_type="DBL")
    refused(
        db,
        hotel,
        RoomUnavailable,
        lambda: bookings.update_booking(hotel.front_desk, made.booking_id, room_type_id=hotel.room_type_ids["DBL"]),
        "Double",
    )


def test_changing_the_room_type_releases_a_room_of_the_old_type(db, hotel):
    guest = make_guest(db, hotel)
    made = book(hotel, guest, hotel.business_date + DAY, room_id=hotel.room_ids["101"])

    changed = bookings.update_booking(
        hotel.front_desk, made.booking_id, room_type_id=hotel.room_type_ids["DBL"], adults=3
    )

    assert (changed.room_type_code, changed.room_id, changed.adults) == ("DBL", None, 3)
    assert event_names(db, hotel)[-2:] == ["booking.updated", "booking.roomAssigned"]
    assert events(db, hotel)[-1][1]["room_id"] is None
    assert [a.action for a in audits(db, hotel)] == ["booking.created", "booking.updated"]


def test_update_refusals_leave_the_booking_as_it_was(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    made = book(hotel, guest, today + DAY, room_id=hotel.room_ids["101"])
    bookings.set_do_not_move(hotel.front_desk, made.booking_id, True)
    booking_id = made.booking_id

    def update(**changes: Any) -> Callable[[], Any]:
        return lambda: bookings.update_booking(hotel.front_desk, booking_id, **changes)

    refused(db, hotel, ValidationError, update(), "Nothing to change")
    refused(db, hotel, ValidationError, update(check_in=today - DAY))
    refused(db, hotel, ValidationError, update(check_out=today + DAY))
    refused(db, hotel, ValidationError, update(check_out=today + 400 * DAY))
    refused(db, hotel, ValidationError, update(adults=3))
    refused(db, hotel, ValidationError, update(children=20))
    refused(db, hotel, ValidationError, update(rate="-5"))
    refused(db, hotel, InvalidTransition, update(room_type_id=hotel.room_type_ids["DBL"]), "do not move")
    refused(db, hotel, NotFound, lambda: bookings.update_booking(hotel.front_desk, 10**12, adults=2))
    refused(db, hotel, PermissionDenied, lambda: bookings.update_booking(hotel.housekeeping, booking_id, adults=2))
    cancelled, _ = make_booking(db.owner, hotel, check_in=today + DAY, status="cancelled")
    refused(
        db,
        hotel,
        InvalidTransition,
        lambda: bookings.update_booking(hotel.front_desk, cancelled, adults=2),
        "cancelled",
    )


def test_a_checked_in_stay_may_only_change_its_check_out(db, hotel):
    today = hotel.business_date
    stay, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=2, room_number="101", status="checked_in")
    make_booking(db.owner, hotel, check_in=today + 3 * DAY, nights=2, room_number="101")

    extended = bookings.update_booking(hotel.front_desk, stay, check_out=today + 3 * DAY)
    assert extended.check_out == today + 3 * DAY
    shortened = bookings.update_booking(hotel.front_desk, stay, check_out=today)  # leaving today after all
    assert shortened.check_out == today

    refused(
        db,
        hotel,
        InvalidTransition,
        lambda: bookings.update_booking(hotel.front_desk, stay, adults=2),
        "only its check-out",
    )
    refused(db, hotel, ValidationError, lambda: bookings.update_booking(hotel.front_desk, stay, check_out=today - DAY))
    refused(
        db,
        hotel,
        RoomUnavailable,
        lambda: bookings.update_booking(hotel.front_desk, stay, check_out=today + 4 * DAY),
        "Room 101",
    )


# --- assign, unassign, auto-assign, do not move ---------------------------------------------------


def test_assign_room_puts_the_booking_in_a_free_room_of_its_type(db, hotel):
    guest = make_guest(db, hotel)
    made = book(hotel, guest, hotel.business_date + DAY)

    assigned = bookings.assign_room(hotel.front_desk, made.booking_id, hotel.room_ids["107"])

    assert assigned.room_number == "107"
    assert events(db, hotel)[-1] == (
        "booking.roomAssigned",
        {
            "hotel_id": hotel.hotel_id,
            "booking_id": made.booking_id,
            "room_id": hotel.room_ids["107"],
            "room_number": "107",
        },
    )
    entry = audits(db, hotel)[-1]
    assert (entry.action, entry.details["room"], entry.details["previous_room"]) == (
        "booking.room_assigned",
        "107",
        None,
    )
    before = snapshot(db, hotel)
    bookings.assign_room(hotel.front_desk, made.booking_id, hotel.room_ids["107"])  # already there: no change
    assert snapshot(db, hotel) == before


def test_assign_room_refusals_name_the_room_and_change_nothing(db, hotel, other_hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    made = book(hotel, guest, today + DAY, nights=3)
    make_booking(db.owner, hotel, check_in=today + 3 * DAY, nights=2, room_number="101")
    add_overlay(db, hotel, "103", "out_of_order", today + 2 * DAY, today + 3 * DAY)
    add_overlay(db, hotel, "105", "out_of_service", today, today + 2 * DAY)
    add_overlay(db, hotel, "107", "out_of_order", today, today + 9 * DAY, released=True)
    booking_id = made.booking_id

    def assign(number: str, **kwargs: Any) -> Callable[[], Any]:
        return lambda: bookings.assign_room(hotel.front_desk, booking_id, hotel.room_ids[number], **kwargs)

    message = refused(db, hotel, RoomUnavailable, assign("101"))
    assert "Room 101 is not free" in message and (today + DAY).strftime("%b %Y") in message
    refused(db, hotel, RoomUnavailable, assign("103"), "Room 103 is out of order")
    refused(db, hotel, RoomUnavailable, assign("105"), "Room 105 is out of service")
    refused(db, hotel, ValidationError, assign("102"), "upgrade")
    refused(
        db, hotel, NotFound, lambda: bookings.assign_room(hotel.front_desk, booking_id, other_hotel.room_ids["101"])
    )
    refused(db, hotel, ValidationError, lambda: bookings.assign_room(hotel.front_desk, booking_id, -4))
    in_house, _ = make_booking(db.owner, hotel, check_in=today, room_number="109", status="checked_in")
    refused(
        db,
        hotel,
        InvalidTransition,
        lambda: bookings.assign_room(hotel.front_desk, in_house, hotel.room_ids["107"]),
        "move",
    )
    # A released out-of-order window no longer blocks the room.
    assert bookings.assign_room(hotel.front_desk, booking_id, hotel.room_ids["107"]).room_number == "107"


def test_upgrade_needs_consent_and_room_in_the_better_type(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    made = book(hotel, guest, today + DAY)

    upgraded = bookings.assign_room(hotel.front_desk, made.booking_id, hotel.room_ids["102"], allow_upgrade=True)
    assert (upgraded.room_number, upgraded.room_type_code, upgraded.rate) == ("102", "STD", Decimal("100.00"))

    # Doubles all sold for that night (four unassigned Double bookings): the Standard stay cannot take one.
    other = book(hotel, guest, today + DAY)
    for _ in range(4):
        make_booking(db.owner, hotel, check_in=today + DAY, nights=1, room_type="DBL")
    refused(
        db,
        hotel,
        RoomUnavailable,
        lambda: bookings.assign_room(hotel.front_desk, other.booking_id, hotel.room_ids["104"], allow_upgrade=True),
        "Double",
    )


def test_unassign_room_frees_it_and_says_so(db, hotel):
    guest = make_guest(db, hotel)
    made = book(hotel, guest, hotel.business_date + DAY, room_id=hotel.room_ids["101"])

    released = bookings.unassign_room(hotel.front_desk, made.booking_id)

    assert released.room_id is None
    assert events(db, hotel)[-1][1]["room_id"] is None and audits(db, hotel)[-1].action == "booking.room_unassigned"
    bookings.assign_room(hotel.front_desk, made.booking_id, hotel.room_ids["101"])
    bookings.set_do_not_move(hotel.front_desk, made.booking_id, True)
    refused(
        db, hotel, InvalidTransition, lambda: bookings.unassign_room(hotel.front_desk, made.booking_id), "do not move"
    )


def test_an_upgraded_stay_cannot_fall_back_into_a_sold_out_booked_type(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    upgraded = book(hotel, guest, today + DAY)
    bookings.assign_room(hotel.front_desk, upgraded.booking_id, hotel.room_ids["102"], allow_upgrade=True)
    for _ in range(5):  # the Standard rooms are sold meanwhile, counting on the upgrade
        book(hotel, guest, today + DAY)

    refused(
        db, hotel, RoomUnavailable, lambda: bookings.unassign_room(hotel.front_desk, upgraded.booking_id), "Standard"
    )
    refused(db, hotel, RoomUnavailable, lambda: bookings.auto_assign_room(hotel.front_desk, upgraded.booking_id))
    moved = bookings.assign_room(hotel.front_desk, upgraded.booking_id, hotel.room_ids["104"], allow_upgrade=True)
    assert moved.room_number == "104"  # another Double is fine: the Standard count does not change


def test_auto_assign_prefers_ready_rooms_then_the_lowest_floor_and_number(db):
    big = make_hotel(db.owner, unique_name("Tower"), rooms=20)  # 101..110 and 201..210
    today = big.business_date
    guest = make_guest(db, big)
    set_hk(db, big, "dirty", "101", "103", "105", "107", "109")
    make_booking(db.owner, big, check_in=today, nights=2, room_number="201")
    add_overlay(db, big, "203", "out_of_service", today, today + DAY)
    made = book(big, guest, today)

    assigned = bookings.auto_assign_room(big.front_desk, made.booking_id)
    assert assigned.room_number == "205"  # 201 taken, 203 out of service; dirty 101..109 come after
    assert event_names(db, big)[-1] == "booking.roomAssigned"

    # Once 101 is ready it is better: an unlocked booking moves up; a locked one is never moved.
    set_hk(db, big, "inspected", "101")
    assert bookings.auto_assign_room(big.front_desk, made.booking_id).room_number == "101"
    before = snapshot(db, big)
    assert bookings.auto_assign_room(big.front_desk, made.booking_id).room_number == "101"  # already the best
    assert snapshot(db, big) == before
    bookings.set_do_not_move(big.front_desk, made.booking_id, True)
    refused(
        db, big, InvalidTransition, lambda: bookings.auto_assign_room(big.front_desk, made.booking_id), "do not move"
    )


def test_auto_assign_is_refused_when_no_room_of_the_type_is_free(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    for number in ("101", "103", "105", "107"):
        make_booking(db.owner, hotel, check_in=today, nights=2, room_number=number)
    add_overlay(db, hotel, "109", "out_of_order", today + DAY, today + 2 * DAY)
    made = book(hotel, guest, today, nights=1)  # the fifth room is free tonight only
    late = make_booking(db.owner, hotel, check_in=today + DAY, nights=1)[0]

    assert bookings.auto_assign_room(hotel.front_desk, made.booking_id).room_number == "109"
    refused(db, hotel, RoomUnavailable, lambda: bookings.auto_assign_room(hotel.front_desk, late), "No Standard room")


def _lock_rooms_elsewhere(conn: Any, hotel: HotelFixture, *numbers: str) -> None:
    """Another terminal in the middle of a change to these rooms: their rows locked, nothing committed."""
    conn.execute(
        text("SELECT id FROM rooms WHERE id = ANY(:ids) FOR NO KEY UPDATE"),
        {"ids": [hotel.room_ids[number] for number in numbers]},
    )


def test_auto_assign_passes_over_rooms_another_terminal_holds_and_waits_only_when_it_holds_them_all(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    first, second = book(hotel, guest, today), book(hotel, guest, today)

    with db.owner.connect() as other:
        other.begin()
        _lock_rooms_elsewhere(other, hotel, "101")
        assert bookings.auto_assign_room(hotel.front_desk, first.booking_id).room_number == "103"  # no waiting
        other.rollback()

    outcome: list[Any] = []
    with db.owner.connect() as other:
        other.begin()
        _lock_rooms_elsewhere(other, hotel, "101", "105", "107", "109")
        worker = threading.Thread(
            target=lambda: outcome.append(bookings.auto_assign_room(hotel.front_desk, second.booking_id))
        )
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive()  # every free room is held: it waits for the best one
        other.rollback()
        worker.join(30)
    assert [assigned.room_number for assigned in outcome] == ["101"]


def test_do_not_move_is_set_and_cleared_with_an_event_each(db, hotel):
    guest = make_guest(db, hotel)
    made = book(hotel, guest, hotel.business_date + DAY)
    refused(
        db, hotel, ValidationError, lambda: bookings.set_do_not_move(hotel.front_desk, made.booking_id, True), "no room"
    )
    bookings.assign_room(hotel.front_desk, made.booking_id, hotel.room_ids["101"])

    assert bookings.set_do_not_move(hotel.front_desk, made.booking_id, True).do_not_move is True
    refused(
        db,
        hotel,
        InvalidTransition,
        lambda: bookings.assign_room(hotel.front_desk, made.booking_id, hotel.room_ids["103"]),
    )
    assert bookings.set_do_not_move(hotel.front_desk, made.booking_id, False).do_not_move is False
    assert event_names(db, hotel)[-2:] == ["booking.updated", "booking.updated"]
    assert [a.details["locked"] for a in audits(db, hotel) if a.action == "booking.do_not_move"] == [True, False]
    refused(db, hotel, ValidationError, lambda: bookings.set_do_not_move(hotel.front_desk, made.booking_id, NOT_A_FLAG))


# --- in-house moves and swaps --------------------------------------------------------------------


def test_move_room_moves_an_in_house_guest_and_leaves_the_old_room_dirty(db, hotel):
    today = hotel.business_date
    stay, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=3, room_number="101", status="checked_in")

    moved = bookings.move_room(hotel.front_desk, stay, hotel.room_ids["103"], keys=1)

    assert (moved.room_number, moved.status) == ("103", "checked_in")
    assert (hk(db, hotel, "101"), hk(db, hotel, "103")) == ("dirty", "inspected")
    keys = rows(db, "SELECT room_id, key_count FROM key_issue_log WHERE booking_id = :b", b=stay)
    assert [tuple(k) for k in keys] == [(hotel.room_ids["103"], 1)]
    # The room left goes dirty through the rooms service's state machine, whose event names the rooms whose
    # housekeeping status changed (101 only); the guest's arrival in 103 is told by booking.roomAssigned.
    assert events(db, hotel) == [
        ("room.statusChanged", {"hotel_id": hotel.hotel_id, "room_ids": [hotel.room_ids["101"]]}),
        (
            "booking.roomAssigned",
            {"hotel_id": hotel.hotel_id, "booking_id": stay, "room_id": hotel.room_ids["103"], "room_number": "103"},
        ),
    ]
    assert [(a.action, a.resource_id) for a in audits(db, hotel)] == [
        ("room.status_changed", str(hotel.room_ids["101"])),
        ("booking.room_moved", str(stay)),
    ]


def test_move_room_refusals(db, hotel):
    today = hotel.business_date
    stay, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=3, room_number="101", status="checked_in")
    make_booking(db.owner, hotel, check_in=today + DAY, nights=2, room_number="103")
    set_hk(db, hotel, "clean", "105")
    confirmed, _ = make_booking(db.owner, hotel, check_in=today, nights=1, room_number="109")

    def move(number: str, booking_id: int = stay, **kwargs: Any) -> Callable[[], Any]:
        return lambda: bookings.move_room(hotel.front_desk, booking_id, hotel.room_ids[number], **kwargs)

    refused(db, hotel, RoomUnavailable, move("103"), "Room 103 is not free")
    refused(db, hotel, RoomUnavailable, move("105"), "Room 105 is clean")
    refused(db, hotel, ValidationError, move("101"), "already in room 101")
    refused(db, hotel, ValidationError, move("102"), "upgrade")
    refused(db, hotel, InvalidTransition, move("107", confirmed), "confirmed")
    refused(db, hotel, ValidationError, move("107", keys=0))
    refused(db, hotel, PermissionDenied, lambda: bookings.move_room(hotel.housekeeping, stay, hotel.room_ids["107"]))
    assert bookings.move_room(hotel.front_desk, stay, hotel.room_ids["102"], allow_upgrade=True).room_number == "102"


def test_swap_rooms_exchanges_two_in_house_stays_in_one_transaction(db, hotel):
    today = hotel.business_date
    first, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=3, room_number="101", status="checked_in")
    second, _ = make_booking(
        db.owner, hotel, check_in=today - 2 * DAY, nights=4, room_number="103", status="checked_in"
    )

    a, b = bookings.swap_rooms(hotel.front_desk, first, second)

    assert (a.room_number, b.room_number, a.status, b.status) == ("103", "101", "checked_in", "checked_in")
    assert (hk(db, hotel, "101"), hk(db, hotel, "103")) == ("dirty", "dirty")
    assert event_names(db, hotel) == ["booking.roomAssigned", "booking.roomAssigned", "room.statusChanged"]
    assert len(rows(db, "SELECT 1 FROM key_issue_log WHERE hotel_id = :h", h=hotel.hotel_id)) == 2
    assert sorted(a.action for a in audits(db, hotel)) == ["booking.room_swapped"] * 2 + ["room.status_changed"] * 2


def test_swap_across_room_types_keeps_each_type_within_its_rooms(db, hotel):
    today = hotel.business_date
    standard, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=2, room_number="101", status="checked_in")
    double, _ = make_booking(
        db.owner, hotel, check_in=today - DAY, nights=4, room_number="102", room_type="DBL", status="checked_in"
    )

    a, b = bookings.swap_rooms(hotel.front_desk, standard, double)
    assert (a.room_number, b.room_number) == ("102", "101")
    a, b = bookings.swap_rooms(hotel.front_desk, standard, double)  # and back
    assert (a.room_number, b.room_number) == ("101", "102")

    # Every other Standard room is sold for the nights after tomorrow: the Double guest's longer stay
    # cannot take a Standard room then, or the Standard type would be overbooked.
    for number in ("103", "105", "107", "109"):
        make_booking(db.owner, hotel, check_in=today + DAY, nights=3, room_number=number)
    make_booking(db.owner, hotel, check_in=today + DAY, nights=3)
    refused(db, hotel, RoomUnavailable, lambda: bookings.swap_rooms(hotel.front_desk, standard, double), "Standard")


def test_swap_is_refused_when_a_room_cannot_hold_the_other_stay(db, hotel):
    today = hotel.business_date
    short, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=2, room_number="101", status="checked_in")
    long_stay, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=5, room_number="103", status="checked_in")
    make_booking(
        db.owner, hotel, check_in=today + DAY, nights=2, room_number="101"
    )  # arrives when the short stay leaves
    confirmed, _ = make_booking(db.owner, hotel, check_in=today, nights=1, room_number="105")

    refused(db, hotel, RoomUnavailable, lambda: bookings.swap_rooms(hotel.front_desk, short, long_stay), "Room 101")
    refused(db, hotel, InvalidTransition, lambda: bookings.swap_rooms(hotel.front_desk, short, confirmed))
    refused(db, hotel, ValidationError, lambda: bookings.swap_rooms(hotel.front_desk, short, short))
    bookings.set_do_not_move(hotel.front_desk, short, True)
    refused(
        db, hotel, InvalidTransition, lambda: bookings.swap_rooms(hotel.front_desk, long_stay, short), "do not move"
    )


# --- cancel, no-show, reinstate ------------------------------------------------------------------


def test_cancel_marks_the_booking_cancelled_and_frees_its_room(db, hotel):
    guest = make_guest(db, hotel)
    made = book(hotel, guest, hotel.business_date + DAY, room_id=hotel.room_ids["101"])

    result = bookings.cancel_booking(hotel.front_desk, made.booking_id, reason="Change of plans")

    assert (result.booking.status, result.refunded, result.refund_line_ids) == ("cancelled", Decimal("0.00"), ())
    assert event_names(db, hotel)[-1:] == ["booking.cancelled"] and len(events(db, hotel)) == 3
    entry = audits(db, hotel)[-1]
    assert (entry.action, entry.details["reason"]) == ("booking.cancelled", "Change of plans")
    assert book(hotel, guest, hotel.business_date + DAY, room_id=hotel.room_ids["101"]).room_number == "101"


def test_cancel_with_refund_reverses_each_payment_still_held(db, hotel):
    booking_id, folio_id = make_booking(db.owner, hotel, check_in=hotel.business_date + DAY)
    add_line(db, hotel, folio_id, "charge", "20.00", "Deposit fee")
    add_line(db, hotel, folio_id, "payment", "-50.00", "Card deposit")
    voided = add_line(db, hotel, folio_id, "payment", "-70.00", "Typo")
    execute(
        db,
        "INSERT INTO folio_lines (hotel_id, folio_id, kind, description, amount, business_date, voids_line_id)"
        " VALUES (:h, :f, 'void', 'Typo', 70, current_date, :v)",
        h=hotel.hotel_id,
        f=folio_id,
        v=voided,
    )
    add_line(db, hotel, folio_id, "payment", "-30.00", "Cash")
    add_line(db, hotel, folio_id, "refund", "10.00", "Partial refund")

    result = bookings.cancel_booking(hotel.front_desk, booking_id, refund_payments=True)

    assert result.refunded == Decimal("70.00")
    refunds = rows(
        db,
        "SELECT id, amount, description FROM folio_lines WHERE folio_id = :f AND kind = 'refund' ORDER BY id",
        f=folio_id,
    )
    assert [(r.amount, r.description) for r in refunds[1:]] == [
        (Decimal("40.00"), "Refund: Card deposit"),
        (Decimal("30.00"), "Refund: Cash"),
    ]
    assert result.booking.balance == Decimal("20.00")  # the fee stays owed
    assert event_names(db, hotel) == ["booking.cancelled", "charge.posted", "charge.posted"]
    assert [p["amount"] for _, p in events(db, hotel)[1:]] == ["40.00", "30.00"]
    assert [a.action for a in audits(db, hotel)] == ["booking.cancelled", "folio.refunded", "folio.refunded"]


def test_cancel_refusals(db, hotel):
    today = hotel.business_date
    in_house, _ = make_booking(db.owner, hotel, check_in=today, room_number="101", status="checked_in")
    confirmed, _ = make_booking(db.owner, hotel, check_in=today + DAY)

    refused(db, hotel, InvalidTransition, lambda: bookings.cancel_booking(hotel.front_desk, in_house), "checked in")
    refused(db, hotel, ValidationError, lambda: bookings.cancel_booking(hotel.front_desk, confirmed, reason="x" * 201))
    refused(
        db,
        hotel,
        ValidationError,
        lambda: bookings.cancel_booking(hotel.front_desk, confirmed, refund_payments=NOT_A_FLAG),
    )
    refused(db, hotel, PermissionDenied, lambda: bookings.cancel_booking(hotel.housekeeping, confirmed))
    bookings.cancel_booking(hotel.front_desk, confirmed)
    refused(db, hotel, InvalidTransition, lambda: bookings.cancel_booking(hotel.front_desk, confirmed), "cancelled")


def test_no_show_only_from_the_arrival_day(db, hotel):
    today = hotel.business_date
    due, _ = make_booking(db.owner, hotel, check_in=today, room_number="101")
    late, _ = make_booking(db.owner, hotel, check_in=today - DAY, nights=3)
    future, _ = make_booking(db.owner, hotel, check_in=today + DAY)

    assert bookings.mark_no_show(hotel.front_desk, due).status == "no_show"
    assert bookings.mark_no_show(hotel.front_desk, late).status == "no_show"
    assert event_names(db, hotel) == ["booking.noShow", "booking.noShow"]
    assert [a.action for a in audits(db, hotel)] == ["booking.no_show", "booking.no_show"]
    refused(db, hotel, InvalidTransition, lambda: bookings.mark_no_show(hotel.front_desk, future), "arrives on")
    refused(db, hotel, InvalidTransition, lambda: bookings.mark_no_show(hotel.front_desk, due), "no-show")


def test_reinstate_brings_back_a_cancelled_or_no_show_booking_while_its_room_is_free(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    made = book(hotel, guest, today + DAY, room_id=hotel.room_ids["101"])
    bookings.cancel_booking(hotel.front_desk, made.booking_id)
    no_show, _ = make_booking(db.owner, hotel, check_in=today, nights=2, status="no_show")

    back = bookings.reinstate_booking(hotel.front_desk, made.booking_id)
    assert (back.status, back.room_number, back.folio_id) == ("confirmed", "101", made.folio_id)
    assert bookings.reinstate_booking(hotel.front_desk, no_show).status == "confirmed"
    assert event_names(db, hotel)[-2:] == ["booking.reinstated", "booking.reinstated"]
    assert [a.details["from"] for a in audits(db, hotel) if a.action == "booking.reinstated"] == [
        "cancelled",
        "no_show",
    ]

    # A reinstated stay whose folio was closed gets a new open one.
    bookings.cancel_booking(hotel.front_desk, made.booking_id)
    execute(db, "UPDATE folios SET status = 'closed', closed_at = now() WHERE booking_id = :b", b=made.booking_id)
    again = bookings.reinstate_booking(hotel.front_desk, made.booking_id)
    assert again.folio_status == "open" and again.folio_id != made.folio_id


def test_reinstate_is_refused_when_the_room_or_type_was_given_away(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    in_room = book(hotel, guest, today + DAY, room_id=hotel.room_ids["101"])
    bookings.cancel_booking(hotel.front_desk, in_room.booking_id)
    taker = book(hotel, guest, today + 2 * DAY, room_id=hotel.room_ids["101"])  # confirmed: not reinstatable
    message = refused(
        db, hotel, RoomUnavailable, lambda: bookings.reinstate_booking(hotel.front_desk, in_room.booking_id)
    )
    assert "Room 101" in message

    unassigned, _ = make_booking(db.owner, hotel, check_in=today + 5 * DAY, status="cancelled")
    for _ in range(5):
        book(hotel, guest, today + 5 * DAY, nights=1)
    refused(db, hotel, RoomUnavailable, lambda: bookings.reinstate_booking(hotel.front_desk, unassigned), "sold out")

    over, _ = make_booking(db.owner, hotel, check_in=today - 3 * DAY, nights=2, status="no_show")
    refused(db, hotel, InvalidTransition, lambda: bookings.reinstate_booking(hotel.front_desk, over), "ended")
    refused(
        db,
        hotel,
        InvalidTransition,
        lambda: bookings.reinstate_booking(hotel.front_desk, taker.booking_id),
        "confirmed",
    )


# --- reads ---------------------------------------------------------------------------------------


def test_get_booking_shows_guest_room_rate_and_folio_balance(db, hotel, other_hotel):
    booking_id, folio_id = make_booking(
        db.owner, hotel, check_in=hotel.business_date, room_number="105", last_name="Zola"
    )
    add_line(db, hotel, folio_id, "charge", "100.00", "Room")
    add_line(db, hotel, folio_id, "payment", "-40.00")

    detail = bookings.get_booking(hotel.front_desk, booking_id)

    assert (detail.guest_name, detail.room_number, detail.rate) == ("Zola, Test", "105", Decimal("100.00"))
    assert (detail.folio_id, detail.balance, detail.currency) == (folio_id, Decimal("60.00"), "EUR")
    foreign, _ = make_booking(db.owner, other_hotel, check_in=hotel.business_date)
    with pytest.raises(NotFound):
        bookings.get_booking(hotel.front_desk, foreign)
    with pytest.raises(PermissionDenied):
        bookings.get_booking(hotel.housekeeping, booking_id)


def test_guest_history_lists_the_guests_bookings_latest_first(db, hotel, other_hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel, "Lind", "Eva")
    first = book(hotel, guest, today + 3 * DAY)
    second = book(hotel, guest, today + 9 * DAY)

    history = bookings.guest_bookings(hotel.front_desk, guest)
    assert [r.booking_id for r in history] == [second.booking_id, first.booking_id]
    assert history[0].guest_name == "Lind, Eva" and history[0].nights == 2
    with pytest.raises(NotFound):
        bookings.guest_bookings(hotel.front_desk, make_guest(db, other_hotel))
    with pytest.raises(PermissionDenied):
        bookings.guest_bookings(hotel.housekeeping, guest)


def test_every_bookings_query_of_the_reads_is_served_by_an_index_under_rls(db):
    busy = make_busy_hotel(db)
    booking_id = rows(
        db, "SELECT min(id) AS id FROM bookings WHERE hotel_id = :h AND status = 'confirmed'", h=busy.hotel_id
    )[0].id
    guest = booking_row(db, booking_id).guest_id
    actor = busy.front_desk

    sent = assert_bookings_indexed(
        db,
        busy,
        [
            lambda: bookings.guest_bookings(actor, guest),
            lambda: bookings.get_booking(actor, booking_id),
        ],
    )
    assert sent >= 2


# --- permissions ---------------------------------------------------------------------------------


def test_housekeeping_cannot_change_bookings_and_nothing_changes(db, hotel):
    today = hotel.business_date
    guest = make_guest(db, hotel)
    booking_id, _ = make_booking(db.owner, hotel, check_in=today, room_number="101")
    in_house, _ = make_booking(db.owner, hotel, check_in=today, room_number="103", status="checked_in")
    actor: Actor = hotel.housekeeping
    calls: list[Callable[[], Any]] = [
        lambda: bookings.create_booking(actor, guest, hotel.room_type_ids["STD"], today, today + DAY),
        lambda: bookings.walk_in(actor, guest, hotel.room_type_ids["STD"], today + DAY),
        lambda: bookings.update_booking(actor, booking_id, adults=2),
        lambda: bookings.assign_room(actor, booking_id, hotel.room_ids["105"]),
        lambda: bookings.unassign_room(actor, booking_id),
        lambda: bookings.auto_assign_room(actor, booking_id),
        lambda: bookings.set_do_not_move(actor, booking_id, True),
        lambda: bookings.move_room(actor, in_house, hotel.room_ids["105"]),
        lambda: bookings.swap_rooms(actor, in_house, booking_id),
        lambda: bookings.cancel_booking(actor, booking_id),
        lambda: bookings.mark_no_show(actor, booking_id),
        lambda: bookings.reinstate_booking(actor, booking_id),
    ]
    for call in calls:
        message = refused(db, hotel, PermissionDenied, call)
        assert "housekeeping role may not" in message


def test_ids_of_another_hotel_are_not_found_and_change_nothing(db, hotel, other_hotel):
    theirs, _ = make_booking(db.owner, other_hotel, check_in=other_hotel.business_date, room_number="101")
    for call in (
        lambda: bookings.cancel_booking(hotel.front_desk, theirs),
        lambda: bookings.auto_assign_room(hotel.front_desk, theirs),
        lambda: bookings.mark_no_show(hotel.front_desk, theirs),
        lambda: bookings.update_booking(hotel.front_desk, theirs, adults=2),
    ):
        refused(db, hotel, NotFound, call)
        refused(db, other_hotel, NotFound, call)
