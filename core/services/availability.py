"""Room inventory for a stay window: counts per room type, and the rooms a booking may be put in.

Nights are half-open: a stay [check_in, check_out) uses the nights check_in .. check_out - 1. On a night a
room of a type is either sold (an active stay, confirmed or checked in, is assigned to it), out of order
(an unreleased out-of-order window covers it: the room leaves inventory), or available. An active stay
with no room yet takes one room-night of its booked type. Out of service keeps a room in the counts, but
nobody is put in it. Every query filters dates with plain comparisons (``check_out > :from AND check_in
< :to``), the shape the (hotel_id, check_out, check_in) index serves under row-level security; range
``&&`` would not be.

The helpers below the public functions work inside a caller's unit of work (the bookings service).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Date, and_, bindparam, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from core.auth import Actor, Permission
from core.errors import RoomUnavailable, ValidationError
from core.models import ACTIVE_BOOKING_STATUSES, Booking, Room, RoomOverlay, RoomType
from core.services.rooms import is_ready
from core.services.uow import read, requires, unit_of_work

MAX_NIGHTS = 365
OUT_OF_ORDER, OUT_OF_SERVICE = "out_of_order", "out_of_service"
L = TypeVar("L", Room, RoomType)


@dataclass(frozen=True)
class TypeAvailability:
    """One room type over a window, on its tightest night (the first night with the fewest rooms left):
    ``available = physical - out_of_order - sold``, negative when that night is overbooked."""

    room_type_id: int
    code: str
    name: str
    physical: int
    out_of_order: int
    sold: int
    available: int


@dataclass(frozen=True)
class FreeRoom:
    """A room nobody occupies and no out-of-order / out-of-service window blocks for the whole window."""

    room_id: int
    number: str
    floor: int
    room_type_id: int
    room_type_code: str
    hk_status: str
    ready: bool  # may receive a guest now: inspected, or clean where the hotel does not inspect


# --- checks --------------------------------------------------------------------------------------


def checked_day(value: object, what: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError(f"{what} must be a date, not {value!r}.")
    return value


def checked_window(check_in: object, check_out: object) -> tuple[dt.date, dt.date]:
    """At least one night and at most MAX_NIGHTS, check-out after check-in."""
    start, end = checked_day(check_in, "The check-in date"), checked_day(check_out, "The check-out date")
    if end <= start:
        raise ValidationError(
            f"The check-out date ({day_text(end)}) must be after the check-in date ({day_text(start)})."
        )
    if (end - start).days > MAX_NIGHTS:
        raise ValidationError(f"A stay can last at most {MAX_NIGHTS} nights, not {(end - start).days}.")
    return start, end


def day_text(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


# --- public reads --------------------------------------------------------------------------------


@requires(Permission.ROOMS_READ)
def availability_by_type(actor: Actor, check_in: dt.date, check_out: dt.date) -> tuple[TypeAvailability, ...]:
    """Rooms left per room type for [check_in, check_out), ordered by code. Needs ROOMS_READ: house counts
    show no guest, so housekeeping supervisors may plan with them too."""
    start, end = checked_window(check_in, check_out)
    parameters = {"hotel": actor.hotel_id, "start": start, "end": end}
    types, sold_groups, out_of_order_rows = read(
        actor,
        Permission.ROOMS_READ,
        (_TYPES_WITH_ROOMS_SQL, parameters),
        (_SOLD_SQL, parameters),
        (_OUT_OF_ORDER_SQL, parameters),
    )
    sold = _spread(sold_groups, start, end)
    windows = list(dict.fromkeys(row[:4] for row in out_of_order_rows))  # a window once per stay in its room
    stays = [(room_id, ci, co) for room_id, _, _, _, ci, co in out_of_order_rows if ci is not None]
    out_of_order = _out_of_order(windows, stays, start, end)
    zeros = [0] * (end - start).days
    result = []
    for type_id, code, name, rooms in types:
        nightly = zip(sold.get(type_id, zeros), out_of_order.get(type_id, zeros), strict=True)
        taken, ooo = min(nightly, key=lambda night: rooms - night[0] - night[1])  # the first tightest night
        result.append(TypeAvailability(type_id, code, name, rooms, ooo, taken, rooms - ooo - taken))
    return tuple(result)


@requires(Permission.BOOKINGS_READ)
def free_rooms(
    actor: Actor, check_in: dt.date, check_out: dt.date, room_type_id: int | None = None
) -> tuple[FreeRoom, ...]:
    """Rooms that can be assigned for the whole of [check_in, check_out), optionally of one type: ready
    rooms first, then by floor and number. Needs BOOKINGS_READ (it is the assignment picker)."""
    start, end = checked_window(check_in, check_out)
    if room_type_id is not None and (isinstance(room_type_id, bool) or not isinstance(room_type_id, int)):
        raise ValidationError(f"The room type must be a record number, not {room_type_id!r}.")
    with unit_of_work(actor, Permission.BOOKINGS_READ) as uow:
        return assignable_rooms(
            uow.session, actor.hotel_id, start, end, uow.hotel.inspection_required, room_type_id=room_type_id
        )


# --- counting ------------------------------------------------------------------------------------
# Stays are grouped by (type, first night, end night) inside the window in SQL, then spread over the
# nights with a running sum here: the database returns a few hundred groups even for a year, and no
# per-row set-returning function inflates the plan's estimates (which made PostgreSQL JIT-compile a
# three-night count for seconds).


def _nights(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def _active_overlapping(hotel_id: int, start: dt.date, end: dt.date) -> tuple[ColumnElement[bool], ...]:
    return (
        Booking.hotel_id == hotel_id,
        Booking.status.in_(ACTIVE_BOOKING_STATUSES),
        Booking.check_out > start,
        Booking.check_in < end,
    )


# The counting statements are built once with bind parameters (building a statement costs more than running
# it; bench/). Sessions still execute them, so pending changes are flushed first (InventoryGuard).
_HOTEL = bindparam("hotel", type_=BigInteger)
_START, _END = bindparam("start", type_=Date), bindparam("end", type_=Date)
_SOLD_TYPE = func.coalesce(Room.room_type_id, Booking.room_type_id)
_FIRST, _LAST = func.greatest(Booking.check_in, _START), func.least(Booking.check_out, _END)
_ACTIVE_IN_WINDOW = (
    Booking.hotel_id == _HOTEL,
    Booking.status.in_(ACTIVE_BOOKING_STATUSES),
    Booking.check_out > _START,
    Booking.check_in < _END,
)
_SOLD = (
    select(_SOLD_TYPE, _FIRST, _LAST, func.count())
    .select_from(Booking)
    .outerjoin(Room, Room.id == Booking.room_id)
    .where(*_ACTIVE_IN_WINDOW)
    .group_by(_SOLD_TYPE, _FIRST, _LAST)
)
_OUT_OF_ORDER_WINDOWS = (
    select(RoomOverlay.room_id, Room.room_type_id, RoomOverlay.starts_on, RoomOverlay.ends_on)
    .join(Room, Room.id == RoomOverlay.room_id)
    .where(
        RoomOverlay.hotel_id == _HOTEL,
        RoomOverlay.kind == OUT_OF_ORDER,
        RoomOverlay.released.is_(False),
        RoomOverlay.ends_on > _START,
        RoomOverlay.starts_on < _END,
    )
)
_PHYSICAL = select(Room.room_type_id, func.count()).where(Room.hotel_id == _HOTEL).group_by(Room.room_type_id)

# The read path's statements (availability_by_type, in one round trip), counting as the ones above do.
_ACTIVE_SQL = f"b.status IN ({', '.join(repr(status) for status in ACTIVE_BOOKING_STATUSES)})"
_TYPES_WITH_ROOMS_SQL = """
SELECT t.id, t.code, t.name, count(r.id) FROM room_types t
LEFT JOIN rooms r ON r.room_type_id = t.id AND r.hotel_id = %(hotel)s
WHERE t.hotel_id = %(hotel)s GROUP BY t.id ORDER BY t.code"""
_SOLD_SQL = f"""
SELECT coalesce(r.room_type_id, b.room_type_id) AS type_id, greatest(b.check_in, %(start)s::date) AS first_night,
       least(b.check_out, %(end)s::date) AS end_night, count(*)
