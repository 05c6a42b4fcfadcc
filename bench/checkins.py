"""Concurrent check-ins: terminals checking in tonight's arrivals at the same moment.

For each round, every room free tonight is made ready and given an arrival for tonight: half of them
already in their room, half with no room yet (those are given the best free room of their type at the
desk, ``auto_assign_room``, then checked in, so terminals race for the same rooms). Eight threads work
through the arrivals with the public services. Afterwards no room may hold two guests and every arrival
must be in house exactly once, with one key issue. Everything the round wrote is then removed again (as
the owner, with triggers off, since the ledgers refuse deletes), so the benchmark data stays as seeded.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.dataset import BenchDatabase
from bench.scenarios import Hotel
from bench.timing import latency
from core.services import bookings, stays

WRITTEN_TABLES = (  # children first
    "key_issue_log",
    "folio_lines",
    "event_outbox",
    "audit_log",
    "housekeeping_tasks",
    "folios",
    "bookings",
)


@dataclass(frozen=True)
class Arrival:
    booking_id: int
    has_room: bool


def _free_rooms(conn: psycopg.Connection, hotel: Hotel) -> list[tuple[int, int, str]]:
    """(room id, type id, housekeeping status) of rooms nobody holds tonight and nobody is in."""
    night = hotel.business_date
    return conn.execute(
        "SELECT r.id, r.room_type_id, r.hk_status FROM rooms r WHERE r.hotel_id = %(h)s"
        " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.hotel_id = %(h)s AND b.room_id = r.id"
        "   AND b.status IN ('confirmed', 'checked_in') AND b.check_in <= %(d)s AND b.check_out > %(d)s)"
        " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.hotel_id = %(h)s AND b.room_id = r.id"
        "   AND b.status = 'checked_in')"
        " AND NOT EXISTS (SELECT 1 FROM room_overlays o WHERE o.hotel_id = %(h)s AND o.room_id = r.id"
        "   AND NOT o.released AND o.starts_on <= %(d)s AND o.ends_on > %(d)s)"
        " ORDER BY r.id",
        {"h": hotel.hotel_id, "d": night},
    ).fetchall()


def _marks(conn: psycopg.Connection) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # type: ignore[index]
        for table in WRITTEN_TABLES
    }


def _prepare(conn: psycopg.Connection, hotel: Hotel, rooms: list[tuple[int, int, str]], count: int) -> list[Arrival]:
    guest_ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM guests WHERE hotel_id = %s ORDER BY id LIMIT %s", (hotel.hotel_id, count)
        ).fetchall()
    ]
    arrivals = []
    night = hotel.business_date
    with conn.transaction():
        conn.execute(
            "UPDATE rooms SET hk_status = 'inspected' WHERE id = ANY(%s)", ([room_id for room_id, _, _ in rooms],)
        )
        for n, (room_id, type_id, _status) in enumerate(rooms[:count]):
            has_room = n % 2 == 0
            (booking_id,) = conn.execute(  # type: ignore[misc]
                "INSERT INTO bookings (hotel_id, confirmation_code, guest_id, room_type_id, room_id, check_in,"
                " check_out, status, rate) VALUES (%s, %s, %s, %s, %s, %s, %s, 'confirmed', 100) RETURNING id",
                (
                    hotel.hotel_id,
                    f"BENCHCI{n:05d}",
                    guest_ids[n % len(guest_ids)],
                    type_id,
                    room_id if has_room else None,
                    night,
                    night + dt.timedelta(days=1),
                ),
            ).fetchone()
            conn.execute(
                "INSERT INTO folios (hotel_id, booking_id, currency) VALUES (%s, %s, 'EUR')",
                (hotel.hotel_id, booking_id),
            )
            arrivals.append(Arrival(booking_id, has_room))
    return arrivals


def _restore(conn: psycopg.Connection, marks: dict[str, int], rooms: list[tuple[int, int, str]]) -> None:
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")  # ledgers refuse deletes otherwise
        for table in WRITTEN_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE id > %s", (marks[table],))
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE rooms SET hk_status = %s WHERE id = %s", [(status, room_id) for room_id, _, status in rooms]
            )


def _check(conn: psycopg.Connection, hotel: Hotel, arrivals: list[Arrival]) -> dict[str, int]:
    ids = [a.booking_id for a in arrivals]
    shared_rooms = conn.execute(
        "SELECT count(*) FROM (SELECT room_id FROM bookings WHERE hotel_id = %s AND status = 'checked_in'"
        " GROUP BY room_id HAVING count(*) > 1) t",
        (hotel.hotel_id,),
    ).fetchone()[0]  # type: ignore[index]
    in_house = conn.execute(
        "SELECT count(*) FROM bookings WHERE id = ANY(%s) AND status = 'checked_in' AND room_id IS NOT NULL", (ids,)
    ).fetchone()[0]  # type: ignore[index]
    keys = conn.execute(
        "SELECT count(*), count(DISTINCT booking_id) FROM key_issue_log WHERE booking_id = ANY(%s)", (ids,)
    ).fetchone()
    return {
        "rooms_with_two_guests": shared_rooms,
        "arrivals_in_house": in_house,
        "key_issues": keys[0],  # type: ignore[index]
        "bookings_with_keys": keys[1],  # type: ignore[index]
    }


def _work(hotel: Hotel, arrivals: list[Arrival], threads: int) -> tuple[float, list[int], Counter[str]]:
    todo: queue.SimpleQueue[Arrival] = queue.SimpleQueue()
    for arrival in arrivals:
        todo.put(arrival)
    samples: list[int] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def terminal() -> None:
        start.wait()
        while True:
            try:
                arrival = todo.get_nowait()
            except queue.Empty:
                return
            began = time.perf_counter_ns()
            try:
                if not arrival.has_room:
                    bookings.auto_assign_room(hotel.front_desk, arrival.booking_id)
                stays.check_in(hotel.front_desk, arrival.booking_id, keys=1)
                outcome = "checked in" if arrival.has_room else "room assigned and checked in"
            except Exception as exc:  # counted and reported: a benchmark must not stop half-way
                outcome = type(exc).__name__
            took = time.perf_counter_ns() - began
            with lock:
                samples.append(took)
                outcomes[outcome] += 1

    workers = [threading.Thread(target=terminal) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began, samples, outcomes


def run(db: BenchDatabase, hotel: Hotel, *, threads: int, count: int, rounds: int = 3) -> dict[str, Any]:
    print(f"check-ins: {rounds} rounds, {threads} threads")
    results: list[dict[str, Any]] = []
    with psycopg.connect(db.owner_dsn(), autocommit=True) as conn:
        for n in range(rounds):
            rooms = _free_rooms(conn, hotel)
            marks = _marks(conn)
            try:
                arrivals = _prepare(conn, hotel, rooms, min(count, len(rooms)))
                seconds, samples, outcomes = _work(hotel, arrivals, threads)
                checks = _check(conn, hotel, arrivals)
            finally:
                _restore(conn, marks, rooms)
            done = outcomes["checked in"] + outcomes["room assigned and checked in"]
            result = {
                "arrivals": len(arrivals),
                "checked_in": done,
                "seconds": round(seconds, 3),
                "check_ins_per_s": round(done / seconds, 1),
                "latency": latency(samples).__dict__,
                "outcomes": dict(outcomes),
                **checks,
            }
            print(
                f"  round {n + 1}: {done}/{len(arrivals)} arrivals in house in {seconds:.2f} s = "
                f"{result['check_ins_per_s']}/s; rooms with two guests: {checks['rooms_with_two_guests']}; "
                f"outcomes {dict(outcomes)}"
            )
            results.append(result)
        conn.execute("VACUUM ANALYZE bookings, folios, key_issue_log, audit_log, event_outbox, rooms")
    total = sum(r["checked_in"] for r in results)
    seconds = sum(r["seconds"] for r in results)
    return {
        "threads": threads,
        "rounds": results,
        "check_ins_per_s": round(total / seconds, 1) if seconds else 0.0,
        "double_assignments": sum(r["rooms_with_two_guests"] for r in results),
        "all_in_house_once": all(
            r["arrivals_in_house"] == r["arrivals"] == r["key_issues"] == r["bookings_with_keys"] for r in results
        ),
    }
