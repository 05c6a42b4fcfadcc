"""The desk's lists: the day's arrivals and departures, who is in house, and the room rack.

Read-only and on every refresh of the reception screen, so each is one round trip (``uow.read``): plain
SQL whose rows, plain tuples, become the immutable results directly. Guests are looked up by primary key
per listed stay: the LATERAL with LIMIT 1 keeps the planner from hashing every guest of the hotel instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from core.auth import Actor, Permission
from core.models import ACTIVE_BOOKING_STATUSES
from core.services.availability import checked_day
from core.services.bookings import (
    BOOKING_ROW_COLUMNS,
    BOOKING_ROW_TABLES,
    BookingRow,
    booking_row,
    checked_count,
    guest_name,
)
from core.services.uow import read, requires

MAX_RACK_DAYS = 62
_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_BOOKING_STATUSES)


# The rack's rooms and cells are named tuples: a rack holds thousands, and each is one object built in less
# than half the time of a frozen dataclass (an instance and its __dict__, both for the garbage collector).
class RackCell(NamedTuple):
    booking_id: int | None  # None for an out-of-order / out-of-service night
    label: str  # the guest's name, or the overlay's reason
    status: str  # the booking's status, or out_of_order / out_of_service
    starts_here: bool  # the first night of the stay or window shown on the rack


class RackRoom(NamedTuple):
    room_id: int
    number: str
    floor: int
    room_type_code: str
    hk_status: str
    cells: tuple[RackCell | None, ...]  # one per day of the rack; None = free


@dataclass(frozen=True)
class RackUnassigned:
    room_type_code: str
    stays: tuple[int, ...]  # per day of the rack: active stays of this type that night with no room yet


@dataclass(frozen=True)
class RoomRack:
    days: tuple[dt.date, ...]
    rooms: tuple[RackRoom, ...]
    unassigned: tuple[RackUnassigned, ...]  # room types with stays lacking a room in the range, by code


_BOOKING_ROWS = f"SELECT {BOOKING_ROW_COLUMNS} FROM {BOOKING_ROW_TABLES} WHERE b.hotel_id = %(hotel)s AND "
_BY_ROOM_NUMBER = " ORDER BY length(r.number), r.number, b.id"
_ARRIVALS = _BOOKING_ROWS + f"b.check_in = %(day)s AND b.status IN ({_ACTIVE}) ORDER BY g.name_norm, b.id"
_DEPARTURES = _BOOKING_ROWS + "b.check_out = %(day)s AND b.status IN ('checked_in', 'checked_out')" + _BY_ROOM_NUMBER
_IN_HOUSE = _BOOKING_ROWS + "b.status = 'checked_in'" + _BY_ROOM_NUMBER
_UNASSIGNED = (
    _BOOKING_ROWS
    + f"b.room_id IS NULL AND b.status IN ({_ACTIVE}) AND b.check_in < %(end)s AND b.check_out > %(start)s"
    " ORDER BY b.check_in, b.id"
)


def _booking_rows(actor: Actor, sql: str, params: dict[str, Any]) -> tuple[BookingRow, ...]:
    [rows] = read(actor, Permission.BOOKINGS_READ, (sql, params))
    return tuple(map(booking_row, rows))


@requires(Permission.BOOKINGS_READ)
def arrivals(actor: Actor, day: dt.date) -> tuple[BookingRow, ...]:
    """Stays starting on ``day`` still expected or already arrived (confirmed, checked in), by guest name."""
    day = checked_day(day, "The day")
    return _booking_rows(actor, _ARRIVALS, {"hotel": actor.hotel_id, "day": day})


@requires(Permission.BOOKINGS_READ)
def departures(actor: Actor, day: dt.date) -> tuple[BookingRow, ...]:
    """Stays ending on ``day``: still in house (due out) or already checked out, by room number."""
    day = checked_day(day, "The day")
    return _booking_rows(actor, _DEPARTURES, {"hotel": actor.hotel_id, "day": day})


@requires(Permission.BOOKINGS_READ)
def in_house(actor: Actor) -> tuple[BookingRow, ...]:
    """Every checked-in stay, by room number."""
    return _booking_rows(actor, _IN_HOUSE, {"hotel": actor.hotel_id})


@requires(Permission.BOOKINGS_READ)
def unassigned_stays(actor: Actor, start: dt.date, days: int = 14) -> tuple[BookingRow, ...]:
    """The active stays on any of ``days`` nights from ``start`` that have no room yet, by arrival: the list
    behind the rack's counts."""
    return _booking_rows(actor, _UNASSIGNED, _rack_window(actor, start, days))


