"""Rooms: the three layers of room state (front-office occupancy, housekeeping condition, dated
out-of-order / out-of-service overlays), the enforced housekeeping state machine, and skip/sleep checks.

Public entry points take the Actor first. The helpers documented "inside a unit of work" (``lock_rooms``,
``change_room_status``, ``apply_overlay_returns``) let other services (check-out, housekeeping, night
audit) move a room through the same state machine in their own transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, update

from core.auth import Actor, Permission
from core.errors import InvalidTransition, NotFound, RoomUnavailable, ValidationError
from core.events.catalog import BookingUpdated, RoomStatusChanged
from core.models import ACTIVE_BOOKING_STATUSES, HK_STATUSES, AuditEntry, Booking, Room, RoomOverlay, RoomType
from core.normalize import clean_text
from core.services.uow import UnitOfWork, requires, transact, unit_of_work

VACANT, OCCUPIED = "vacant", "occupied"
OCCUPANCIES = (VACANT, OCCUPIED)
OUT_OF_ORDER, OUT_OF_SERVICE = "out_of_order", "out_of_service"

# The housekeeping condition machine (industry.md §2.1). Pickup -> dirty is allowed because a check-out
# always leaves the room dirty, whatever touch-up was pending. 'inspected' is further gated on the
# hotel's inspection setting (see check_transition).
TRANSITIONS: dict[str, frozenset[str]] = {
    "dirty": frozenset({"pickup", "clean"}),
    "pickup": frozenset({"clean", "dirty"}),
    "clean": frozenset({"inspected", "dirty", "pickup"}),
    "inspected": frozenset({"dirty", "pickup"}),
}
MAX_BULK_ROOMS = 2000
MAX_OVERLAY_DAYS = 366
MAX_REASON_LENGTH = 200
MAX_ID = 2**63 - 1  # bigint


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomRow:
    id: int
    number: str
    floor: int
    room_type_id: int
    room_type_code: str
    hk_status: str
    occupancy: str  # front office: 'occupied' while a booking of the room is checked in
    in_house_booking_id: int | None
    hk_seen: str | None  # what housekeeping last reported seeing (vacant / occupied)
    overlay_kind: str | None  # today's out_of_order / out_of_service, if any
    overlay_reason: str | None
    overlay_ends_on: dt.date | None
    ready: bool  # may receive a guest: inspected (or clean without inspection) and not blocked


@dataclass(frozen=True)
class RoomTypeRow:
    id: int
    code: str
    name: str
    base_rate: Decimal
    max_occupancy: int
    room_count: int


@dataclass(frozen=True)
class QueuedArrival:
    """A queued booking whose room just became ready; the desk was told with BookingUpdated."""

    booking_id: int
    confirmation_code: str
    room_id: int
    room_number: str


@dataclass(frozen=True)
class StatusChange:
    status: str
    changed_room_ids: tuple[int, ...]
    unchanged_room_ids: tuple[int, ...]  # already in that status: left alone, not audited
    queued_arrivals: tuple[QueuedArrival, ...]


@dataclass(frozen=True)
class OverlayRow:
    id: int
    room_id: int
    room_number: str
    kind: str
    starts_on: dt.date
    ends_on: dt.date  # first day the room is back (half-open window)
    reason: str
    return_status: str
    released: bool


@dataclass(frozen=True)
class OverlayPlaced:
    overlay: OverlayRow
    bookings_in_window: tuple[str, ...]  # confirmation codes still assigned to an out-of-service room


@dataclass(frozen=True)
class OverlayReleased:
    overlay: OverlayRow
    room_status: str
    queued_arrivals: tuple[QueuedArrival, ...]


@dataclass(frozen=True)
class Discrepancy:
    room_id: int
    room_number: str
    kind: str  # 'skip': front office occupied, housekeeping saw vacant; 'sleep': the reverse
    front_office: str
    housekeeping: str
    reported_at: dt.datetime | None


# --- validation ----------------------------------------------------------------------------------


def checked_id(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ValidationError(f"{what} must be a record number, not {value!r}.")
    return value


def _checked_ids(values: Iterable[object], what: str) -> list[int]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError(f"Give a list of {what} ids.")
    ids = list(dict.fromkeys(checked_id(v, what.capitalize()) for v in values))
    if not ids:
        raise ValidationError(f"Choose at least one {what}.")
    if len(ids) > MAX_BULK_ROOMS:
        raise ValidationError(f"At most {MAX_BULK_ROOMS} {what}s can be changed at once.")
    return ids


def _checked_status(status: object, what: str = "Room status") -> str:
    if status not in HK_STATUSES:
        raise ValidationError(f"{what} must be one of {', '.join(HK_STATUSES)}, not {status!r}.")
    return str(status)


def _checked_day(value: object, what: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError(f"{what} must be a date.")
    return value


def _day(value: dt.date) -> str:
    return f"{value.day} {value:%b %Y}"


# --- the state machine ---------------------------------------------------------------------------


def check_transition(number: str, current: str, target: str, inspection_required: bool) -> None:
    """Refuse a housekeeping condition change the state machine does not allow (same status is no change)."""
    if target == "inspected" and not inspection_required:
        raise InvalidTransition("This hotel does not use inspection: a clean room is already ready for guests.")
    if current == target:
        return
    if target == "inspected" and current != "clean":
        raise InvalidTransition(f"Room {number} is {current}: it must be clean before it can be inspected.")
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"Room {number} cannot go from {current} to {target}.")


def is_ready(hk_status: str, inspection_required: bool, blocked: bool) -> bool:
    """Ready for a guest: inspected, or clean when the hotel does not inspect; never while out of order/service."""
    if blocked:
        return False
    return hk_status == "inspected" or (hk_status == "clean" and not inspection_required)


# --- reading -------------------------------------------------------------------------------------


def _in_house_booking() -> Any:
    return (
        select(func.min(Booking.id))
        .where(Booking.hotel_id == Room.hotel_id, Booking.room_id == Room.id, Booking.status == "checked_in")
        .correlate(Room)
        .scalar_subquery()
    )


def _overlay_on(day: dt.date) -> ColumnElement[bool]:
    return and_(
        RoomOverlay.hotel_id == Room.hotel_id,
        RoomOverlay.room_id == Room.id,
        RoomOverlay.released.is_(False),
        RoomOverlay.starts_on <= day,
        RoomOverlay.ends_on > day,
    )


def _room_rows(uow: UnitOfWork, *conditions: ColumnElement[bool]) -> list[RoomRow]:
    today, inspection = uow.business_date, uow.hotel.inspection_required
    stmt = (
        select(
            Room.id,
            Room.number,
            Room.floor,
            Room.room_type_id,
            RoomType.code,
            Room.hk_status,
            _in_house_booking().label("in_house"),
            Room.hk_occupancy,
            RoomOverlay.kind,
            RoomOverlay.reason,
            RoomOverlay.ends_on,
        )
        .join(RoomType, RoomType.id == Room.room_type_id)
        .outerjoin(RoomOverlay, _overlay_on(today))
        .where(Room.hotel_id == uow.actor.hotel_id, *conditions)
        .order_by(Room.floor, func.length(Room.number), Room.number)
    )
    return [
        RoomRow(
            id=r.id,
            number=r.number,
            floor=r.floor,
            room_type_id=r.room_type_id,
            room_type_code=r.code,
            hk_status=r.hk_status,
            occupancy=OCCUPIED if r.in_house else VACANT,
            in_house_booking_id=r.in_house,
            hk_seen=r.hk_occupancy,
            overlay_kind=r.kind,
            overlay_reason=r.reason,
            overlay_ends_on=r.ends_on,
            ready=is_ready(r.hk_status, inspection, r.kind is not None),
        )
        for r in uow.session.execute(stmt)
    ]


@requires(Permission.ROOMS_READ)
def list_rooms(
    actor: Actor,
    *,
    floor: int | None = None,
    room_type_id: int | None = None,
    hk_status: str | None = None,
    occupancy: str | None = None,
    ready: bool | None = None,
) -> list[RoomRow]:
    """The hotel's rooms with their three status layers as of the business date, floor by floor."""
    conditions: list[ColumnElement[bool]] = []
    if floor is not None:
        if isinstance(floor, bool) or not isinstance(floor, int) or not -10 <= floor <= 300:
            raise ValidationError(f"Floor must be a whole number between -10 and 300, not {floor!r}.")
        conditions.append(Room.floor == floor)
    if room_type_id is not None:
        conditions.append(Room.room_type_id == checked_id(room_type_id, "Room type"))
    if hk_status is not None:
        conditions.append(Room.hk_status == _checked_status(hk_status, "The housekeeping status filter"))
    if occupancy is not None and occupancy not in OCCUPANCIES:
        raise ValidationError(f"Occupancy must be vacant or occupied, not {occupancy!r}.")
    with unit_of_work(actor, Permission.ROOMS_READ) as uow:
        rows = _room_rows(uow, *conditions)
    return [
        row
        for row in rows
        if (occupancy is None or row.occupancy == occupancy) and (ready is None or row.ready == ready)
    ]


