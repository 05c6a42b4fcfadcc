"""The event catalog: frozen dataclasses with a required ``hotel_id`` and a stable ``name``.

Events carry ids and the few values a panel shows; a handler that needs more reads it through RLS.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, TypeVar, dataclass_transform

from core.errors import ValidationError

EVENT_TYPES: dict[str, type[DomainEvent]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    name: ClassVar[str] = ""
    hotel_id: int

    def to_payload(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def decode(name: str, payload: dict[str, Any]) -> DomainEvent:
    """Rebuild an event from its outbox row; unknown names and fields are an error, not a guess."""
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raise ValidationError(f"Unknown event type {name!r}.")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in payload:
            continue
        raw = payload[field.name]
        if field.type in ("dt.date", "dt.date | None") and raw is not None:
            raw = dt.date.fromisoformat(raw)
        elif field.type in ("Decimal", "Decimal | None") and raw is not None:
            raw = Decimal(raw)
        elif field.type == "tuple[int, ...]":
            raw = tuple(raw)
        values[field.name] = raw
    return cls(**values)


E = TypeVar("E", bound=DomainEvent)


@dataclass_transform(frozen_default=True, kw_only_default=True)
def event(name: str) -> Callable[[type[E]], type[E]]:
    """Class decorator: a frozen, keyword-only event with a stable name (type checkers see the fields)."""

    def wrap(cls: type[E]) -> type[E]:
        if name in EVENT_TYPES:
            raise TypeError(f"event name {name!r} is used twice")
        cls.name = name
        registered = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
        EVENT_TYPES[name] = registered
        return registered

    return wrap


# --- PMS synchronisation -------------------------------------------------------------------------


@event("pms.room.synced")
class RoomSynced(DomainEvent):
    connection_id: int
    created: int
    updated: int


@event("pms.guest.synced")
class GuestSynced(DomainEvent):
    connection_id: int
    created: int
    updated: int


@event("pms.booking.synced")
class BookingSynced(DomainEvent):
    connection_id: int
    created: int
    updated: int


@event("pms.external.connected")
class ExternalConnected(DomainEvent):
    connection_id: int
    vendor: str


@event("pms.external.disconnected")
class ExternalDisconnected(DomainEvent):
    connection_id: int
    vendor: str


# --- Bookings ------------------------------------------------------------------------------------


@event("booking.created")
class BookingCreated(DomainEvent):
    booking_id: int
    confirmation_code: str
    check_in: dt.date
    check_out: dt.date


@event("booking.updated")
class BookingUpdated(DomainEvent):
    booking_id: int


@event("booking.roomAssigned")
class RoomAssigned(DomainEvent):
    booking_id: int
    room_id: int | None
    room_number: str | None


@event("booking.cancelled")
class BookingCancelled(DomainEvent):
    booking_id: int


@event("booking.noShow")
class BookingNoShow(DomainEvent):
    booking_id: int


@event("booking.reinstated")
class BookingReinstated(DomainEvent):
    booking_id: int


@event("guest.checkedIn")
class GuestCheckedIn(DomainEvent):
    booking_id: int
    room_id: int


@event("guest.checkedOut")
class GuestCheckedOut(DomainEvent):
    booking_id: int
    room_id: int


@event("guest.changed")
class GuestChanged(DomainEvent):
    guest_id: int


# --- Folios --------------------------------------------------------------------------------------


@event("charge.posted")
class ChargePosted(DomainEvent):
    folio_id: int
    line_id: int
    kind: str
    amount: Decimal


@event("charge.voided")
class ChargeVoided(DomainEvent):
    folio_id: int
    line_id: int
    voided_line_id: int


@event("folio.closed")
class FolioClosed(DomainEvent):
    folio_id: int


# --- Rooms and housekeeping ----------------------------------------------------------------------


@event("room.statusChanged")
class RoomStatusChanged(DomainEvent):
    room_ids: tuple[int, ...]


@event("housekeeping.taskCreated")
class TaskCreated(DomainEvent):
    task_id: int
    room_id: int


@event("housekeeping.taskAssigned")
class TaskAssigned(DomainEvent):
    task_id: int
    assigned_to: int | None


@event("housekeeping.taskCompleted")
class TaskCompleted(DomainEvent):
    task_id: int
    room_id: int


@event("businessDate.rolled")
class BusinessDateRolled(DomainEvent):
    business_date: dt.date


@event("staff.changed")
class StaffChanged(DomainEvent):
    user_id: int


@event("housekeeping.taskStarted")
class TaskStarted(DomainEvent):
    task_id: int
    room_id: int


@event("housekeeping.taskCancelled")
class TaskCancelled(DomainEvent):
    task_id: int
    room_id: int
