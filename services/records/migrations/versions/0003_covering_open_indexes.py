"""Open movements: covering indexes, so an LMC's open counts are index-only scans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_COLUMNS = (
    "is_open, status, requested_at, label_due_on, label_issued_on, collected_at, "
    "delivery_due_on, delivered_at, gp2gp_due_on, gp2gp_integrated_on, urgent_due_on, "
    "search_due_on, lost_due_on"
)


def upgrade() -> None:
    # Built without blocking writes; the old index goes once the new one can serve.
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_movement_open_sender ON movement "
            f"(sender_ods_code, sender_site_code) INCLUDE ({OPEN_COLUMNS}, receiver_ods_code) "
            "WHERE is_open"
        )
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_movement_open_receiver ON movement "
            f"(receiver_ods_code, receiver_site_code) INCLUDE ({OPEN_COLUMNS}, sender_ods_code) "
            "WHERE is_open"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_movement_sender_open")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_movement_receiver_open")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_movement_sender_open ON movement "
            "(sender_ods_code, sender_site_code) WHERE is_open"
        )
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_movement_receiver_open ON movement "
            "(receiver_ods_code, receiver_site_code) WHERE is_open"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_movement_open_sender")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_movement_open_receiver")