@requires(Permission.ROOMS_READ)
def get_room(actor: Actor, room_id: int) -> RoomRow:
    room_id = checked_id(room_id, "Room")
    with unit_of_work(actor, Permission.ROOMS_READ) as uow:
        rows = _room_rows(uow, Room.id == room_id)
    if not rows:
        raise NotFound(f"Room {room_id} was not found in this hotel.")
    return rows[0]


@requires(Permission.ROOMS_READ)
def list_room_types(actor: Actor) -> list[RoomTypeRow]:
    """Room types with how many rooms each has, by code."""
    with unit_of_work(actor, Permission.ROOMS_READ) as uow:
        counts = (
            select(Room.room_type_id, func.count().label("n"))
            .where(Room.hotel_id == actor.hotel_id)
            .group_by(Room.room_type_id)
            .subquery()
        )
        stmt = (
            select(RoomType, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.room_type_id == RoomType.id)
            .where(RoomType.hotel_id == actor.hotel_id)
            .order_by(RoomType.code)
        )
        return [
            RoomTypeRow(t.id, t.code, t.name, t.base_rate, t.max_occupancy, n) for t, n in uow.session.execute(stmt)
        ]


# --- housekeeping condition ----------------------------------------------------------------------


def lock_rooms(uow: UnitOfWork, room_ids: Sequence[int]) -> list[Room]:
    """Inside a unit of work: the rooms, locked in id order (no deadlocks between batches); NotFound names
    the first id this hotel does not have."""
    rooms = list(
        uow.session.scalars(
            select(Room)
            .where(Room.hotel_id == uow.actor.hotel_id, Room.id.in_(room_ids))
            .order_by(Room.id)
            .with_for_update()
        )
    )
    found = {room.id for room in rooms}
    missing = [room_id for room_id in room_ids if room_id not in found]
    if missing:
        raise NotFound(f"Room {missing[0]} was not found in this hotel.")
    return rooms


