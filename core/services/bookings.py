"""Bookings: create (with its folio), walk-in, change, room assignment, moves and swaps, cancel, no-show,
reinstate, one booking's detail and a guest's stays (the desk's lists are in ``desk_lists``).

Every change locks what it competes for in one order (booking rows, then room types, then rooms, each
by id) so two terminals serialise instead of deadlocking; the exclusion constraint on bookings stays the
backstop and its refusal becomes RoomUnavailable naming the room and the dates. A change that takes
room-type inventory re-counts the type under its lock (``InventoryGuard``). Check-in and check-out of
existing bookings live in the stays service, folio postings in the folios service.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Select,
    any_,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.auth import Actor, Permission
from core.db.transaction import sqlstate
from core.errors import InvalidTransition, NotFound, RoomUnavailable, ValidationError
from core.events.catalog import (
    BookingCancelled,
    BookingCreated,
    BookingNoShow,
    BookingReinstated,
    BookingUpdated,
    GuestCheckedIn,
    RoomAssigned,
)
from core.models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    Guest,
    Room,
    RoomOverlay,
    RoomType,
)
from core.normalize import clean_text
from core.services.availability import (
    InventoryGuard,
    checked_day,
    checked_window,
    day_text,
    in_house_elsewhere,
    lock_room_types,
    lock_rooms,
    room_conflict,
)
from core.services.folios import (
    MAX_TEXT,
    PostedLine,
    lines_of,
    lock_open_folio_of,
    open_new_folio,
    post_line,
    record_posting,
)
from core.services.keys import checked_key_count, issue_keys
from core.services.rooms import change_room_status, checked_id, is_ready, ready_for_guest
from core.services.uow import UnitOfWork, read, requires, transact

T = TypeVar("T")

MAX_CHILDREN = 10
MAX_NOTES = 2000
MAX_REASON = 200
MAX_RATE = Decimal("1000000")
CENT = Decimal("0.01")
# No 0/O, 1/I/L: a code is read out over the phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
STATUS_WORDS = {
    "confirmed": "confirmed",
    "checked_in": "checked in",
    "checked_out": "checked out",
    "cancelled": "cancelled",
    "no_show": "a no-show",
}


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingRow:
    booking_id: int
    confirmation_code: str
    status: str
    guest_id: int
    guest_name: str
    vip: bool
    room_type_id: int
    room_type_code: str
    room_id: int | None
    room_number: str | None
    check_in: dt.date
    check_out: dt.date
    adults: int
    children: int
    do_not_move: bool

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days


@dataclass(frozen=True)
class BookingDetail(BookingRow):
    rate: Decimal
    notes: str
    source: str
    queued: bool
    actual_check_in: dt.datetime | None
    actual_check_out: dt.datetime | None
    folio_id: int | None  # the open folio, else the latest one
    folio_status: str | None
    currency: str | None
    balance: Decimal


@dataclass(frozen=True)
class Cancellation:
    booking: BookingDetail
    refunded: Decimal
    refund_line_ids: tuple[int, ...]


# --- input checks --------------------------------------------------------------------------------


def checked_count(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{what} must be a whole number from {low} to {high}, not {value!r}.")
    return value


def _rate(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError(f"The rate must be an amount of money, not {value!r}.")
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValidationError(f"The rate must be an amount of money, not {value!r}.") from None
    if not rate.is_finite() or rate < 0 or rate >= MAX_RATE or rate != rate.quantize(CENT):
        raise ValidationError(
            f"The rate must be from 0.00 to {MAX_RATE - CENT} with at most two decimals, not {value}."
        )
    return rate.quantize(CENT)


def _party(adults: int, room_type: RoomType) -> None:
    if adults > room_type.max_occupancy:
        raise ValidationError(
            f"A {room_type.name} room ({room_type.code}) takes at most {room_type.max_occupancy} adults, not {adults}."
        )


# --- building blocks inside a unit of work -------------------------------------------------------


def _lock_bookings(uow: UnitOfWork, booking_ids: Sequence[int]) -> dict[int, Booking]:
    stmt = (
        select(Booking)
        .where(Booking.hotel_id == uow.actor.hotel_id, Booking.id.in_(sorted(set(booking_ids))))
        .order_by(Booking.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    found = {booking.id: booking for booking in uow.session.scalars(stmt)}
    for booking_id in booking_ids:
        if booking_id not in found:
            raise NotFound(f"Booking {booking_id} was not found in this hotel.")
    return found


def _lock_booking(uow: UnitOfWork, booking_id: int) -> Booking:
    return _lock_bookings(uow, [booking_id])[booking_id]


def _require_status(booking: Booking, allowed: tuple[str, ...], doing: str) -> None:
    if booking.status not in allowed:
        wanted = " or ".join(STATUS_WORDS[s] for s in allowed)
        now = STATUS_WORDS[booking.status]
        raise InvalidTransition(f"Booking {booking.confirmation_code} is {now}: only {wanted} bookings can {doing}.")


def _require_movable(booking: Booking, room_number: str | None) -> None:
    if booking.do_not_move and booking.room_id is not None:
        raise InvalidTransition(
            f"Booking {booking.confirmation_code} is locked to room {room_number} (do not move); "
            "clear the lock before changing its room."
        )


def _room(uow: UnitOfWork, room_id: int) -> Room:
    room = uow.session.get(Room, room_id)
    if room is None:
        raise NotFound(f"Room {room_id} was not found in this hotel.")
    return room


def _room_type(uow: UnitOfWork, room_type_id: int) -> RoomType:
    room_type = uow.session.get(RoomType, room_type_id)
    if room_type is None:
        raise NotFound(f"Room type {room_type_id} was not found in this hotel.")
    return room_type


def _lock_room(uow: UnitOfWork, room_id: int) -> Room:
    room = lock_rooms(uow.session, uow.actor.hotel_id, [room_id]).get(room_id)
    if room is None:
        raise NotFound(f"Room {room_id} was not found in this hotel.")
    return room


def _guard(uow: UnitOfWork, room_type_id: int, check_in: dt.date, check_out: dt.date) -> InventoryGuard:
    """Lock the room type and count it over the nights still to come of [check_in, check_out)."""
    room_type = lock_room_types(uow.session, uow.actor.hotel_id, [room_type_id]).get(room_type_id)
    if room_type is None:
        raise NotFound(f"Room type {room_type_id} was not found in this hotel.")
    start = max(check_in, uow.business_date)
    return InventoryGuard(uow.session, uow.actor.hotel_id, room_type, min(start, check_out), check_out)


def _consumed_type(uow: UnitOfWork, booking: Booking) -> int:
    """The type whose inventory the stay uses: its room's, or the booked one while it has no room."""
    return _room(uow, booking.room_id).room_type_id if booking.room_id is not None else booking.room_type_id


