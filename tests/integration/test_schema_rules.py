"""The rules the database itself enforces: migrations, no double booking, tenant isolation,
append-only audit, and the outbox NOTIFY that fires only on commit."""

from __future__ import annotations

import datetime as dt
import select
from decimal import Decimal

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import migrate
from core.db.transaction import sqlstate, tenant_session
from core.models import Base
from migrations.rules import EVENT_CHANNEL

TODAY = dt.date(2030, 5, 10)


def test_migrations_upgrade_from_empty_to_head_and_back_to_empty(empty_db):
    migrate.upgrade(empty_db.owner)
    assert migrate.current_revision(empty_db.owner) == migrate.head_revision()
    with empty_db.owner.connect() as conn:
        tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    assert {"bookings", "audit_log", "event_outbox", "folio_lines", "pms_connections"} <= tables

    migrate.downgrade(empty_db.owner, "base")
    with empty_db.owner.connect() as conn:
        left = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            ).scalars()
        )
        functions = conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'frontdesk_%'")).scalar_one()
    assert left == set()
    assert functions == 0
    assert migrate.current_revision(empty_db.owner) is None


def test_models_match_the_migrated_database(db):
    with db.owner.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


# --- no double booking -------------------------------------------------------------------------


def _book(db, hotel, room_number, check_in, nights, status="confirmed"):
    """Insert a booking straight into the table, as the runtime role with the tenant set."""
    with tenant_session(db.app, hotel.hotel_id) as session:
        guest_id = session.execute(
            text("INSERT INTO guests (hotel_id, last_name, name_norm) VALUES (:h, 'Test', 'test') RETURNING id"),
            {"h": hotel.hotel_id},
        ).scalar_one()
        return session.execute(
            text(
                "INSERT INTO bookings (hotel_id, confirmation_code, guest_id, room_type_id, room_id, check_in,"
                " check_out, status, rate, actual_check_in)"
                " VALUES (:h, :code, :g, :t, :r, :ci, :co, :st, 100, CASE WHEN :st = 'checked_in' THEN now() END)"
                " RETURNING id"
            ),
            {
                "h": hotel.hotel_id,
                "code": f"C{check_in:%m%d}{room_number}{status[:2]}{nights}",
                "g": guest_id,
                "t": hotel.room_type_ids["STD"],
                "r": hotel.room_ids[room_number],
                "ci": check_in,
                "co": check_in + dt.timedelta(days=nights),
                "st": status,
            },
        ).scalar_one()


def test_overlapping_active_bookings_of_one_room_are_refused_with_23P01(db, hotel):
    _book(db, hotel, "101", TODAY, 3)
    with pytest.raises(DBAPIError) as refused:
        _book(db, hotel, "101", TODAY + dt.timedelta(days=2), 2)
    assert sqlstate(refused.value) == "23P01"
    with pytest.raises(DBAPIError) as refused_in_house:
        _book(db, hotel, "101", TODAY - dt.timedelta(days=1), 2, status="checked_in")
    assert sqlstate(refused_in_house.value) == "23P01"


def test_back_to_back_cancelled_and_no_show_overlaps_are_allowed(db, hotel):
    _book(db, hotel, "101", TODAY, 3)
    _book(db, hotel, "101", TODAY + dt.timedelta(days=3), 2)  # check-out day = next check-in day
    _book(db, hotel, "101", TODAY + dt.timedelta(days=1), 1, status="cancelled")
    _book(db, hotel, "101", TODAY + dt.timedelta(days=1), 2, status="no_show")
    _book(db, hotel, "103", TODAY, 3)  # another room, same dates
    with tenant_session(db.app, hotel.hotel_id) as session:
        assert session.execute(text("SELECT count(*) FROM bookings")).scalar_one() == 5


def test_same_room_id_space_in_another_hotel_does_not_conflict(db, hotel, other_hotel):
    _book(db, hotel, "101", TODAY, 3)
    _book(db, other_hotel, "101", TODAY, 3)


# --- tenant isolation ----------------------------------------------------------------------------


def _tenant_tables(db) -> list[str]:
    with db.owner.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT c.table_name FROM information_schema.columns c"
                    " JOIN information_schema.tables t USING (table_schema, table_name)"
                    " WHERE c.table_schema = 'public' AND c.column_name = 'hotel_id' AND t.table_type = 'BASE TABLE'"
                    " ORDER BY 1"
                )
            ).scalars()
        )


