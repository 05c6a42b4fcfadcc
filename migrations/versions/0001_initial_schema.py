"""Initial schema: every table, the no-double-booking constraint, row-level security, append-only
ledgers, the outbox NOTIFY trigger and the runtime role's grants.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rules import create_rules, drop_rules

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "hotels",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), server_default="UTC", nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="EUR", nullable=False),
        sa.Column("business_date", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False),
        sa.Column("inspection_required", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("check_in_time", sa.Time(), nullable=True),
        sa.Column("check_out_time", sa.Time(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_hotels_currency")),
        sa.CheckConstraint("length(btrim(name)) BETWEEN 1 AND 120", name=op.f("ck_hotels_name")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotels")),
        sa.UniqueConstraint("name", name=op.f("uq_hotels_name")),
    )
    op.create_table(
        "event_cursors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("last_txid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_event_cursors_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_cursors")),
        sa.UniqueConstraint("hotel_id", "consumer", name=op.f("uq_event_cursors_hotel_id_consumer")),
    )
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_event_outbox_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
    )
    op.create_index("ix_event_outbox_hotel_id_txid_id", "event_outbox", ["hotel_id", "txid", "id"], unique=False)
    op.create_table(
        "guests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("first_name", sa.Text(), server_default="", nullable=False),
        sa.Column("last_name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("name_norm", sa.Text(collation="C"), nullable=False),
        sa.Column("first_norm", sa.Text(collation="C"), server_default="", nullable=False),
        sa.Column("email_norm", sa.Text(collation="C"), nullable=True),
        sa.Column("phone_norm", sa.Text(collation="C"), nullable=True),
        sa.Column("vip", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("source", sa.Text(), server_default="local", nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(btrim(last_name)) BETWEEN 1 AND 100", name=op.f("ck_guests_last_name")),
        sa.CheckConstraint("length(first_name) <= 100", name=op.f("ck_guests_first_name")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_guests_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guests")),
    )
    op.create_index(
        "ix_guests_hotel_id_email_norm",
        "guests",
        ["hotel_id", "email_norm"],
        unique=False,
        postgresql_where=sa.text("email_norm IS NOT NULL"),
    )
    op.create_index("ix_guests_hotel_id_first_norm", "guests", ["hotel_id", "first_norm"], unique=False)
    op.create_index("ix_guests_hotel_id_name_norm", "guests", ["hotel_id", "name_norm"], unique=False)
    op.create_index(
        "ix_guests_hotel_id_phone_norm",
        "guests",
        ["hotel_id", "phone_norm"],
        unique=False,
        postgresql_where=sa.text("phone_norm IS NOT NULL"),
    )
    op.create_index(
        "uq_guests_hotel_id_source_external_id",
        "guests",
        ["hotel_id", "source", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_table(
        "pms_connections",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("vendor", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("property_id", sa.Text(), nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("keyring_ref", sa.Text(), nullable=False),
        sa.Column(
            "cursors",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('active', 'disabled', 'error')", name=op.f("ck_pms_connections_status")),
        sa.CheckConstraint(
            "vendor IN ('opera', 'mews', 'cloudbeds', 'apaleo', 'protel')",
            name=op.f("ck_pms_connections_vendor"),
        ),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_pms_connections_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pms_connections")),
        sa.UniqueConstraint(
            "hotel_id", "vendor", "property_id", name=op.f("uq_pms_connections_hotel_id_vendor_property_id")
        ),
    )
    op.create_table(
        "room_types",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("base_rate", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("max_occupancy", sa.Integer(), server_default="2", nullable=False),
        sa.Column("source", sa.Text(), server_default="local", nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.CheckConstraint("base_rate >= 0", name=op.f("ck_room_types_base_rate")),
        sa.CheckConstraint("max_occupancy BETWEEN 1 AND 20", name=op.f("ck_room_types_max_occupancy")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_room_types_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_types")),
        sa.UniqueConstraint("hotel_id", "code", name=op.f("uq_room_types_hotel_id_code")),
    )
    op.create_table(
        "staff_users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'manager', 'front_desk', 'housekeeping')", name=op.f("ck_staff_users_role")
        ),
        sa.CheckConstraint("username ~ '^[a-z0-9._-]{2,40}$'", name=op.f("ck_staff_users_username")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_staff_users_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("hotel_id", "username", name=op.f("uq_staff_users_hotel_id_username")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resource_type", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_audit_log_hotel_id_hotels")),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"], name=op.f("fk_audit_log_user_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_hotel_id_action_at", "audit_log", ["hotel_id", "action", "at"], unique=False)
    op.create_index("ix_audit_log_hotel_id_at", "audit_log", ["hotel_id", "at"], unique=False)
    op.create_index(
        "ix_audit_log_hotel_id_resource",
        "audit_log",
        ["hotel_id", "resource_type", "resource_id", "id"],
        unique=False,
    )
    op.create_index("ix_audit_log_hotel_id_user_id_at", "audit_log", ["hotel_id", "user_id", "at"], unique=False)
    op.create_table(
        "event_failed_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("handler", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event_outbox.id"], name=op.f("fk_event_failed_deliveries_event_id_event_outbox")
        ),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_event_failed_deliveries_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_failed_deliveries")),
    )
    op.create_index(
        "ix_event_failed_deliveries_hotel_id_id", "event_failed_deliveries", ["hotel_id", "id"], unique=False
    )
    op.create_table(
        "night_audits",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("run_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_night_audits_hotel_id_hotels")),
        sa.ForeignKeyConstraint(["run_by"], ["staff_users.id"], name=op.f("fk_night_audits_run_by_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_night_audits")),
        sa.UniqueConstraint("hotel_id", "business_date", name=op.f("uq_night_audits_hotel_id_business_date")),
    )
    op.create_table(
        "rooms",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("room_type_id", sa.BigInteger(), nullable=False),
        sa.Column("hk_status", sa.Text(), server_default="clean", nullable=False),
        sa.Column("hk_occupancy", sa.Text(), nullable=True),
        sa.Column(
            "hk_status_changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), server_default="local", nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "hk_occupancy IS NULL OR hk_occupancy IN ('vacant', 'occupied')",
            name=op.f("ck_rooms_hk_occupancy"),
        ),
        sa.CheckConstraint("hk_status IN ('dirty', 'pickup', 'clean', 'inspected')", name=op.f("ck_rooms_hk_status")),
        sa.CheckConstraint("length(btrim(number)) BETWEEN 1 AND 10", name=op.f("ck_rooms_number")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_rooms_hotel_id_hotels")),
        sa.ForeignKeyConstraint(["room_type_id"], ["room_types.id"], name=op.f("fk_rooms_room_type_id_room_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("hotel_id", "number", name=op.f("uq_rooms_hotel_id_number")),
    )
    op.create_index("ix_rooms_hotel_id_floor_number", "rooms", ["hotel_id", "floor", "number"], unique=False)
    op.create_index("ix_rooms_hotel_id_room_type_id", "rooms", ["hotel_id", "room_type_id"], unique=False)
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_sync_runs_status")),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["pms_connections.id"], name=op.f("fk_sync_runs_connection_id_pms_connections")
        ),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_sync_runs_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index(
        "ix_sync_runs_hotel_id_connection_id_id",
        "sync_runs",
        ["hotel_id", "connection_id", "id"],
        unique=False,
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("confirmation_code", sa.Text(), nullable=False),
        sa.Column("guest_id", sa.BigInteger(), nullable=False),
        sa.Column("room_type_id", sa.BigInteger(), nullable=False),
        sa.Column("room_id", sa.BigInteger(), nullable=True),
        sa.Column("check_in", sa.Date(), nullable=False),
        sa.Column("check_out", sa.Date(), nullable=False),
        sa.Column(
            "stay",
            postgresql.DATERANGE(),
            sa.Computed("daterange(check_in, check_out, '[)')", persisted=True),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), server_default="confirmed", nullable=False),
        sa.Column("adults", sa.Integer(), server_default="1", nullable=False),
        sa.Column("children", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rate", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("do_not_move", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("queued", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("actual_check_in", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actual_check_out", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("source", sa.Text(), server_default="direct", nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("hotel_id"), "="),
            (sa.column("room_id"), "="),
            (sa.column("stay"), "&&"),
            where=sa.text("status IN ('confirmed', 'checked_in') AND room_id IS NOT NULL"),
            using="gist",
            name="ex_bookings_no_double_booking",
        ),
        sa.CheckConstraint(
            "status <> 'checked_in' OR (room_id IS NOT NULL AND actual_check_in IS NOT NULL)",
            name=op.f("ck_bookings_checked_in_has_room"),
        ),
        sa.CheckConstraint(
            "status IN ('confirmed', 'checked_in', 'checked_out', 'cancelled', 'no_show')",
            name=op.f("ck_bookings_status"),
        ),
        sa.CheckConstraint("adults BETWEEN 1 AND 20 AND children BETWEEN 0 AND 20", name=op.f("ck_bookings_party")),
        sa.CheckConstraint("check_out > check_in", name=op.f("ck_bookings_dates")),
        sa.CheckConstraint("rate >= 0 AND rate < 1000000", name=op.f("ck_bookings_rate")),
        sa.ForeignKeyConstraint(["guest_id"], ["guests.id"], name=op.f("fk_bookings_guest_id_guests")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_bookings_hotel_id_hotels")),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_bookings_room_id_rooms")),
        sa.ForeignKeyConstraint(["room_type_id"], ["room_types.id"], name=op.f("fk_bookings_room_type_id_room_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("hotel_id", "confirmation_code", name=op.f("uq_bookings_hotel_id_confirmation_code")),
    )
    op.create_index("ix_bookings_hotel_id_check_in", "bookings", ["hotel_id", "check_in"], unique=False)
    op.create_index(
        "ix_bookings_hotel_id_check_out_check_in",
        "bookings",
        ["hotel_id", "check_out", "check_in"],
        unique=False,
    )
    op.create_index("ix_bookings_hotel_id_guest_id", "bookings", ["hotel_id", "guest_id"], unique=False)
    op.create_index(
        "ix_bookings_hotel_id_in_house",
        "bookings",
        ["hotel_id", "room_id"],
        unique=False,
        postgresql_where=sa.text("status = 'checked_in'"),
    )
    op.create_index(
        "uq_bookings_hotel_id_source_external_id",
        "bookings",
        ["hotel_id", "source", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_table(
        "housekeeping_tasks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("room_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="3", nullable=False),
        sa.Column("assigned_to", sa.BigInteger(), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('checkout_clean', 'stayover', 'pickup', 'inspection', 'turndown')",
            name=op.f("ck_housekeeping_tasks_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'assigned', 'in_progress', 'done', 'cancelled')",
            name=op.f("ck_housekeeping_tasks_status"),
        ),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name=op.f("ck_housekeeping_tasks_priority")),
        sa.ForeignKeyConstraint(
            ["assigned_to"], ["staff_users.id"], name=op.f("fk_housekeeping_tasks_assigned_to_staff_users")
        ),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_housekeeping_tasks_hotel_id_hotels")),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_housekeeping_tasks_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_housekeeping_tasks")),
    )
    op.create_index(
        "ix_housekeeping_tasks_hotel_id_queue",
        "housekeeping_tasks",
        ["hotel_id", "priority", "created_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('open', 'assigned', 'in_progress')"),
    )
    op.create_index(
        "ix_housekeeping_tasks_hotel_id_room_id", "housekeeping_tasks", ["hotel_id", "room_id"], unique=False
    )
    op.create_table(
        "room_overlays",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("room_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column(
            "span",
            postgresql.DATERANGE(),
            sa.Computed("daterange(starts_on, ends_on, '[)')", persisted=True),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("return_status", sa.Text(), server_default="dirty", nullable=False),
        sa.Column("released", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("hotel_id"), "="),
            (sa.column("room_id"), "="),
            (sa.column("span"), "&&"),
            where=sa.text("NOT released"),
            using="gist",
            name="ex_room_overlays_no_overlap",
        ),
        sa.CheckConstraint("kind IN ('out_of_order', 'out_of_service')", name=op.f("ck_room_overlays_kind")),
        sa.CheckConstraint(
            "return_status IN ('dirty', 'pickup', 'clean', 'inspected')",
            name=op.f("ck_room_overlays_return_status"),
        ),
        sa.CheckConstraint("ends_on > starts_on", name=op.f("ck_room_overlays_dates")),
        sa.CheckConstraint("length(btrim(reason)) BETWEEN 1 AND 200", name=op.f("ck_room_overlays_reason")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_room_overlays_hotel_id_hotels")),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_room_overlays_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_overlays")),
    )
    op.create_index(
        "ix_room_overlays_hotel_id_ends_on_starts_on",
        "room_overlays",
        ["hotel_id", "ends_on", "starts_on"],
        unique=False,
    )
    op.create_table(
        "folios",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name=op.f("ck_folios_closed_at")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_folios_currency")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_folios_status")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_folios_booking_id_bookings")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_folios_hotel_id_hotels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folios")),
    )
    op.create_index("ix_folios_hotel_id_booking_id", "folios", ["hotel_id", "booking_id"], unique=False)
    op.create_index(
        "uq_folios_hotel_id_booking_id_open",
        "folios",
        ["hotel_id", "booking_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "key_issue_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("room_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("key_count", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.BigInteger(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('new', 'duplicate')", name=op.f("ck_key_issue_log_kind")),
        sa.CheckConstraint("key_count BETWEEN 1 AND 10", name=op.f("ck_key_issue_log_key_count")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_key_issue_log_booking_id_bookings")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_key_issue_log_hotel_id_hotels")),
        sa.ForeignKeyConstraint(["issued_by"], ["staff_users.id"], name=op.f("fk_key_issue_log_issued_by_staff_users")),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_key_issue_log_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_issue_log")),
    )
    op.create_index("ix_key_issue_log_hotel_id_booking_id", "key_issue_log", ["hotel_id", "booking_id"], unique=False)
    op.create_table(
        "folio_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("folio_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("night_of", sa.Date(), nullable=True),
        sa.Column("voids_line_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_by", sa.BigInteger(), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(kind = 'charge' AND amount > 0) OR (kind = 'payment' AND amount < 0) OR (kind = 'refund' AND amount > 0) OR (kind = 'void' AND voids_line_id IS NOT NULL)",
            name=op.f("ck_folio_lines_sign"),
        ),
        sa.CheckConstraint("kind IN ('charge', 'payment', 'refund', 'void')", name=op.f("ck_folio_lines_kind")),
        sa.CheckConstraint("abs(amount) < 1000000", name=op.f("ck_folio_lines_amount_range")),
        sa.CheckConstraint("length(btrim(description)) BETWEEN 1 AND 200", name=op.f("ck_folio_lines_description")),
        sa.ForeignKeyConstraint(["folio_id"], ["folios.id"], name=op.f("fk_folio_lines_folio_id_folios")),
        sa.ForeignKeyConstraint(["hotel_id"], ["hotels.id"], name=op.f("fk_folio_lines_hotel_id_hotels")),
        sa.ForeignKeyConstraint(["posted_by"], ["staff_users.id"], name=op.f("fk_folio_lines_posted_by_staff_users")),
        sa.ForeignKeyConstraint(
            ["voids_line_id"], ["folio_lines.id"], name=op.f("fk_folio_lines_voids_line_id_folio_lines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folio_lines")),
        sa.UniqueConstraint("hotel_id", "voids_line_id", name=op.f("uq_folio_lines_hotel_id_voids_line_id")),
    )
    op.create_index("ix_folio_lines_hotel_id_folio_id", "folio_lines", ["hotel_id", "folio_id"], unique=False)
    op.create_index(
        "uq_folio_lines_hotel_id_folio_id_night_of",
        "folio_lines",
        ["hotel_id", "folio_id", "night_of"],
        unique=True,
        postgresql_where=sa.text("night_of IS NOT NULL"),
    )

    create_rules()


def downgrade() -> None:
    drop_rules()
    op.drop_index(
        "uq_folio_lines_hotel_id_folio_id_night_of",
        table_name="folio_lines",
        postgresql_where=sa.text("night_of IS NOT NULL"),
    )
    op.drop_index("ix_folio_lines_hotel_id_folio_id", table_name="folio_lines")
    op.drop_table("folio_lines")
    op.drop_index("ix_key_issue_log_hotel_id_booking_id", table_name="key_issue_log")
    op.drop_table("key_issue_log")
    op.drop_index(
        "uq_folios_hotel_id_booking_id_open", table_name="folios", postgresql_where=sa.text("status = 'open'")
    )
    op.drop_index("ix_folios_hotel_id_booking_id", table_name="folios")
    op.drop_table("folios")
    op.drop_index("ix_room_overlays_hotel_id_ends_on_starts_on", table_name="room_overlays")
    op.drop_table("room_overlays")
    op.drop_index("ix_housekeeping_tasks_hotel_id_room_id", table_name="housekeeping_tasks")
    op.drop_index(
        "ix_housekeeping_tasks_hotel_id_queue",
        table_name="housekeeping_tasks",
        postgresql_where=sa.text("status IN ('open', 'assigned', 'in_progress')"),
    )
    op.drop_table("housekeeping_tasks")
    op.drop_index(
        "uq_bookings_hotel_id_source_external_id",
        table_name="bookings",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_bookings_hotel_id_in_house",
        table_name="bookings",
        postgresql_where=sa.text("status = 'checked_in'"),
    )
    op.drop_index("ix_bookings_hotel_id_guest_id", table_name="bookings")
    op.drop_index("ix_bookings_hotel_id_check_out_check_in", table_name="bookings")
    op.drop_index("ix_bookings_hotel_id_check_in", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index("ix_sync_runs_hotel_id_connection_id_id", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_index("ix_rooms_hotel_id_room_type_id", table_name="rooms")
    op.drop_index("ix_rooms_hotel_id_floor_number", table_name="rooms")
    op.drop_table("rooms")
    op.drop_table("night_audits")
    op.drop_index("ix_event_failed_deliveries_hotel_id_id", table_name="event_failed_deliveries")
    op.drop_table("event_failed_deliveries")
    op.drop_index("ix_audit_log_hotel_id_user_id_at", table_name="audit_log")
    op.drop_index("ix_audit_log_hotel_id_resource", table_name="audit_log")
    op.drop_index("ix_audit_log_hotel_id_at", table_name="audit_log")
    op.drop_index("ix_audit_log_hotel_id_action_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("staff_users")
    op.drop_table("room_types")
    op.drop_table("pms_connections")
    op.drop_index(
        "uq_guests_hotel_id_source_external_id",
        table_name="guests",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_guests_hotel_id_phone_norm",
        table_name="guests",
        postgresql_where=sa.text("phone_norm IS NOT NULL"),
    )
    op.drop_index("ix_guests_hotel_id_name_norm", table_name="guests")
    op.drop_index("ix_guests_hotel_id_first_norm", table_name="guests")
    op.drop_index(
        "ix_guests_hotel_id_email_norm",
        table_name="guests",
        postgresql_where=sa.text("email_norm IS NOT NULL"),
    )
    op.drop_table("guests")
    op.drop_index("ix_event_outbox_hotel_id_txid_id", table_name="event_outbox")
    op.drop_table("event_outbox")
    op.drop_table("event_cursors")
    op.drop_table("hotels")