def _flush_stay(uow: UnitOfWork, booking: Booking, room: Room) -> None:
    """Write the stay; the no-double-booking constraint refusing it means another writer won the room."""
    # Read before flushing: a failed flush expires the objects and closes the transaction.
    message = (
        f"Room {room.number} was just taken by another booking for nights between "
        f"{day_text(booking.check_in)} and {day_text(booking.check_out)}."
    )
    try:
        uow.session.flush()
    except IntegrityError as exc:
        if sqlstate(exc) != "23P01":
            raise
        raise RoomUnavailable(message) from None


def _require_free(
    uow: UnitOfWork, booking: Booking, room: Room, *, in_house: bool = False, ignore: Sequence[int] = ()
) -> None:
    """The locked ``room`` can hold the booking's stay: no other active stay on any of its nights (the rule
    the constraint enforces), no overlay on the nights still to come, and for a guest going in now, nobody
    still checked in there. ``ignore`` names other stays leaving the room in the same change."""
    ignored = (booking.id, *ignore)
    # Other rows are read as committed; flushing the change first would let the constraint answer instead.
    with uow.session.no_autoflush:
        reason = room_conflict(
            uow.session,
            uow.actor.hotel_id,
            room,
            booking.check_in,
            booking.check_out,
            ignore=ignored,
            overlays_from=max(booking.check_in, uow.business_date),
        )
        other = in_house_elsewhere(uow.session, uow.actor.hotel_id, room, ignored) if in_house else None
    if reason:
        raise RoomUnavailable(reason)
    if other:
        raise RoomUnavailable(f"Room {room.number} is occupied: booking {other} is still checked in there.")


def _require_ready(uow: UnitOfWork, room: Room) -> None:
    if ready_for_guest(uow, room):
        return
    if is_ready(room.hk_status, uow.hotel.inspection_required, blocked=False):
        raise RoomUnavailable(f"Room {room.number} is out of order or out of service today; choose another room.")
    wanted = "inspected" if uow.hotel.inspection_required else "clean or inspected"
    raise RoomUnavailable(f"Room {room.number} is {room.hk_status}; a guest can only go into a room that is {wanted}.")


def _put_in_room(uow: UnitOfWork, booking: Booking, room: Room, *, in_house: bool = False) -> None:
    _require_free(uow, booking, room, in_house=in_house)
    if booking.room_id != room.id:
        booking.room_id = room.id
        booking.updated_at = func.now()
        _flush_stay(uow, booking, room)


class _Taken(Exception):
    """A candidate room turned out not to be usable after its lock was granted."""

    def __init__(self, room_id: int) -> None:
        super().__init__(room_id)
        self.room_id = room_id


_HOTEL, _ROOM, _BOOKING = (bindparam(name, type_=BigInteger) for name in ("hotel", "room", "booking"))
_CANDIDATES = bindparam("candidates", type_=ARRAY(BigInteger))
_START, _END, _FREE_FROM = (bindparam(name, type_=Date) for name in ("start", "end", "free_from"))

# Rooms of one type with no active stay on [start, end) but the booking's own (its room stays a candidate)
# and no window on [free_from, end), in one statement. The stays are read from the active-stays index alone
# (the statuses written out, so a generic plan can prove the index's condition) and each NOT IN list is
# hashed once; a correlated NOT EXISTS would probe every room's stays.
_ACTIVE = Booking.status.in_([literal(status, literal_execute=True) for status in ACTIVE_BOOKING_STATUSES])
_STAYING = select(Booking.room_id).where(
    Booking.hotel_id == _HOTEL,
    _ACTIVE,
    Booking.check_out > _START,
    Booking.check_in < _END,
    Booking.room_id.is_not(None),
)
_BLOCKED = select(RoomOverlay.room_id).where(
    RoomOverlay.hotel_id == _HOTEL,
    RoomOverlay.released.is_(False),
    RoomOverlay.ends_on > _FREE_FROM,
    RoomOverlay.starts_on < _END,
)
_FREE_OF_TYPE = select(Room.id, Room.floor, Room.number, Room.hk_status).where(
    Room.hotel_id == _HOTEL,
    Room.room_type_id == bindparam("room_type", type_=BigInteger),
    Room.id.not_in(_STAYING) | (Room.id == bindparam("own_room", type_=BigInteger)),
    Room.id.not_in(_BLOCKED),
)


def _candidates(uow: UnitOfWork, booking: Booking, ready_only: bool) -> list[int]:
    """The rooms the booking may be put in, best first: ready rooms, then the lowest floor and number
    (numbers compare by length first, so 99 comes before 100)."""
    inspection = uow.hotel.inspection_required
    params = {
        "hotel": uow.actor.hotel_id,
        "room_type": booking.room_type_id,
        "own_room": booking.room_id,
        "start": booking.check_in,
        "end": booking.check_out,
        "free_from": max(booking.check_in, uow.business_date),
    }
    rooms = [
        (not is_ready(hk_status, inspection, blocked=False), floor, len(number), number, room_id)
        for room_id, floor, number, hk_status in uow.session.execute(_FREE_OF_TYPE, params)
    ]
    return [room[-1] for room in sorted(rooms) if not (ready_only and room[0])]


