"""Concurrent check-ins: several terminals (processes, each with its own engine) checking in tonight's
arrivals at the same moment, through the public services.

Each round first writes the arrivals as the owner: one for every room nobody holds tonight, and one for
every room whose departing guest is still in house. Then:

- *check-in*: every arrival already has its room. Each vacant room's arrival is sent to two terminals (as
  when two receptionists press Check in together): exactly one must win. Arrivals for rooms whose guest
  has not left must be refused;
- *assign and check in*: the arrivals have no room yet; a terminal gives each the best free room of its
  type (``auto_assign_room``) and checks it in, so terminals race for the same rooms.

Before the clock starts each terminal does one piece of the same work on an arrival of its own (its
statements prepared, as at a desk that has been open all day); those are not counted.

Afterwards no room may hold two guests, and every arrival that got in holds one key issue. Everything a
round wrote is then removed again (as the owner, with triggers off, since the ledgers refuse deletes) and
the rooms' housekeeping states are put back, so the benchmark data stays as seeded.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.dataset import BenchDatabase
from bench.scenarios import Hotel
from bench.timing import latency
from core.auth import Actor

WRITTEN_TABLES = (
    "key_issue_log",
    "folio_lines",
    "event_outbox",
    "audit_log",
    "housekeeping_tasks",
    "folios",
    "bookings",
)
IN_HOUSE_NOW = "SELECT 1 FROM bookings b WHERE b.hotel_id = %(h)s AND b.room_id = r.id AND b.status = 'checked_in'"


@dataclass(frozen=True)
class Room:
    room_id: int
    type_id: int
    hk_status: str
    occupied: bool  # the departing guest is still in house


@dataclass(frozen=True)
class Work:
    booking_id: int
    assign: bool  # give it a room first


# --- the terminals ------------------------------------------------------------------------------


def _terminal(app_url: str, actor: Actor, warm_up: Any, todo: Any, done: Any, ready: Any) -> None:
    from core.db.engine import create_app_engine
    from core.services import bookings, desk_lists, stays
    from core.services.uow import bind_engine

    engine = create_app_engine(app_url, pool_size=1)
    bind_engine(engine)

    def attempt(work: Work) -> str:
        try:
            if work.assign:
                bookings.auto_assign_room(actor, work.booking_id)
            stays.check_in(actor, work.booking_id, keys=1)
            return "checked in"
        except Exception as exc:  # counted and reported: a refusal is an outcome, not a crash
            return type(exc).__name__

    desk_lists.arrivals(actor, dt.date.today())
    attempt(warm_up.get())  # before the clock starts
    ready.wait()
    while (work := todo.get()) is not None:
        began, cpu = time.perf_counter_ns(), time.thread_time_ns()
        outcome = attempt(work)
        done.put((outcome, time.perf_counter_ns() - began, time.thread_time_ns() - cpu))
    engine.dispose()


def _run_terminals(db: BenchDatabase, actor: Actor, warm_up: list[Work], work: list[Work]) -> tuple[float, list[Any]]:
    """Seconds from the start signal until every piece of ``work`` is done, and the outcomes; one terminal
    per ``warm_up`` item, which it does first."""
    terminals = len(warm_up)
    context = mp.get_context("spawn")
    warm_ups, todo, done, ready = context.Queue(), context.Queue(), context.Queue(), context.Barrier(terminals + 1)
    for item in warm_up:
        warm_ups.put(item)
    for item in work:
        todo.put(item)
    for _ in range(terminals):
        todo.put(None)
    app_url = db.app_url.render_as_string(hide_password=False)
    processes = [
        context.Process(target=_terminal, args=(app_url, actor, warm_ups, todo, done, ready)) for _ in range(terminals)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    began = time.perf_counter()
    results = [done.get(timeout=300) for _ in work]
    seconds = time.perf_counter() - began
    for process in processes:
        process.join(60)
    return seconds, results


# --- preparing, checking and undoing a round ----------------------------------------------------


def _rooms_free_tonight(conn: psycopg.Connection, hotel: Hotel) -> list[Room]:
    rows = conn.execute(
        f"SELECT r.id, r.room_type_id, r.hk_status, EXISTS ({IN_HOUSE_NOW}) FROM rooms r WHERE r.hotel_id = %(h)s"
        " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.hotel_id = %(h)s AND b.room_id = r.id"
        "   AND b.status IN ('confirmed', 'checked_in') AND b.check_in <= %(d)s AND b.check_out > %(d)s)"
        " AND NOT EXISTS (SELECT 1 FROM room_overlays o WHERE o.hotel_id = %(h)s AND o.room_id = r.id"
        "   AND NOT o.released AND o.starts_on <= %(d)s AND o.ends_on > %(d)s)"
        " ORDER BY r.id",
        {"h": hotel.hotel_id, "d": hotel.business_date},
    ).fetchall()
    return [Room(*row) for row in rows]


def _marks(conn: psycopg.Connection) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # type: ignore[index]
        for table in WRITTEN_TABLES
    }


def _write_arrivals(conn: psycopg.Connection, hotel: Hotel, rooms: list[Room], with_rooms: bool) -> list[int]:
    """One arrival for tonight per room (in it, or of its type with no room yet), each with its open folio;
    the rooms made ready for guests."""
    guest_ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM guests WHERE hotel_id = %s ORDER BY id LIMIT %s", (hotel.hotel_id, len(rooms))
        )
    ]
    night = hotel.business_date
    ids = []
    with conn.transaction():
        conn.execute("UPDATE rooms SET hk_status = 'inspected' WHERE id = ANY(%s)", ([r.room_id for r in rooms],))
        for n, room in enumerate(rooms):
            (booking_id,) = conn.execute(  # type: ignore[misc]
                "INSERT INTO bookings (hotel_id, confirmation_code, guest_id, room_type_id, room_id, check_in,"
                " check_out, status, rate) VALUES (%s, %s, %s, %s, %s, %s, %s, 'confirmed', 100) RETURNING id",
                (
                    hotel.hotel_id,
                    f"BENCHCI{n:05d}",
                    guest_ids[n % len(guest_ids)],
                    room.type_id,
                    room.room_id if with_rooms else None,
                    night,
                    night + dt.timedelta(days=1),
                ),
            ).fetchone()
            conn.execute(
                "INSERT INTO folios (hotel_id, booking_id, currency) VALUES (%s, %s, 'EUR')",
                (hotel.hotel_id, booking_id),
            )
            ids.append(booking_id)
    return ids


def _undo(conn: psycopg.Connection, marks: dict[str, int], rooms: list[Room]) -> None:
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")  # the ledgers refuse deletes otherwise
        for table in WRITTEN_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE id > %s", (marks[table],))
        with conn.cursor() as cur:
            cur.executemany("UPDATE rooms SET hk_status = %s WHERE id = %s", [(r.hk_status, r.room_id) for r in rooms])


def _state(conn: psycopg.Connection, hotel: Hotel, booking_ids: list[int]) -> dict[str, int]:
    def one(sql: str, *params: Any) -> int:
        return int(conn.execute(sql, params).fetchone()[0])  # type: ignore[index]

    return {
        "rooms_with_two_guests": one(
            "SELECT count(*) FROM (SELECT room_id FROM bookings WHERE hotel_id = %s AND status = 'checked_in'"
            " GROUP BY room_id HAVING count(*) > 1) t",
            hotel.hotel_id,
        ),
        "arrivals_in_house": one(
            "SELECT count(*) FROM bookings WHERE id = ANY(%s) AND status = 'checked_in' AND room_id IS NOT NULL",
            booking_ids,
        ),
        "key_issues": one("SELECT count(*) FROM key_issue_log WHERE booking_id = ANY(%s)", booking_ids),
    }


# --- the rounds ---------------------------------------------------------------------------------


def _round(db: BenchDatabase, hotel: Hotel, terminals: int, assign: bool, seed: int) -> dict[str, Any]:
    with psycopg.connect(db.owner_dsn(), autocommit=True) as conn:
        rooms = _rooms_free_tonight(conn, hotel)
        free = [r for r in rooms if not r.occupied]
        warm_rooms, vacant = free[:terminals], free[terminals:]  # the terminals' warm-up arrivals take the first
        marks = _marks(conn)
        try:
            if assign:  # arrivals of the vacant rooms' types, no room yet
                written = _write_arrivals(conn, hotel, warm_rooms + vacant, with_rooms=False)
                warm_up_ids, ids = written[:terminals], written[terminals:]
                work = [Work(booking_id, True) for booking_id in ids]
                expected = len(ids)
            else:  # every vacant room's arrival twice; the occupied rooms' arrivals once, to be refused
                others = [r for r in rooms if r not in warm_rooms]
                written = _write_arrivals(conn, hotel, warm_rooms + others, with_rooms=True)
                warm_up_ids, ids = written[:terminals], written[terminals:]
                by_room = dict(zip((r.room_id for r in others), ids, strict=True))
                work = [Work(by_room[r.room_id], False) for r in vacant for _ in range(2)]
                work += [Work(by_room[r.room_id], False) for r in rooms if r.occupied]
                expected = len(vacant)
            random.Random(seed).shuffle(work)
            warm_up = [Work(booking_id, assign) for booking_id in warm_up_ids]
            seconds, results = _run_terminals(db, hotel.front_desk, warm_up, work)
            state = _state(conn, hotel, ids)
        finally:
            _undo(conn, marks, rooms)
    outcomes = Counter(outcome for outcome, _, _ in results)
    checked_in = outcomes["checked in"]
    return {
        "kind": "assign and check in" if assign else "check-in",
        "terminals": terminals,
        "vacant_rooms": len(vacant),
        "occupied_rooms": len(rooms) - len(vacant),
        "attempts": len(work),
        "checked_in": checked_in,
        "expected_in_house": expected,
        "seconds": round(seconds, 3),
        "check_ins_per_s": round(checked_in / seconds, 1),
        "latency": latency([ns for _, ns, _ in results], [cpu for _, _, cpu in results]).__dict__,
        "outcomes": dict(outcomes),
        **state,
    }


def run(db: BenchDatabase, hotel: Hotel, *, terminals: int, rounds: int = 2) -> dict[str, Any]:
    print(f"check-ins: {terminals} terminal processes, {rounds} rounds of each kind")
    results = []
    for n in range(rounds):
        for assign in (False, True):
            result = _round(db, hotel, terminals, assign, seed=n)
            print(
                f"  {result['kind']}: {result['checked_in']} in house of {result['attempts']} attempts in "
                f"{result['seconds']:.2f} s = {result['check_ins_per_s']}/s; rooms with two guests: "
                f"{result['rooms_with_two_guests']}; outcomes {result['outcomes']}"
            )
            results.append(result)
    with psycopg.connect(db.owner_dsn(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE bookings, folios, key_issue_log, audit_log, event_outbox, rooms")
    plain = [r for r in results if r["kind"] == "check-in"]
    checked_in, seconds = sum(r["checked_in"] for r in plain), sum(r["seconds"] for r in plain)
    return {
        "terminals": terminals,
        "rounds": results,
        "check_ins_per_s": round(checked_in / seconds, 1) if seconds else 0.0,
        "double_assignments": sum(r["rooms_with_two_guests"] for r in results),
        "all_in_house_once": all(r["checked_in"] == r["arrivals_in_house"] == r["key_issues"] for r in results)
        and all(r["checked_in"] == r["expected_in_house"] for r in plain),
    }
