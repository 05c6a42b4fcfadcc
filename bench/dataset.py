"""The benchmark database: created once per scale on the test server, seeded with the demo seeder, reused.

A marker (the database's comment) records what was seeded; a later run with the same scale, seed and
generator version reuses the data, ``--reseed`` rebuilds it. Migrations run on every start, so a new
index reaches an existing benchmark database without reseeding.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from core.db import migrate
from core.db.engine import RUNTIME_ROLE, create_app_engine, parse_url
from core.demo import seed_demo

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
GENERATOR_VERSION = 2  # bump when the seeded data changes shape
BUSINESS_DATE = dt.date(2030, 3, 14)  # fixed, so a seed gives the same hotel on any day


@dataclass(frozen=True)
class Scale:
    name: str
    hotels: int
    rooms: int = 1000
    days: int = 365
    audit_rows: int = 200_000


SCALES = {"hotel": Scale("hotel", 1), "chain": Scale("chain", 10)}


@dataclass(frozen=True)
class Marker:
    scale: str
    seed: int
    hotels: int
    generator: int
    business_date: str
    seed_seconds: float
    per_hotel_seconds: list[float]
    seeded_at: str


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    owner_url: URL
    app_url: URL
    marker: Marker
    reused: bool

    def owner_dsn(self) -> str:
        return self.owner_url.set(drivername="postgresql").render_as_string(hide_password=False)

    def app_dsn(self) -> str:
        return self.app_url.set(drivername="postgresql").render_as_string(hide_password=False)


def server_url() -> URL:
    return parse_url(os.environ.get("FRONTDESK_TEST_DATABASE_URL", DEFAULT_SERVER), "FRONTDESK_TEST_DATABASE_URL")


def _admin(url: URL) -> psycopg.Connection:
    return psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True)


def _read_marker(admin: psycopg.Connection, name: str) -> Marker | None:
    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    if row is None or not row[0]:
        return None
    try:
        return Marker(**json.loads(row[0]))
    except (TypeError, ValueError):
        return None


def _write_marker(admin: psycopg.Connection, name: str, marker: Marker) -> None:
    admin.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(json.dumps(asdict(marker))))
    )


def _seed(owner: Engine, scale: Scale, seed: int, log: Callable[[str], None]) -> list[float]:
    seconds = []
    for n in range(scale.hotels):
        summary = seed_demo(
            owner,
            hotel_name=f"Bench Hotel {n + 1:02d}",
            rooms=scale.rooms,
            days=scale.days,
            seed=seed + n,
            business_date=BUSINESS_DATE,
            audit_rows=scale.audit_rows,
        )
        seconds.append(round(summary.seconds, 2))
        log(
            f"  hotel {n + 1}/{scale.hotels}: {summary.rooms} rooms, {summary.guests} guests, {summary.bookings} "
            f"bookings, {summary.audit_rows} audit rows in {summary.seconds:.1f} s"
        )
    return seconds


def _vacuum_analyze(owner_url: URL) -> None:
    with _admin(owner_url) as conn:
        conn.execute("VACUUM ANALYZE")


def prepare(scale: Scale, seed: int, *, reseed: bool, log: Callable[[str], None] = print) -> BenchDatabase:
    """The migrated, seeded database for ``scale``: reused when its marker matches, else (re)built."""
    server = server_url()
    name = f"frontdesk_bench_{scale.name}"
    owner_url = server.set(database=name)
    app_url = server.set(database=name, username=RUNTIME_ROLE, password=None)
    with _admin(server) as admin:
        marker = _read_marker(admin, name)
        wanted = (scale.name, seed, scale.hotels, GENERATOR_VERSION, BUSINESS_DATE.isoformat())
        if (
            marker
            and not reseed
            and (
                marker.scale,
                marker.seed,
                marker.hotels,
                marker.generator,
                marker.business_date,
            )
            == wanted
        ):
            owner = create_app_engine(owner_url)
            try:
                migrate.upgrade(owner)  # a new index reaches an existing benchmark database
            finally:
                owner.dispose()
            _vacuum_analyze(owner_url)
            return BenchDatabase(name, owner_url, app_url, marker, reused=True)
        log(f"building {name} ({scale.hotels} hotel(s) x {scale.rooms} rooms, seed {seed})")
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        began = time.perf_counter()
        owner = create_app_engine(owner_url)
        try:
            migrate.upgrade(owner)
            per_hotel = _seed(owner, scale, seed, log)
        finally:
            owner.dispose()
        _vacuum_analyze(owner_url)
        total = round(time.perf_counter() - began, 2)
        log(f"  seeded, migrated and analysed in {total:.1f} s")
        marker = Marker(
            scale=scale.name,
            seed=seed,
            hotels=scale.hotels,
            generator=GENERATOR_VERSION,
            business_date=BUSINESS_DATE.isoformat(),
            seed_seconds=total,
            per_hotel_seconds=per_hotel,
            seeded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        _write_marker(admin, name, marker)
        return BenchDatabase(name, owner_url, app_url, marker, reused=False)