# Whether anything keeps the booking out of a candidate whose lock was just granted: another active stay on
# [start, end), a window on [free_from, end) or, for a guest going in now, a guest still in the room.
_OTHER_STAY = select(Booking.id).where(
    Booking.hotel_id == _HOTEL,
    Booking.room_id == _ROOM,
    _ACTIVE,
    Booking.check_out > _START,
    Booking.check_in < _END,
    Booking.id != _BOOKING,
)
_WINDOW = select(RoomOverlay.id).where(
    RoomOverlay.hotel_id == _HOTEL,
    RoomOverlay.room_id == _ROOM,
    RoomOverlay.released.is_(False),
    RoomOverlay.ends_on > _FREE_FROM,
    RoomOverlay.starts_on < _END,
)
_GUEST_IN_ROOM = select(Booking.id).where(
    Booking.hotel_id == _HOTEL, Booking.room_id == _ROOM, Booking.status == "checked_in", Booking.id != _BOOKING
)
_CANDIDATE_TAKEN = select(
    _OTHER_STAY.exists() | _WINDOW.exists() | (bindparam("in_house", type_=Boolean) & _GUEST_IN_ROOM.exists())
)


def _lock_first(skip_locked: bool) -> Select[Room]:
    return (
        select(Room)
        .where(Room.hotel_id == _HOTEL, Room.id == any_(_CANDIDATES))
        .order_by(func.array_position(_CANDIDATES, Room.id))
        .limit(1)
        .with_for_update(key_share=True, skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )


# The first of the candidates (best first) that no other transaction holds locked, or the first one at all.
_LOCK_FIRST_UNLOCKED, _LOCK_FIRST = _lock_first(skip_locked=True), _lock_first(skip_locked=False)


def _pick_room(uow: UnitOfWork, booking: Booking, *, ready_only: bool = False) -> Room:
    """Put the booking in the best free room of its booked type: ready rooms first, then the lowest floor
    and number. Each try runs under a savepoint: a candidate's lock is taken, its freedom re-read, and on
    a loss the savepoint releases the lock before the next try, so a transaction never holds two
    candidates and two auto-assignments cannot deadlock.

    A try takes the best candidate no other transaction holds locked (SKIP LOCKED), so terminals assigning
    rooms of one type at the same moment each take a different room instead of queueing behind the best
    one. Only the candidates all locked by others are waited for, best first. The best room is thus best
    effort: one locked for a moment by any change (a housekeeping status, say) is passed over for the next."""
    candidates = _candidates(uow, booking, ready_only)
    wait = False
    while candidates:
        try:
            room = _take_room(uow, booking, candidates, ready_only=ready_only, wait=wait)
        except _Taken as lost:
            candidates.remove(lost.room_id)
            wait = False  # others may have let go of theirs meanwhile
            continue
        if room is not None:
            return room
        if wait:
            break  # none of the candidates exists any more
        wait = True  # every candidate left is locked by another transaction: wait for the best one
    room_type = _room_type(uow, booking.room_type_id)
    what = "ready " if ready_only else ""
    raise RoomUnavailable(
        f"No {what}{room_type.name} room ({room_type.code}) is free from {day_text(booking.check_in)} "
        f"to {day_text(booking.check_out)}."
    )


def _take_room(
    uow: UnitOfWork, booking: Booking, candidates: list[int], *, ready_only: bool, wait: bool
) -> Room | None:
    """Under a savepoint, lock the first candidate (``wait``) or the first one nobody holds, and put the
    booking in it; None when there was none to lock, _Taken when the locked room cannot have it."""
    session = uow.session
    with session.begin_nested():
        statement = _LOCK_FIRST if wait else _LOCK_FIRST_UNLOCKED
        room = session.scalars(statement, {"hotel": uow.actor.hotel_id, "candidates": candidates}).one_or_none()
        if room is None:
            return None
        # Not ready, of another type by now, or taken since the candidates were read. A window today would
        # have made it taken, so readiness is the room's state alone.
        if (
            (ready_only and not is_ready(room.hk_status, uow.hotel.inspection_required, blocked=False))
            or room.room_type_id != booking.room_type_id
            or _candidate_taken(uow, booking, room, in_house=ready_only)
        ):
            raise _Taken(room.id)
        if booking.room_id != room.id:
            booking.room_id = room.id
            booking.updated_at = func.now()
            try:
                _flush_stay(uow, booking, room)
            except RoomUnavailable:
                raise _Taken(room.id) from None
    return room


def _candidate_taken(uow: UnitOfWork, booking: Booking, room: Room, *, in_house: bool) -> bool:
    params = {
        "hotel": uow.actor.hotel_id,
        "room": room.id,
        "booking": booking.id,
        "start": booking.check_in,
        "end": booking.check_out,
        "free_from": max(booking.check_in, uow.business_date),
        "in_house": in_house,
    }
    # Other rows are read as committed; flushing the change first would let the constraint answer instead.
    with uow.session.no_autoflush:
        return bool(uow.session.scalar(_CANDIDATE_TAKEN, params))


def _new_confirmation_code(session: Session) -> str:
    for _ in range(10):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.scalar(select(Booking.id).where(Booking.confirmation_code == code)) is None:
            return code
    raise RuntimeError("could not find an unused confirmation code")  # 31**8 codes: never in practice


def _room_assigned(uow: UnitOfWork, booking: Booking, room: Room | None) -> None:
    uow.emit(
        RoomAssigned(
            hotel_id=uow.actor.hotel_id,
            booking_id=booking.id,
            room_id=room.id if room else None,
            room_number=room.number if room else None,
        )
    )


def _transact(actor: Actor, permission: Permission, work: Callable[[UnitOfWork], T]) -> T:
    """One unit of work that commits when ``work`` returns (retried on deadlock or serialization failure)."""

    def run(uow: UnitOfWork) -> T:
        result = work(uow)
        uow.commit()
        return result

    return transact(actor, permission, run)


# --- reading -------------------------------------------------------------------------------------


def guest_name(last: str, first: str) -> str:
    return f"{last}, {first}" if first else last


# A BookingRow's columns and tables for plain SQL (the guest's two name columns at 4 and 5: see
# ``booking_row``). Each stay's guest is looked up by key (LATERAL ... LIMIT 1): PostgreSQL would otherwise
# hash every guest of the hotel for a list of a few hundred stays.
BOOKING_ROW_COLUMNS = (
    "b.id, b.confirmation_code, b.status, b.guest_id, g.last_name, g.first_name, g.vip, b.room_type_id, t.code,"
    " b.room_id, r.number, b.check_in, b.check_out, b.adults, b.children, b.do_not_move"
)
BOOKING_ROW_TABLES = (
    "bookings b"
    " CROSS JOIN LATERAL (SELECT g.last_name, g.first_name, g.vip, g.name_norm FROM guests g"
    "  WHERE g.hotel_id = %(hotel)s AND g.id = b.guest_id LIMIT 1) g"
    " JOIN room_types t ON t.id = b.room_type_id"
    " LEFT JOIN rooms r ON r.id = b.room_id"
)
_ROW_WIDTH = 16
# One booking with its details, its open folio (else the latest) and that folio's balance, in one statement.
_DETAIL = (
    f"SELECT {BOOKING_ROW_COLUMNS}, b.rate, b.notes, b.source, b.queued, b.actual_check_in, b.actual_check_out,"
    " f.id, f.status, f.currency,"
    " (SELECT coalesce(sum(l.amount), 0) FROM folio_lines l WHERE l.hotel_id = %(hotel)s AND l.folio_id = f.id)"
    f" FROM {BOOKING_ROW_TABLES}"
    " LEFT JOIN LATERAL (SELECT f.id, f.status, f.currency FROM folios f"
    "  WHERE f.hotel_id = %(hotel)s AND f.booking_id = b.id ORDER BY f.status = 'open' DESC, f.id DESC LIMIT 1) f"
    " ON true"
    " WHERE b.hotel_id = %(hotel)s AND b.id = %(booking)s"
)
_GUEST_EXISTS = "SELECT 1 FROM guests WHERE hotel_id = %(hotel)s AND id = %(guest)s"
_GUEST_BOOKINGS = (
    f"SELECT {BOOKING_ROW_COLUMNS} FROM {BOOKING_ROW_TABLES}"
    " WHERE b.hotel_id = %(hotel)s AND b.guest_id = %(guest)s ORDER BY b.check_in DESC, b.id DESC"
)


def _row_fields(values: Sequence[Any]) -> list[Any]:
    return [*values[:4], guest_name(values[4], values[5]), *values[6:_ROW_WIDTH]]


def booking_row(values: Sequence[Any]) -> BookingRow:
    """A BookingRow from the columns of ``BOOKING_ROW_COLUMNS`` (the guest's two name columns become one)."""
    return BookingRow(*_row_fields(values))


def _booking_detail(values: Sequence[Any] | None, booking_id: int) -> BookingDetail:
    if values is None:
        raise NotFound(f"Booking {booking_id} was not found in this hotel.")
    rate, notes, source, queued, arrived, left, folio_id, folio_status, currency, balance = values[_ROW_WIDTH:]
    return BookingDetail(
        **vars(booking_row(values)),
        rate=rate,
        notes=notes,
        source=source,
        queued=queued,
        actual_check_in=arrived,
        actual_check_out=left,
        folio_id=folio_id,
        folio_status=folio_status,
        currency=currency,
        balance=Decimal(balance).quantize(CENT),
    )


def _detail(uow: UnitOfWork, booking_id: int) -> BookingDetail:
    """The booking as it stands inside the caller's transaction (its changes flushed first)."""
    uow.flush()
    parameters = {"hotel": uow.actor.hotel_id, "booking": booking_id}
    return _booking_detail(uow.session.connection().exec_driver_sql(_DETAIL, parameters).one_or_none(), booking_id)


@requires(Permission.BOOKINGS_READ)
def get_booking(actor: Actor, booking_id: int) -> BookingDetail:
    """One booking with its guest, room, rate and folio balance."""
    booking_id = checked_id(booking_id, "The booking")
    [found] = read(actor, Permission.BOOKINGS_READ, (_DETAIL, {"hotel": actor.hotel_id, "booking": booking_id}))
    return _booking_detail(found[0] if found else None, booking_id)


@requires(Permission.BOOKINGS_READ)
def guest_bookings(actor: Actor, guest_id: int) -> tuple[BookingRow, ...]:
    """All bookings of one guest, latest arrival first."""
    guest_id = checked_id(guest_id, "The guest")
    parameters = {"hotel": actor.hotel_id, "guest": guest_id}
    exists, rows = read(actor, Permission.BOOKINGS_READ, (_GUEST_EXISTS, parameters), (_GUEST_BOOKINGS, parameters))
    if not exists:
        raise NotFound(f"Guest {guest_id} was not found in this hotel.")
    return tuple(booking_row(values) for values in rows)


# --- creating ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NewStay:
    guest_id: int
    room_type_id: int
    check_in: dt.date
    check_out: dt.date
    adults: int
    children: int
    rate: Decimal | None
    room_id: int | None
    notes: str


def _checked_new_stay(
    guest_id: object,
    room_type_id: object,
    check_in: object,
    check_out: object,
    adults: object,
    children: object,
    rate: object,
    room_id: object,
    notes: object,
) -> _NewStay:
    start, end = checked_window(check_in, check_out)
    return _NewStay(
        guest_id=checked_id(guest_id, "The guest"),
        room_type_id=checked_id(room_type_id, "The room type"),
        check_in=start,
        check_out=end,
        adults=checked_count(adults, "The number of adults", 1, 20),
        children=checked_count(children, "The number of children", 0, MAX_CHILDREN),
        rate=None if rate is None else _rate(rate),
        room_id=None if room_id is None else checked_id(room_id, "The room"),
        notes=clean_text(notes, "The notes", max_length=MAX_NOTES, multiline=True),
    )


def _insert_booking(uow: UnitOfWork, stay: _NewStay) -> tuple[Booking, InventoryGuard, Room | None]:
    """Insert the stay (no room yet) and its open folio, with its room type locked and counted, and the
    requested room (if any) locked; the caller puts it in a room and checks the guard."""
    uow.get(Guest, stay.guest_id, "Guest")
    guard = _guard(uow, stay.room_type_id, stay.check_in, stay.check_out)
    room_type = guard.room_type
    _party(stay.adults, room_type)
    room = None
    if stay.room_id is not None:
        room = _lock_room(uow, stay.room_id)
        if room.room_type_id != room_type.id:
            raise ValidationError(
                f"Room {room.number} is not a {room_type.name} room ({room_type.code}); book its own type, "
                "or assign it as an upgrade once the booking exists."
            )
    booking = Booking(
        hotel_id=uow.actor.hotel_id,
        confirmation_code=_new_confirmation_code(uow.session),
        guest_id=stay.guest_id,
        room_type_id=room_type.id,
        check_in=stay.check_in,
        check_out=stay.check_out,
        adults=stay.adults,
        children=stay.children,
        rate=room_type.base_rate if stay.rate is None else stay.rate,
        notes=stay.notes,
    )
    uow.session.add(booking)
    uow.session.flush()
    open_new_folio(uow, booking.id)
    return booking, guard, room


def _announce_created(uow: UnitOfWork, booking: Booking, action: str, **details: Any) -> None:
    uow.audit(
        action,
        "booking",
        booking.id,
        code=booking.confirmation_code,
        guest_id=booking.guest_id,
        room_type_id=booking.room_type_id,
        check_in=booking.check_in,
        check_out=booking.check_out,
        adults=booking.adults,
        children=booking.children,
        rate=booking.rate,
        **details,
    )
    uow.emit(
        BookingCreated(
            hotel_id=uow.actor.hotel_id,
            booking_id=booking.id,
            confirmation_code=booking.confirmation_code,
            check_in=booking.check_in,
            check_out=booking.check_out,
        )
    )


@requires(Permission.BOOKINGS_WRITE)
def create_booking(
    actor: Actor,
    guest_id: int,
    room_type_id: int,
    check_in: dt.date,
    check_out: dt.date,
    *,
    adults: int = 1,
    children: int = 0,
    rate: Decimal | int | str | None = None,
    room_id: int | None = None,
    notes: str = "",
) -> BookingDetail:
    """Book an existing guest into a room type (optionally a room of that type) with its open folio in the
    hotel's currency. The rate defaults to the type's base rate. RoomUnavailable when the type is sold out
    on a night of the stay or the room is taken."""
    stay = _checked_new_stay(guest_id, room_type_id, check_in, check_out, adults, children, rate, room_id, notes)

    def work(uow: UnitOfWork) -> BookingDetail:
        if stay.check_in < uow.business_date:
            raise ValidationError(
                f"A new booking cannot start on {day_text(stay.check_in)}, before the hotel's business date "
                f"({day_text(uow.business_date)})."
            )
        booking, guard, room = _insert_booking(uow, stay)
        if room is not None:
            _put_in_room(uow, booking, room)
        guard.check()
        _announce_created(uow, booking, "booking.created", room=room.number if room else None)
        if room is not None:
            _room_assigned(uow, booking, room)
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


@requires(Permission.CHECK_IN_OUT)
def walk_in(
    actor: Actor,
    guest_id: int,
    room_type_id: int,
    check_out: dt.date,
    *,
    room_id: int | None = None,
    adults: int = 1,
    children: int = 0,
    rate: Decimal | int | str | None = None,
    keys: int = 2,
    notes: str = "",
) -> BookingDetail:
    """A guest without a booking, from today to ``check_out``: the booking is created, put in a ready
    vacant room (the given one, or the best of the type) and checked in with keys, all in one transaction."""
    keys = checked_key_count(keys)
    checked_id(room_type_id, "The room type")
    checked_day(check_out, "The check-out date")

    def work(uow: UnitOfWork) -> BookingDetail:
        today = uow.business_date
        stay = _checked_new_stay(guest_id, room_type_id, today, check_out, adults, children, rate, room_id, notes)
        booking, guard, room = _insert_booking(uow, stay)
        if room is not None:
            _require_ready(uow, room)
            _put_in_room(uow, booking, room, in_house=True)
        else:
            room = _pick_room(uow, booking, ready_only=True)
        guard.check()
        booking.status = "checked_in"
        booking.actual_check_in = func.now()
        issue_keys(uow, booking, room, "new", keys)
        _announce_created(uow, booking, "booking.walk_in", room=room.number, keys=keys)
        _room_assigned(uow, booking, room)
        uow.emit(GuestCheckedIn(hotel_id=uow.actor.hotel_id, booking_id=booking.id, room_id=room.id))
        return _detail(uow, booking.id)

    return _transact(actor, Permission.CHECK_IN_OUT, work)


# --- changing ------------------------------------------------------------------------------------


@requires(Permission.BOOKINGS_WRITE)
def update_booking(
    actor: Actor,
    booking_id: int,
    *,
    check_in: dt.date | None = None,
    check_out: dt.date | None = None,
    adults: int | None = None,
    children: int | None = None,
    room_type_id: int | None = None,
    rate: Decimal | int | str | None = None,
    notes: str | None = None,
) -> BookingDetail:
    """Change dates, party, room type, rate or notes of a confirmed booking (re-checked against the type's
    inventory and the assigned room; a new type that the room is not of releases the room). A checked-in
    stay may only change its check-out date. Giving the current values changes nothing."""
    booking_id = checked_id(booking_id, "The booking")
    given = {
        "check_in": None if check_in is None else checked_day(check_in, "The check-in date"),
        "check_out": None if check_out is None else checked_day(check_out, "The check-out date"),
        "adults": None if adults is None else checked_count(adults, "The number of adults", 1, 20),
        "children": None if children is None else checked_count(children, "The number of children", 0, MAX_CHILDREN),
        "room_type_id": None if room_type_id is None else checked_id(room_type_id, "The room type"),
        "rate": None if rate is None else _rate(rate),
        "notes": None if notes is None else clean_text(notes, "The notes", max_length=MAX_NOTES, multiline=True),
    }
    given = {field: value for field, value in given.items() if value is not None}
    if not given:
        raise ValidationError("Nothing to change was given.")

    def work(uow: UnitOfWork) -> BookingDetail:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ACTIVE_BOOKING_STATUSES, "be changed")
        changes = {f: (getattr(booking, f), v) for f, v in given.items() if getattr(booking, f) != v}
        if not changes:
            return _detail(uow, booking.id)
        if booking.status == "checked_in":
            _check_in_house_change(uow, booking, changes)
        released = _apply_changes(uow, booking, {f: new for f, (_, new) in changes.items()})
        uow.audit("booking.updated", "booking", booking.id, code=booking.confirmation_code, **_change_details(changes))
        uow.emit(BookingUpdated(hotel_id=uow.actor.hotel_id, booking_id=booking.id))
        if released is not None:
            _room_assigned(uow, booking, None)
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


