"""Indexes from the benchmark plans (bench/results/plans/): the room rack's stays with a room, active and
checked out, read from the index alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Active stays with a room by arrival: the guests in house and the rooms given to arrivals before the
    # rack's window ends, everything the rack paints included, instead of a bitmap over every arrival.
    op.create_index(
        "ix_bookings_hotel_id_assigned_check_in",
        "bookings",
        ["hotel_id", "check_in"],
        unique=False,
        postgresql_include=["check_out", "room_id", "guest_id", "status", "id"],
        postgresql_where=sa.text("status IN ('confirmed', 'checked_in') AND room_id IS NOT NULL"),
    )
    # Checked-out stays by departure: a rack reaching into the past finds the stays that left after its
    # first day without walking the hotel's history (by arrival) or every future stay (by departure).
    op.create_index(
        "ix_bookings_hotel_id_checked_out",
        "bookings",
        ["hotel_id", "check_out"],
        unique=False,
        postgresql_include=["check_in", "room_id", "guest_id", "id"],
        postgresql_where=sa.text("status = 'checked_out'"),
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_hotel_id_checked_out", table_name="bookings")
    op.drop_index("ix_bookings_hotel_id_assigned_check_in", table_name="bookings")
