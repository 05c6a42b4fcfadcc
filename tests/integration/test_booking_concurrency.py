"""Terminals racing for the same rooms: eight threads at once, each with its own connection from the
runtime role's pool. Whatever the interleaving, no room is ever given twice, every loser is told
RoomUnavailable, exactly as many win as there are rooms, and the per-room locks mean the database never
has to break a deadlock (no retry is logged)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from core.errors import RoomUnavailable
from core.services import bookings
from tests.factories import HotelFixture, make_booking, make_hotel

DAY = dt.timedelta(days=1)
THREADS = 8
STANDARD_ROOMS = ("101", "103", "105")  # the hotel below has six rooms: three Standard, three Double


@pytest.fixture
def small_hotel(db) -> HotelFixture:
    return make_hotel(db.owner, "Hotel Petit", rooms=6)


@pytest.fixture
def retries(caplog) -> list[logging.LogRecord]:
    """Deadlock / serialization retries logged by the transaction helper while the test runs."""
    caplog.set_level(logging.INFO, logger="core.db.transaction")
    return caplog.records


def race(work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in THREADS threads released together; each result or the exception it raised."""
    start = threading.Barrier(THREADS)

    def run(i: int) -> Any:
        start.wait()
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS), timeout=120))


def active_rooms(db, hotel) -> list[Any]:
    with db.owner.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT id, room_id, check_in, check_out FROM bookings"
                    " WHERE hotel_id = :h AND status IN ('confirmed', 'checked_in') AND room_id IS NOT NULL"
                ),
                {"h": hotel.hotel_id},
            )
        )


def assert_no_room_given_twice(db, hotel) -> None:
    stays = active_rooms(db, hotel)
    for a in stays:
        for b in stays:
            if a.id < b.id and a.room_id == b.room_id:
                assert a.check_out <= b.check_in or b.check_out <= a.check_in, f"room {a.room_id} given twice"


def winners_and_losers(results: list[Any]) -> tuple[list[Any], list[Exception]]:
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    unexpected = [e for e in losers if not isinstance(e, RoomUnavailable)]
    assert not unexpected, unexpected
    return winners, losers


def retry_messages(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if "retry" in r.getMessage()]


def test_eight_terminals_booking_and_auto_assigning_the_same_nights(db, small_hotel, retries):
    hotel = small_hotel
    arrival = hotel.business_date + DAY
    with db.owner.begin() as conn:
        guests = [
            conn.execute(
                text("INSERT INTO guests (hotel_id, last_name, name_norm) VALUES (:h, :n, lower(:n)) RETURNING id"),
                {"h": hotel.hotel_id, "n": f"Racer{i}"},
            ).scalar_one()
            for i in range(THREADS)
        ]

    def book_and_assign(i: int) -> Any:
        # Overlapping stays: every one of them includes the night of the arrival day + 1.
        made = bookings.create_booking(
            hotel.front_desk, guests[i], hotel.room_type_ids["STD"], arrival + (i % 2) * DAY, arrival + 3 * DAY
        )
        return bookings.auto_assign_room(hotel.front_desk, made.booking_id)

    winners, losers = winners_and_losers(race(book_and_assign))

    assert len(winners) == len(STANDARD_ROOMS) and len(losers) == THREADS - len(STANDARD_ROOMS)
    assert sorted(w.room_number for w in winners) == list(STANDARD_ROOMS)
    assert_no_room_given_twice(db, hotel)
    with db.owner.connect() as conn:
        created = conn.execute(text("SELECT count(*) FROM bookings WHERE hotel_id = :h"), {"h": hotel.hotel_id})
        assert created.scalar_one() == len(STANDARD_ROOMS)  # the losers' bookings were never written
    assert retry_messages(retries) == []


def test_eight_terminals_auto_assigning_overbooked_stays(db, small_hotel, retries):
    hotel = small_hotel
    arrival = hotel.business_date
    stays = [make_booking(db.owner, hotel, check_in=arrival, nights=2 + i % 3)[0] for i in range(THREADS)]

    winners, losers = winners_and_losers(race(lambda i: bookings.auto_assign_room(hotel.front_desk, stays[i])))

    assert len(winners) == len(STANDARD_ROOMS) and len(losers) == THREADS - len(STANDARD_ROOMS)
    assert sorted(w.room_number for w in winners) == list(STANDARD_ROOMS)
    assert all("No Standard room" in str(e) for e in losers)
    assert_no_room_given_twice(db, hotel)
    assert retry_messages(retries) == []