def _change_details(changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    return {field: {"from": old, "to": new} for field, (old, new) in changes.items()}


def _check_in_house_change(uow: UnitOfWork, booking: Booking, changes: dict[str, tuple[Any, Any]]) -> None:
    others = sorted(set(changes) - {"check_out"})
    if others:
        raise InvalidTransition(
            f"Booking {booking.confirmation_code} is checked in: only its check-out date can change "
            f"(not {', '.join(f.replace('_', ' ') for f in others)})."
        )
    new_out = changes["check_out"][1]
    if new_out < uow.business_date:
        raise ValidationError(
            f"The guest is in house: the check-out date cannot be before today ({day_text(uow.business_date)})."
        )


def _apply_changes(uow: UnitOfWork, booking: Booking, new: dict[str, Any]) -> Room | None:
    """Write the changes under the locks they need; returns the room released by a type change, if any."""
    check_in, check_out = new.get("check_in", booking.check_in), new.get("check_out", booking.check_out)
    checked_window(check_in, check_out)
    if "check_in" in new and check_in < uow.business_date:
        raise ValidationError(
            f"The check-in date cannot move to {day_text(check_in)}, before the business date "
            f"({day_text(uow.business_date)})."
        )
    room = _room(uow, booking.room_id) if booking.room_id is not None else None
    type_id = new.get("room_type_id", booking.room_type_id)
    released = None
    if room is not None and "room_type_id" in new and room.room_type_id != type_id:
        _require_movable(booking, room.number)
        released, room = room, None
    new_type = _room_type(uow, type_id)
    _party(new.get("adults", booking.adults), new_type)
    guard = _guard(uow, room.room_type_id if room else type_id, check_in, check_out)
    if room is not None:
        room = _lock_room(uow, room.id)
    for field, value in new.items():
        setattr(booking, field, value)
    if released is not None:
        booking.room_id = None
    booking.updated_at = func.now()
    if room is not None:
        _require_free(uow, booking, room)
        _flush_stay(uow, booking, room)
    guard.check()
    return released


@requires(Permission.BOOKINGS_WRITE)
def assign_room(actor: Actor, booking_id: int, room_id: int, *, allow_upgrade: bool = False) -> BookingDetail:
    """Put a confirmed booking in a room of its type (any type with ``allow_upgrade``) that is free and not
    out of order or service for the stay. A do-not-move booking keeps its room."""
    booking_id, room_id = checked_id(booking_id, "The booking"), checked_id(room_id, "The room")

    def work(uow: UnitOfWork) -> BookingDetail:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ("confirmed",), "be given a room (move an in-house guest instead)")
        if booking.room_id == room_id:
            return _detail(uow, booking.id)
        previous = _room(uow, booking.room_id) if booking.room_id is not None else None
        _require_movable(booking, previous.number if previous else None)
        target = _room(uow, room_id)
        _require_type(uow, booking, target, allow_upgrade)
        guard = _guard_if_type_changes(uow, booking, previous, target)
        room = _lock_room(uow, room_id)
        _put_in_room(uow, booking, room)
        if guard is not None:
            guard.check()
        _audit_assignment(uow, booking, previous, room, "booking.room_assigned")
        _room_assigned(uow, booking, room)
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