FROM bookings b LEFT JOIN rooms r ON r.id = b.room_id
WHERE b.hotel_id = %(hotel)s AND {_ACTIVE_SQL} AND b.check_out > %(start)s::date AND b.check_in < %(end)s::date
GROUP BY type_id, first_night, end_night"""
# Each out-of-order window with the active stays in its room (one row per stay, or one with no stay).
_OUT_OF_ORDER_SQL = f"""
SELECT o.room_id, r.room_type_id, o.starts_on, o.ends_on, b.check_in, b.check_out
FROM room_overlays o JOIN rooms r ON r.id = o.room_id
LEFT JOIN bookings b ON b.hotel_id = %(hotel)s AND b.room_id = o.room_id AND {_ACTIVE_SQL}
     AND b.check_out > %(start)s::date AND b.check_in < %(end)s::date
WHERE o.hotel_id = %(hotel)s AND o.kind = '{OUT_OF_ORDER}' AND NOT o.released
  AND o.ends_on > %(start)s::date AND o.starts_on < %(end)s::date"""


def _spread(groups: Iterable[Sequence[Any]], start: dt.date, end: dt.date) -> dict[int, list[int]]:
    """Room type id -> stays on each night of [start, end), from (type, first night, end night, stays) groups."""
    size = (end - start).days
    changes: dict[int, list[int]] = {}
    for room_type_id, first_night, end_night, stays in groups:
        change = changes.setdefault(room_type_id, [0] * (size + 1))
        change[(first_night - start).days] += stays
        change[(end_night - start).days] -= stays
    return {room_type_id: list(accumulate(change[:size])) for room_type_id, change in changes.items()}


def _out_of_order(
    windows: Iterable[Sequence[Any]], stays: Iterable[Sequence[Any]], start: dt.date, end: dt.date
) -> dict[int, list[int]]:
    """Room type id -> rooms out of order on each night of [start, end), from the windows (room, type,
    first day, end day) and the active stays (room, check-in, check-out) in their rooms: a room-night that
    is also sold counts once, as sold."""
    sold = {(room_id, night) for room_id, ci, co in stays for night in _nights(max(ci, start), min(co, end))}
    counts: dict[int, list[int]] = {}
    for room_id, room_type_id, starts_on, ends_on in windows:
        per_night = counts.setdefault(room_type_id, [0] * (end - start).days)
        for night in _nights(max(starts_on, start), min(ends_on, end)):
            per_night[(night - start).days] += (room_id, night) not in sold
    return counts


def sold_per_night(session: Session, hotel_id: int, start: dt.date, end: dt.date) -> dict[int, list[int]]:
    """Room type id -> stays on each night of [start, end): assigned stays count for their room's type,
    stays without a room for their booked type."""
    return _spread(session.execute(_SOLD, {"hotel": hotel_id, "start": start, "end": end}).all(), start, end)


def out_of_order_per_night(session: Session, hotel_id: int, start: dt.date, end: dt.date) -> dict[int, list[int]]:
    """Room type id -> rooms out of order on each night of [start, end), leaving out a room-night that
    is also sold (it counts once, as sold)."""
    windows = session.execute(_OUT_OF_ORDER_WINDOWS, {"hotel": hotel_id, "start": start, "end": end}).all()
    if not windows:
        return {}
    stays = session.execute(
        select(Booking.room_id, Booking.check_in, Booking.check_out).where(
            *_active_overlapping(hotel_id, start, end), Booking.room_id.in_({w.room_id for w in windows})
        )
    )
    return _out_of_order(windows, stays, start, end)


def physical_rooms(session: Session, hotel_id: int) -> dict[int, int]:
    return {type_id: count for type_id, count in session.execute(_PHYSICAL, {"hotel": hotel_id}).all()}


def nightly_left(
    session: Session, hotel_id: int, room_type_id: int, start: dt.date, end: dt.date
) -> dict[dt.date, int]:
    """Rooms of one type left on each night of [start, end) (negative when overbooked)."""
    rooms = physical_rooms(session, hotel_id).get(room_type_id, 0)
    zeros = [0] * (end - start).days
    sold = sold_per_night(session, hotel_id, start, end).get(room_type_id, zeros)
    out_of_order = out_of_order_per_night(session, hotel_id, start, end).get(room_type_id, zeros)
    return {night: rooms - sold[i] - out_of_order[i] for i, night in enumerate(_nights(start, end))}


class InventoryGuard:
    """Refuses a change that takes a room type below zero on a night where it was not already as low.

    Used inside a unit of work with the room type row locked (``lock_room_types``): ``before`` counts,
    the caller writes and flushes, ``check`` counts again. A night that was already overbooked (an
    out-of-order window placed over sold rooms, a synced booking) does not block changes that do not
    make it worse, such as shortening a stay.
    """

    def __init__(self, session: Session, hotel_id: int, room_type: RoomType, start: dt.date, end: dt.date) -> None:
        self.session, self.hotel_id, self.room_type = session, hotel_id, room_type
        self.start, self.end = start, end
        self.before = nightly_left(session, hotel_id, room_type.id, start, end)

    def check(self) -> None:
        self.session.flush()
        after = nightly_left(self.session, self.hotel_id, self.room_type.id, self.start, self.end)
        short = [night for night, left in after.items() if left < 0 and left < self.before[night]]
        if short:
            raise RoomUnavailable(
                f"No {self.room_type.name} room ({self.room_type.code}) is free from {day_text(self.start)} "
                f"to {day_text(self.end)}: the type is sold out on the night of {day_text(short[0])}."
            )


# --- rooms ---------------------------------------------------------------------------------------


def _stay_in_room(
    hotel_id: int, room: QueryableAttribute[int] | int, start: dt.date, end: dt.date, ignore: Sequence[int] = ()
) -> ColumnElement[bool]:
    conditions = [
        Booking.hotel_id == hotel_id,
        Booking.room_id == room,
        Booking.status.in_(ACTIVE_BOOKING_STATUSES),
        Booking.check_out > start,
        Booking.check_in < end,
    ]
    if ignore:
        conditions.append(Booking.id.not_in(ignore))
    return and_(*conditions)


def _overlay_on_room(
    hotel_id: int, room: QueryableAttribute[int] | int, start: dt.date, end: dt.date
) -> ColumnElement[bool]:
    return and_(
        RoomOverlay.hotel_id == hotel_id,
        RoomOverlay.room_id == room,
        RoomOverlay.released.is_(False),
        RoomOverlay.ends_on > start,
        RoomOverlay.starts_on < end,
    )


def assignable_rooms(
    session: Session,
    hotel_id: int,
    start: dt.date,
    end: dt.date,
    inspection_required: bool,
    *,
    room_type_id: int | None = None,
    ignore: Sequence[int] = (),
    overlays_from: dt.date | None = None,
) -> tuple[FreeRoom, ...]:
    """Rooms free of active stays (other than ``ignore``) on [start, end) and of any overlay on
    [overlays_from or start, end): ready rooms first, then the lowest floor and number (numbers compare
    by length first, so 99 comes before 100).

    Three plain queries, each on its own index, and the difference taken here: a correlated NOT EXISTS
    made the planner probe every room's stays one room at a time."""
    occupied = select(Booking.room_id).where(*_active_overlapping(hotel_id, start, end), Booking.room_id.is_not(None))
    if ignore:
        occupied = occupied.where(Booking.id.not_in(ignore))
    blocked = select(RoomOverlay.room_id).where(
        RoomOverlay.hotel_id == hotel_id,
        RoomOverlay.released.is_(False),
        RoomOverlay.ends_on > (overlays_from or start),
        RoomOverlay.starts_on < end,
    )
    unavailable = set(session.scalars(occupied)) | set(session.scalars(blocked))
    stmt = (
        select(Room.id, Room.number, Room.floor, Room.room_type_id, RoomType.code, Room.hk_status)
        .join(RoomType, RoomType.id == Room.room_type_id)
        .where(Room.hotel_id == hotel_id)
    )
    if room_type_id is not None:
        stmt = stmt.where(Room.room_type_id == room_type_id)
    rooms = [
        # blocked=False: a room with a window on any night of the stay was left out above.
        FreeRoom(room_id, number, floor, type_id, code, status, is_ready(status, inspection_required, blocked=False))
        for room_id, number, floor, type_id, code, status in session.execute(stmt)
        if room_id not in unavailable
    ]
    return tuple(sorted(rooms, key=lambda r: (not r.ready, r.floor, len(r.number), r.number)))


