"""A believable demo hotel, deterministic for a seed, bulk-loaded with COPY.

Rooms walk through time as a chain of stays and vacant gaps (about 75 % occupancy): stays that ended are
checked out with closed, settled folios; stays that span today are in house with open folios and charges;
today's arrivals and departures exist; future stays are confirmed (rooms assigned for the next few days only).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from core.auth import Role, hash_password
from core.normalize import email_norm, fold, name_norm, phone_norm
from core.progress import Progress

ROOM_TYPES = (  # code, name, base rate, max occupancy, share of rooms
    ("STD", "Standard Queen", Decimal("119.00"), 2, 0.40),
    ("DBL", "Double Twin", Decimal("139.00"), 3, 0.25),
    ("KNG", "Deluxe King", Decimal("169.00"), 2, 0.20),
    ("FAM", "Family Room", Decimal("199.00"), 4, 0.10),
    ("STE", "Junior Suite", Decimal("289.00"), 3, 0.05),
)
FIRST = (
    "Anna",
    "Ben",
    "Chloé",
    "David",
    "Elena",
    "François",
    "Grace",
    "Hiroshi",
    "Ingrid",
    "José",
    "Katarzyna",
    "Liam",
    "María",
    "Noah",
    "Olivia",
    "Pedro",
    "Quentin",
    "Rosa",
    "Søren",
    "Tomás",
    "Uma",
    "Véronique",
    "William",
    "Xiao",
    "Yusuf",
    "Zoë",
)
LAST = (
    "Andersen",
    "Brown",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fernández",
    "García",
    "Hoffmann",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "López",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Petrović",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Újvári",
    "Vogel",
    "Wójcik",
    "Xu",
    "Yılmaz",
    "Zimmermann",
)
EXTRAS = (
    ("Minibar", Decimal("12.50")),
    ("Breakfast", Decimal("18.00")),
    ("Room service", Decimal("34.00")),
    ("Laundry", Decimal("22.00")),
    ("Parking", Decimal("15.00")),
)
DEMO_USERS = (
    ("admin", "Alex Admin", Role.ADMIN),
    ("manager", "Morgan Manager", Role.MANAGER),
    ("reception", "Riley Reception", Role.FRONT_DESK),
    ("housekeeper", "Harper Housekeeping", Role.HOUSEKEEPING),
)


def demo_password(username: str) -> str:
    """Known demo passwords (printed once by the CLI); a real hotel sets its own."""
    return f"{username}-demo"


@dataclass
class SeedSummary:
    hotel_id: int
    hotel_name: str
    rooms: int = 0
    guests: int = 0
    bookings: int = 0
    in_house: int = 0
    arrivals_today: int = 0
    departures_today: int = 0
    folio_lines: int = 0
    audit_rows: int = 0
    seconds: float = 0.0
    users: dict[str, str] = field(default_factory=dict)  # username -> demo password


@dataclass
class _Rows:
    guests: list[tuple[Any, ...]] = field(default_factory=list)
    bookings: list[tuple[Any, ...]] = field(default_factory=list)
    folios: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[tuple[Any, ...]] = field(default_factory=list)
    tasks: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)


def seed_demo(
    owner: Engine,
    *,
    hotel_name: str,
    rooms: int = 120,
    days: int = 60,
    seed: int = 7,
    business_date: dt.date | None = None,
    audit_rows: int = 0,
    progress: Callable[[Progress], None] | None = None,
) -> SeedSummary:
    """Create hotel ``hotel_name`` with ``rooms`` rooms and ``days`` days of bookings (from two weeks back).

    ``audit_rows`` pads the audit log with realistic history up to that many rows (benchmarks)."""
    if not 1 <= rooms <= 5000:
        raise ValueError("rooms must be between 1 and 5000")
    if not 1 <= days <= 800:
        raise ValueError("days must be between 1 and 800")
    began = time.perf_counter()
    today = business_date or dt.date.today()
    rng = random.Random(seed)
    report = progress or (lambda _p: None)
    raw = owner.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.transaction():
            summary = _seed(conn, rng, hotel_name, rooms, days, today, audit_rows, report)
    finally:
        raw.close()
    summary.seconds = time.perf_counter() - began
    return summary


def _seed(
    conn: Any,
    rng: random.Random,
    name: str,
    room_count: int,
    days: int,
    today: dt.date,
    audit_rows: int,
    report: Callable[[Progress], None],
) -> SeedSummary:
    hotel_id = conn.execute(
        "INSERT INTO hotels (name, business_date, currency, inspection_required, check_in_time, check_out_time)"
        " VALUES (%s, %s, 'EUR', true, '15:00', '11:00') RETURNING id",
        (name, today),
    ).fetchone()[0]
    conn.execute("SELECT set_config('app.hotel_id', %s, true)", (str(hotel_id),))
    summary = SeedSummary(hotel_id=hotel_id, hotel_name=name)
    user_ids = _users(conn, hotel_id, summary)
    types = _room_types(conn, hotel_id)
    room_list = _rooms(conn, rng, hotel_id, room_count, types)
    summary.rooms = len(room_list)
    report(Progress(1, 4, "rooms"))
    rows = _Rows()
    ids = _IdBlocks(conn)
    dirty = _walk_stays(rng, hotel_id, room_list, types, today, days, rows, ids, summary, user_ids)
    report(Progress(2, 4, "bookings"))
    _pad_audit(rng, hotel_id, rows, audit_rows, user_ids, today)
    _copy(
        conn,
        "guests",
        (
            "id",
            "hotel_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "name_norm",
            "first_norm",
            "email_norm",
            "phone_norm",
            "vip",
        ),
        rows.guests,
    )
    _copy(
        conn,
        "bookings",
        (
            "id",
            "hotel_id",
            "confirmation_code",
            "guest_id",
            "room_type_id",
            "room_id",
            "check_in",
            "check_out",
            "status",
            "adults",
            "children",
            "rate",
            "actual_check_in",
            "actual_check_out",
        ),
        rows.bookings,
    )
    # Folios go in open, take their lines, then the settled ones close (a closed folio takes no lines).
    _copy(conn, "folios", ("id", "hotel_id", "booking_id", "currency"), [row[:4] for row in rows.folios])
    _copy(
        conn,
        "folio_lines",
        ("hotel_id", "folio_id", "kind", "description", "amount", "business_date", "night_of", "posted_at"),
        rows.lines,
    )
    closed = [row[0] for row in rows.folios if row[4] == "closed"]
    conn.execute("UPDATE folios SET status = 'closed', closed_at = now() WHERE id = ANY(%s)", (closed,))
    conn.execute("UPDATE rooms SET hk_status = 'dirty' WHERE id = ANY(%s)", (sorted(dirty),))
    _copy(conn, "key_issue_log", ("hotel_id", "booking_id", "room_id", "kind", "key_count", "valid_until"), rows.keys)
    _copy(
        conn, "housekeeping_tasks", ("hotel_id", "room_id", "kind", "status", "priority", "business_date"), rows.tasks
    )
    report(Progress(3, 4, "history"))
    rows.audit.sort(key=lambda row: row[1])  # ids follow time, as in a real log
    _copy(
        conn,
        "audit_log",
        ("hotel_id", "at", "user_id", "action", "resource_type", "resource_id", "details"),
        rows.audit,
    )
    summary.guests = len(rows.guests)
    summary.bookings = len(rows.bookings)
    summary.folio_lines = len(rows.lines)
    summary.audit_rows = len(rows.audit)
    report(Progress(4, 4, "done"))
    return summary


class _IdBlocks:
    """Reserve id ranges from the identity sequences so rows can reference each other before COPY."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.next: dict[str, int] = {}
        self.end: dict[str, int] = {}

    def take(self, table: str) -> int:
        if self.next.get(table, 0) >= self.end.get(table, 0):
            block = 5000
            last = self.conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), nextval(pg_get_serial_sequence(%s, 'id')) + %s)",
                (table, table, block - 1),
            ).fetchone()[0]
            self.next[table], self.end[table] = last - block + 1, last + 1
        value = self.next[table]
        self.next[table] += 1
        return value


