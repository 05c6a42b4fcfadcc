"""Checks that the statements a service sends reach their table through an index under row-level security.

Under RLS a non-leakproof condition (range ``&&``, lower(), LIKE) cannot be an index condition, so such a
shape shows up as a scan narrowed by the hotel only. Statements are captured from both ways the services
reach the database (the ORM engine and one-round-trip reads) and EXPLAINed as the runtime role with the
tenant set and sequential scans priced out, on a hotel big enough for the planner's choice to mean something.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

from core.db import reads
from tests.factories import HotelFixture, make_hotel, unique_name

Statement = tuple[str, Any]


def make_busy_hotel(db) -> HotelFixture:
    """100 rooms, each booked back to back in two-night stays from 100 days ago to 200 days ahead
    (15,000 bookings, 5,000 guests), analysed."""
    busy = make_hotel(db.owner, unique_name("Busy"), rooms=100)
    params = {"h": busy.hotel_id, "start": busy.business_date - dt.timedelta(days=100), "today": busy.business_date}
    with db.owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO guests (hotel_id, last_name, name_norm)"
                " SELECT :h, 'G' || g, 'g' || g FROM generate_series(1, 5000) g"
            ),
            params,
        )
        conn.execute(
            text(
                "INSERT INTO bookings (hotel_id, confirmation_code, guest_id, room_type_id, room_id, check_in,"
                " check_out, status, rate, actual_check_in)"
                " SELECT :h, 'B' || r.id || '-' || d, g.first + (r.id * 150 + d) % 5000, r.room_type_id, r.id,"
                "  CAST(:start AS date) + 2 * d, CAST(:start AS date) + 2 * d + 2,"
                "  CASE WHEN CAST(:start AS date) + 2 * d + 2 <= :today THEN 'checked_out'"
                "       WHEN CAST(:start AS date) + 2 * d <= :today THEN 'checked_in' ELSE 'confirmed' END, 100,"
                "  CASE WHEN CAST(:start AS date) + 2 * d <= :today THEN now() END"
                " FROM rooms r, generate_series(0, 149) d,"
                "  (SELECT min(id) AS first FROM guests WHERE hotel_id = :h) g"
                " WHERE r.hotel_id = :h"
            ),
            params,
        )
    with db.owner.begin() as conn:
        conn.execute(text("ANALYZE bookings"))
        conn.execute(text("ANALYZE guests"))
    return busy


@contextmanager
def capturing(db, table: str) -> Iterator[list[Statement]]:
    """The SELECTs mentioning ``table`` that the services send while the block runs."""
    statements: list[Statement] = []

    def keep(sql: str, params: Any) -> None:
        if table in sql and sql.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((sql, params))

    def from_engine(conn, cursor, statement, parameters, context, executemany) -> None:
        keep(statement, parameters)

    event.listen(db.app, "before_cursor_execute", from_engine)
    try:
        with reads.listening(keep):
            yield statements
    finally:
        event.remove(db.app, "before_cursor_execute", from_engine)


def scans(db, hotel, statements: list[Statement], table: str) -> Iterator[tuple[str, str, str, str]]:
    """(statement, node type, index name, index condition) of every access to ``table`` in the plans."""
    with db.app.connect() as conn, conn.begin():
        conn.exec_driver_sql("SELECT set_config('app.hotel_id', %s, true)", (str(hotel.hotel_id),))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for sql, params in statements:
            [[plan]] = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).all()
            for node_type, index, condition in _accesses(plan[0]["Plan"], table):
                yield sql, node_type, index, condition


def _accesses(node: dict[str, Any], table: str) -> Iterator[tuple[str, str, str]]:
    if node.get("Relation Name") == table and node["Node Type"] != "Bitmap Heap Scan":
        yield node["Node Type"], node.get("Index Name", ""), node.get("Index Cond", "")
    if node["Node Type"] == "Bitmap Index Scan" and table in node.get("Index Name", ""):
        yield node["Node Type"], node["Index Name"], node.get("Index Cond", "")
    for child in node.get("Plans", []):
        yield from _accesses(child, table)


def selective(index: str, condition: str) -> bool:
    """The bookings index scan narrows by more than the hotel: a date, guest, room or id condition, or the
    in-house partial index."""
    if index == "ix_bookings_hotel_id_in_house":
        return True
    return any(column in condition for column in ("check_in", "check_out", "guest_id", "room_id", "(id = "))


def assert_bookings_indexed(db, hotel, calls: list[Callable[[], Any]]) -> int:
    """Run ``calls``; every read of bookings they sent must be a selective index scan. Returns how many
    statements were checked."""
    with capturing(db, "bookings") as statements:
        for call in calls:
            call()
    for sql, node_type, index, condition in scans(db, hotel, statements, "bookings"):
        assert node_type != "Seq Scan" and selective(index, condition), f"{sql}\n{node_type} {index}: {condition}"
    return len(statements)
