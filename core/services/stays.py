"""Stays: check-in (queueing when the room is not ready, early/late overrides, key issuance), duplicate keys,
reversing a check-in, check-out (folio closed, room dirty, cleaning task) and reinstating a check-out.

Every change locks the booking row, then its room row, then its folio, always in that order, so terminals working
on the same room wait for each other instead of deadlocking; the no-double-booking constraint stays the backstop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, bindparam, func, select, true

from core.auth import Actor, Permission
from core.errors import FolioError, InvalidTransition, NotFound, RoomUnavailable
from core.events.catalog import (
    BookingReinstated,
    BookingUpdated,
    GuestCheckedIn,
    GuestCheckedOut,
)
from core.models import ACTIVE_BOOKING_STATUSES, AuditEntry, Booking, Folio, Hotel, Room
from core.models import RoomOverlay as Overlay
from core.normalize import clean_text
from core.services.availability import InventoryGuard, in_house_elsewhere, lock_room_types
from core.services.bookings import STATUS_WORDS
from core.services.folios import (
    balance_of,
    close_locked_folio,
    lines_of,
    lock_open_folio_of,
    money,
    open_new_folio,
    require_id,
    unsettled_message,
)
from core.services.housekeeping import add_task
from core.services.keys import KeysIssued, checked_key_count, issue_keys
from core.services.rooms import change_room_status, is_ready
from core.services.uow import UnitOfWork, requires, transact

MAX_REASON = 200


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckInResult:
    booking_id: int
    room_id: int
    room_number: str
    queued: bool  # the room was not ready: the guest waits in the queue, nothing else changed
    checked_in_at: dt.datetime | None
    folio_id: int | None
    keys: KeysIssued | None


@dataclass(frozen=True)
class CheckOutResult:
    booking_id: int
    room_id: int
    room_number: str
    checked_out_at: dt.datetime
    folio_id: int | None
    folio_closed: bool
    balance: Decimal  # non-zero only when a manager overrode an unsettled check-out
    task_id: int


@dataclass(frozen=True)
class StayChange:
    booking_id: int
    status: str
    room_id: int | None
    folio_id: int | None


# --- locking and reading -------------------------------------------------------------------------
# The statements are built once (building one costs more than running it).

_HOTEL, _BOOKING, _ROOM = (bindparam(name, type_=BigInteger) for name in ("hotel", "booking", "room"))
_START, _END = bindparam("start", type_=Date), bindparam("end", type_=Date)

# The booking comes with the transaction's timestamp, which every row of the change carries; the room with
# its hotel, which the session then holds for ``uow.hotel``. Not the booking: a statement that waits for a
# lock re-reads only the locked row, so a business date read alongside the booking could be the one the
# night audit holding the booking has just moved on from. The room's statement starts once the booking is
# held, so after any audit that held it.
_LOCK_BOOKING = (
    select(Booking, func.now())
    .where(Booking.id == _BOOKING)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_LOCK_ROOM = (
    select(Room, Hotel)
    .join(Hotel, Hotel.id == Room.hotel_id)
    .where(Room.id == _ROOM)
    .with_for_update(of=Room)
    .execution_options(populate_existing=True)
)

# Read after the room's lock was granted (a new statement, so it sees what committed while it waited): what
# keeps a guest out of the room (the first out-of-order or out-of-service window on the nights [start, end),
# a guest of another booking still in the room) and the booking's open folio, locked. A stay's changes lock
# booking, room, folio; an early or late check-in then locks the room's type as well (after the room,
# unlike the bookings service's booking, room types, rooms order: should that ever meet an assignment in
# a circle, PostgreSQL reports the deadlock and ``transact`` runs the check-in again).
_OVERLAY_ON_STAY = (
    select(Overlay.kind, Overlay.starts_on, Overlay.ends_on, Overlay.reason)
    .where(
        Overlay.hotel_id == _HOTEL,
        Overlay.room_id == _ROOM,
        Overlay.released.is_(False),
        Overlay.starts_on < _END,
        Overlay.ends_on > _START,
    )
    .order_by(Overlay.starts_on)
    .limit(1)
    .lateral()
)
_IN_HOUSE_ELSEWHERE = (
    select(Booking.confirmation_code)
    .where(Booking.hotel_id == _HOTEL, Booking.room_id == _ROOM, Booking.status == "checked_in", Booking.id != _BOOKING)
    .limit(1)
    .scalar_subquery()
    .label("occupant")
)
_OPEN_FOLIO = (
    select(Folio.id)
    .where(Folio.hotel_id == _HOTEL, Folio.booking_id == _BOOKING, Folio.status == "open")
    .with_for_update()
    .cte("open_folio")
)
_ROOM_OBSTACLES_AND_FOLIO = (
    select(*_OVERLAY_ON_STAY.c, _IN_HOUSE_ELSEWHERE, select(_OPEN_FOLIO.c.id).scalar_subquery().label("folio_id"))
    .select_from(Room)
    .outerjoin(_OVERLAY_ON_STAY, true())
    .where(Room.hotel_id == _HOTEL, Room.id == _ROOM)
)


def _lock_stay(uow: UnitOfWork, booking_id: int) -> tuple[Booking, Room | None, dt.datetime]:
    """Lock the booking, then its room: the order the bookings service and the night audit use too, so no two
    of them ever wait on each other in a circle. Also the transaction's timestamp. The hotel (its business
    date) is read once the booking's lock is held."""
    row = uow.session.execute(_LOCK_BOOKING, {"booking": booking_id}).one_or_none()
    if row is None:
        raise NotFound(f"Booking {booking_id} was not found in this hotel.")
    booking, now = row
    room = None
    if booking.room_id is not None:
        room, _hotel = uow.session.execute(_LOCK_ROOM, {"room": booking.room_id}).one()
    _ = uow.hotel  # the unit of work keeps the hotel (read with the room, else now); the session holds it weakly
    return booking, room, now


