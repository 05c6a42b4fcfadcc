"""The night audit on a real database: checklist, refusal, the roll itself, idempotency and concurrency."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from core.errors import InvalidTransition, PermissionDenied
from core.services import guests, night_audit, rooms
from core.services.guests import GuestInput
from core.services.uow import unit_of_work
from tests.factories import make_booking, make_hotel

DAY = dt.timedelta(days=1)


@dataclass
class Stays:
    in_house: tuple[int, int]  # (booking, folio) in room 101 at 120.00, leaves in two days
    due_out: tuple[int, int]  # in room 102, due to leave today, still checked in
    arriving: tuple[int, int]  # confirmed for today in room 103, not arrived
    tomorrow: tuple[int, int]  # confirmed for tomorrow
    departed: tuple[int, int]  # left today from room 104 with 35.50 still to pay
    comp: tuple[int, int]  # in house in room 105 at rate 0


@pytest.fixture
def stays(db, hotel) -> Stays:
    today = hotel.business_date
    made = Stays(
        in_house=make_booking(
            db.owner,
            hotel,
            check_in=today - DAY,
            nights=3,
            room_number="101",
            status="checked_in",
            last_name="Adler",
            rate=Decimal("120.00"),
        ),
        due_out=make_booking(
            db.owner,
            hotel,
            check_in=today - 2 * DAY,
            nights=2,
            room_number="102",
            status="checked_in",
            last_name="Brandt",
        ),
        arriving=make_booking(db.owner, hotel, check_in=today, nights=1, room_number="103", last_name="Costa"),
        tomorrow=make_booking(db.owner, hotel, check_in=today + DAY, nights=2, last_name="Dumas"),
        departed=make_booking(
            db.owner,
            hotel,
            check_in=today - 3 * DAY,
            nights=3,
            room_number="104",
            status="checked_out",
            last_name="Eriksen",
        ),
        comp=make_booking(
            db.owner,
            hotel,
            check_in=today - DAY,
            nights=4,
            room_number="105",
            status="checked_in",
            last_name="Fabre",
            rate=Decimal("0.00"),
        ),
    )
    with db.owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO folio_lines (hotel_id, folio_id, kind, description, amount, business_date)"
                " VALUES (:h, :f, 'charge', 'Minibar', 35.50, :d)"
            ),
            {"h": hotel.hotel_id, "f": made.departed[1], "d": today},
        )
    return made


def _check_out(db, booking_id: int) -> None:
    """Stands in for the check-out service: the guest has left."""
    with db.owner.begin() as conn:
        conn.execute(
            text("UPDATE bookings SET status = 'checked_out', actual_check_out = now() WHERE id = :b"),
            {"b": booking_id},
        )


def _state(db, hotel) -> dict:
    """What a user would notice: the business date, booking statuses, room conditions, ledgers."""
    with db.owner.connect() as conn:

        def rows(sql: str) -> list[tuple]:
            return [tuple(r) for r in conn.execute(text(sql), {"h": hotel.hotel_id})]

        return {
            "date": rows("SELECT business_date FROM hotels WHERE id = :h"),
            "bookings": rows("SELECT id, status FROM bookings WHERE hotel_id = :h ORDER BY id"),
            "rooms": rows("SELECT number, hk_status FROM rooms WHERE hotel_id = :h ORDER BY number"),
            "lines": rows("SELECT id FROM folio_lines WHERE hotel_id = :h ORDER BY id"),
            "audits": rows("SELECT id FROM night_audits WHERE hotel_id = :h"),
            "audit_log": rows("SELECT count(*) FROM audit_log WHERE hotel_id = :h"),
            "outbox": rows("SELECT count(*) FROM event_outbox WHERE hotel_id = :h"),
        }


def _events(db, hotel) -> list[tuple[str, dict]]:
    with db.owner.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT name, payload FROM event_outbox WHERE hotel_id = :h ORDER BY id"), {"h": hotel.hotel_id}
            )
        ]


# --- checklist -----------------------------------------------------------------------------------


def test_checklist_lists_departures_unsettled_folios_and_pending_arrivals(db, hotel, stays):
    checklist = night_audit.checklist(hotel.front_desk)

    assert checklist.business_date == hotel.business_date
    assert not checklist.ready
    assert [(i.booking_id, i.room_number, i.guest_name) for i in checklist.unresolved_departures] == [
        (stays.due_out[0], "102", "Brandt, Test")
    ]
    assert [(f.folio_id, f.room_number, f.balance, f.currency) for f in checklist.unsettled_folios] == [
        (stays.departed[1], "104", Decimal("35.50"), "EUR")
    ]
    assert [(i.booking_id, i.room_number, i.check_in) for i in checklist.pending_arrivals] == [
        (stays.arriving[0], "103", hotel.business_date)
    ]


def test_checklist_is_ready_once_departures_are_resolved(db, hotel, stays):
    _check_out(db, stays.due_out[0])
    assert night_audit.checklist(hotel.front_desk).ready


def test_housekeeping_may_not_see_the_checklist_or_run_the_audit(db, hotel, stays):
    before = _state(db, hotel)
    with pytest.raises(PermissionDenied):
        night_audit.checklist(hotel.housekeeping)
    with pytest.raises(PermissionDenied):
        night_audit.run(hotel.housekeeping)
    assert _state(db, hotel) == before


# --- refusals ------------------------------------------------------------------------------------


def test_run_refuses_while_guests_due_out_are_still_checked_in(db, hotel, stays):
    before = _state(db, hotel)

    with pytest.raises(InvalidTransition, match=r"1 guest\(s\) due to leave .* still checked in \(rooms 102\)"):
        night_audit.run(hotel.front_desk)
    with pytest.raises(PermissionDenied, match="override"):
        night_audit.run(hotel.front_desk, force=True)  # forcing needs a manager

    assert _state(db, hotel) == before


def test_run_refuses_a_business_date_ahead_of_the_calendar(db):
    future = make_hotel(db.owner, "Hotel Tomorrow", rooms=2, business_date=dt.date.today() + 2 * DAY)
    before = _state(db, future)
    with pytest.raises(InvalidTransition, match="already ahead of today's date"):
        night_audit.run(future.front_desk)
    assert _state(db, future) == before


def test_run_for_a_date_that_is_not_the_business_date_is_refused(db, hotel, stays):
    before = _state(db, hotel)
    with pytest.raises(InvalidTransition, match=f"The business date is {hotel.business_date:%Y-%m-%d}"):
        night_audit.run(hotel.front_desk, for_date=hotel.business_date - 5 * DAY)
    assert _state(db, hotel) == before


# --- the roll ------------------------------------------------------------------------------------


def test_run_posts_room_nights_marks_no_shows_dirties_rooms_and_rolls_the_date(db, hotel, stays):
    today = hotel.business_date
    _check_out(db, stays.due_out[0])

    result = night_audit.run(hotel.front_desk)

    assert result == night_audit.NightAuditResult(
        business_date=today,
        next_business_date=today + DAY,
        room_nights=1,
        room_revenue=Decimal("120.00"),
        no_shows=1,
        rooms_dirtied=2,
        forced=False,
    )
    with db.owner.connect() as conn:
        lines = conn.execute(
            text(
                "SELECT folio_id, kind, description, amount, business_date, night_of, posted_by FROM folio_lines"
                " WHERE night_of IS NOT NULL"
            )
        ).all()
        statuses = dict(conn.execute(text("SELECT id, status FROM bookings")).all())
        rooms = dict(
            conn.execute(text("SELECT number, hk_status FROM rooms WHERE hotel_id = :h"), {"h": hotel.hotel_id}).all()
        )
        business_date = conn.execute(
            text("SELECT business_date FROM hotels WHERE id = :h"), {"h": hotel.hotel_id}
        ).scalar_one()
        audit_row = conn.execute(text("SELECT business_date, run_by, summary FROM night_audits")).one()
        actions = [
            tuple(r) for r in conn.execute(text("SELECT action, resource_type, resource_id FROM audit_log ORDER BY id"))
        ]
    assert [tuple(line) for line in lines] == [
        (
            stays.in_house[1],
            "charge",
            f"Room 101 night of {today:%Y-%m-%d}",
            Decimal("120.00"),
            today,
            today,
            hotel.front_desk.user_id,
        )
    ]
    assert statuses[stays.arriving[0]] == "no_show"
    assert statuses[stays.tomorrow[0]] == "confirmed"
    assert statuses[stays.in_house[0]] == statuses[stays.comp[0]] == "checked_in"
    assert rooms == {
        "101": "dirty",
        "102": "inspected",
        "103": "inspected",
        "104": "inspected",
        "105": "dirty",
        "106": "inspected",
        "107": "inspected",
        "108": "inspected",
        "109": "inspected",
        "110": "inspected",
    }
    assert business_date == today + DAY
    assert audit_row == (
        today,
        hotel.front_desk.user_id,
        {"room_nights": 1, "room_revenue": "120.00", "no_shows": 1, "rooms_dirtied": 2, "forced": False},
    )
    assert actions == [
        ("booking.no_show", "booking", str(stays.arriving[0])),
        ("folio.charge_posted", "folio", str(stays.in_house[1])),
        ("room.status_changed", "room", str(hotel.room_ids["101"])),
        ("room.status_changed", "room", str(hotel.room_ids["105"])),
        ("night_audit.completed", "night_audit", "1"),
    ]
    events = _events(db, hotel)
    assert [name for name, _ in events] == [
        "booking.noShow",
        "charge.posted",
        "room.statusChanged",
        "businessDate.rolled",
    ]
    assert events[2][1]["room_ids"] == [hotel.room_ids["101"], hotel.room_ids["105"]]
    assert events[3][1]["business_date"] == (today + DAY).isoformat()


def test_a_second_run_for_the_same_date_returns_the_first_result_and_changes_nothing(db, hotel, stays):
    _check_out(db, stays.due_out[0])
    first = night_audit.run(hotel.front_desk, for_date=hotel.business_date)
    after_first = _state(db, hotel)

    again = night_audit.run(hotel.manager, for_date=hotel.business_date)

    assert again == night_audit.NightAuditResult(**{**first.__dict__, "already_done": True})
    assert _state(db, hotel) == after_first
    # without naming the date, the next audit is the one for tomorrow, which has not begun
    with pytest.raises(InvalidTransition, match="already ahead"):
        night_audit.run(hotel.front_desk)
    assert _state(db, hotel) == after_first


def test_a_manager_can_force_the_audit_and_overstaying_guests_are_charged(db, hotel, stays):
    result = night_audit.run(hotel.manager, force=True)

    assert (result.forced, result.room_nights, result.room_revenue) == (True, 2, Decimal("220.00"))
    with db.owner.connect() as conn:
        charged = conn.execute(text("SELECT description FROM folio_lines WHERE night_of IS NOT NULL ORDER BY id"))
        assert [d for (d,) in charged] == [
            f"Room 101 night of {hotel.business_date:%Y-%m-%d}",
            f"Room 102 night of {hotel.business_date:%Y-%m-%d}",
        ]
        assert conn.execute(text("SELECT summary->>'forced' FROM night_audits")).scalar_one() == "true"


def test_a_night_already_charged_is_not_charged_twice(db, hotel, stays):
    _check_out(db, stays.due_out[0])
    with db.owner.begin() as conn:  # e.g. posted by hand earlier in the evening
        conn.execute(
            text(
                "INSERT INTO folio_lines (hotel_id, folio_id, kind, description, amount, business_date, night_of)"
                " VALUES (:h, :f, 'charge', 'Room 101 early', 120, :d, :d)"
            ),
            {"h": hotel.hotel_id, "f": stays.in_house[1], "d": hotel.business_date},
        )

    result = night_audit.run(hotel.front_desk)

    assert (result.room_nights, result.room_revenue) == (0, Decimal("0.00"))
    with db.owner.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM folio_lines WHERE night_of IS NOT NULL")).scalar_one() == 1


def test_an_empty_hotel_still_rolls_its_date(db, hotel):
    result = night_audit.run(hotel.front_desk)
    assert (result.room_nights, result.no_shows, result.rooms_dirtied) == (0, 0, 0)
    assert [name for name, _ in _events(db, hotel)] == ["businessDate.rolled"]


def test_rooms_whose_out_of_order_window_ended_take_their_return_status_on_the_new_date(db, hotel):
    today = hotel.business_date
    ended = rooms.put_room_out_of_order(hotel.manager, hotel.room_ids["107"], today, today + DAY, "Paint").overlay
    rooms.put_room_out_of_service(hotel.manager, hotel.room_ids["109"], today, today + 3 * DAY, "Carpet", "clean")
    already = len(_events(db, hotel))

    night_audit.run(hotel.front_desk)

    back, still_out = (rooms.get_room(hotel.front_desk, hotel.room_ids[n]) for n in ("107", "109"))
    assert (back.hk_status, back.overlay_kind, back.ready) == ("dirty", None, False)  # its return status: dirty
    assert (still_out.hk_status, still_out.overlay_kind, still_out.ready) == ("inspected", "out_of_service", False)
    with db.owner.connect() as conn:
        returned = conn.execute(
            text("SELECT resource_id, details FROM audit_log WHERE action = 'room.status_changed'")
        ).all()
    assert [(r, d["from"], d["to"], d["cause"], d["overlay_id"]) for r, d in returned] == [
        (str(hotel.room_ids["107"]), "inspected", "dirty", "window ended", ended.id)
    ]
    assert _events(db, hotel)[already:] == [
        ("businessDate.rolled", {"hotel_id": hotel.hotel_id, "business_date": (today + DAY).isoformat()}),
        ("room.statusChanged", {"hotel_id": hotel.hotel_id, "room_ids": [hotel.room_ids["107"]]}),
    ]


def test_another_hotel_is_untouched(db, hotel, other_hotel, stays):
    theirs = make_booking(db.owner, other_hotel, check_in=other_hotel.business_date, nights=1, room_number="101")
    before = _state(db, other_hotel)
    _check_out(db, stays.due_out[0])

    night_audit.run(hotel.front_desk)

    assert _state(db, other_hotel) == before
    with db.owner.connect() as conn:
        assert conn.execute(text("SELECT status FROM bookings WHERE id = :b"), {"b": theirs[0]}).scalar_one() == (
            "confirmed"
        )


# --- concurrency ---------------------------------------------------------------------------------


def test_two_terminals_running_the_audit_at_once_roll_the_date_once(db, hotel, stays):
    _check_out(db, stays.due_out[0])
    start = threading.Barrier(2)
    results: list[Any] = []

    def audit(actor) -> None:
        start.wait()
        try:
            results.append(night_audit.run(actor, for_date=hotel.business_date))
        except Exception as exc:  # surfaced by the assertion below
            results.append(exc)

    workers = [threading.Thread(target=audit, args=(a,)) for a in (hotel.front_desk, hotel.manager)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)

    assert sorted(r.already_done for r in results) == [False, True], results
    with db.owner.connect() as conn:
        assert (
            conn.execute(text("SELECT business_date FROM hotels WHERE id = :h"), {"h": hotel.hotel_id}).scalar_one()
            == hotel.business_date + DAY
        )
        assert conn.execute(text("SELECT count(*) FROM folio_lines WHERE night_of IS NOT NULL")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM night_audits")).scalar_one() == 1


def test_the_audits_hotel_lock_does_not_stop_other_terminals_from_writing(db, hotel):
    """While an audit holds the hotel row, inserts that reference the hotel (every tenant row) go on:
    their foreign-key check takes FOR KEY SHARE, which FOR NO KEY UPDATE does not block."""
    with unit_of_work(hotel.manager, None) as audit_in_progress:
        night_audit._lock_hotel(audit_in_progress)
        started = time.monotonic()
        row = guests.create_guest(hotel.front_desk, GuestInput(last_name="Walk-in"))
        assert time.monotonic() - started < 2
    assert guests.get_guest(hotel.front_desk, row.id).last_name == "Walk-in"
