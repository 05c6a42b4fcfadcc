"""Room keys: how many may be cut at once, until when they open the door, and the key log every issue writes
(check-in, walk-in, room moves and swaps, duplicates), all inside the caller's unit of work."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ValidationError
from core.models import Booking, Hotel, KeyIssue, Room
from core.services.uow import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_CHECK_OUT_TIME = dt.time(11, 0)  # when the hotel has not set its own
MAX_KEYS = 10


@dataclass(frozen=True)
class KeysIssued:
    booking_id: int
    room_id: int
    kind: str  # 'new' when the guest gets a room, 'duplicate' later
    key_count: int
    valid_until: dt.datetime


def checked_key_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_KEYS:
        raise ValidationError(f"Between 1 and {MAX_KEYS} keys can be issued at a time, not {value!r}.")
    return value


def key_valid_until(hotel: Hotel, check_out: dt.date) -> dt.datetime:
    """Keys stop working at the hotel's check-out time (local) on the departure day, stored in UTC."""
    try:
        zone = ZoneInfo(hotel.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("hotel %s has an unknown time zone %r; keys use UTC", hotel.id, hotel.timezone)
        zone = ZoneInfo("UTC")
    local = dt.datetime.combine(check_out, hotel.check_out_time or DEFAULT_CHECK_OUT_TIME, tzinfo=zone)
    return local.astimezone(dt.UTC)


def issue_keys(uow: UnitOfWork, booking: Booking, room: Room, kind: str, count: int) -> KeysIssued:
    """Inside a unit of work: log ``count`` keys of ``room`` for the booking, valid until its check-out."""
    valid_until = key_valid_until(uow.hotel, booking.check_out)
    uow.session.add(
        KeyIssue(
            hotel_id=uow.actor.hotel_id,
            booking_id=booking.id,
            room_id=room.id,
            kind=kind,
            key_count=count,
            valid_until=valid_until,
            issued_by=uow.actor.user_id,
        )
    )
    return KeysIssued(booking.id, room.id, kind, count, valid_until)
