"""The timed read scenarios: each is a public service call with a list of realistic inputs and a target.

Inputs come from the seeded data of the benchmarked hotel (real guests' names, e-mails and phones, real
booking ids, the hotel's floors), in a fixed order so that runs compare.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from core.auth import Actor, Role
from core.services import audit, availability, desk_lists, guests, housekeeping

INPUTS = 200  # distinct inputs per scenario; call i uses input i % INPUTS


@dataclass(frozen=True)
class Hotel:
    """What the scenarios need to know about the benchmarked hotel."""

    hotel_id: int
    business_date: dt.date
    manager: Actor
    front_desk: Actor
    guests: list[tuple[str, str, str, str]]  # last name, first name, e-mail, phone (as typed)
    booking_ids: list[int]
    floors: list[int]
    audit_ids: tuple[int, int]  # lowest and highest audit row id of the hotel


@dataclass(frozen=True)
class Scenario:
    name: str  # file name of its plan
    title: str
    group: str
    target_ms: float
    call: Callable[[Any], object]
    inputs: list[Any]


def load_hotel(owner_dsn: str, hotel_id: int | None = None) -> Hotel:
    with psycopg.connect(owner_dsn) as conn:
        if hotel_id is None:
            hotel_id = conn.execute("SELECT min(id) FROM hotels").fetchone()[0]  # type: ignore[index]
        (business_date,) = conn.execute("SELECT business_date FROM hotels WHERE id = %s", (hotel_id,)).fetchone()  # type: ignore[misc]
        users: dict[str, int] = dict(
            conn.execute("SELECT role, id FROM staff_users WHERE hotel_id = %s", (hotel_id,)).fetchall()
        )
        guest_rows = conn.execute(
            "SELECT last_name, first_name, email, phone FROM guests WHERE hotel_id = %s ORDER BY id", (hotel_id,)
        ).fetchall()
        booking_ids = [
            r[0] for r in conn.execute("SELECT id FROM bookings WHERE hotel_id = %s ORDER BY id", (hotel_id,))
        ]
        floors = [
            r[0] for r in conn.execute("SELECT DISTINCT floor FROM rooms WHERE hotel_id = %s ORDER BY 1", (hotel_id,))
        ]
        low, high = conn.execute("SELECT min(id), max(id) FROM audit_log WHERE hotel_id = %s", (hotel_id,)).fetchone()  # type: ignore[misc]
    rng = random.Random(hotel_id)
    return Hotel(
        hotel_id=hotel_id,
        business_date=business_date,
        manager=Actor(hotel_id, Role.MANAGER, users["manager"], "manager"),
        front_desk=Actor(hotel_id, Role.FRONT_DESK, users["front_desk"], "reception"),
        guests=rng.sample(guest_rows, INPUTS),
        booking_ids=rng.sample(booking_ids, INPUTS),
        floors=floors,
        audit_ids=(low, high),
    )


def _days(start: dt.date, offsets: range) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in offsets]


def _cycle(values: list[Any]) -> list[Any]:
    return [values[i % len(values)] for i in range(INPUTS)]


def _as_typed_prefixes(hotel: Hotel) -> list[str]:
    """What a receptionist types before picking the guest: 3 to 6 letters of the last name, sometimes
    followed by the start of the first name."""
    out = []
    for n, (last, first, _email, _phone) in enumerate(hotel.guests):
        length = 3 + n % 4
        out.append(last[:length] if n % 3 else f"{last} {first[:2]}")
    return out


def scenarios(hotel: Hotel) -> list[Scenario]:
    m, today = hotel.manager, hotel.business_date
    ahead = _days(today, range(0, 60))
    rng = random.Random(7)
    audit_low, audit_high = hotel.audit_ids
    window_days = _cycle(_days(today, range(-330, 0, 11)))
    actions = ("charge.posted", "room.statusChanged", "guest.updated", "booking.updated")
    return [
        Scenario(
            "availability_1_night",
            "availability, 1 night, all room types",
            "availability",
            5.0,
            lambda d: availability.availability_by_type(m, d, d + dt.timedelta(days=1)),
            _cycle(ahead),
        ),
        Scenario(
            "availability_7_nights",
            "availability, 7 nights, all room types",
            "availability",
            5.0,
            lambda d: availability.availability_by_type(m, d, d + dt.timedelta(days=7)),
            _cycle(ahead),
        ),
        Scenario(
            "arrivals",
            "arrivals of a day",
            "desk lists",
            5.0,
            lambda d: desk_lists.arrivals(m, d),
            _cycle(_days(today, range(0, 14))),
        ),
        Scenario(
            "departures",
            "departures of a day",
            "desk lists",
            5.0,
            lambda d: desk_lists.departures(m, d),
            _cycle(_days(today, range(-13, 1))),
        ),
        Scenario("in_house", "in-house list", "desk lists", 5.0, lambda _: desk_lists.in_house(m), [None] * INPUTS),
        Scenario(
            "room_rack_14_days",
            "room rack, 1,000 rooms x 14 days",
            "room rack",
            5.0,
            lambda d: desk_lists.room_rack(m, d, 14),
            _cycle(_days(today, range(-7, 8))),
        ),
        Scenario(
            "guest_search_name",
            "guest search, name prefix as typed",
            "guest lookup",
            1.5,
            lambda text: guests.search_guests(m, text),
            _as_typed_prefixes(hotel),
        ),
        Scenario(
            "guest_search_email",
            "guest search, e-mail",
            "guest lookup",
            1.5,
            lambda text: guests.search_guests(m, text),
            [g[2] for g in hotel.guests],
        ),
        Scenario(
            "guest_search_phone",
            "guest search, phone",
            "guest lookup",
            1.5,
            lambda text: guests.search_guests(m, text),
            [g[3] for g in hotel.guests],
        ),
        Scenario(
            "housekeeping_queue_floor",
            "housekeeping queue of a floor",
            "housekeeping",
            2.0,
            lambda floor: housekeeping.task_queue(m, floor=floor),
            _cycle(hotel.floors),
        ),
        Scenario(
            "housekeeping_queue_hotel",
            "housekeeping queue of the hotel",
            "housekeeping",
            2.0,
            lambda _: housekeeping.task_queue(m),
            [None] * INPUTS,
        ),
        Scenario(
            "audit_by_resource",
            "audit search by record (a booking's history)",
            "audit",
            1.5,
            lambda booking_id: audit.search_audit(
                m, audit.AuditFilter(resource_type="booking", resource_id=booking_id)
            ),
            hotel.booking_ids,
        ),
        Scenario(
            "audit_by_type_window",
            "audit search by action and 7-day window",
            "audit",
            1.5,
            lambda args: audit.search_audit(m, audit.AuditFilter(action=args[0], since=args[1], until=args[2])),
            [
                (
                    actions[n % len(actions)],
                    dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC),
                    dt.datetime.combine(day + dt.timedelta(days=7), dt.time(0, 0), tzinfo=dt.UTC),
                )
                for n, day in enumerate(window_days)
            ],
        ),
        Scenario(
            "audit_page",
            "audit log, one page of 50 (newest, or older from a row)",
            "audit",
            1.5,
            lambda before_id: audit.search_audit(m, None, before_id),
            [None if n % 2 == 0 else rng.randint(audit_low + 50, audit_high) for n in range(INPUTS)],
        ),
    ]