def _users(conn: Any, hotel_id: int, summary: SeedSummary) -> list[int]:
    ids = []
    for username, full_name, role in DEMO_USERS:
        password = demo_password(username)
        ids.append(
            conn.execute(
                "INSERT INTO staff_users (hotel_id, username, full_name, role, password_hash)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (hotel_id, username, full_name, role.value, hash_password(password)),
            ).fetchone()[0]
        )
        summary.users[username] = password
    return ids


def _room_types(conn: Any, hotel_id: int) -> list[tuple[int, str, Decimal, int, float]]:
    out = []
    for code, name, rate, occupancy, share in ROOM_TYPES:
        type_id = conn.execute(
            "INSERT INTO room_types (hotel_id, code, name, base_rate, max_occupancy) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING id",
            (hotel_id, code, name, rate, occupancy),
        ).fetchone()[0]
        out.append((type_id, code, rate, occupancy, share))
    return out


def _rooms(
    conn: Any, rng: random.Random, hotel_id: int, count: int, types: Sequence[tuple[int, str, Decimal, int, float]]
) -> list[tuple[int, str, int]]:
    """Rooms numbered by floor (20 a floor, fewer in small hotels); returns (id, number, type index)."""
    per_floor = 20 if count > 60 else 10
    weights = [t[4] for t in types]
    planned = []
    for i in range(count):
        floor = i // per_floor + 1
        number = f"{floor}{i % per_floor + 1:02d}"
        planned.append((number, floor, rng.choices(range(len(types)), weights)[0]))
    rows = []
    for number, floor, type_index in planned:
        room_id = conn.execute(
            "INSERT INTO rooms (hotel_id, number, floor, room_type_id, hk_status) VALUES (%s, %s, %s, %s,"
            " 'inspected') RETURNING id",
            (hotel_id, number, floor, types[type_index][0]),
        ).fetchone()[0]
        rows.append((room_id, number, type_index))
    return rows


