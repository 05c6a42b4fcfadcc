"""Typed SQLAlchemy mappings of every table. DDL lives in migrations/; a test keeps the two equal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import DATERANGE, JSONB, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(12, 2)
TZ = DateTime(timezone=True)

ROLES = ("admin", "manager", "front_desk", "housekeeping")
HK_STATUSES = ("dirty", "pickup", "clean", "inspected")
BOOKING_STATUSES = ("confirmed", "checked_in", "checked_out", "cancelled", "no_show")
ACTIVE_BOOKING_STATUSES = ("confirmed", "checked_in")
LINE_KINDS = ("charge", "payment", "refund", "void")
TASK_KINDS = ("checkout_clean", "stayover", "pickup", "inspection", "turndown")
TASK_STATUSES = ("open", "assigned", "in_progress", "done", "cancelled")
OVERLAY_KINDS = ("out_of_order", "out_of_service")
VENDORS = ("opera", "mews", "cloudbeds", "apaleo", "protel")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _id() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(), primary_key=True)


def _hotel_fk() -> Mapped[int]:
    return mapped_column(BigInteger, ForeignKey("hotels.id"), nullable=False)


def _created() -> Mapped[dt.datetime]:
    return mapped_column(TZ, nullable=False, server_default=func.now())


class Hotel(Base):
    __tablename__ = "hotels"
    __table_args__ = (
        CheckConstraint("length(btrim(name)) BETWEEN 1 AND 120", name="name"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    )
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    timezone: Mapped[str] = mapped_column(Text, nullable=False, server_default="UTC")
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default="EUR")
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False, server_default=func.current_date())
    inspection_required: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    check_in_time: Mapped[dt.time | None] = mapped_column(nullable=True)
    check_out_time: Mapped[dt.time | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = _created()


class StaffUser(Base):
    __tablename__ = "staff_users"
    __table_args__ = (
        UniqueConstraint("hotel_id", "username"),
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint("username ~ '^[a-z0-9._-]{2,40}$'", name="username"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    username: Mapped[str] = mapped_column(Text, nullable=False)
    full_name: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[dt.datetime] = _created()


class RoomType(Base):
    __tablename__ = "room_types"
    __table_args__ = (
        UniqueConstraint("hotel_id", "code"),
        CheckConstraint("base_rate >= 0", name="base_rate"),
        CheckConstraint("max_occupancy BETWEEN 1 AND 20", name="max_occupancy"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    code: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    base_rate: Mapped[Decimal] = mapped_column(Money, nullable=False)
    max_occupancy: Mapped[int] = mapped_column(Integer, nullable=False, server_default="2")
    source: Mapped[str] = mapped_column(Text, nullable=False, server_default="local")
    external_id: Mapped[str | None] = mapped_column(Text)


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("hotel_id", "number"),
        CheckConstraint(_in("hk_status", HK_STATUSES), name="hk_status"),
        CheckConstraint("hk_occupancy IS NULL OR hk_occupancy IN ('vacant', 'occupied')", name="hk_occupancy"),
        CheckConstraint("length(btrim(number)) BETWEEN 1 AND 10", name="number"),
        Index("ix_rooms_hotel_id_floor_number", "hotel_id", "floor", "number"),
        Index("ix_rooms_hotel_id_room_type_id", "hotel_id", "room_type_id"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    number: Mapped[str] = mapped_column(Text, nullable=False)
    floor: Mapped[int] = mapped_column(Integer, nullable=False)
    room_type_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("room_types.id"), nullable=False)
    hk_status: Mapped[str] = mapped_column(Text, nullable=False, server_default="clean")
    # What housekeeping last reported seeing; compared with front-office occupancy (skip/sleep).
    hk_occupancy: Mapped[str | None] = mapped_column(Text)
    hk_status_changed_at: Mapped[dt.datetime] = _created()
    source: Mapped[str] = mapped_column(Text, nullable=False, server_default="local")
    external_id: Mapped[str | None] = mapped_column(Text)


class RoomOverlay(Base):
    """A dated out-of-order or out-of-service window of one room."""

    __tablename__ = "room_overlays"
    __table_args__ = (
        CheckConstraint(_in("kind", OVERLAY_KINDS), name="kind"),
        CheckConstraint("ends_on > starts_on", name="dates"),
        CheckConstraint(_in("return_status", HK_STATUSES), name="return_status"),
        CheckConstraint("length(btrim(reason)) BETWEEN 1 AND 200", name="reason"),
        ExcludeConstraint(
            ("hotel_id", "="),
            ("room_id", "="),
            ("span", "&&"),
            using="gist",
            name="ex_room_overlays_no_overlap",
            where=text("NOT released"),
        ),
        Index("ix_room_overlays_hotel_id_ends_on_starts_on", "hotel_id", "ends_on", "starts_on"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    room_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rooms.id"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    span: Mapped[Any] = mapped_column(DATERANGE, Computed("daterange(starts_on, ends_on, '[)')", persisted=True))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    return_status: Mapped[str] = mapped_column(Text, nullable=False, server_default="dirty")
    released: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = _created()


class Guest(Base):
    __tablename__ = "guests"
    __table_args__ = (
        CheckConstraint("length(btrim(last_name)) BETWEEN 1 AND 100", name="last_name"),
        CheckConstraint("length(first_name) <= 100", name="first_name"),
        Index("ix_guests_hotel_id_name_norm", "hotel_id", "name_norm"),
        Index("ix_guests_hotel_id_first_norm", "hotel_id", "first_norm"),
        Index(
            "ix_guests_hotel_id_email_norm",
            "hotel_id",
            "email_norm",
            postgresql_where=text("email_norm IS NOT NULL"),
        ),
        Index(
            "ix_guests_hotel_id_phone_norm",
            "hotel_id",
            "phone_norm",
            postgresql_where=text("phone_norm IS NOT NULL"),
        ),
        Index(
            "uq_guests_hotel_id_source_external_id",
            "hotel_id",
            "source",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    first_name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    last_name: Mapped[str] = mapped_column(Text, nullable=False)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    # Normalised copies (lower case, accents removed, C collation) so lookups stay indexed under RLS.
    name_norm: Mapped[str] = mapped_column(Text(collation="C"), nullable=False)
    first_norm: Mapped[str] = mapped_column(Text(collation="C"), nullable=False, server_default="")
    email_norm: Mapped[str | None] = mapped_column(Text(collation="C"))
    phone_norm: Mapped[str | None] = mapped_column(Text(collation="C"))
    vip: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    notes: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    source: Mapped[str] = mapped_column(Text, nullable=False, server_default="local")
    external_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _created()


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("hotel_id", "confirmation_code"),
        CheckConstraint("check_out > check_in", name="dates"),
        CheckConstraint(_in("status", BOOKING_STATUSES), name="status"),
        CheckConstraint("adults BETWEEN 1 AND 20 AND children BETWEEN 0 AND 20", name="party"),
        CheckConstraint("rate >= 0 AND rate < 1000000", name="rate"),
        CheckConstraint(
            "status <> 'checked_in' OR (room_id IS NOT NULL AND actual_check_in IS NOT NULL)",
            name="checked_in_has_room",
        ),
        ExcludeConstraint(
            ("hotel_id", "="),
            ("room_id", "="),
            ("stay", "&&"),
            using="gist",
            name="ex_bookings_no_double_booking",
            where=text("status IN ('confirmed', 'checked_in') AND room_id IS NOT NULL"),
        ),
        Index("ix_bookings_hotel_id_check_in", "hotel_id", "check_in"),
        # Active stays by arrival, covering the availability count (index-only) and serving arrivals and
        # the rack's unassigned stays without visiting the history (bench/: availability, arrivals, rack).
        Index(
            "ix_bookings_hotel_id_active_check_in",
            "hotel_id",
            "check_in",
            postgresql_include=["check_out", "room_id", "room_type_id"],
            postgresql_where=text("status IN ('confirmed', 'checked_in')"),
        ),
        Index("ix_bookings_hotel_id_check_out_check_in", "hotel_id", "check_out", "check_in"),
        # The room rack's stays with a room, read from the index alone (bench/: rack): active ones by
        # arrival, checked-out ones by departure (neither walks the history nor every future stay).
        Index(
            "ix_bookings_hotel_id_assigned_check_in",
            "hotel_id",
            "check_in",
            postgresql_include=["check_out", "room_id", "guest_id", "status", "id"],
            postgresql_where=text("status IN ('confirmed', 'checked_in') AND room_id IS NOT NULL"),
        ),
        Index(
            "ix_bookings_hotel_id_checked_out",
            "hotel_id",
            "check_out",
            postgresql_include=["check_in", "room_id", "guest_id", "id"],
            postgresql_where=text("status = 'checked_out'"),
        ),
        Index(
            "ix_bookings_hotel_id_in_house",
            "hotel_id",
            "room_id",
            postgresql_where=text("status = 'checked_in'"),
        ),
        Index("ix_bookings_hotel_id_guest_id", "hotel_id", "guest_id"),
        Index(
            "uq_bookings_hotel_id_source_external_id",
            "hotel_id",
            "source",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    confirmation_code: Mapped[str] = mapped_column(Text, nullable=False)
    guest_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("guests.id"), nullable=False)
    room_type_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("room_types.id"), nullable=False)
    room_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("rooms.id"))
    check_in: Mapped[dt.date] = mapped_column(Date, nullable=False)
    check_out: Mapped[dt.date] = mapped_column(Date, nullable=False)
    stay: Mapped[Any] = mapped_column(DATERANGE, Computed("daterange(check_in, check_out, '[)')", persisted=True))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="confirmed")
    adults: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    children: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rate: Mapped[Decimal] = mapped_column(Money, nullable=False)
    do_not_move: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    queued: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    actual_check_in: Mapped[dt.datetime | None] = mapped_column(TZ)
    actual_check_out: Mapped[dt.datetime | None] = mapped_column(TZ)
    notes: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    source: Mapped[str] = mapped_column(Text, nullable=False, server_default="direct")
    external_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _created()


class Folio(Base):
    __tablename__ = "folios"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at"),
        # A reinstated stay gets a new folio; a closed one is never reopened.
        Index(
            "uq_folios_hotel_id_booking_id_open",
            "hotel_id",
            "booking_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("ix_folios_hotel_id_booking_id", "hotel_id", "booking_id"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    booking_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("bookings.id"), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="open")
    closed_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    created_at: Mapped[dt.datetime] = _created()


class FolioLine(Base):
    """One signed posting: charges and refunds raise the balance, payments lower it, a void reverses."""

    __tablename__ = "folio_lines"
    __table_args__ = (
        CheckConstraint(_in("kind", LINE_KINDS), name="kind"),
        CheckConstraint(
            "(kind = 'charge' AND amount > 0) OR (kind = 'payment' AND amount < 0) "
            "OR (kind = 'refund' AND amount > 0) OR (kind = 'void' AND voids_line_id IS NOT NULL)",
            name="sign",
        ),
        CheckConstraint("abs(amount) < 1000000", name="amount_range"),
        CheckConstraint("length(btrim(description)) BETWEEN 1 AND 200", name="description"),
        UniqueConstraint("hotel_id", "voids_line_id"),
        Index("ix_folio_lines_hotel_id_folio_id", "hotel_id", "folio_id"),
        Index(
            "uq_folio_lines_hotel_id_folio_id_night_of",
            "hotel_id",
            "folio_id",
            "night_of",
            unique=True,
            postgresql_where=text("night_of IS NOT NULL"),
        ),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    folio_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("folios.id"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    night_of: Mapped[dt.date | None] = mapped_column(Date)  # the room-night a night-audit charge is for
    voids_line_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("folio_lines.id"))
    posted_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("staff_users.id"))
    posted_at: Mapped[dt.datetime] = _created()


class KeyIssue(Base):
    __tablename__ = "key_issue_log"
    __table_args__ = (
        CheckConstraint("kind IN ('new', 'duplicate')", name="kind"),
        CheckConstraint("key_count BETWEEN 1 AND 10", name="key_count"),
        Index("ix_key_issue_log_hotel_id_booking_id", "hotel_id", "booking_id"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    booking_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("bookings.id"), nullable=False)
    room_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rooms.id"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    key_count: Mapped[int] = mapped_column(Integer, nullable=False)
    valid_until: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)
    issued_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("staff_users.id"))
    issued_at: Mapped[dt.datetime] = _created()


class HousekeepingTask(Base):
    __tablename__ = "housekeeping_tasks"
    __table_args__ = (
        CheckConstraint(_in("kind", TASK_KINDS), name="kind"),
        CheckConstraint(_in("status", TASK_STATUSES), name="status"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority"),
        Index(
            "ix_housekeeping_tasks_hotel_id_queue",
            "hotel_id",
            "priority",
            "created_at",
            postgresql_where=text("status IN ('open', 'assigned', 'in_progress')"),
        ),
        Index("ix_housekeeping_tasks_hotel_id_room_id", "hotel_id", "room_id"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    room_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rooms.id"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="open")
    priority: Mapped[int] = mapped_column(Integer, nullable=False, server_default="3")
    assigned_to: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("staff_users.id"))
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    notes: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    created_at: Mapped[dt.datetime] = _created()
    started_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    completed_at: Mapped[dt.datetime | None] = mapped_column(TZ)


class AuditEntry(Base):
    """Append-only: the database refuses UPDATE, DELETE and TRUNCATE."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_hotel_id_resource", "hotel_id", "resource_type", "resource_id", "id"),
        # Pages are newest first by (at, id): these hand them over in order (bench/: audit scenarios).
        Index("ix_audit_log_hotel_id_action_at_id", "hotel_id", "action", "at", "id"),
        Index("ix_audit_log_hotel_id_at_id", "hotel_id", "at", "id"),
        Index("ix_audit_log_hotel_id_user_id_at", "hotel_id", "user_id", "at"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False, server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("staff_users.id"))
    action: Mapped[str] = mapped_column(Text, nullable=False)
    resource_type: Mapped[str] = mapped_column(Text, nullable=False)
    resource_id: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))