def _blocked_on(uow: UnitOfWork, room_ids: Sequence[int], day: dt.date) -> set[int]:
    """Rooms with an out-of-order or out-of-service window covering ``day``."""
    if not room_ids:
        return set()
    stmt = select(RoomOverlay.room_id).where(
        RoomOverlay.hotel_id == uow.actor.hotel_id,
        RoomOverlay.room_id.in_(room_ids),
        RoomOverlay.released.is_(False),
        RoomOverlay.starts_on <= day,
        RoomOverlay.ends_on > day,
    )
    return set(uow.session.scalars(stmt))


def ready_for_guest(uow: UnitOfWork, room: Room) -> bool:
    """Inside a unit of work: ``is_ready`` for ``room`` on the business date, its out-of-order and
    out-of-service windows included. Check-in, walk-in and room moves all ask this."""
    blocked = room.id in _blocked_on(uow, [room.id], uow.business_date)
    return is_ready(room.hk_status, uow.hotel.inspection_required, blocked)


def _write_statuses(uow: UnitOfWork, rooms: Sequence[Room], status: str, **details: Any) -> None:
    """One audit row per room and one UPDATE for them all (a row-by-row flush of a 200-room batch took
    200 statements)."""
    for room in rooms:
        uow.audit(
            "room.status_changed", "room", room.id, number=room.number, **{"from": room.hk_status}, to=status,
            **details,
        )  # fmt: skip
    uow.session.execute(
        update(Room)
        .where(Room.hotel_id == uow.actor.hotel_id, Room.id.in_([room.id for room in rooms]))
        .values(hk_status=status, hk_status_changed_at=func.now()),
        execution_options={"synchronize_session": "fetch"},
    )


