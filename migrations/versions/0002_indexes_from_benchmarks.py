"""Indexes from the benchmark plans (bench/results/plans/): audit pages in (at, id) order, active stays by
arrival.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Audit pages read newest first by (at, id); with id in the index a page is ~50 index entries
    # whatever the time window, and keyset paging on (at, id) is an index condition.
    op.drop_index("ix_audit_log_hotel_id_at", table_name="audit_log")
    op.create_index("ix_audit_log_hotel_id_at_id", "audit_log", ["hotel_id", "at", "id"], unique=False)
    op.drop_index("ix_audit_log_hotel_id_action_at", table_name="audit_log")
    op.create_index("ix_audit_log_hotel_id_action_at_id", "audit_log", ["hotel_id", "action", "at", "id"], unique=False)
    # Active stays by arrival, covering what the availability count reads: an index-only scan over the
    # stays in house and arriving before the window ends, instead of visiting every booking row.
    op.create_index(
        "ix_bookings_hotel_id_active_check_in",
        "bookings",
        ["hotel_id", "check_in"],
        unique=False,
        postgresql_include=["check_out", "room_id", "room_type_id"],
        postgresql_where=sa.text("status IN ('confirmed', 'checked_in')"),
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_hotel_id_active_check_in", table_name="bookings")
    op.drop_index("ix_audit_log_hotel_id_action_at_id", table_name="audit_log")
    op.create_index("ix_audit_log_hotel_id_action_at", "audit_log", ["hotel_id", "action", "at"], unique=False)
    op.drop_index("ix_audit_log_hotel_id_at_id", table_name="audit_log")
    op.create_index("ix_audit_log_hotel_id_at", "audit_log", ["hotel_id", "at"], unique=False)
