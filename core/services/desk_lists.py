"""The desk's lists: the day's arrivals and departures, who is in house, and the room rack.

Read-only and on every refresh of the reception screen, so each runs statements built once with bind
parameters, as plain rows through the session's connection (no ORM result processing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Date, Select, bindparam, func, select
from sqlalchemy.orm import Session

from core.auth import Actor, Permission
from core.models import ACTIVE_BOOKING_STATUSES, Booking, Guest, Room, RoomOverlay, RoomType
from core.services.availability import checked_day
from core.services.bookings import BookingRow, booking_row, booking_rows_query, checked_count, guest_name
from core.services.uow import requires, unit_of_work

MAX_RACK_DAYS = 62
RACK_STATUSES = (*ACTIVE_BOOKING_STATUSES, "checked_out")


@dataclass(frozen=True)
class RackCell:
    booking_id: int | None  # None for an out-of-order / out-of-service night
    label: str  # the guest's name, or the overlay's reason
    status: str  # the booking's status, or out_of_order / out_of_service
    starts_here: bool  # the first night of the stay or window shown on the rack


@dataclass(frozen=True)
class RackRoom:
    room_id: int
    number: str
    floor: int
    room_type_code: str
    hk_status: str
    cells: tuple[RackCell | None, ...]  # one per day of the rack; None = free


@dataclass(frozen=True)
class RoomRack:
    days: tuple[dt.date, ...]
    rooms: tuple[RackRoom, ...]
    unassigned: tuple[BookingRow, ...]  # active stays in the range that have no room yet


_HOTEL = bindparam("hotel", type_=BigInteger)
_DAY, _START, _END = bindparam("day", type_=Date), bindparam("start", type_=Date), bindparam("end", type_=Date)
_BY_ROOM_NUMBER = (func.length(Room.number), Room.number, Booking.id)
_ARRIVALS = booking_rows_query(_HOTEL, Booking.check_in == _DAY, Booking.status.in_(ACTIVE_BOOKING_STATUSES)).order_by(
    Guest.name_norm, Booking.id
)
_DEPARTURES = booking_rows_query(
    _HOTEL, Booking.check_out == _DAY, Booking.status.in_(("checked_in", "checked_out"))
).order_by(*_BY_ROOM_NUMBER)
_IN_HOUSE = booking_rows_query(_HOTEL, Booking.status == "checked_in").order_by(*_BY_ROOM_NUMBER)


def _listed(session: Session, stmt: Select[*tuple[Any, ...]], **parameters: Any) -> tuple[BookingRow, ...]:
    # all() fetches every row in one driver call; iterating the result would fetch them one by one.
    return tuple(booking_row(values) for values in session.connection().execute(stmt, parameters).all())


@requires(Permission.BOOKINGS_READ)
def arrivals(actor: Actor, day: dt.date) -> tuple[BookingRow, ...]:
    """Stays starting on ``day`` still expected or already arrived (confirmed, checked in), by guest name."""
    day = checked_day(day, "The day")
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        return _listed(uow.session, _ARRIVALS, hotel=actor.hotel_id, day=day)


@requires(Permission.BOOKINGS_READ)
def departures(actor: Actor, day: dt.date) -> tuple[BookingRow, ...]:
    """Stays ending on ``day``: still in house (due out) or already checked out, by room number."""
    day = checked_day(day, "The day")
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        return _listed(uow.session, _DEPARTURES, hotel=actor.hotel_id, day=day)


@requires(Permission.BOOKINGS_READ)
def in_house(actor: Actor) -> tuple[BookingRow, ...]:
    """Every checked-in stay, by room number."""
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        return _listed(uow.session, _IN_HOUSE, hotel=actor.hotel_id)


_RACK_ROOMS = (
    select(Room.id, Room.number, Room.floor, RoomType.code, Room.hk_status)
    .join(RoomType, RoomType.id == Room.room_type_id)
    .where(Room.hotel_id == _HOTEL)
)
_RACK_OVERLAYS = (
    select(RoomOverlay.room_id, RoomOverlay.kind, RoomOverlay.reason, RoomOverlay.starts_on, RoomOverlay.ends_on)
    .where(
        RoomOverlay.hotel_id == _HOTEL,
        RoomOverlay.released.is_(False),
        RoomOverlay.ends_on > _START,
        RoomOverlay.starts_on < _END,
    )
    .order_by(RoomOverlay.starts_on)
)
# Stays win over overlays; active stays come last so they win over a checked-out one.
_RACK_STAYS = (
    select(
        Booking.id,
        Booking.room_id,
        Booking.status,
        Booking.check_in,
        Booking.check_out,
        Guest.last_name,
        Guest.first_name,
    )
    .join(Guest, Guest.id == Booking.guest_id)
    .where(
        Booking.hotel_id == _HOTEL,
        Booking.room_id.is_not(None),
        Booking.status.in_(RACK_STATUSES),
        Booking.check_out > _START,
        Booking.check_in < _END,
    )
    .order_by((Booking.status == "checked_out").desc(), Booking.check_in)
)
_RACK_UNASSIGNED = booking_rows_query(
    _HOTEL,
    Booking.room_id.is_(None),
    Booking.status.in_(ACTIVE_BOOKING_STATUSES),
    Booking.check_out > _START,
    Booking.check_in < _END,
).order_by(Booking.check_in, Booking.id)


@requires(Permission.BOOKINGS_READ)
def room_rack(actor: Actor, start: dt.date, days: int = 14) -> RoomRack:
    """Rooms x days from ``start``: which stay (or out-of-order / out-of-service window) holds each room
    on each night, plus the active stays of those days that have no room yet."""
    start = checked_day(start, "The first day")
    days = checked_count(days, "The number of days", 1, MAX_RACK_DAYS)
    window = {"hotel": actor.hotel_id, "start": start, "end": start + dt.timedelta(days=days)}
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        connection = uow.session.connection()
        rooms = connection.execute(_RACK_ROOMS, window).all()
        grid: dict[int, list[RackCell | None]] = {room.id: [None] * days for room in rooms}
        for room_id, kind, reason, first, last in connection.execute(_RACK_OVERLAYS, window).all():
            _paint(grid[room_id], start, first, last, None, reason, kind)
        for booking_id, stay_room_id, status, first, last, last_name, first_name in connection.execute(
            _RACK_STAYS, window
        ).all():
            assert stay_room_id is not None  # filtered in the statement
            _paint(grid[stay_room_id], start, first, last, booking_id, guest_name(last_name, first_name), status)
        unassigned = _listed(uow.session, _RACK_UNASSIGNED, **window)
    ordered = sorted(rooms, key=lambda r: (r.floor, len(r.number), r.number))
    return RoomRack(
        days=tuple(start + dt.timedelta(days=i) for i in range(days)),
        rooms=tuple(RackRoom(r.id, r.number, r.floor, r.code, r.hk_status, tuple(grid[r.id])) for r in ordered),
        unassigned=unassigned,
    )


def _paint(
    cells: list[RackCell | None],
    start: dt.date,
    first: dt.date,
    last: dt.date,
    booking_id: int | None,
    label: str,
    status: str,
) -> None:
    """Put a stay or window on the rack days of [first, last); the first one shown is marked as the start.
    The days after it share one cell (cells are frozen): a 14-day rack of 1,000 rooms stays cheap."""
    lo, hi = max((first - start).days, 0), min((last - start).days, len(cells))
    if lo >= hi:
        return
    cells[lo] = RackCell(booking_id, label, status, True)
    if hi - lo > 1:
        cells[lo + 1 : hi] = [RackCell(booking_id, label, status, False)] * (hi - lo - 1)