def _seed_every_tenant_table(db, hotel) -> None:
    """One row of ``hotel`` in every table that has hotel_id."""
    h = hotel.hotel_id
    booking_id = _book(db, hotel, "101", TODAY, 2, status="checked_in")
    with db.owner.begin() as conn:
        p = {"h": h, "b": booking_id, "r": hotel.room_ids["101"], "d": TODAY}
        folio = conn.execute(
            text("INSERT INTO folios (hotel_id, booking_id, currency) VALUES (:h, :b, 'EUR') RETURNING id"), p
        ).scalar_one()
        p["f"] = folio
        conn.execute(
            text(
                "INSERT INTO folio_lines (hotel_id, folio_id, kind, description, amount, business_date)"
                " VALUES (:h, :f, 'charge', 'Room', 100, :d)"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO key_issue_log (hotel_id, booking_id, room_id, kind, key_count, valid_until)"
                " VALUES (:h, :b, :r, 'new', 2, now())"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO housekeeping_tasks (hotel_id, room_id, kind, business_date)"
                " VALUES (:h, :r, 'stayover', :d)"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO room_overlays (hotel_id, room_id, kind, starts_on, ends_on, reason)"
                " VALUES (:h, :r, 'out_of_service', :d, :d + 1, 'Paint')"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO audit_log (hotel_id, action, resource_type, resource_id)"
                " VALUES (:h, 'test', 'booking', :b)"
            ),
            p,
        )
        event = conn.execute(
            text(
                "INSERT INTO event_outbox (hotel_id, name, payload) VALUES (:h, 'booking.updated', '{}') RETURNING id"
            ),
            p,
        ).scalar_one()
        p["e"] = event
        conn.execute(text("INSERT INTO event_cursors (hotel_id, consumer) VALUES (:h, 'panel')"), p)
        conn.execute(
            text(
                "INSERT INTO event_failed_deliveries (hotel_id, event_id, handler, attempts, error)"
                " VALUES (:h, :e, 'h', 3, 'boom')"
            ),
            p,
        )
        connection = conn.execute(
            text(
                "INSERT INTO pms_connections (hotel_id, vendor, name, property_id, keyring_ref)"
                " VALUES (:h, 'mews', 'Mews', 'P1', 'frontdesk/1') RETURNING id"
            ),
            p,
        ).scalar_one()
        p["c"] = connection
        conn.execute(text("INSERT INTO sync_runs (hotel_id, connection_id) VALUES (:h, :c)"), p)
        conn.execute(text("INSERT INTO night_audits (hotel_id, business_date) VALUES (:h, :d)"), p)


def test_every_tenant_table_is_isolated_for_the_runtime_role(db, hotel, other_hotel):
    tables = _tenant_tables(db)
    assert len(tables) >= 15
    _seed_every_tenant_table(db, hotel)
    _seed_every_tenant_table(db, other_hotel)
    for table in tables:
        with tenant_session(db.app, hotel.hotel_id) as session:
            seen = set(session.execute(text(f"SELECT DISTINCT hotel_id FROM {table}")).scalars())
        assert seen == {hotel.hotel_id}, f"{table}: hotel A sees {seen}"
        with tenant_session(db.app, None) as session:
            assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table


def test_runtime_role_cannot_write_into_another_hotel(db, hotel, other_hotel):
    # insert of hotel B's row while signed in to hotel A
    with pytest.raises(DBAPIError) as refused, tenant_session(db.app, hotel.hotel_id) as session:
        session.execute(
            text("INSERT INTO guests (hotel_id, last_name, name_norm) VALUES (:b, 'X', 'x')"),
            {"b": other_hotel.hotel_id},
        )
    assert sqlstate(refused.value) == "42501"
    # moving a row into hotel B
    with pytest.raises(DBAPIError) as refused, tenant_session(db.app, hotel.hotel_id) as session:
        session.execute(text("UPDATE rooms SET hotel_id = :b"), {"b": other_hotel.hotel_id})
    assert sqlstate(refused.value) == "42501"
    # updating hotel B's rows touches nothing
    with tenant_session(db.app, hotel.hotel_id) as session:
        changed = session.execute(
            text("UPDATE rooms SET hk_status = 'dirty' WHERE hotel_id = :b"), {"b": other_hotel.hotel_id}
        ).rowcount
    assert changed == 0
    with db.owner.connect() as conn:
        dirty = conn.execute(
            text("SELECT count(*) FROM rooms WHERE hotel_id = :b AND hk_status = 'dirty'"),
            {"b": other_hotel.hotel_id},
        ).scalar_one()
    assert dirty == 0