def _require_type(uow: UnitOfWork, booking: Booking, room: Room, allow_upgrade: bool) -> None:
    if room.room_type_id != booking.room_type_id and not allow_upgrade:
        booked, other = _room_type(uow, booking.room_type_id), _room_type(uow, room.room_type_id)
        raise ValidationError(
            f"Room {room.number} is a {other.name} room ({other.code}) but booking {booking.confirmation_code} "
            f"is for {booked.name} ({booked.code}); give it as an upgrade to use it."
        )


def _guard_if_type_changes(
    uow: UnitOfWork, booking: Booking, previous: Room | None, target: Room | None
) -> InventoryGuard | None:
    """A stay moving to another type's inventory must fit in it; moving within one type changes no count."""
    before = previous.room_type_id if previous else booking.room_type_id
    after = target.room_type_id if target else booking.room_type_id
    if before == after:
        return None
    return _guard(uow, after, booking.check_in, booking.check_out)


def _audit_assignment(uow: UnitOfWork, booking: Booking, previous: Room | None, room: Room | None, action: str) -> None:
    uow.audit(
        action,
        "booking",
        booking.id,
        code=booking.confirmation_code,
        room=room.number if room else None,
        previous_room=previous.number if previous else None,
    )


@requires(Permission.BOOKINGS_WRITE)
def unassign_room(actor: Actor, booking_id: int) -> BookingDetail:
    """Take a confirmed booking out of its room (it keeps its place in the room type's inventory)."""
    booking_id = checked_id(booking_id, "The booking")

    def work(uow: UnitOfWork) -> BookingDetail:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ("confirmed",), "lose their room")
        if booking.room_id is None:
            return _detail(uow, booking.id)
        previous = _room(uow, booking.room_id)
        _require_movable(booking, previous.number)
        guard = _guard_if_type_changes(uow, booking, previous, None)
        booking.room_id = None
        booking.updated_at = func.now()
        if guard is not None:
            guard.check()
        _audit_assignment(uow, booking, previous, None, "booking.room_unassigned")
        _room_assigned(uow, booking, None)
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


