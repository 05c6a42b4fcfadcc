"""The night audit: a checklist of what is still open for the business date, then the roll to the next
date (room-night charges, no-shows, occupied rooms to dirty, rooms whose out-of-order window ended back to
their return status) in one transaction.

Other terminals keep working while it runs: it takes row locks only, and a FOR NO KEY UPDATE lock on
the hotel row, which serialises two audits without blocking inserts that reference the hotel (their
foreign-key checks take FOR KEY SHARE, which that lock leaves free).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert

from core.auth import Actor, Permission
from core.errors import InvalidTransition
from core.events.catalog import BookingNoShow, BusinessDateRolled, ChargePosted
from core.models import Booking, Folio, FolioLine, Guest, Hotel, NightAudit, Room
from core.services.rooms import apply_overlay_returns, change_room_status
from core.services.uow import UnitOfWork, requires, transact, unit_of_work


@dataclass(frozen=True)
class StayItem:
    booking_id: int
    confirmation_code: str
    guest_name: str
    room_number: str | None
    check_in: dt.date
    check_out: dt.date


@dataclass(frozen=True)
class FolioItem:
    folio_id: int
    booking_id: int
    guest_name: str
    room_number: str | None
    balance: Decimal
    currency: str


@dataclass(frozen=True)
class Checklist:
    """What is unresolved for ``business_date``. The audit refuses to run while guests due out are still
    checked in (unless forced by someone allowed to override); the other lists are for information:
    unsettled folios stay open, arrivals that did not come become no-shows."""

    business_date: dt.date
    unresolved_departures: tuple[StayItem, ...]
    unsettled_folios: tuple[FolioItem, ...]
    pending_arrivals: tuple[StayItem, ...]

    @property
    def ready(self) -> bool:
        return not self.unresolved_departures


@dataclass(frozen=True)
class NightAuditResult:
    business_date: dt.date  # the date that was audited
    next_business_date: dt.date
    room_nights: int
    room_revenue: Decimal
    no_shows: int
    rooms_dirtied: int
    forced: bool
    already_done: bool = False  # True when this date had been audited before: nothing was changed now


# --- the checklist -------------------------------------------------------------------------------

_GUEST_NAME = func.concat_ws(", ", Guest.last_name, func.nullif(Guest.first_name, ""))


def _stays(where: Any) -> Select[Booking, str, str | None]:
    return (
        select(Booking, _GUEST_NAME, Room.number)
        .join(Guest, Guest.id == Booking.guest_id)
        .outerjoin(Room, Room.id == Booking.room_id)
        .where(where)
        .order_by(Room.number, Booking.id)
    )


def _stay_items(uow: UnitOfWork, query: Select[Booking, str, str | None]) -> tuple[StayItem, ...]:
    return tuple(
        StayItem(b.id, b.confirmation_code, name, number, b.check_in, b.check_out)
        for b, name, number in uow.session.execute(query)
    )


def _unsettled_folios(uow: UnitOfWork, day: dt.date) -> tuple[FolioItem, ...]:
    balance = func.coalesce(func.sum(FolioLine.amount), 0)
    query = (
        select(Folio.id, Folio.booking_id, Folio.currency, _GUEST_NAME, Room.number, balance)
        .join(Booking, Booking.id == Folio.booking_id)
        .join(Guest, Guest.id == Booking.guest_id)
        .outerjoin(Room, Room.id == Booking.room_id)
        .outerjoin(FolioLine, FolioLine.folio_id == Folio.id)
        .where(
            Folio.status == "open",
            Booking.status.in_(("checked_in", "checked_out")),
            Booking.check_out <= day,
        )
        .group_by(Folio.id, Folio.booking_id, Folio.currency, Guest.last_name, Guest.first_name, Room.number)
        .having(balance != 0)
        .order_by(Room.number, Folio.id)
    )
    return tuple(
        FolioItem(folio_id, booking_id, name, number, Decimal(amount), currency)
        for folio_id, booking_id, currency, name, number, amount in uow.session.execute(query)
    )


def _checklist(uow: UnitOfWork, day: dt.date) -> Checklist:
    return Checklist(
        business_date=day,
        unresolved_departures=_stay_items(uow, _stays((Booking.status == "checked_in") & (Booking.check_out <= day))),
        unsettled_folios=_unsettled_folios(uow, day),
        pending_arrivals=_stay_items(uow, _stays((Booking.status == "confirmed") & (Booking.check_in <= day))),
    )


@requires(Permission.NIGHT_AUDIT)
def checklist(actor: Actor) -> Checklist:
    """What still needs attention before the night audit of the current business date."""
    with unit_of_work(actor, Permission.NIGHT_AUDIT) as uow:
        return _checklist(uow, uow.business_date)


# --- the roll ------------------------------------------------------------------------------------


def _lock_hotel(uow: UnitOfWork) -> Hotel:
    query = (
        select(Hotel)
        .where(Hotel.id == uow.actor.hotel_id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: leaves foreign-key checks free
        .execution_options(populate_existing=True)
    )
    return uow.session.scalars(query).one()


def _hotel_today(hotel: Hotel) -> dt.date:
    try:
        zone = ZoneInfo(hotel.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return dt.datetime.now(zone).date()


def _recorded(uow: UnitOfWork, day: dt.date) -> NightAuditResult | None:
    row = uow.session.scalars(select(NightAudit).where(NightAudit.business_date == day)).one_or_none()
    if row is None:
        return None
    s = row.summary
    return NightAuditResult(
        business_date=day,
        next_business_date=day + dt.timedelta(days=1),
        room_nights=int(s.get("room_nights", 0)),
        room_revenue=Decimal(s.get("room_revenue", "0")),
        no_shows=int(s.get("no_shows", 0)),
        rooms_dirtied=int(s.get("rooms_dirtied", 0)),
        forced=bool(s.get("forced", False)),
        already_done=True,
    )


def _refuse_unresolved(uow: UnitOfWork, day: dt.date) -> None:
    departures = _checklist(uow, day).unresolved_departures
    if departures:
        rooms = ", ".join(item.room_number or "?" for item in departures[:10])
        more = "…" if len(departures) > 10 else ""
        raise InvalidTransition(
            f"{len(departures)} guest(s) due to leave by {day:%Y-%m-%d} are still checked in (rooms {rooms}{more}). "
            "Check them out or extend their stays; a manager can force the night audit."
        )


def _mark_no_shows(uow: UnitOfWork, day: dt.date) -> list[int]:
    """Confirmed bookings that should have arrived by ``day`` become no-shows (their rooms are freed)."""
    marked = uow.session.scalars(
        update(Booking)
        .where(Booking.status == "confirmed", Booking.check_in <= day)
        .values(status="no_show", updated_at=func.now())
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    ).all()
    for booking_id in sorted(marked):
        uow.audit("booking.no_show", "booking", booking_id, business_date=day, by="night audit")
        uow.emit(BookingNoShow(hotel_id=uow.actor.hotel_id, booking_id=booking_id))
    return sorted(marked)


def _lock_in_house(uow: UnitOfWork) -> list[int]:
    """Lock the in-house stays so a check-out running now waits for the audit instead of closing a folio
    under it; READ COMMITTED re-checks each row after the wait, so stays checked out meanwhile drop out.
    NO KEY UPDATE leaves rows that reference these bookings (keys issued, folios) free to be written."""
    query = (
        select(Booking.id).where(Booking.status == "checked_in").order_by(Booking.id).with_for_update(key_share=True)
    )
    return list(uow.session.scalars(query))


def _post_room_nights(uow: UnitOfWork, booking_ids: list[int], day: dt.date) -> list[tuple[int, int, Decimal]]:
    """One charge per in-house stay at its rate, for the night of ``day``; the unique (folio, night_of)
    index makes a second posting for the same night a no-op. Complimentary stays (rate 0) get none."""
    if not booking_ids:
        return []
    lines = (
        select(
            Booking.hotel_id,
            Folio.id,
            literal("charge"),
            func.concat("Room ", Room.number, f" night of {day:%Y-%m-%d}"),
            Booking.rate,
            literal(day),
            literal(day),
            literal(uow.actor.user_id),
        )
        .join(Folio, (Folio.booking_id == Booking.id) & (Folio.status == "open"))
        .join(Room, Room.id == Booking.room_id)
        .where(Booking.id.in_(booking_ids), Booking.rate > 0)
    )
    columns = ["hotel_id", "folio_id", "kind", "description", "amount", "business_date", "night_of", "posted_by"]
    statement = (
        insert(FolioLine)
        .from_select(columns, lines)
        .on_conflict_do_nothing(
            index_elements=["hotel_id", "folio_id", "night_of"], index_where=FolioLine.night_of.is_not(None)
        )
        .returning(FolioLine.id, FolioLine.folio_id, FolioLine.amount, FolioLine.description)
    )
    posted = sorted(uow.session.execute(statement).all())
    for line_id, folio_id, amount, description in posted:
        uow.audit("folio.charge_posted", "folio", folio_id, line_id=line_id, amount=amount, description=description)
        uow.emit(
            ChargePosted(
                hotel_id=uow.actor.hotel_id,
                folio_id=folio_id,
                line_id=line_id,
                kind="charge",
                amount=amount,
            )
        )
    return [(line_id, folio_id, amount) for line_id, folio_id, amount, _ in posted]


def _dirty_occupied_rooms(uow: UnitOfWork, booking_ids: list[int]) -> list[int]:
    """Rooms slept in tonight need cleaning tomorrow, through the rooms service's state machine: one audit row
    per room, one set-based UPDATE (a row-by-row one costs seconds at 1,000 rooms), one RoomStatusChanged."""
    if not booking_ids:
        return []
    occupied = select(Booking.room_id).where(Booking.id.in_(booking_ids))
    rooms = uow.session.scalars(  # locked first, so the old statuses audited stay true
        select(Room)
        .where(Room.id.in_(occupied), Room.hk_status != "dirty")
        .order_by(Room.id)
        .with_for_update(key_share=True)  # NO KEY: bookings of these rooms may still be written meanwhile
    ).all()
    return list(change_room_status(uow, rooms, "dirty", reason="night audit").changed_room_ids)


def _roll(uow: UnitOfWork, force: bool, for_date: dt.date | None) -> NightAuditResult:
    hotel = _lock_hotel(uow)  # a second audit waits here, then sees the rolled date
    day = hotel.business_date
    if for_date is not None and for_date != day:
        recorded = _recorded(uow, for_date)
        if recorded is None:
            raise InvalidTransition(f"The business date is {day:%Y-%m-%d}, not {for_date:%Y-%m-%d}.")
        return recorded
    recorded = _recorded(uow, day)
    if recorded is not None:
        return recorded
    if day > _hotel_today(hotel):
        raise InvalidTransition(
            f"The business date {day:%Y-%m-%d} is already ahead of today's date; "
            "its night audit can run once that day has come."
        )
    if not force:
        _refuse_unresolved(uow, day)
    no_shows = _mark_no_shows(uow, day)
    in_house = _lock_in_house(uow)
    posted = _post_room_nights(uow, in_house, day)
    dirtied = _dirty_occupied_rooms(uow, in_house)
    result = NightAuditResult(
        business_date=day,
        next_business_date=day + dt.timedelta(days=1),
        room_nights=len(posted),
        room_revenue=sum((amount for _, _, amount in posted), Decimal("0.00")),
        no_shows=len(no_shows),
        rooms_dirtied=len(dirtied),
        forced=force,
    )
    _record(uow, hotel, result)
    # On the new business date, rooms whose out-of-order / out-of-service window ended take their return status.
    apply_overlay_returns(uow)
    uow.commit()
    return result


def _record(uow: UnitOfWork, hotel: Hotel, result: NightAuditResult) -> None:
    summary = {
        "room_nights": result.room_nights,
        "room_revenue": str(result.room_revenue),
        "no_shows": result.no_shows,
        "rooms_dirtied": result.rooms_dirtied,
        "forced": result.forced,
    }
    row = NightAudit(hotel_id=hotel.id, business_date=result.business_date, run_by=uow.actor.user_id, summary=summary)
    uow.session.add(row)
    hotel.business_date = result.next_business_date
    uow.flush()
    uow.audit("night_audit.completed", "night_audit", row.id, business_date=result.business_date, **summary)
    uow.emit(BusinessDateRolled(hotel_id=hotel.id, business_date=result.next_business_date))


@requires(Permission.NIGHT_AUDIT)
def run(actor: Actor, force: bool = False, for_date: dt.date | None = None) -> NightAuditResult:
    """Audit the current business date and roll to the next. ``for_date`` is the date the operator saw on
    the checklist: if it has been audited already (by another terminal) its recorded result comes back and
    nothing changes. ``force`` (override permission) runs even with guests due out still checked in."""
    if force:
        actor.require(Permission.OVERRIDE)
    return transact(actor, Permission.NIGHT_AUDIT, lambda uow: _roll(uow, force, for_date))
