"""One-round-trip reads and the pool without pings: tenant scoping, errors, dropped connections."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from core.db import reads
from core.errors import NotFound
from core.services import guests
from core.services.guests import GuestInput

ROOMS = "SELECT number FROM rooms ORDER BY number"


def _drop_app_connections(db) -> int:
    with db.owner.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND usename = 'frontdesk_app'"
            )
        ).scalar_one()
    return int(killed)


def test_a_read_sees_only_its_hotel_and_leaves_no_tenant_behind(db, hotel, other_hotel):
    (mine,) = reads.read(db.app, hotel.hotel_id, [(ROOMS, ())])
    (theirs,) = reads.read(db.app, other_hotel.hotel_id, [(ROOMS, ())])
    assert len(mine) == 10 and len(theirs) == 4
    # The same pooled connections, no tenant: the setting ended with the previous read.
    (nothing, setting) = reads.read(db.app, None, [(ROOMS, ()), ("SELECT current_setting('app.hotel_id', true)", ())])
    assert nothing == [] and setting[0][0] in ("", None)
    with db.app.connect() as conn:  # a plain connection from the same pool sees nothing either
        assert conn.execute(text("SELECT count(*) FROM rooms")).scalar_one() == 0


def test_several_statements_come_back_in_order(db, hotel):
    rooms, count = reads.read(
        db.app, hotel.hotel_id, [(ROOMS, ()), ("SELECT count(*) FROM rooms WHERE floor = %(floor)s", {"floor": 1})]
    )
    assert [number for (number,) in rooms] == sorted(number for (number,) in rooms)
    assert count[0][0] == len([n for (n,) in rooms if n.startswith("1")])


def test_a_failed_read_reports_the_error_and_the_connection_stays_usable(db, hotel):
    with pytest.raises(psycopg.errors.UndefinedColumn):
        reads.read(db.app, hotel.hotel_id, [(ROOMS, ()), ("SELECT no_such_column FROM rooms", ())])
    (rooms,) = reads.read(db.app, hotel.hotel_id, [(ROOMS, ())])
    assert len(rooms) == 10


def test_the_statement_timeout_applies_to_a_read(db, hotel):
    with pytest.raises(psycopg.errors.QueryCanceled):
        reads.read(db.app, hotel.hotel_id, [("SELECT pg_sleep(2)", ())], statement_timeout_ms=50)


def test_listeners_see_each_statement_but_not_the_tenant_setting(db, hotel):
    seen: list[tuple[str, object]] = []
    with reads.listening(lambda sql, params: seen.append((sql, params))):
        reads.read(db.app, hotel.hotel_id, [(ROOMS, ())])
    reads.read(db.app, hotel.hotel_id, [(ROOMS, ())])
    assert seen == [(ROOMS, ())]


def test_reads_and_changes_carry_on_after_the_server_drops_every_connection(db, hotel):
    actor = hotel.front_desk
    created = guests.create_guest(actor, GuestInput(last_name="Lindqvist", first_name="Maja"))
    assert [m.guest.id for m in guests.search_guests(actor, "lindq")] == [created.id]
    assert _drop_app_connections(db) >= 1
    assert [m.guest.id for m in guests.search_guests(actor, "lindq")] == [created.id]
    assert _drop_app_connections(db) >= 1
    renamed = guests.update_guest(actor, created.id, GuestInput(last_name="Lindqvist-Berg", first_name="Maja"))
    assert renamed.last_name == "Lindqvist-Berg"
    assert _drop_app_connections(db) >= 1
    assert guests.get_guest(actor, created.id).last_name == "Lindqvist-Berg"
    assert _drop_app_connections(db) >= 1
    assert len(reads.read(db.app, hotel.hotel_id, [(ROOMS, ())])[0]) == 10
    with pytest.raises(NotFound):
        guests.get_guest(actor, created.id + 1000)
