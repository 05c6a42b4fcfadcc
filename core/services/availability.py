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

from sqlalchemy import ColumnElement, and_, exists, func, select, text
from sqlalchemy.orm import QueryableAttribute, Session

from core.auth import Actor, Permission
from core.errors import RoomUnavailable, ValidationError
from core.models import ACTIVE_BOOKING_STATUSES, Booking, Room, RoomOverlay, RoomType
from core.services.uow import requires, unit_of_work

MAX_NIGHTS = 365
OUT_OF_ORDER, OUT_OF_SERVICE = "out_of_order", "out_of_service"


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


def is_ready(hk_status: str, inspection_required: bool) -> bool:
    """Ready for a guest: inspected, or clean when the hotel does not inspect."""
    return hk_status == "inspected" or (hk_status == "clean" and not inspection_required)


# --- public reads --------------------------------------------------------------------------------


@requires(Permission.ROOMS_READ)
def availability_by_type(actor: Actor, check_in: dt.date, check_out: dt.date) -> tuple[TypeAvailability, ...]:
    """Rooms left per room type for [check_in, check_out), ordered by code. Needs ROOMS_READ: house counts
    show no guest, so housekeeping supervisors may plan with them too."""
    start, end = checked_window(check_in, check_out)
    with unit_of_work(actor, Permission.ROOMS_READ) as uow:
        return type_availability(uow.session, actor.hotel_id, start, end)


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

# Room-nights of the window taken per (type, night). Each overlapping stay and out-of-order window is
# expanded into its nights inside the window only, so the cost follows the room-nights asked about.
# An out-of-order night of a room that is also sold that night counts once, as sold.
_TAKEN_NIGHTS = text(
    """
WITH stays AS (
    SELECT b.room_id, coalesce(r.room_type_id, b.room_type_id) AS room_type_id,
           greatest(b.check_in, :start) AS first_night, least(b.check_out, :end) AS end_night
    FROM bookings b LEFT JOIN rooms r ON r.id = b.room_id
    WHERE b.hotel_id = :hotel AND b.status IN ('confirmed', 'checked_in')
      AND b.check_out > :start AND b.check_in < :end
),
stay_nights AS (
    SELECT s.room_id, s.room_type_id, s.first_night + n.i AS night
    FROM stays s CROSS JOIN LATERAL generate_series(0, s.end_night - s.first_night - 1) AS n(i)
),
ooo_nights AS (
    SELECT o.room_id, r.room_type_id, greatest(o.starts_on, :start) + n.i AS night
    FROM room_overlays o JOIN rooms r ON r.id = o.room_id
    CROSS JOIN LATERAL generate_series(0, least(o.ends_on, :end) - greatest(o.starts_on, :start) - 1) AS n(i)
    WHERE o.hotel_id = :hotel AND o.kind = 'out_of_order' AND NOT o.released
      AND o.ends_on > :start AND o.starts_on < :end
)
SELECT room_type_id, night, count(*) AS sold, 0 AS out_of_order FROM stay_nights GROUP BY 1, 2
UNION ALL
SELECT o.room_type_id, o.night, 0, count(*) FROM ooo_nights o
WHERE NOT EXISTS (SELECT 1 FROM stay_nights s WHERE s.room_id = o.room_id AND s.night = o.night)
GROUP BY 1, 2
"""
)


def taken_nights(session: Session, hotel_id: int, start: dt.date, end: dt.date) -> dict[tuple[int, dt.date], list[int]]:
    """(room type id, night) -> [sold, out of order] for the nights of [start, end) that have any."""
    taken: dict[tuple[int, dt.date], list[int]] = {}
    rows = session.execute(_TAKEN_NIGHTS, {"hotel": hotel_id, "start": start, "end": end})
    for type_id, night, sold, out_of_order in rows:
        counts = taken.setdefault((type_id, night), [0, 0])
        counts[0] += sold
        counts[1] += out_of_order
    return taken


def _nights(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def type_availability(session: Session, hotel_id: int, start: dt.date, end: dt.date) -> tuple[TypeAvailability, ...]:
    """Every room type of the hotel over [start, end), reported on its tightest night."""
    types = session.execute(
        select(RoomType.id, RoomType.code, RoomType.name).where(RoomType.hotel_id == hotel_id).order_by(RoomType.code)
    ).all()
    physical = physical_rooms(session, hotel_id)
    taken = taken_nights(session, hotel_id, start, end)
    result = []
    for type_id, code, name in types:
        rooms = physical.get(type_id, 0)
        sold, ooo = min(
            (taken.get((type_id, night), [0, 0]) for night in _nights(start, end)), key=lambda c: rooms - c[0] - c[1]
        )
        result.append(TypeAvailability(type_id, code, name, rooms, ooo, sold, rooms - ooo - sold))
    return tuple(result)


def physical_rooms(session: Session, hotel_id: int) -> dict[int, int]:
    stmt = select(Room.room_type_id, func.count()).where(Room.hotel_id == hotel_id).group_by(Room.room_type_id)
    return {type_id: count for type_id, count in session.execute(stmt)}


def nightly_left(
    session: Session, hotel_id: int, room_type_id: int, start: dt.date, end: dt.date
) -> dict[dt.date, int]:
    """Rooms of one type left on each night of [start, end) (negative when overbooked)."""
    rooms = physical_rooms(session, hotel_id).get(room_type_id, 0)
    taken = taken_nights(session, hotel_id, start, end)
    return {night: rooms - sum(taken.get((room_type_id, night), [0, 0])) for night in _nights(start, end)}


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
    by length first, so 99 comes before 100)."""
    stmt = (
        select(Room.id, Room.number, Room.floor, Room.room_type_id, RoomType.code, Room.hk_status)
        .join(RoomType, RoomType.id == Room.room_type_id)
        .where(
            Room.hotel_id == hotel_id,
            ~exists().where(_stay_in_room(hotel_id, Room.id, start, end, ignore)),
            ~exists().where(_overlay_on_room(hotel_id, Room.id, overlays_from or start, end)),
        )
    )
    if room_type_id is not None:
        stmt = stmt.where(Room.room_type_id == room_type_id)
    rooms = [
        FreeRoom(room_id, number, floor, type_id, code, status, is_ready(status, inspection_required))
        for room_id, number, floor, type_id, code, status in session.execute(stmt)
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


def lock_room_types(session: Session, hotel_id: int, type_ids: Iterable[int]) -> dict[int, RoomType]:
    ids = sorted(set(type_ids))
    stmt = (
        select(RoomType)
        .where(RoomType.hotel_id == hotel_id, RoomType.id.in_(ids))
        .order_by(RoomType.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return {room_type.id: room_type for room_type in session.scalars(stmt)}


def lock_rooms(session: Session, hotel_id: int, room_ids: Sequence[int]) -> dict[int, Room]:
    ids = sorted(set(room_ids))
    stmt = (
        select(Room)
        .where(Room.hotel_id == hotel_id, Room.id.in_(ids))
        .order_by(Room.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return {room.id: room for room in session.scalars(stmt)}