def announce_queued_arrivals(uow: UnitOfWork, ready_rooms: Sequence[Room]) -> tuple[QueuedArrival, ...]:
    """Inside a unit of work: tell the desk (BookingUpdated) about queued bookings of today whose room is
    now ready. The booking itself is not changed; the desk checks the guest in."""
    if not ready_rooms:
        return ()
    today = uow.business_date
    numbers = {room.id: room.number for room in ready_rooms}
    stmt = (
        select(Booking.id, Booking.confirmation_code, Booking.room_id)
        .where(
            Booking.hotel_id == uow.actor.hotel_id,
            Booking.room_id.in_(numbers),
            Booking.status == "confirmed",
            Booking.queued.is_(True),
            Booking.check_in <= today,
            Booking.check_out > today,
        )
        .order_by(Booking.id)
    )
    arrivals = []
    for booking_id, code, room_id in uow.session.execute(stmt):
        assert room_id is not None  # filtered by room_id above
        uow.emit(BookingUpdated(hotel_id=uow.actor.hotel_id, booking_id=booking_id))
        arrivals.append(QueuedArrival(booking_id, code, room_id, numbers[room_id]))
    return tuple(arrivals)


def change_room_status(uow: UnitOfWork, rooms: Sequence[Room], status: str, **details: Any) -> StatusChange:
    """Inside a unit of work, on rooms locked with ``lock_rooms``: move them all to ``status`` through the
    state machine, or none (InvalidTransition names the first room that cannot). One audit row per room
    changed, one RoomStatusChanged for all of them; queued arrivals of rooms that became ready are announced."""
    status = _checked_status(status)
    if status == "inspected":
        uow.actor.require(Permission.HOUSEKEEPING_SUPERVISE)
    inspection = uow.hotel.inspection_required
    for room in rooms:
        check_transition(room.number, room.hk_status, status, inspection)
    changing = [room for room in rooms if room.hk_status != status]
    blocked = _blocked_on(uow, [room.id for room in changing], uow.business_date)
    became_ready = [
        room
        for room in changing
        if not is_ready(room.hk_status, inspection, room.id in blocked)
        and is_ready(status, inspection, room.id in blocked)
    ]
    if changing:
        _write_statuses(uow, changing, status, **details)
        uow.emit(RoomStatusChanged(hotel_id=uow.actor.hotel_id, room_ids=tuple(room.id for room in changing)))
    return StatusChange(
        status=status,
        changed_room_ids=tuple(room.id for room in changing),
        unchanged_room_ids=tuple(room.id for room in rooms if room not in changing),
        queued_arrivals=announce_queued_arrivals(uow, became_ready),
    )


def _set_rooms_status(actor: Actor, room_ids: list[int], status: str) -> StatusChange:
    status = _checked_status(status)

    def work(uow: UnitOfWork) -> StatusChange:
        change = change_room_status(uow, lock_rooms(uow, room_ids), status)
        uow.commit()
        return change

    return transact(actor, Permission.ROOM_STATUS, work)


@requires(Permission.ROOM_STATUS)
def set_room_status(actor: Actor, room_id: int, status: str) -> StatusChange:
    """Move one room's housekeeping condition (dirty, pickup, clean, inspected) through the state machine."""
    return _set_rooms_status(actor, [checked_id(room_id, "Room")], status)


@requires(Permission.ROOM_STATUS)
def set_rooms_status(actor: Actor, room_ids: Iterable[int], status: str) -> StatusChange:
    """Bulk change: every room moves, or none does (the refusal names the room that cannot)."""
    return _set_rooms_status(actor, _checked_ids(room_ids, "room"), status)


# --- out of order / out of service ---------------------------------------------------------------


def _overlay_row(overlay: RoomOverlay, number: str) -> OverlayRow:
    return OverlayRow(
        id=overlay.id,
        room_id=overlay.room_id,
        room_number=number,
        kind=overlay.kind,
        starts_on=overlay.starts_on,
        ends_on=overlay.ends_on,
        reason=overlay.reason,
        return_status=overlay.return_status,
        released=overlay.released,
    )