def room_conflict(
    session: Session,
    hotel_id: int,
    room: Room,
    start: dt.date,
    end: dt.date,
    *,
    ignore: Sequence[int] = (),
    overlays_from: dt.date | None = None,
) -> str | None:
    """Why ``room`` cannot be used for [start, end), in words a receptionist can act on, or None.

    ``overlays_from`` narrows the overlay check (an in-house stay moving today ignores past windows)."""
    stays = session.execute(
        select(Booking.confirmation_code, Booking.check_in, Booking.check_out, Booking.status)
        .where(_stay_in_room(hotel_id, room.id, start, end, ignore))
        .order_by(Booking.check_in)
        .limit(1)
    ).first()
    if stays is not None:
        code, taken_from, taken_to, status = stays
        who = "a guest is in house" if status == "checked_in" else f"booking {code} holds it"
        return (
            f"Room {room.number} is not free from {day_text(start)} to {day_text(end)}: "
            f"{who} from {day_text(taken_from)} to {day_text(taken_to)}."
        )
    overlay = session.execute(
        select(RoomOverlay.kind, RoomOverlay.starts_on, RoomOverlay.ends_on, RoomOverlay.reason)
        .where(_overlay_on_room(hotel_id, room.id, overlays_from or start, end))
        .order_by(RoomOverlay.starts_on)
        .limit(1)
    ).first()
    if overlay is not None:
        kind, blocked_from, blocked_to, reason = overlay
        what = "out of order" if kind == OUT_OF_ORDER else "out of service"
        return (
            f"Room {room.number} is {what} from {day_text(blocked_from)} to {day_text(blocked_to)} "
            f"({reason}), so it cannot be used from {day_text(start)} to {day_text(end)}."
        )
    return None