def _walk_stays(
    rng: random.Random,
    hotel_id: int,
    room_list: Sequence[tuple[int, str, int]],
    types: Sequence[tuple[int, str, Decimal, int, float]],
    today: dt.date,
    days: int,
    rows: _Rows,
    ids: _IdBlocks,
    summary: SeedSummary,
    user_ids: list[int],
) -> set[int]:
    """Lay out every room's stays; returns the rooms left dirty this morning."""
    start = today - dt.timedelta(days=14)
    horizon = today + dt.timedelta(days=days)
    now = dt.datetime.combine(today, dt.time(9, 0), tzinfo=dt.UTC)
    dirty_rooms: list[tuple[int, str]] = []
    for room_id, number, type_index in room_list:
        day = start + dt.timedelta(days=rng.randint(0, 4))
        occupied_now = False
        while day < horizon:
            nights = rng.choice((1, 2, 3, 3, 4, 5, 6, 7, 10, 14))
            check_out = day + dt.timedelta(days=nights)
            status = _status_for(day, check_out, today, rng)
            _add_stay(
                rng,
                hotel_id,
                room_id,
                number,
                types[type_index],
                day,
                check_out,
                status,
                today,
                now,
                rows,
                ids,
                user_ids,
            )
            if status == "checked_in":
                occupied_now = True
                summary.in_house += 1
            if check_out == today and status == "checked_out":
                summary.departures_today += 1
                dirty_rooms.append((room_id, number))
            if day == today and status == "confirmed":
                summary.arrivals_today += 1
            gap = rng.choice((0, 1, 1, 2, 2, 3, 4))
            day = check_out + dt.timedelta(days=gap)
        if occupied_now and rng.random() < 0.5:
            dirty_rooms.append((room_id, number))
    for room_id, _number in dirty_rooms:
        rows.tasks.append((hotel_id, room_id, "checkout_clean", "open", 2, today))
    return {room_id for room_id, _ in dirty_rooms}


def _status_for(check_in: dt.date, check_out: dt.date, today: dt.date, rng: random.Random) -> str:
    if check_out < today:
        return "checked_out"
    if check_out == today:
        return "checked_out" if rng.random() < 0.4 else "checked_in"  # some departures still to leave
    if check_in < today:
        return "checked_in"
    if check_in == today:
        return "confirmed"
    return "cancelled" if rng.random() < 0.04 else "confirmed"


def _add_stay(
    rng: random.Random,
    hotel_id: int,
    room_id: int,
    number: str,
    room_type: tuple[int, str, Decimal, int, float],
    check_in: dt.date,
    check_out: dt.date,
    status: str,
    today: dt.date,
    now: dt.datetime,
    rows: _Rows,
    ids: _IdBlocks,
    user_ids: list[int],
) -> None:
    type_id, _code, rate, max_occupancy, _share = room_type
    guest_id = _guest(rng, hotel_id, rows, ids)
    booking_id = ids.take("bookings")
    assigned = status in ("checked_in", "checked_out") or check_in <= today + dt.timedelta(days=3)
    arrived = dt.datetime.combine(check_in, dt.time(15, 30), tzinfo=dt.UTC) if status != "confirmed" else None
    left = dt.datetime.combine(check_out, dt.time(10, 45), tzinfo=dt.UTC) if status == "checked_out" else None
    if status == "cancelled":
        arrived = None
    rows.bookings.append(
        (
            booking_id,
            hotel_id,
            f"FD{booking_id:07d}",
            guest_id,
            type_id,
            room_id if assigned else None,
            check_in,
            check_out,
            status,
            rng.randint(1, max_occupancy),
            0,
            rate,
            arrived,
            left,
        )
    )
    folio_id = ids.take("folios")
    closed = status in ("checked_out", "cancelled")
    rows.folios.append((folio_id, hotel_id, booking_id, "EUR", "closed" if closed else "open", now if closed else None))
    actor = rng.choice(user_ids[:3])
    booked_on = min(check_in - dt.timedelta(days=rng.randint(1, 60)), today - dt.timedelta(days=rng.randint(0, 30)))
    created_at = dt.datetime.combine(booked_on, dt.time(11, 0), tzinfo=dt.UTC)
    rows.audit.append(
        (
            hotel_id,
            created_at,
            actor,
            "booking.created",
            "booking",
            str(booking_id),
            f'{{"confirmation_code": "FD{booking_id:07d}"}}',
        )
    )
    if status in ("checked_in", "checked_out"):
        _charges(rng, hotel_id, folio_id, number, rate, check_in, min(check_out, today), status, rows, now)
        rows.keys.append(
            (hotel_id, booking_id, room_id, "new", 2, dt.datetime.combine(check_out, dt.time(11, 0), tzinfo=dt.UTC))
        )