class OutboxEvent(Base):
    """Domain events, written in the transaction of their change; a trigger NOTIFYs the id on commit."""

    __tablename__ = "event_outbox"
    __table_args__ = (Index("ix_event_outbox_hotel_id_txid_id", "hotel_id", "txid", "id"),)
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # The inserting transaction: readers take only rows older than every running transaction.
    txid: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    created_at: Mapped[dt.datetime] = _created()


class EventCursor(Base):
    """How far a durable consumer has handled a hotel's outbox."""

    __tablename__ = "event_cursors"
    __table_args__ = (UniqueConstraint("hotel_id", "consumer"),)
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    consumer: Mapped[str] = mapped_column(Text, nullable=False)
    # Events are read in (txid, id) order: a later-committing transaction always has a larger txid
    # than every row already read, so the cursor never skips a late commit.
    last_txid: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    last_event_id: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    updated_at: Mapped[dt.datetime] = _created()


class FailedDelivery(Base):
    __tablename__ = "event_failed_deliveries"
    __table_args__ = (Index("ix_event_failed_deliveries_hotel_id_id", "hotel_id", "id"),)
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("event_outbox.id"), nullable=False)
    handler: Mapped[str] = mapped_column(Text, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str] = mapped_column(Text, nullable=False)
    failed_at: Mapped[dt.datetime] = _created()


class PmsConnection(Base):
    """An external PMS link. Secrets live in the OS keyring under ``keyring_ref``, never here."""

    __tablename__ = "pms_connections"
    __table_args__ = (
        CheckConstraint(_in("vendor", VENDORS), name="vendor"),
        CheckConstraint("status IN ('active', 'disabled', 'error')", name="status"),
        UniqueConstraint("hotel_id", "vendor", "property_id"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    vendor: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    property_id: Mapped[str] = mapped_column(Text, nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    keyring_ref: Mapped[str] = mapped_column(Text, nullable=False)
    cursors: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="active")
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _created()


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status"),
        Index("ix_sync_runs_hotel_id_connection_id_id", "hotel_id", "connection_id", "id"),
    )
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    connection_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("pms_connections.id"), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="running")
    started_at: Mapped[dt.datetime] = _created()
    finished_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text)


class NightAudit(Base):
    """One row per rolled business date: makes the night audit idempotent."""

    __tablename__ = "night_audits"
    __table_args__ = (UniqueConstraint("hotel_id", "business_date"),)
    id: Mapped[int] = _id()
    hotel_id: Mapped[int] = _hotel_fk()
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    run_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("staff_users.id"))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    finished_at: Mapped[dt.datetime] = _created()