def test_eight_terminals_assigning_one_room(db, small_hotel, retries):
    hotel = small_hotel
    stays = [
        make_booking(db.owner, hotel, check_in=hotel.business_date + (i % 3) * DAY, nights=3)[0] for i in range(THREADS)
    ]
    room = hotel.room_ids["101"]

    winners, losers = winners_and_losers(race(lambda i: bookings.assign_room(hotel.front_desk, stays[i], room)))

    assert len(winners) == 1 and len(losers) == THREADS - 1
    assert all("Room 101" in str(e) for e in losers)
    assert [r.room_id for r in active_rooms(db, hotel)] == [room]
    assert retry_messages(retries) == []


def test_eight_walk_ins_for_three_ready_rooms(db, small_hotel, retries):
    hotel = small_hotel
    with db.owner.begin() as conn:
        guest = conn.execute(
            text("INSERT INTO guests (hotel_id, last_name, name_norm) VALUES (:h, 'Walker', 'walker') RETURNING id"),
            {"h": hotel.hotel_id},
        ).scalar_one()
    leave = hotel.business_date + 2 * DAY

    winners, losers = winners_and_losers(
        race(lambda i: bookings.walk_in(hotel.front_desk, guest, hotel.room_type_ids["STD"], leave))
    )

    assert sorted(w.room_number for w in winners) == list(STANDARD_ROOMS)
    assert len(losers) == THREADS - len(STANDARD_ROOMS)
    assert all(w.status == "checked_in" for w in winners)
    assert_no_room_given_twice(db, hotel)
    assert retry_messages(retries) == []


def _insert_unlocked(conn, hotel, number: str, check_in: dt.date, check_out: dt.date, like: int) -> None:
    """A stay written the way a careless program would: straight INSERT, no room lock."""
    conn.execute(
        text(
            "INSERT INTO bookings (hotel_id, confirmation_code, guest_id, room_type_id, room_id, check_in,"
            " check_out, rate) SELECT hotel_id, 'OTHER1', guest_id, room_type_id, :r, :ci, :co, 100"
            " FROM bookings WHERE id = :b"
        ),
        {"r": hotel.room_ids[number], "ci": check_in, "co": check_out, "b": like},
    )


def _while_uncommitted(db, setup: Callable[[Any], None], call: Callable[[], Any]) -> Any:
    """Run ``call`` in a thread while another transaction holds ``setup``'s uncommitted writes, then
    commit those; ``call``'s result or exception."""
    outcome: list[Any] = []
    with db.owner.connect() as other:
        other.begin()
        setup(other)
        worker = threading.Thread(target=lambda: outcome.append(_attempt(call)))
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive()  # waiting on the other transaction's row
        other.commit()
        worker.join(30)
    [result] = outcome
    return result


def test_a_writer_that_skipped_the_room_lock_is_caught_by_the_constraint(db, small_hotel):
    """Another program inserts a stay in room 101 without locking the room and has not committed yet: our
    check cannot see it, the exclusion constraint makes our write wait for it, and when it commits the
    refusal comes back as RoomUnavailable naming the room and the dates."""
    hotel = small_hotel
    arrival = hotel.business_date + DAY
    ours, _ = make_booking(db.owner, hotel, check_in=arrival, nights=2)
    model = make_booking(db.owner, hotel, check_in=arrival + 10 * DAY, nights=1)[0]

    error = _while_uncommitted(
        db,
        lambda conn: _insert_unlocked(conn, hotel, "101", arrival + DAY, arrival + 3 * DAY, model),
        lambda: bookings.assign_room(hotel.front_desk, ours, hotel.room_ids["101"]),
    )

    assert isinstance(error, RoomUnavailable)
    assert "Room 101" in str(error) and arrival.strftime("%b %Y") in str(error)
    assert [r.room_id for r in active_rooms(db, hotel)] == [hotel.room_ids["101"]]


def test_auto_assign_moves_on_to_the_next_room_when_the_constraint_refuses_one(db, small_hotel):
    hotel = small_hotel
    arrival = hotel.business_date + DAY
    ours, _ = make_booking(db.owner, hotel, check_in=arrival, nights=2)
    model = make_booking(db.owner, hotel, check_in=arrival + 10 * DAY, nights=1)[0]

    assigned = _while_uncommitted(
        db,
        lambda conn: _insert_unlocked(conn, hotel, "101", arrival, arrival + DAY, model),
        lambda: bookings.auto_assign_room(hotel.front_desk, ours),
    )

    assert not isinstance(assigned, Exception), assigned
    assert assigned.room_number == "103"
    assert_no_room_given_twice(db, hotel)


def _attempt(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        return exc