def _guest(rng: random.Random, hotel_id: int, rows: _Rows, ids: _IdBlocks) -> int:
    """Half the stays are by returning guests."""
    if rows.guests and rng.random() < 0.5:
        return int(rng.choice(rows.guests)[0])
    guest_id = ids.take("guests")
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = ".".join(fold(part).replace("'", "").replace(" ", "") for part in (first, last))
    email = f"{local}.{guest_id}@example.com"
    phone = f"+44 20 7{guest_id % 1000:03d} {guest_id % 10000:04d}"
    rows.guests.append(
        (
            guest_id,
            hotel_id,
            first,
            last,
            email,
            phone,
            name_norm(last, first),
            fold(first),
            email_norm(email),
            phone_norm(phone),
            rng.random() < 0.03,
        )
    )
    return guest_id


def _charges(
    rng: random.Random,
    hotel_id: int,
    folio_id: int,
    number: str,
    rate: Decimal,
    check_in: dt.date,
    until: dt.date,
    status: str,
    rows: _Rows,
    now: dt.datetime,
) -> None:
    balance = Decimal("0.00")
    night = check_in
    while night < until:
        rows.lines.append(
            (hotel_id, folio_id, "charge", f"Room {number} night of {night.isoformat()}", rate, night, night, now)
        )
        balance += rate
        if rng.random() < 0.3:
            label, amount = rng.choice(EXTRAS)
            rows.lines.append((hotel_id, folio_id, "charge", label, amount, night, None, now))
            balance += amount
        night += dt.timedelta(days=1)
    if status == "checked_out" and balance:
        rows.lines.append((hotel_id, folio_id, "payment", "Card payment", -balance, until, None, now))


def _pad_audit(
    rng: random.Random, hotel_id: int, rows: _Rows, target: int, user_ids: list[int], today: dt.date
) -> None:
    actions = (
        ("room.statusChanged", "room"),
        ("guest.updated", "guest"),
        ("charge.posted", "folio"),
        ("booking.updated", "booking"),
        ("housekeeping.taskCompleted", "housekeeping_task"),
    )
    start = dt.datetime.combine(today - dt.timedelta(days=365), dt.time(0, 0), tzinfo=dt.UTC)
    while len(rows.audit) < target:
        action, resource = rng.choice(actions)
        at = start + dt.timedelta(seconds=rng.randint(0, 365 * 86400))
        rows.audit.append((hotel_id, at, rng.choice(user_ids), action, resource, str(rng.randint(1, 50000)), "{}"))


def _copy(conn: Any, table: str, columns: Iterable[str], rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def ensure_demo_hotel(owner: Engine, hotel_name: str) -> SeedSummary | None:
    """Seed the demo hotel when the database has no hotel yet (first run); None when nothing was done."""
    with owner.connect() as conn:
        if conn.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM hotels)").scalar_one():
            return None
    return seed_demo(owner, hotel_name=hotel_name)


def describe_summary(summary: SeedSummary) -> str:
    lines = [
        f"Seeded {summary.hotel_name!r} in {summary.seconds:.1f}s: {summary.rooms} rooms, {summary.guests} guests, "
        f"{summary.bookings} bookings ({summary.in_house} in house, {summary.arrivals_today} arrivals and "
        f"{summary.departures_today} departures today), {summary.folio_lines} folio lines, "
        f"{summary.audit_rows} audit rows.",
        "Demo sign-in (shown once; change them for real use):",
    ]
    lines += [f"  {username:<12} {password}" for username, password in summary.users.items()]
    return "\n".join(lines)
