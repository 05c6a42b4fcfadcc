"""Commit -> handler latency of the event pipeline across two processes on one host.

The parent creates a database of its own (on FRONTDESK_TEST_DATABASE_URL, else an embedded server in a
temporary folder), migrates it, adds a hotel, and starts a child process running an EventRelay for that
hotel. It then commits N outbox events one by one as the runtime role, stamping the wall clock just
before COMMIT and when COMMIT returns; the child's handler stamps the wall clock on receipt. Both clocks
are the same host's, so the differences are latencies. It prints one JSON line and a table, then drops
its database.

    python bench/event_latency.py [--events 1000] [--interval 0] [--poll 2.0] [--consumer NAME]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from core.db import migrate
from core.db.engine import RUNTIME_ROLE, create_app_engine, parse_url
from core.models import Hotel

ROOT = Path(__file__).resolve().parents[1]
URL_VARIABLE = "FRONTDESK_BENCH_APP_URL"
_INSERT = text(
    "INSERT INTO event_outbox (hotel_id, name, payload)"
    " VALUES (:hotel, 'booking.updated', jsonb_build_object('hotel_id', :hotel, 'booking_id', :n)) RETURNING id"
)
_TENANT = text("SELECT set_config('app.hotel_id', :hotel, true)")


# --- the child: one terminal ----------------------------------------------------------------------


def run_child(hotel_id: int, poll: float, consumer: str | None) -> None:
    from core.events.bus import ANY, EventBus, current_event_id
    from core.events.catalog import DomainEvent
    from core.events.relay import EventRelay

    out_lock = threading.Lock()

    def emit(line: str) -> None:
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def stamp(event: DomainEvent) -> None:
        emit(f"{current_event_id()} {time.time_ns()}")

    engine = create_app_engine(os.environ[URL_VARIABLE])
    bus = EventBus()
    bus.subscribe(ANY, stamp)
    relay = EventRelay(engine, hotel_id, bus, consumer=consumer, poll_interval=poll)
    relay.start()
    if not relay.wait_ready(30):
        sys.exit("relay did not start")
    emit("ready")
    sys.stdin.read()  # the parent closes our stdin when it is done
    relay.stop()
    bus.close()
    engine.dispose()


# --- the parent ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    admin: URL
    app_password: str | None
    kind: str


@contextlib.contextmanager
def server() -> Iterator[Server]:
    url = os.environ.get("FRONTDESK_TEST_DATABASE_URL")
    if url:
        yield Server(parse_url(url, "FRONTDESK_TEST_DATABASE_URL"), None, "shared server")
        return
    from core.db import embedded

    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as folder:
        started = embedded.start(Path(folder) / "pgdata")
        yield Server(started.owner_url.set(database="postgres"), started.app_url.password, "embedded")


def admin_execute(srv: Server, statement: sql.Composed) -> None:
    with psycopg.connect(srv.admin.set(drivername="postgresql").render_as_string(False), autocommit=True) as conn:
        conn.execute(statement)


@contextlib.contextmanager
def bench_database(srv: Server) -> Iterator[str]:
    name = f"fdbench_events_{os.getpid()}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    admin_execute(srv, drop)
    admin_execute(srv, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        admin_execute(srv, drop)


def add_hotel(owner: Engine) -> int:
    with Session(owner) as session, session.begin():
        hotel = Hotel(name="Latency Bench Hotel", currency="EUR")
        session.add(hotel)
        session.flush()
        return hotel.id


def start_child(app_url: URL, hotel_id: int, poll: float, consumer: str | None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env[URL_VARIABLE] = app_url.render_as_string(hide_password=False)
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, __file__, "--child", "--hotel", str(hotel_id), "--poll", str(poll)]
    child = subprocess.Popen(
        command + (["--consumer", consumer] if consumer else []),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        raise SystemExit("the child relay did not start")
    return child


def collect(child: subprocess.Popen[str], into: dict[int, int]) -> threading.Thread:
    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            event_id, received_ns = line.split()
            into[int(event_id)] = int(received_ns)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


def commit_events(app: Engine, hotel_id: int, count: int, interval: float) -> list[tuple[int, int, int]]:
    """(event id, ns just before COMMIT, ns when COMMIT returned) for each event, one transaction each."""
    stamps = []
    with app.connect() as conn:
        for n in range(1, count + 1):
            conn.execute(_TENANT, {"hotel": str(hotel_id)})
            event_id = conn.execute(_INSERT, {"hotel": hotel_id, "n": n}).scalar_one()
            before = time.time_ns()
            conn.commit()
            stamps.append((event_id, before, time.time_ns()))
            if interval:
                time.sleep(interval)
    return stamps


def percentiles(values_ns: list[int]) -> dict[str, float]:
    ms = sorted(v / 1e6 for v in values_ns)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49], 3),
        "p95_ms": round(cuts[94], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(ms[-1], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with server() as srv, bench_database(srv) as name:
        owner = create_app_engine(srv.admin.set(database=name))
        migrate.upgrade(owner)
        hotel_id = add_hotel(owner)
        app_url = srv.admin.set(database=name, username=RUNTIME_ROLE, password=srv.app_password)
        app = create_app_engine(app_url)
        child = start_child(app_url, hotel_id, args.poll, args.consumer)
        received: dict[int, int] = {}
        reader = collect(child, received)
        try:
            started = time.perf_counter()
            stamps = commit_events(app, hotel_id, args.events, args.interval)
            committing = time.perf_counter() - started
            deadline = time.monotonic() + 30
            while len(received) < len(stamps) and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
            reader.join(5)
            app.dispose()
            owner.dispose()
    missing = [event_id for event_id, _, _ in stamps if event_id not in received]
    delivered = [s for s in stamps if s[0] in received]
    return {
        "benchmark": "event_latency",
        "server": srv.kind,
        "events": args.events,
        "interval_s": args.interval,
        "reader": f"durable consumer {args.consumer!r} (settled reads)" if args.consumer else "terminal (live reads)",
        "delivered": len(delivered),
        "missing": len(missing),
        "commits_per_s": round(len(stamps) / committing, 1),
        "commit_start_to_handler": percentiles([received[e] - before for e, before, _ in delivered]),
        "commit_return_to_handler": percentiles([received[e] - after for e, _, after in delivered]),
        "commit_duration": percentiles([after - before for _, before, after in stamps]),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"\n{result['events']} events committed one by one ({result['commits_per_s']}/s, pause "
        f"{result['interval_s']} s), {result['delivered']} delivered, {result['missing']} missing; "
        f"{result['server']}, {result['cpus']} CPUs, load {result['load_1min']}; {result['reader']}"
    )
    print(f"{'latency (ms)':<28}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for key, label in (
        ("commit_start_to_handler", "COMMIT sent -> handler"),
        ("commit_return_to_handler", "COMMIT returned -> handler"),
        ("commit_duration", "COMMIT itself"),
    ):
        row = result[key]
        print(f"{label:<28}{row['p50_ms']:>9.3f}{row['p95_ms']:>9.3f}{row['p99_ms']:>9.3f}{row['max_ms']:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.0, help="pause between commits (seconds)")
    parser.add_argument("--poll", type=float, default=2.0, help="the relay's periodic read (seconds)")
    parser.add_argument("--consumer", help="measure a durable consumer of this name instead of a terminal")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hotel", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.hotel, args.poll, args.consumer)
        return
    if args.events < 2:
        parser.error("--events must be at least 2")
    result = measure(args)
    print(json.dumps(result))
    print_table(result)


if __name__ == "__main__":
    main()