def in_house_elsewhere(session: Session, hotel_id: int, room: Room, ignore: Sequence[int] = ()) -> str | None:
    """The confirmation code of a stay checked in to ``room`` other than ``ignore`` (whatever its dates:
    an overstaying guest is still in the room)."""
    stmt = select(Booking.confirmation_code).where(
        Booking.hotel_id == hotel_id, Booking.room_id == room.id, Booking.status == "checked_in"
    )
    if ignore:
        stmt = stmt.where(Booking.id.not_in(ignore))
    return session.scalars(stmt.limit(1)).first()


# --- locks ---------------------------------------------------------------------------------------
# Writers lock in one order: booking rows, then room types, then rooms, each by id. FOR NO KEY UPDATE
# serialises writers of the same row without blocking inserts that merely reference it (foreign-key
# checks take KEY SHARE), and populate_existing re-reads a row already in the session after the wait.


def _lock_by_id(session: Session, model: type[L], hotel_id: int, ids: Iterable[int]) -> dict[int, L]:
    stmt = (
        select(model)
        .where(model.hotel_id == hotel_id, model.id.in_(sorted(set(ids))))
        .order_by(model.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in session.scalars(stmt)}


def lock_room_types(session: Session, hotel_id: int, type_ids: Iterable[int]) -> dict[int, RoomType]:
    return _lock_by_id(session, RoomType, hotel_id, type_ids)


def lock_rooms(session: Session, hotel_id: int, room_ids: Sequence[int]) -> dict[int, Room]:
    return _lock_by_id(session, Room, hotel_id, room_ids)