def _require_status(booking: Booking, expected: str, step: str) -> None:
    if booking.status != expected:
        raise InvalidTransition(
            f"Booking {booking.confirmation_code} is {STATUS_WORDS.get(booking.status, booking.status)}; "
            f"only a {STATUS_WORDS[expected]} booking can be {step}."
        )


def _last_audit_details(uow: UnitOfWork, booking_id: int, action: str) -> dict[str, Any] | None:
    """The details of the latest ``action`` audit row of a booking (they record the business date)."""
    stmt = (
        select(AuditEntry.details)
        .where(
            AuditEntry.hotel_id == uow.actor.hotel_id,
            AuditEntry.resource_type == "booking",
            AuditEntry.resource_id == str(booking_id),
            AuditEntry.action == action,
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return uow.session.scalars(stmt).one_or_none()


def _happened_today(uow: UnitOfWork, booking_id: int, action: str) -> bool:
    details = _last_audit_details(uow, booking_id, action)
    return details is not None and details.get("business_date") == uow.business_date.isoformat()


def _clashing_booking(uow: UnitOfWork, room: Room, booking: Booking, start: dt.date, end: dt.date) -> Any:
    stmt = select(Booking.confirmation_code, Booking.check_in, Booking.check_out).where(
        Booking.hotel_id == uow.actor.hotel_id,
        Booking.room_id == room.id,
        Booking.status.in_(ACTIVE_BOOKING_STATUSES),
        Booking.id != booking.id,
        Booking.check_in < end,
        Booking.check_out > start,
    )
    return uow.session.execute(stmt.order_by(Booking.check_in).limit(1)).one_or_none()


def _lock_folio_of_free_room(uow: UnitOfWork, room: Room, booking: Booking, start: dt.date, end: dt.date) -> int | None:
    """Refuse the locked room unless it is in service from the business date to ``end``, nobody else is in
    house there and no other stay holds it on [start, end) (when the stay is re-dated). Returns the id of
    the booking's open folio, now locked (None when it has none)."""
    params = {
        "hotel": uow.actor.hotel_id,
        "room": room.id,
        "booking": booking.id,
        "start": uow.business_date,
        "end": end,
    }
    found = uow.session.execute(_ROOM_OBSTACLES_AND_FOLIO, params).one()
    if found.kind is not None:
        what = found.kind.replace("_", " ")
        raise RoomUnavailable(
            f"Room {room.number} is {what} from {found.starts_on} to {found.ends_on} ({found.reason})."
        )
    if found.occupant is not None:
        raise RoomUnavailable(f"Room {room.number} is occupied: booking {found.occupant} is in house.")
    if (start, end) != (booking.check_in, booking.check_out):  # else the constraint already saw to the nights
        clash = _clashing_booking(uow, room, booking, start, end)
        if clash is not None:
            raise RoomUnavailable(
                f"Room {room.number} is booked from {clash.check_in} to {clash.check_out} "
                f"by booking {clash.confirmation_code}."
            )
    folio_id: int | None = found.folio_id
    return folio_id


# --- check-in ------------------------------------------------------------------------------------


def _arrival_problem(booking: Booking, today: dt.date) -> tuple[str, str] | None:
    """('early' | 'late', why) when the arrival is not today's, else None."""
    code = booking.confirmation_code
    if booking.check_in > today:
        return "early", f"Booking {code} arrives on {booking.check_in}; the business date is {today}."
    if booking.check_out <= today:
        return "late", f"Booking {code} was for {booking.check_in} to {booking.check_out}; that stay is over."
    if booking.check_in < today:
        return "late", f"Booking {code} was due on {booking.check_in}; the business date is {today}."
    return None


def _allow_arrival(uow: UnitOfWork, booking: Booking, reason: str | None) -> str | None:
    """None for a normal arrival; 'early'/'late' when an overriding actor gave a reason; else refused."""
    problem = _arrival_problem(booking, uow.business_date)
    if problem is None:
        return None
    kind, why = problem
    if reason is None:
        article = "an" if kind == "early" else "a"
        raise InvalidTransition(f"{why} A manager can override {article} {kind} check-in with a reason.")
    uow.actor.require(Permission.OVERRIDE)
    return kind


def _stay_from_today(booking: Booking, today: dt.date) -> tuple[dt.date, dt.date]:
    """An early or late arrival's stay starts today and lasts at least one night, so the room is held (and
    charged) for the nights the guest is really in it."""
    return today, max(booking.check_out, today + dt.timedelta(days=1))


def _override_reason(value: str | None) -> str | None:
    if value is None:
        return None
    return clean_text(value, "The override reason", max_length=MAX_REASON, required=True)


@requires(Permission.CHECK_IN_OUT)
def check_in(
    actor: Actor, booking_id: int, *, keys: int = 1, queue: bool = False, override_reason: str | None = None
) -> CheckInResult:
    """Check a confirmed booking into its assigned, ready, vacant room and issue its keys.

    When the only obstacle is a room not ready yet, ``queue=True`` puts the arrival in the queue instead.
    Early or late arrivals need ``override_reason`` from a role that may override.
    """
    booking_id = require_id(booking_id, "booking")
    count = checked_key_count(keys)
    reason = _override_reason(override_reason)
    return transact(actor, Permission.CHECK_IN_OUT, lambda uow: _check_in(uow, booking_id, count, queue, reason))


def _check_in(uow: UnitOfWork, booking_id: int, keys: int, queue: bool, reason: str | None) -> CheckInResult:
    booking, room, now = _lock_stay(uow, booking_id)
    _require_status(booking, "confirmed", "checked in")
    if room is None:
        raise InvalidTransition(f"Booking {booking.confirmation_code} has no room yet; assign one first.")
    arrival = _allow_arrival(uow, booking, reason)
    start, end = _stay_from_today(booking, uow.business_date) if arrival else (booking.check_in, booking.check_out)
    folio_id = _lock_folio_of_free_room(uow, room, booking, start, end)
    if arrival:
        _require_type_not_oversold(uow, booking, room, start, end)
    # No window blocks the room today: the nights from the business date on were just checked.
    if not is_ready(room.hk_status, uow.hotel.inspection_required, blocked=False):
        if not queue:
            raise RoomUnavailable(
                f"Room {room.number} is {room.hk_status}, not ready for a guest yet; queue the arrival or "
                "choose another room."
            )
        return _queue(uow, booking, room, now)
    return _admit(uow, booking, room, folio_id, keys, (start, end), arrival, reason, now)


def _require_type_not_oversold(uow: UnitOfWork, booking: Booking, room: Room, start: dt.date, end: dt.date) -> None:
    """A re-dated stay takes nights from its room's type; refuse when that leaves another reservation roomless."""
    hotel_id = uow.actor.hotel_id
    room_type = lock_room_types(uow.session, hotel_id, [room.room_type_id])[room.room_type_id]
    guard = InventoryGuard(uow.session, hotel_id, room_type, min(start, booking.check_in), max(end, booking.check_out))
    original = booking.check_in, booking.check_out
    booking.check_in, booking.check_out = start, end
    guard.check()
    booking.check_in, booking.check_out = original  # the check-in itself records the move


def _queue(uow: UnitOfWork, booking: Booking, room: Room, now: dt.datetime) -> CheckInResult:
    if not booking.queued:
        booking.queued = True
        booking.updated_at = now
        uow.audit("stay.queued", "booking", booking.id, room_id=room.id, room_hk_status=room.hk_status)
        uow.emit(BookingUpdated(hotel_id=uow.actor.hotel_id, booking_id=booking.id))
        uow.commit()
    return CheckInResult(booking.id, room.id, room.number, True, None, None, None)


def _admit(
    uow: UnitOfWork,
    booking: Booking,
    room: Room,
    folio_id: int | None,
    keys: int,
    stay: tuple[dt.date, dt.date],
    arrival: str | None,
    reason: str | None,
    now: dt.datetime,
) -> CheckInResult:
    details: dict[str, Any] = {"business_date": uow.business_date, "room_id": room.id, "room_number": room.number}
    if arrival is not None:
        details |= {"override": arrival, "override_reason": reason}
        details |= {"original_check_in": booking.check_in, "original_check_out": booking.check_out}
    if folio_id is None:  # opened before the booking changes, so the change is written in one flush at the end
        folio_id = open_new_folio(uow, booking.id).id
    booking.check_in, booking.check_out = stay
    booking.status, booking.actual_check_in, booking.queued, booking.updated_at = "checked_in", now, False, now
    issued = issue_keys(uow, booking, room, "new", keys)
    uow.audit("stay.checked_in", "booking", booking.id, folio_id=folio_id, keys=keys, **details)
    uow.emit(GuestCheckedIn(hotel_id=uow.actor.hotel_id, booking_id=booking.id, room_id=room.id))
    uow.commit()
    return CheckInResult(booking.id, room.id, room.number, False, now, folio_id, issued)


@requires(Permission.CHECK_IN_OUT)
def issue_duplicate_keys(actor: Actor, booking_id: int, keys: int = 1) -> KeysIssued:
    """More keys for an in-house guest (lost key, extra guest); logged like the first ones."""
    booking_id = require_id(booking_id, "booking")
    count = checked_key_count(keys)

    def work(uow: UnitOfWork) -> KeysIssued:
        booking, room, _now = _lock_stay(uow, booking_id)
        _require_status(booking, "checked_in", "given duplicate keys")
        assert room is not None  # a checked-in booking always has a room (database CHECK)
        issued = issue_keys(uow, booking, room, "duplicate", count)
        uow.audit("stay.keys_duplicated", "booking", booking.id, room_id=room.id, keys=count)
        uow.commit()
        return issued

    return transact(actor, Permission.CHECK_IN_OUT, work)


@requires(Permission.CHECK_IN_OUT)
def reverse_check_in(actor: Actor, booking_id: int) -> StayChange:
    """Undo a check-in made by mistake: only on its business date, with nothing posted to the folio but
    voided charges. The booking is confirmed again and keeps its room."""
    booking_id = require_id(booking_id, "booking")
    return transact(actor, Permission.CHECK_IN_OUT, lambda uow: _reverse_check_in(uow, booking_id))


def _reverse_check_in(uow: UnitOfWork, booking_id: int) -> StayChange:
    booking, _room, now = _lock_stay(uow, booking_id)
    _require_status(booking, "checked_in", "reversed to confirmed")
    checked_in = _last_audit_details(uow, booking.id, "stay.checked_in")
    if checked_in is None or checked_in.get("business_date") != uow.business_date.isoformat():
        raise InvalidTransition(
            f"Booking {booking.confirmation_code} was not checked in on today's business date; "
            "a check-in can only be reversed on the day it was made."
        )
    folio = lock_open_folio_of(uow, booking.id)
    if folio is not None:
        _require_untouched(uow, folio.id, folio.currency)
    if "original_check_in" in checked_in:  # an overridden arrival gets its booked dates back
        booking.check_in = dt.date.fromisoformat(checked_in["original_check_in"])
        booking.check_out = dt.date.fromisoformat(checked_in["original_check_out"])
    booking.status, booking.actual_check_in, booking.updated_at = "confirmed", None, now
    uow.audit("stay.check_in_reversed", "booking", booking.id, business_date=uow.business_date)
    uow.emit(BookingUpdated(hotel_id=uow.actor.hotel_id, booking_id=booking.id))
    uow.commit()
    return StayChange(booking.id, booking.status, booking.room_id, folio.id if folio else None)


def _require_untouched(uow: UnitOfWork, folio_id: int, currency: str) -> None:
    """Nothing on the folio but charges voided again (each pair sums to zero)."""
    lines = lines_of(uow, folio_id)
    voided = {line.voids_line_id for line in lines if line.voids_line_id is not None}
    if any(line.kind != "void" and line.id not in voided for line in lines):
        balance = sum((line.amount for line in lines), Decimal("0.00"))
        raise FolioError(
            f"Folio {folio_id} already has postings (balance {money(currency, balance)}); "
            "a check-in with charges or payments cannot be reversed."
        )


# --- check-out -----------------------------------------------------------------------------------


@requires(Permission.CHECK_IN_OUT)
def check_out(actor: Actor, booking_id: int, *, override_reason: str | None = None) -> CheckOutResult:
    """Check an in-house guest out: folio settled and closed, room dirty, a cleaning task queued.

    An unsettled folio refuses the check-out unless a role that may override gives a reason; the folio then
    stays open for the balance to be settled later.
    """
    booking_id = require_id(booking_id, "booking")
    reason = _override_reason(override_reason)
    return transact(actor, Permission.CHECK_IN_OUT, lambda uow: _check_out(uow, booking_id, reason))


def _check_out(uow: UnitOfWork, booking_id: int, reason: str | None) -> CheckOutResult:
    booking, room, now = _lock_stay(uow, booking_id)
    _require_status(booking, "checked_in", "checked out")
    assert room is not None  # a checked-in booking always has a room (database CHECK)
    folio = lock_open_folio_of(uow, booking.id)
    balance = balance_of(uow, folio.id) if folio else Decimal("0.00")
    if folio is not None and balance != 0:
        if reason is None:
            raise FolioError(
                f"Booking {booking.confirmation_code} cannot check out: {unsettled_message(folio, balance)}"
            )
        uow.actor.require(Permission.OVERRIDE)
    booking.status, booking.actual_check_out, booking.updated_at = "checked_out", now, now
    uow.emit(GuestCheckedOut(hotel_id=uow.actor.hotel_id, booking_id=booking.id, room_id=room.id))
    closed = folio is not None and balance == 0
    if folio is not None and closed:
        close_locked_folio(uow, folio, now)
    change_room_status(uow, [room], "dirty", reason=f"guest checked out (booking {booking.confirmation_code})")
    # A stay reinstated and checked out again the same day reuses the room's open cleaning task.
    task, _created = add_task(uow, room, "checkout_clean", notes=f"Check-out {booking.confirmation_code}")
    task_id = task.id
    details: dict[str, Any] = {"business_date": uow.business_date, "room_id": room.id, "task_id": task_id}
    details |= {"folio_id": folio.id if folio else None, "folio_closed": closed}
    if not closed and folio is not None:
        details |= {"override_reason": reason, "unsettled_balance": balance, "folio_left_open": True}
    uow.audit("stay.checked_out", "booking", booking.id, **details)
    uow.commit()
    return CheckOutResult(booking.id, room.id, room.number, now, folio.id if folio else None, closed, balance, task_id)


@requires(Permission.CHECK_IN_OUT)
def reinstate_check_out(actor: Actor, booking_id: int) -> StayChange:
    """Put a guest checked out by mistake back in house, on the check-out's business date only (before the
    night audit) and only while the room has not been let again. A new folio is opened if the old one was
    closed: a closed folio is never reopened. The room stays dirty."""
    booking_id = require_id(booking_id, "booking")
    return transact(actor, Permission.CHECK_IN_OUT, lambda uow: _reinstate(uow, booking_id))


def _reinstate(uow: UnitOfWork, booking_id: int) -> StayChange:
    booking, room, now = _lock_stay(uow, booking_id)
    _require_status(booking, "checked_out", "reinstated as in house")
    assert room is not None  # a checked-out booking kept its room
    if not _happened_today(uow, booking.id, "stay.checked_out"):
        raise InvalidTransition(
            f"Booking {booking.confirmation_code} was not checked out on today's business date; a check-out "
            "can only be reinstated on its own day, before the night audit."
        )
    occupant = in_house_elsewhere(uow.session, uow.actor.hotel_id, room, [booking.id])
    clash = _clashing_booking(uow, room, booking, booking.check_in, booking.check_out)
    if occupant is not None or clash is not None:
        taken_by = occupant or clash.confirmation_code
        raise RoomUnavailable(f"Room {room.number} has been let again (booking {taken_by}); it cannot be reinstated.")
    booking.status, booking.actual_check_out, booking.updated_at = "checked_in", None, now
    folio = lock_open_folio_of(uow, booking.id) or open_new_folio(uow, booking.id)
    uow.audit("stay.reinstated", "booking", booking.id, business_date=uow.business_date, folio_id=folio.id)
    uow.emit(BookingReinstated(hotel_id=uow.actor.hotel_id, booking_id=booking.id))
    uow.commit()
    return StayChange(booking.id, booking.status, room.id, folio.id)