def _refuse_overlapping_overlay(uow: UnitOfWork, room: Room, starts_on: dt.date, ends_on: dt.date) -> None:
    # Checked here (the room row is locked) for a readable message; the exclusion constraint is the backstop.
    clash = uow.session.scalars(
        select(RoomOverlay)
        .where(
            RoomOverlay.hotel_id == uow.actor.hotel_id,
            RoomOverlay.room_id == room.id,
            RoomOverlay.released.is_(False),
            RoomOverlay.starts_on < ends_on,
            RoomOverlay.ends_on > starts_on,
        )
        .limit(1)
    ).first()
    if clash is not None:
        raise ValidationError(
            f"Room {room.number} is already {clash.kind.replace('_', ' ')} from {_day(clash.starts_on)} "
            f"to {_day(clash.ends_on)} ({clash.reason}); change or release that window first."
        )


def _bookings_in_window(uow: UnitOfWork, room_id: int, starts_on: dt.date, ends_on: dt.date) -> list[Booking]:
    stmt = (
        select(Booking)
        .where(
            Booking.hotel_id == uow.actor.hotel_id,
            Booking.room_id == room_id,
            Booking.status.in_(ACTIVE_BOOKING_STATUSES),
            Booking.check_in < ends_on,
            Booking.check_out > starts_on,
        )
        .order_by(Booking.check_in)
    )
    return list(uow.session.scalars(stmt))


def _refuse_bookings(room: Room, bookings: list[Booking]) -> None:
    first = bookings[0]
    more = f" and {len(bookings) - 1} more" if len(bookings) > 1 else ""
    raise RoomUnavailable(
        f"Room {room.number} cannot go out of order: booking {first.confirmation_code} "
        f"({_day(first.check_in)} to {_day(first.check_out)}){more} is assigned to it. "
        "Move the booking to another room first."
    )


def _place_overlay(
    actor: Actor, kind: str, room_id: int, starts_on: dt.date, ends_on: dt.date, reason: str, return_status: str
) -> OverlayPlaced:
    room_id = checked_id(room_id, "Room")
    starts_on, ends_on = _checked_day(starts_on, "The first day"), _checked_day(ends_on, "The return day")
    if ends_on <= starts_on:
        raise ValidationError("The room must come back after the first day out (the return day is exclusive).")
    if (ends_on - starts_on).days > MAX_OVERLAY_DAYS:
        raise ValidationError(f"A window can last at most {MAX_OVERLAY_DAYS} days; add another one afterwards.")
    reason = clean_text(reason, "The reason", max_length=MAX_REASON_LENGTH, required=True)
    return_status = _checked_status(return_status, "The return status")

    def work(uow: UnitOfWork) -> OverlayPlaced:
        if starts_on < uow.business_date:
            raise ValidationError(f"The window cannot start before today ({_day(uow.business_date)}).")
        if return_status == "inspected" and not uow.hotel.inspection_required:
            raise ValidationError("This hotel does not use inspection: choose clean as the return status.")
        [room] = lock_rooms(uow, [room_id])
        _refuse_overlapping_overlay(uow, room, starts_on, ends_on)
        bookings = _bookings_in_window(uow, room.id, starts_on, ends_on)
        if bookings and kind == OUT_OF_ORDER:
            _refuse_bookings(room, bookings)
        overlay = RoomOverlay(
            hotel_id=actor.hotel_id,
            room_id=room.id,
            kind=kind,
            starts_on=starts_on,
            ends_on=ends_on,
            reason=reason,
            return_status=return_status,
            released=False,
        )
        uow.session.add(overlay)
        uow.flush()
        uow.audit(
            f"room.{kind}", "room_overlay", overlay.id, room_id=room.id, number=room.number,
            starts_on=starts_on, ends_on=ends_on, reason=reason, return_status=return_status,
        )  # fmt: skip
        uow.emit(RoomStatusChanged(hotel_id=actor.hotel_id, room_ids=(room.id,)))
        uow.commit()
        return OverlayPlaced(_overlay_row(overlay, room.number), tuple(b.confirmation_code for b in bookings))

    return transact(actor, Permission.ROOMS_MANAGE, work)


@requires(Permission.ROOMS_MANAGE)
def put_room_out_of_order(
    actor: Actor, room_id: int, starts_on: dt.date, ends_on: dt.date, reason: str, return_status: str = "dirty"
) -> OverlayPlaced:
    """Take a room out of inventory for [starts_on, ends_on); refused while a booking is assigned to it then."""
    return _place_overlay(actor, OUT_OF_ORDER, room_id, starts_on, ends_on, reason, return_status)