@requires(Permission.BOOKINGS_WRITE)
def auto_assign_room(actor: Actor, booking_id: int) -> BookingDetail:
    """Give a confirmed booking the best free room of its booked type: ready rooms first, then the lowest
    floor and number. A booking that already has a room may get a better one (its own room competes too);
    a do-not-move booking is refused. RoomUnavailable when no room of the type is free for the stay."""
    booking_id = checked_id(booking_id, "The booking")

    def work(uow: UnitOfWork) -> BookingDetail:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ("confirmed",), "be given a room (move an in-house guest instead)")
        previous = _room(uow, booking.room_id) if booking.room_id is not None else None
        _require_movable(booking, previous.number if previous else None)
        guard = _guard_if_type_changes(uow, booking, previous, None)
        room = _pick_room(uow, booking)
        if guard is not None:
            guard.check()
        if previous is None or previous.id != room.id:
            _audit_assignment(uow, booking, previous, room, "booking.room_assigned")
            _room_assigned(uow, booking, room)
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


@requires(Permission.BOOKINGS_WRITE)
def set_do_not_move(actor: Actor, booking_id: int, locked: bool) -> BookingDetail:
    """Lock a booking to its room (nobody, auto-assignment included, moves it) or clear the lock."""
    booking_id = checked_id(booking_id, "The booking")
    if not isinstance(locked, bool):
        raise ValidationError(f"Do not move is on or off (True or False), not {locked!r}.")

    def work(uow: UnitOfWork) -> BookingDetail:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ACTIVE_BOOKING_STATUSES, "be locked to a room")
        if booking.do_not_move == locked:
            return _detail(uow, booking.id)
        if locked and booking.room_id is None:
            raise ValidationError(f"Booking {booking.confirmation_code} has no room yet: assign one before locking it.")
        booking.do_not_move = locked
        booking.updated_at = func.now()
        uow.audit("booking.do_not_move", "booking", booking.id, code=booking.confirmation_code, locked=locked)
        uow.emit(BookingUpdated(hotel_id=uow.actor.hotel_id, booking_id=booking.id))
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


