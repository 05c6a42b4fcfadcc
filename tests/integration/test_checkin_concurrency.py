"""Check-ins from many terminals at once: every guest gets a room, and a room never gets two guests."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import text

from core.errors import FolioError, FrontDeskError, InvalidTransition, RoomUnavailable
from core.services import folios, stays
from tests.factories import make_booking, make_hotel

THREADS = 8
DAY = dt.timedelta(days=1)


def scalar(db, sql: str, **params):
    with db.owner.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def race(attempts: list[Callable[[], object]]) -> list[tuple[str, str]]:
    """Start every attempt at the same instant on its own thread: (error class or 'ok', message) of each."""
    start = threading.Barrier(len(attempts))

    def run(attempt: Callable[[], object]) -> tuple[str, str]:
        start.wait()
        try:
            attempt()
        except FrontDeskError as exc:
            return type(exc).__name__, str(exc)
        return "ok", ""

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(run, attempts))


def test_two_hundred_guests_check_in_from_eight_terminals(db):
    big = make_hotel(db.owner, "Big", rooms=200)
    bookings = [
        make_booking(db.owner, big, check_in=big.business_date, room_number=number)[0] for number in big.room_ids
    ]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(lambda booking: stays.check_in(big.front_desk, booking, keys=2), bookings))

    assert sorted(r.booking_id for r in results) == sorted(bookings)
    assert len({r.room_id for r in results}) == 200
    h = {"h": big.hotel_id}
    assert scalar(db, "SELECT count(*) FROM bookings WHERE hotel_id = :h AND status = 'checked_in'", **h) == 200
    assert (
        scalar(
            db,
            "SELECT count(*) FROM (SELECT room_id FROM bookings WHERE hotel_id = :h AND status = 'checked_in'"
            " GROUP BY room_id HAVING count(*) > 1) doubled",
            **h,
        )
        == 0
    )
    assert scalar(db, "SELECT count(*) FROM key_issue_log WHERE hotel_id = :h AND kind = 'new'", **h) == 200
    assert scalar(db, "SELECT count(*) FROM event_outbox WHERE hotel_id = :h AND name = 'guest.checkedIn'", **h) == 200
    assert scalar(db, "SELECT count(*) FROM audit_log WHERE hotel_id = :h AND action = 'stay.checked_in'", **h) == 200


def test_eight_terminals_checking_guests_into_the_same_room_seat_exactly_one(db, hotel):
    """Eight late arrivals booked for 101 on different past nights; each override puts the guest in the room
    tonight. The room lock makes the others wait and then refuse with a message naming the guest in the room
    (without it the no-double-booking constraint still refuses them, with a vaguer message)."""
    today = hotel.business_date
    bookings = [
        make_booking(db.owner, hotel, check_in=today - (2 * i + 2) * DAY, nights=1, room_number="101")[0]
        for i in range(THREADS)
    ]

    outcomes = race(
        [functools.partial(stays.check_in, hotel.manager, b, override_reason="Arrived late") for b in bookings]
    )

    assert Counter(kind for kind, _message in outcomes) == {"ok": 1, RoomUnavailable.__name__: THREADS - 1}
    assert all("Room 101 is occupied" in message for kind, message in outcomes if kind != "ok")
    in_house = scalar(
        db,
        "SELECT count(*) FROM bookings WHERE room_id = :r AND status = 'checked_in'",
        r=hotel.room_ids["101"],
    )
    assert in_house == 1
    assert scalar(db, "SELECT count(*) FROM key_issue_log") == 1
    assert scalar(db, "SELECT count(*) FROM event_outbox WHERE name = 'guest.checkedIn'") == 1


def test_eight_terminals_checking_in_the_same_booking_check_it_in_once(db, hotel):
    booking, _folio = make_booking(db.owner, hotel, check_in=hotel.business_date, room_number="101")

    outcomes = race([functools.partial(stays.check_in, hotel.front_desk, booking) for _ in range(THREADS)])

    assert Counter(kind for kind, _message in outcomes) == {"ok": 1, InvalidTransition.__name__: THREADS - 1}
    assert scalar(db, "SELECT count(*) FROM key_issue_log") == 1
    assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'stay.checked_in'") == 1


def test_a_charge_racing_a_check_out_lands_either_before_it_or_not_at_all(db, hotel):
    rooms = list(hotel.room_ids)[:5]
    stays_and_folios = [make_booking(db.owner, hotel, check_in=hotel.business_date, room_number=room) for room in rooms]
    for booking, _folio in stays_and_folios:
        stays.check_in(hotel.front_desk, booking)

    for booking, folio in stays_and_folios:
        (check_out_result, _), (charge_result, _) = race(
            [
                functools.partial(stays.check_out, hotel.front_desk, booking),
                functools.partial(folios.post_charge, hotel.front_desk, folio, "Late minibar", Decimal("9.00")),
            ]
        )
        status = scalar(db, "SELECT status FROM folios WHERE id = :f", f=folio)
        balance = scalar(db, "SELECT coalesce(sum(amount), 0) FROM folio_lines WHERE folio_id = :f", f=folio)
        if check_out_result == "ok":  # the check-out came first: the charge was refused on the closed folio
            assert (charge_result, status, balance) == (FolioError.__name__, "closed", 0)
        else:  # the charge came first: the check-out was refused for the balance
            assert (check_out_result, charge_result, status, balance) == (FolioError.__name__, "ok", "open", 9)