def test_runtime_role_is_neither_superuser_nor_bypassrls_and_owns_nothing(db):
    with db.app.connect() as conn:
        role = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        owned = conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
            )
        ).scalar_one()
    assert tuple(role) == (False, False)
    assert owned == 0


def test_hotels_are_listed_but_only_the_own_hotel_can_be_changed(db, hotel, other_hotel):
    with tenant_session(db.app, hotel.hotel_id) as session:
        assert session.execute(text("SELECT count(*) FROM hotels")).scalar_one() == 2
        changed = session.execute(text("UPDATE hotels SET business_date = business_date + 1")).rowcount
    assert changed == 1


# --- append-only audit and ledgers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_audit_rows_cannot_be_updated_or_deleted_even_by_the_owner(db, hotel, statement):
    with db.owner.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (hotel_id, action, resource_type, resource_id)"
                " VALUES (:h, 'booking.created', 'booking', '1')"
            ),
            {"h": hotel.hotel_id},
        )
    for engine in (db.app, db.owner):
        with pytest.raises(DBAPIError) as refused, tenant_session(engine, hotel.hotel_id) as session:
            session.execute(text(statement))
        assert sqlstate(refused.value) == "42501"
    with db.owner.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_log")).scalars().all() == ["booking.created"]


def test_closed_folio_takes_no_more_lines(db, hotel):
    booking_id = _book(db, hotel, "101", TODAY, 2)
    with db.owner.begin() as conn:
        folio = conn.execute(
            text(
                "INSERT INTO folios (hotel_id, booking_id, currency, status, closed_at)"
                " VALUES (:h, :b, 'EUR', 'closed', now()) RETURNING id"
            ),
            {"h": hotel.hotel_id, "b": booking_id},
        ).scalar_one()
    with pytest.raises(DBAPIError) as refused, tenant_session(db.app, hotel.hotel_id) as session:
        session.execute(
            text(
                "INSERT INTO folio_lines (hotel_id, folio_id, kind, description, amount, business_date)"
                " VALUES (:h, :f, 'charge', 'Minibar', :a, :d)"
            ),
            {"h": hotel.hotel_id, "f": folio, "a": Decimal("5.00"), "d": TODAY},
        )
    assert sqlstate(refused.value) == "23514"


# --- outbox NOTIFY ----------------------------------------------------------------------------------


def _listener(db):
    url = db.server.app_url(db.name).set(drivername="postgresql").render_as_string(False)
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"LISTEN {EVENT_CHANNEL}")
    return conn


def _heard(conn, wait: float) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=wait)]


def test_outbox_insert_is_heard_only_after_commit_and_never_after_rollback(db, hotel):
    listener = _listener(db)
    try:
        with tenant_session(db.app, hotel.hotel_id) as session:
            event_id = session.execute(
                text(
                    "INSERT INTO event_outbox (hotel_id, name, payload) VALUES (:h, 'booking.updated', '{}')"
                    " RETURNING id"
                ),
                {"h": hotel.hotel_id},
            ).scalar_one()
            assert _heard(listener, 0.3) == []  # not before commit
        assert _heard(listener, 2.0) == [f"{hotel.hotel_id}:{event_id}"]

        session_cm = tenant_session(db.app, hotel.hotel_id)
        with pytest.raises(RuntimeError), session_cm as session:
            session.execute(
                text("INSERT INTO event_outbox (hotel_id, name, payload) VALUES (:h, 'booking.updated', '{}')"),
                {"h": hotel.hotel_id},
            )
            raise RuntimeError("roll back")
        assert _heard(listener, 0.5) == []
    finally:
        listener.close()


def test_notify_socket_becomes_readable_on_commit(db, hotel):
    """The relay waits on the connection's socket; a commit must wake it."""
    listener = _listener(db)
    try:
        with tenant_session(db.app, hotel.hotel_id) as session:
            session.execute(
                text("INSERT INTO event_outbox (hotel_id, name, payload) VALUES (:h, 'booking.updated', '{}')"),
                {"h": hotel.hotel_id},
            )
        readable, _, _ = select.select([listener.fileno()], [], [], 2.0)
        assert readable
    finally:
        listener.close()
