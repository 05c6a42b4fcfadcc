"""The demo hotel is believable and the same for the same seed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from core import demo
from core.auth import verify_password
from tests.conftest import close_database, new_database

TODAY = dt.date(2030, 3, 14)


def _snapshot(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT b.confirmation_code, r.number, b.check_in, b.check_out, b.status, g.last_name, g.first_name"
                    " FROM bookings b JOIN guests g ON g.id = b.guest_id LEFT JOIN rooms r ON r.id = b.room_id"
                    " ORDER BY b.confirmation_code"
                )
            )
        ]


def test_same_seed_gives_the_same_hotel(pg_server, template_database):
    snapshots = []
    for _ in range(2):
        database = new_database(pg_server, template_database)
        try:
            demo.seed_demo(database.owner, hotel_name="Twin", rooms=30, days=20, seed=11, business_date=TODAY)
            snapshots.append(_snapshot(database.owner))
        finally:
            close_database(database)
    assert snapshots[0] == snapshots[1]
    assert len(snapshots[0]) > 50


def test_demo_hotel_looks_like_a_working_front_desk(db):
    summary = demo.seed_demo(db.owner, hotel_name="Demo", rooms=60, days=30, seed=3, business_date=TODAY)
    with db.owner.connect() as conn:
        occupied = conn.execute(
            text(
                "SELECT count(DISTINCT room_id) FROM bookings WHERE status IN ('confirmed','checked_in','checked_out')"
                " AND check_in <= :d AND check_out > :d + 7"
            ),
            {"d": TODAY},
        ).scalar_one()
        nights_sold = conn.execute(
            text(
                "SELECT count(*) FROM bookings b,"
                " generate_series(CAST(:d AS date), CAST(:d AS date) + 13, interval '1 day') night"
                " WHERE b.status IN ('confirmed','checked_in') AND b.check_in <= night AND b.check_out > night"
            ),
            {"d": TODAY},
        ).scalar_one()
        open_in_house_folios = conn.execute(
            text(
                "SELECT count(*) FROM bookings b JOIN folios f ON f.booking_id = b.id AND f.status = 'open'"
                " WHERE b.status = 'checked_in' AND EXISTS (SELECT 1 FROM folio_lines l WHERE l.folio_id = f.id)"
            )
        ).scalar_one()
        settled = conn.execute(
            text(
                "SELECT count(*) FROM folios f WHERE f.status = 'closed'"
                " AND (SELECT coalesce(sum(amount), 0) FROM folio_lines l WHERE l.folio_id = f.id) <> 0"
            )
        ).scalar_one()
        tasks = conn.execute(text("SELECT count(*) FROM housekeeping_tasks")).scalar_one()
        hashes = dict(conn.execute(text("SELECT username, password_hash FROM staff_users")).all())
        roles = set(conn.execute(text("SELECT role FROM staff_users")).scalars())
    assert occupied > 0
    assert 0.6 <= nights_sold / (60 * 14) <= 0.9  # about 75 % occupancy over the next two weeks
    assert summary.in_house > 0 and summary.arrivals_today > 0 and summary.departures_today > 0
    assert open_in_house_folios == summary.in_house
    assert settled == 0  # every closed folio is at zero
    assert tasks > 0
    assert roles == {"admin", "manager", "front_desk", "housekeeping"}
    for username, password in summary.users.items():
        assert verify_password(hashes[username], password)