@requires(Permission.ROOMS_MANAGE)
def put_room_out_of_service(
    actor: Actor, room_id: int, starts_on: dt.date, ends_on: dt.date, reason: str, return_status: str = "dirty"
) -> OverlayPlaced:
    """Block a room from assignment for [starts_on, ends_on) while it stays in inventory. Bookings already
    assigned to it in that window are listed so the desk can move them."""
    return _place_overlay(actor, OUT_OF_SERVICE, room_id, starts_on, ends_on, reason, return_status)


def _return_room(uow: UnitOfWork, room: Room, overlay: RoomOverlay, cause: str) -> bool:
    """Give the room the overlay's chosen return status (a manager's decision, so it does not go through the
    state machine). True when the room is ready now."""
    if room.hk_status != overlay.return_status:
        _write_statuses(uow, [room], overlay.return_status, overlay_id=overlay.id, cause=cause)
    return ready_for_guest(uow, room)


@requires(Permission.ROOMS_MANAGE)
def release_overlay(actor: Actor, overlay_id: int) -> OverlayReleased:
    """End an out-of-order / out-of-service window early (or cancel a future one). A window already under way
    puts the room in its return status."""
    overlay_id = checked_id(overlay_id, "Window")

    def work(uow: UnitOfWork) -> OverlayReleased:
        overlay = uow.get(RoomOverlay, overlay_id, "Out-of-order window", lock=True)
        [room] = lock_rooms(uow, [overlay.room_id])
        today = uow.business_date
        if overlay.released:
            raise InvalidTransition(f"The window of room {room.number} was already released.")
        if overlay.ends_on <= today:
            raise InvalidTransition(f"The window of room {room.number} already ended on {_day(overlay.ends_on)}.")
        overlay.released = True
        uow.audit("room_overlay.released", "room_overlay", overlay.id, room_id=room.id, number=room.number)
        arrivals: tuple[QueuedArrival, ...] = ()
        if overlay.starts_on <= today:
            uow.flush()  # the released window must no longer count as blocking the room
            if _return_room(uow, room, overlay, "released"):
                arrivals = announce_queued_arrivals(uow, [room])
        uow.emit(RoomStatusChanged(hotel_id=actor.hotel_id, room_ids=(room.id,)))
        uow.commit()
        return OverlayReleased(_overlay_row(overlay, room.number), room.hk_status, arrivals)

    return transact(actor, Permission.ROOMS_MANAGE, work)


def apply_overlay_returns(uow: UnitOfWork) -> tuple[int, ...]:
    """Inside the night audit's unit of work, after the business date rolled: rooms whose window ended on the
    new business date get their return status. Returns the rooms changed."""
    today = uow.business_date
    overlays = list(
        uow.session.scalars(
            select(RoomOverlay)
            .where(RoomOverlay.hotel_id == uow.actor.hotel_id, RoomOverlay.ends_on == today)
            .where(RoomOverlay.released.is_(False))
            .order_by(RoomOverlay.room_id)
        )
    )
    rooms = {room.id: room for room in lock_rooms(uow, [o.room_id for o in overlays])} if overlays else {}
    changed, ready = [], []
    for overlay in overlays:
        room = rooms[overlay.room_id]
        if room.hk_status != overlay.return_status:
            changed.append(room.id)
        if _return_room(uow, room, overlay, "window ended"):
            ready.append(room)
    if changed:
        uow.emit(RoomStatusChanged(hotel_id=uow.actor.hotel_id, room_ids=tuple(changed)))
    announce_queued_arrivals(uow, ready)
    return tuple(changed)


@requires(Permission.ROOMS_READ)
def list_overlays(actor: Actor, *, room_id: int | None = None, include_past: bool = False) -> list[OverlayRow]:
    """Out-of-order / out-of-service windows, current and future (all of them with ``include_past``)."""
    with unit_of_work(actor, Permission.ROOMS_READ) as uow:
        stmt = (
            select(RoomOverlay, Room.number)
            .join(Room, Room.id == RoomOverlay.room_id)
            .where(RoomOverlay.hotel_id == actor.hotel_id)
            .order_by(RoomOverlay.starts_on, Room.number, RoomOverlay.id)
        )
        if room_id is not None:
            stmt = stmt.where(RoomOverlay.room_id == checked_id(room_id, "Room"))
        if not include_past:
            stmt = stmt.where(RoomOverlay.released.is_(False), RoomOverlay.ends_on > uow.business_date)
        return [_overlay_row(overlay, number) for overlay, number in uow.session.execute(stmt)]


