"""Indexes reshaped from the benchmark plans (bench/results/plans/): audit pages in (at, id) order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

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


def downgrade() -> None:
    op.drop_index("ix_audit_log_hotel_id_action_at_id", table_name="audit_log")
    op.create_index("ix_audit_log_hotel_id_action_at", "audit_log", ["hotel_id", "action", "at"], unique=False)
    op.drop_index("ix_audit_log_hotel_id_at_id", table_name="audit_log")
    op.create_index("ix_audit_log_hotel_id_at", "audit_log", ["hotel_id", "at"], unique=False)
