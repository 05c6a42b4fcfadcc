"""Database-enforced rules used by the migrations: the runtime role, tenant isolation, append-only tables,
the outbox NOTIFY. Each helper takes explicit table names so a migration stays a fixed snapshot."""

from __future__ import annotations

from alembic import op

from core.db.engine import RUNTIME_ROLE

TENANT = "(SELECT nullif(current_setting('app.hotel_id', true), '')::bigint)"
EVENT_CHANNEL = "frontdesk_events"

TENANT_TABLES = (
    "staff_users",
    "room_types",
    "rooms",
    "room_overlays",
    "guests",
    "bookings",
    "folios",
    "folio_lines",
    "key_issue_log",
    "housekeeping_tasks",
    "audit_log",
    "event_outbox",
    "event_cursors",
    "event_failed_deliveries",
    "pms_connections",
    "sync_runs",
    "night_audits",
)
APPEND_ONLY = ("audit_log", "folio_lines", "key_issue_log", "event_outbox")
READ_WRITE = tuple(t for t in TENANT_TABLES if t not in APPEND_ONLY)


def create_runtime_role() -> None:
    """The login role the app uses: owns nothing, no superuser, no BYPASSRLS.

    Created here when the migrating role may create roles (embedded server, tests); on a shared server
    `frontdesk db init-roles` creates it beforehand with a password.
    """
    op.execute(f"""
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN
        CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
      END IF;
    END $$""")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {RUNTIME_ROLE}")
    op.execute(f"GRANT SELECT ON alembic_version TO {RUNTIME_ROLE}")


def enable_tenant_rls(tables: tuple[str, ...]) -> None:
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} USING (hotel_id = {TENANT}) WITH CHECK (hotel_id = {TENANT})"
        )


def grant_runtime(read_write: tuple[str, ...], append_only: tuple[str, ...]) -> None:
    for table in read_write:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {RUNTIME_ROLE}")
    for table in append_only:
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {RUNTIME_ROLE}")


def create_append_only_guard(tables: tuple[str, ...]) -> None:
    """UPDATE, DELETE and TRUNCATE raise, even for roles that hold the privilege."""
    op.execute("""
    CREATE FUNCTION frontdesk_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$""")
    for table in tables:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION frontdesk_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION frontdesk_refuse_change()"
        )


def create_closed_folio_guard() -> None:
    """A closed folio never changes: no new lines, no edits."""
    op.execute("""
    CREATE FUNCTION frontdesk_folio_open_for_lines() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (SELECT status FROM folios WHERE id = NEW.folio_id) <> 'open' THEN
        RAISE EXCEPTION 'folio % is closed', NEW.folio_id USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$""")
    op.execute(
        "CREATE TRIGGER folio_lines_open_folio BEFORE INSERT ON folio_lines "
        "FOR EACH ROW EXECUTE FUNCTION frontdesk_folio_open_for_lines()"
    )
    op.execute("""
    CREATE FUNCTION frontdesk_folio_closed_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.status = 'closed' THEN
        RAISE EXCEPTION 'folio % is closed', OLD.id USING ERRCODE = 'check_violation';
      END IF;
      RETURN COALESCE(NEW, OLD);
    END $$""")
    op.execute(
        "CREATE TRIGGER folios_closed_is_final BEFORE UPDATE OR DELETE ON folios "
        "FOR EACH ROW EXECUTE FUNCTION frontdesk_folio_closed_is_final()"
    )


def create_outbox_notify() -> None:
    """NOTIFY carries 'hotel:id' only (listeners of every hotel hear it); delivered on commit only."""
    op.execute(f"""
    CREATE FUNCTION frontdesk_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('{EVENT_CHANNEL}', NEW.hotel_id::text || ':' || NEW.id::text);
      RETURN NULL;
    END $$""")
    op.execute(
        "CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox "
        "FOR EACH ROW EXECUTE FUNCTION frontdesk_outbox_notify()"
    )


def create_hotel_access() -> None:
    """Terminals may list hotels (sign-in) and update only their own (business date, settings)."""
    op.execute("ALTER TABLE hotels ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY hotels_listed ON hotels FOR SELECT USING (true)")
    op.execute(f"CREATE POLICY hotels_own_update ON hotels FOR UPDATE USING (id = {TENANT}) WITH CHECK (id = {TENANT})")
    op.execute(f"GRANT SELECT, UPDATE ON hotels TO {RUNTIME_ROLE}")


def create_rules() -> None:
    create_runtime_role()
    enable_tenant_rls(TENANT_TABLES)
    grant_runtime(READ_WRITE, APPEND_ONLY)
    create_append_only_guard(APPEND_ONLY)
    create_closed_folio_guard()
    create_outbox_notify()
    create_hotel_access()


def drop_rules() -> None:
    """Undo what the tables' drops do not: functions and the schema grant (the role is cluster-wide)."""
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.execute("DROP TRIGGER IF EXISTS folio_lines_open_folio ON folio_lines")
    op.execute("DROP TRIGGER IF EXISTS folios_closed_is_final ON folios")
    op.execute("DROP TRIGGER IF EXISTS event_outbox_notify ON event_outbox")
    for function in (
        "frontdesk_refuse_change",
        "frontdesk_folio_open_for_lines",
        "frontdesk_folio_closed_is_final",
        "frontdesk_outbox_notify",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.execute(f"REVOKE ALL ON alembic_version FROM {RUNTIME_ROLE}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {RUNTIME_ROLE}")