# --- in-house moves ------------------------------------------------------------------------------


@requires(Permission.BOOKINGS_WRITE)
def move_room(
    actor: Actor, booking_id: int, room_id: int, *, allow_upgrade: bool = False, keys: int = 2
) -> BookingDetail:
    """Move an in-house guest to a ready, vacant room (of the same type unless ``allow_upgrade``) for the
    rest of the stay, with new keys; the room left becomes dirty. One transaction."""
    booking_id, room_id = checked_id(booking_id, "The booking"), checked_id(room_id, "The room")
    keys = checked_key_count(keys)

    def work(uow: UnitOfWork) -> BookingDetail:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ("checked_in",), "move rooms (assign a room instead)")
        assert booking.room_id is not None  # a checked-in stay always has a room (CHECK constraint)
        previous = _room(uow, booking.room_id)
        if previous.id == room_id:
            raise ValidationError(f"The guest is already in room {previous.number}.")
        _require_movable(booking, previous.number)
        target = _room(uow, room_id)
        _require_type(uow, booking, target, allow_upgrade)
        guard = _guard_if_type_changes(uow, booking, previous, target)
        rooms = lock_rooms(uow.session, uow.actor.hotel_id, [previous.id, room_id])
        room = rooms[room_id]
        _require_ready(uow, room)
        _put_in_room(uow, booking, room, in_house=True)
        if guard is not None:
            guard.check()
        # A room a guest has left needs cleaning: the housekeeping state machine, its audit row and event.
        change_room_status(uow, [rooms[previous.id]], "dirty", reason=f"guest moved to room {room.number}")
        issue_keys(uow, booking, room, "new", keys)
        _audit_assignment(uow, booking, previous, room, "booking.room_moved")
        _room_assigned(uow, booking, room)
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