_RACK_ROOMS = (
    "SELECT r.id, r.number, r.floor, t.code, r.hk_status FROM rooms r JOIN room_types t ON t.id = r.room_type_id"
    ' WHERE r.hotel_id = %(hotel)s ORDER BY r.floor, length(r.number), r.number COLLATE "C"'
)
# Rack days are numbered from 0 (the first day); each window and stay comes with the days it covers, [lo, hi).
_SPAN = "greatest({first} - %(start)s, 0), least({last}, %(end)s) - %(start)s"
_RACK_OVERLAYS = (
    f"SELECT o.room_id, {_SPAN.format(first='o.starts_on', last='o.ends_on')}, o.reason, o.kind FROM room_overlays o"
    " WHERE o.hotel_id = %(hotel)s AND NOT o.released AND o.ends_on > %(start)s AND o.starts_on < %(end)s"
)
_RACK_STAY = (
    f"SELECT b.room_id, {_SPAN.format(first='b.check_in', last='b.check_out')}, b.id, g.last_name, g.first_name,"
    " {status} FROM bookings b"
    " CROSS JOIN LATERAL (SELECT g.last_name, g.first_name FROM guests g"
    "  WHERE g.hotel_id = %(hotel)s AND g.id = b.guest_id LIMIT 1) g"
    " WHERE b.hotel_id = %(hotel)s AND b.room_id IS NOT NULL AND "
)
# Active stays cannot overlap in a room; checked-out ones (an early departure keeps its nights) can, so they
# come in arrival order and are painted first, the active stays over them.
_RACK_CHECKED_OUT = _RACK_STAY.format(status="'checked_out'") + (
    "b.status = 'checked_out' AND b.check_out > %(start)s AND b.check_in < %(end)s ORDER BY b.check_in"
)
_RACK_ACTIVE = (
    _RACK_STAY.format(status="b.status")
    + f"b.status IN ({_ACTIVE}) AND b.check_in < %(end)s AND b.check_out > %(start)s"
)
# Stays without a room grouped by type and the rack days they cover: a few rows whatever the hotel's size.
_RACK_UNASSIGNED = (
    f"SELECT t.code, {_SPAN.format(first='b.check_in', last='b.check_out')}, count(*)"
    " FROM bookings b JOIN room_types t ON t.id = b.room_type_id"
    f" WHERE b.hotel_id = %(hotel)s AND b.room_id IS NULL AND b.status IN ({_ACTIVE})"
    " AND b.check_in < %(end)s AND b.check_out > %(start)s GROUP BY 1, 2, 3"
)


def _rack_window(actor: Actor, start: dt.date, days: int) -> dict[str, Any]:
    start = checked_day(start, "The first day")
    days = checked_count(days, "The number of days", 1, MAX_RACK_DAYS)
    return {"hotel": actor.hotel_id, "start": start, "end": start + dt.timedelta(days=days)}


@requires(Permission.BOOKINGS_READ)
def room_rack(actor: Actor, start: dt.date, days: int = 14) -> RoomRack:
    """Rooms x days from ``start``: which stay (or out-of-order / out-of-service window) holds each room
    on each night, and per room type and night how many active stays have no room yet
    (``unassigned_stays`` lists them)."""
    window = _rack_window(actor, start, days)
    rooms, overlays, checked_out, active, unassigned = read(
        actor,
        Permission.BOOKINGS_READ,
        *((sql, window) for sql in (_RACK_ROOMS, _RACK_OVERLAYS, _RACK_CHECKED_OUT, _RACK_ACTIVE, _RACK_UNASSIGNED)),
    )
    grid: dict[int, list[RackCell | None]] = {room[0]: [None] * days for room in rooms}
    for room_id, lo, hi, reason, kind in overlays:
        _paint(grid[room_id], lo, hi, None, reason, kind)
    for stays in (checked_out, active):
        for room_id, lo, hi, booking_id, last, first, status in stays:
            _paint(grid[room_id], lo, hi, booking_id, guest_name(last, first), status)
    counts: dict[str, list[int]] = {}
    for code, lo, hi, count in unassigned:
        per_day = counts.setdefault(code, [0] * days)
        for day in range(lo, hi):
            per_day[day] += count
    return RoomRack(
        days=tuple(window["start"] + dt.timedelta(days=i) for i in range(days)),
        rooms=tuple(
            RackRoom(room_id, number, floor, code, hk_status, tuple(grid[room_id]))
            for room_id, number, floor, code, hk_status in rooms
        ),
        unassigned=tuple(RackUnassigned(code, tuple(counts[code])) for code in sorted(counts)),
    )


def _paint(cells: list[RackCell | None], lo: int, hi: int, booking_id: int | None, label: str, status: str) -> None:
    """Put a stay or window on the rack days [lo, hi); the first one shown is marked as the start.
    The days after it share one cell (cells are immutable): a 14-day rack of 1,000 rooms stays cheap.
    ``_make`` builds the tuple without the keyword-capable ``__new__``, a third faster."""
    cells[lo] = RackCell._make((booking_id, label, status, True))
    if hi - lo > 1:
        cells[lo + 1 : hi] = [RackCell._make((booking_id, label, status, False))] * (hi - lo - 1)
