"""Small hotels for tests, written as the owner role (as an operator's setup would be)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from core.auth import Actor, Role, hash_password
from core.models import Hotel, Room, RoomType, StaffUser

PASSWORD = "correct-horse-1"
_names = itertools.count(1)


def unique_name(base: str) -> str:
    """``base`` with a number no other hotel of this test run has (hotel names are unique)."""
    return f"{base} {next(_names)}"


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class HotelFixture:
    hotel_id: int
    name: str
    business_date: dt.date
    room_type_ids: dict[str, int]  # code -> id
    room_ids: dict[str, int]  # number -> id
    user_ids: dict[Role, int] = field(default_factory=dict)

    def actor(self, role: Role = Role.FRONT_DESK) -> Actor:
        return Actor(hotel_id=self.hotel_id, role=role, user_id=self.user_ids[role], username=role.value)

    @property
    def front_desk(self) -> Actor:
        return self.actor(Role.FRONT_DESK)

    @property
    def manager(self) -> Actor:
        return self.actor(Role.MANAGER)

    @property
    def housekeeping(self) -> Actor:
        return self.actor(Role.HOUSEKEEPING)

    @property
    def admin(self) -> Actor:
        return self.actor(Role.ADMIN)


def make_hotel(
    owner: Engine,
    name: str,
    rooms: int = 10,
    *,
    business_date: dt.date | None = None,
    inspection_required: bool = True,
) -> HotelFixture:
    """``rooms`` rooms over floors 1..n (10 a floor): odd numbers STD at 100.00, even DBL at 150.00,
    all inspected and vacant; one staff user per role, password ``PASSWORD``."""
    today = business_date or dt.date.today()
    with Session(owner) as session, session.begin():
        hotel = Hotel(name=name, business_date=today, currency="EUR", inspection_required=inspection_required)
        session.add(hotel)
        session.flush()
        types = {
            "STD": RoomType(
                hotel_id=hotel.id, code="STD", name="Standard", base_rate=Decimal("100.00"), max_occupancy=2
            ),
            "DBL": RoomType(hotel_id=hotel.id, code="DBL", name="Double", base_rate=Decimal("150.00"), max_occupancy=3),
        }
        session.add_all(types.values())
        session.flush()
        room_rows = []
        for i in range(rooms):
            floor = i // 10 + 1
            number = f"{floor}{i % 10 + 1:02d}"
            code = "STD" if i % 2 == 0 else "DBL"
            room_rows.append(
                Room(
                    hotel_id=hotel.id,
                    number=number,
                    floor=floor,
                    room_type_id=types[code].id,
                    hk_status="inspected",
                )
            )
        session.add_all(room_rows)
        users = {
            role: StaffUser(
                hotel_id=hotel.id,
                username=role.value.replace("_", "-"),
                full_name=f"{role.value.title()} User",
                role=role.value,
                password_hash=_password_hash(),
            )
            for role in Role
        }
        session.add_all(users.values())
        session.flush()
        return HotelFixture(
            hotel_id=hotel.id,
            name=name,
            business_date=today,
            room_type_ids={code: t.id for code, t in types.items()},
            room_ids={r.number: r.id for r in room_rows},
            user_ids={role: u.id for role, u in users.items()},
        )


def make_booking(
    owner: Engine,
    hotel: HotelFixture,
    *,
    check_in: dt.date,
    nights: int = 2,
    room_number: str | None = None,
    room_type: str = "STD",
    status: str = "confirmed",
    last_name: str = "Guest",
    rate: Decimal = Decimal("100.00"),
) -> tuple[int, int]:
    """A booking with its open folio, inserted directly (for tests of services other than booking
    creation). Returns (booking_id, folio_id)."""
    from core.models import Booking, Folio, Guest

    with Session(owner) as session, session.begin():
        guest = Guest(
            hotel_id=hotel.hotel_id,
            last_name=last_name,
            first_name="Test",
            name_norm=f"{last_name.lower()} test",
            first_norm="test",
        )
        session.add(guest)
        session.flush()
        count = session.query(Booking).filter_by(hotel_id=hotel.hotel_id).count()
        booking = Booking(
            hotel_id=hotel.hotel_id,
            confirmation_code=f"T{hotel.hotel_id}-{count + 1:05d}",
            guest_id=guest.id,
            room_type_id=hotel.room_type_ids[room_type],
            room_id=hotel.room_ids[room_number] if room_number else None,
            check_in=check_in,
            check_out=check_in + dt.timedelta(days=nights),
            status=status,
            rate=rate,
            actual_check_in=dt.datetime.now(dt.UTC) if status in ("checked_in", "checked_out") else None,
        )
        session.add(booking)
        session.flush()
        folio = Folio(hotel_id=hotel.hotel_id, booking_id=booking.id, currency="EUR")
        session.add(folio)
        session.flush()
        return booking.id, folio.id


def add_overlay(db, hotel, number: str, kind: str, start: dt.date, end: dt.date, released: bool = False) -> None:
    """An out-of-order or out-of-service window on room ``number``, written as the owner."""
    with db.owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO room_overlays (hotel_id, room_id, kind, starts_on, ends_on, reason, released)"
                " VALUES (:h, :r, :k, :s, :e, 'Leaking tap', :rel)"
            ),
            {"h": hotel.hotel_id, "r": hotel.room_ids[number], "k": kind, "s": start, "e": end, "rel": released},
        )


def set_hk(db, hotel, status: str, *numbers: str) -> None:
    """Put rooms ``numbers`` in housekeeping ``status``, as the owner."""
    with db.owner.begin() as conn:
        conn.execute(
            text("UPDATE rooms SET hk_status = :s WHERE id = ANY(:ids)"),
            {"s": status, "ids": [hotel.room_ids[n] for n in numbers]},
        )