# --- skip and sleep ------------------------------------------------------------------------------

_SEEN_ACTION = "room.occupancy_seen"


def _discrepancy_kind(front_office: str, housekeeping: str) -> str | None:
    if front_office == housekeeping:
        return None
    return "skip" if front_office == OCCUPIED else "sleep"


@requires(Permission.ROOM_STATUS)
def record_seen_occupancy(actor: Actor, room_id: int, seen: str) -> Discrepancy | None:
    """Record what housekeeping saw in the room (vacant / occupied); returns the discrepancy it reveals."""
    room_id = checked_id(room_id, "Room")
    if seen not in OCCUPANCIES:
        raise ValidationError(f"Housekeeping can report a room vacant or occupied, not {seen!r}.")

    def work(uow: UnitOfWork) -> Discrepancy | None:
        [room] = lock_rooms(uow, [room_id])
        in_house = uow.session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.hotel_id == actor.hotel_id, Booking.room_id == room.id, Booking.status == "checked_in")
        )
        front_office = OCCUPIED if in_house else VACANT
        uow.audit(_SEEN_ACTION, "room", room.id, number=room.number, seen=seen, front_office=front_office)
        room.hk_occupancy = seen
        uow.emit(RoomStatusChanged(hotel_id=actor.hotel_id, room_ids=(room.id,)))
        uow.commit()
        kind = _discrepancy_kind(front_office, seen)
        return Discrepancy(room.id, room.number, kind, front_office, seen, None) if kind else None

    return transact(actor, Permission.ROOM_STATUS, work)


def _report_times(uow: UnitOfWork, room_ids: list[int]) -> dict[int, dt.datetime]:
    """When housekeeping last reported each room (from the audit trail; rooms keep no report time)."""
    stmt = (
        select(func.max(AuditEntry.at), AuditEntry.resource_id)
        .where(
            AuditEntry.hotel_id == uow.actor.hotel_id,
            AuditEntry.resource_type == "room",
            AuditEntry.resource_id.in_([str(i) for i in room_ids]),
            AuditEntry.action == _SEEN_ACTION,
        )
        .group_by(AuditEntry.resource_id)
    )
    return {int(resource_id): at for at, resource_id in uow.session.execute(stmt)}


def _front_office_moves(uow: UnitOfWork, room_ids: list[int]) -> dict[int, dt.datetime]:
    """The latest check-in or check-out of each room around the business date."""
    today = uow.business_date
    moved = func.max(func.greatest(Booking.actual_check_in, Booking.actual_check_out))
    stmt = (
        select(Booking.room_id, moved)
        .where(
            Booking.hotel_id == uow.actor.hotel_id,
            Booking.room_id.in_(room_ids),
            Booking.check_out >= today - dt.timedelta(days=1),
            Booking.check_in <= today,
        )
        .group_by(Booking.room_id)
    )
    return {room_id: at for room_id, at in uow.session.execute(stmt) if room_id and at}


@requires(Permission.ROOMS_READ)
def list_discrepancies(actor: Actor) -> list[Discrepancy]:
    """Skips and sleeps: housekeeping's last report disagrees with the front office. A report made before the
    room's latest check-in or check-out is out of date and not shown."""
    with unit_of_work(actor, Permission.ROOMS_READ) as uow:
        rows = [r for r in _room_rows(uow, Room.hk_occupancy.is_not(None)) if r.hk_seen != r.occupancy]
        if not rows:
            return []
        ids = [r.id for r in rows]
        reported, moved = _report_times(uow, ids), _front_office_moves(uow, ids)
    found = []
    for row in rows:
        at = reported.get(row.id)
        if at is not None and row.id in moved and moved[row.id] > at:
            continue
        kind = _discrepancy_kind(row.occupancy, row.hk_seen or "")
        if kind:
            found.append(Discrepancy(row.id, row.number, kind, row.occupancy, row.hk_seen or "", at))
    return found