@requires(Permission.BOOKINGS_WRITE)
def swap_rooms(
    actor: Actor, first_booking_id: int, second_booking_id: int, *, keys: int = 2
) -> tuple[BookingDetail, BookingDetail]:
    """Exchange the rooms of two in-house stays in one transaction, with new keys for both; both rooms
    become dirty (each guest left one). Refused when either stay is locked or a room cannot hold the
    other stay's remaining nights."""
    first_id, second_id = (
        checked_id(first_booking_id, "The first booking"),
        checked_id(second_booking_id, "The second booking"),
    )
    keys = checked_key_count(keys)
    if first_id == second_id:
        raise ValidationError("Choose two different stays to swap.")

    def work(uow: UnitOfWork) -> tuple[BookingDetail, BookingDetail]:
        bookings = _lock_bookings(uow, [first_id, second_id])
        first, second = bookings[first_id], bookings[second_id]
        for booking in (first, second):
            _require_status(booking, ("checked_in",), "swap rooms")
        assert first.room_id is not None and second.room_id is not None  # checked in: CHECK constraint
        room_a, room_b = _room(uow, first.room_id), _room(uow, second.room_id)
        _require_movable(first, room_a.number)
        _require_movable(second, room_b.number)
        if room_a.room_type_id != room_b.room_type_id:
            # Both types at once, in id order, so two swaps in opposite directions cannot deadlock.
            lock_room_types(uow.session, uow.actor.hotel_id, (room_a.room_type_id, room_b.room_type_id))
        guards = [g for g in (_guard_for(uow, first, room_b), _guard_for(uow, second, room_a)) if g is not None]
        rooms = lock_rooms(uow.session, uow.actor.hotel_id, [room_a.id, room_b.id])
        _exchange(uow, first, second, rooms[room_a.id], rooms[room_b.id])
        for guard in guards:
            guard.check()
        for booking, left, room in ((first, room_a, room_b), (second, room_b, room_a)):
            issue_keys(uow, booking, room, "new", keys)
            _audit_assignment(uow, booking, left, room, "booking.room_swapped")
            _room_assigned(uow, booking, room)
        # Each guest left a room: both need cleaning (one audit row each, one RoomStatusChanged for both).
        swapped = f"guests swapped rooms {room_a.number} and {room_b.number}"
        change_room_status(uow, [rooms[room_a.id], rooms[room_b.id]], "dirty", reason=swapped)
        return _detail(uow, first.id), _detail(uow, second.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


def _guard_for(uow: UnitOfWork, booking: Booking, room: Room) -> InventoryGuard | None:
    if room.room_type_id == _consumed_type(uow, booking):
        return None
    return _guard(uow, room.room_type_id, booking.check_in, booking.check_out)


def _exchange(uow: UnitOfWork, first: Booking, second: Booking, room_a: Room, room_b: Room) -> None:
    """First goes to room B, second to room A. The exclusion constraint is checked row by row and a
    checked-in stay must have a room, so the second stay is parked outside both rules (as checked out)
    while the first moves, then restored; nothing outside this transaction ever sees the parked row."""
    _require_free(uow, first, room_b, in_house=True, ignore=(second.id,))
    _require_free(uow, second, room_a, in_house=True, ignore=(first.id,))
    second.status = "checked_out"
    uow.session.flush()
    first.room_id = room_b.id
    _flush_stay(uow, first, room_b)
    second.room_id, second.status = room_a.id, "checked_in"
    first.updated_at = second.updated_at = func.now()
    _flush_stay(uow, second, room_a)


# --- cancel, no-show, reinstate ------------------------------------------------------------------


@requires(Permission.BOOKINGS_WRITE)
def cancel_booking(actor: Actor, booking_id: int, *, refund_payments: bool = False, reason: str = "") -> Cancellation:
    """Cancel a confirmed booking. With ``refund_payments`` every payment still held on its open folio is
    reversed by a refund line (one per payment)."""
    booking_id = checked_id(booking_id, "The booking")
    if not isinstance(refund_payments, bool):
        raise ValidationError(f"Refund payments is yes or no (True or False), not {refund_payments!r}.")
    reason = clean_text(reason, "The reason", max_length=MAX_REASON, multiline=True)

    def work(uow: UnitOfWork) -> Cancellation:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ("confirmed",), "be cancelled")
        booking.status = "cancelled"
        booking.updated_at = func.now()
        refunds = _refund_payments(uow, booking) if refund_payments else []
        total = sum((posted.amount for posted in refunds), Decimal(0))
        uow.audit(
            "booking.cancelled", "booking", booking.id, code=booking.confirmation_code, reason=reason, refunded=total
        )
        uow.emit(BookingCancelled(hotel_id=uow.actor.hotel_id, booking_id=booking.id))
        for posted in refunds:
            record_posting(uow, posted, "folio.refunded")
        return Cancellation(_detail(uow, booking.id), total.quantize(CENT), tuple(p.line_id for p in refunds))

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


def _refund_payments(uow: UnitOfWork, booking: Booking) -> list[PostedLine]:
    """One refund line per payment not voided and not already refunded; earlier refunds are set against
    the oldest payments first. Their audit rows and events are written by the caller, after the cancellation's."""
    folio = lock_open_folio_of(uow, booking.id)
    if folio is None:
        return []
    lines = lines_of(uow, folio.id)
    voided = {line.voids_line_id for line in lines if line.kind == "void"}
    already = sum((line.amount for line in lines if line.kind == "refund"), Decimal(0))
    refunds = []
    for payment in (line for line in lines if line.kind == "payment" and line.id not in voided):
        paid = -payment.amount
        covered = min(paid, already)
        already -= covered
        if paid - covered <= 0:
            continue
        refunds.append(post_line(uow, folio, "refund", f"Refund: {payment.description}"[:MAX_TEXT], paid - covered))
    return refunds


@requires(Permission.BOOKINGS_WRITE)
def mark_no_show(actor: Actor, booking_id: int) -> BookingDetail:
    """A confirmed booking whose arrival day has come (check-in on or before the business date) becomes a
    no-show; its room is free again."""
    booking_id = checked_id(booking_id, "The booking")

    def work(uow: UnitOfWork) -> BookingDetail:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ("confirmed",), "be marked as no-shows")
        if booking.check_in > uow.business_date:
            raise InvalidTransition(
                f"Booking {booking.confirmation_code} arrives on {day_text(booking.check_in)}: it can be a no-show "
                "only from its arrival day."
            )
        booking.status = "no_show"
        booking.updated_at = func.now()
        uow.audit(
            "booking.no_show", "booking", booking.id, code=booking.confirmation_code, business_date=uow.business_date
        )
        uow.emit(BookingNoShow(hotel_id=uow.actor.hotel_id, booking_id=booking.id))
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)


@requires(Permission.BOOKINGS_WRITE)
def reinstate_booking(actor: Actor, booking_id: int) -> BookingDetail:
    """Bring a cancelled or no-show booking back to confirmed while its room (or, without a room, its
    type) is still free for the nights to come; it gets an open folio again if it has none."""
    booking_id = checked_id(booking_id, "The booking")

    def work(uow: UnitOfWork) -> BookingDetail:
        booking = _lock_booking(uow, booking_id)
        _require_status(booking, ("cancelled", "no_show"), "be reinstated")
        if booking.check_out <= uow.business_date:
            raise InvalidTransition(
                f"Booking {booking.confirmation_code} ended on {day_text(booking.check_out)}; it cannot be reinstated."
            )
        room = _room(uow, booking.room_id) if booking.room_id is not None else None
        guard = _guard(uow, room.room_type_id if room else booking.room_type_id, booking.check_in, booking.check_out)
        if room is not None:
            room = _lock_room(uow, room.id)
            _require_free(uow, booking, room)
        previous = booking.status
        booking.status = "confirmed"
        booking.updated_at = func.now()
        if room is not None:
            _flush_stay(uow, booking, room)
        guard.check()
        if lock_open_folio_of(uow, booking.id) is None:
            open_new_folio(uow, booking.id)
        uow.audit("booking.reinstated", "booking", booking.id, code=booking.confirmation_code, **{"from": previous})
        uow.emit(BookingReinstated(hotel_id=uow.actor.hotel_id, booking_id=booking.id))
        return _detail(uow, booking.id)

    return _transact(actor, Permission.BOOKINGS_WRITE, work)
