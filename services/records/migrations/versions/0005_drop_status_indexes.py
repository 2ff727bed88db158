"""Drop the (practice, status) indexes: an LMC's counts by status read movement_count now.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 12:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_movement_sender_status": "(sender_ods_code, status, requested_at)",
    "ix_movement_receiver_status": "(receiver_ods_code, status, requested_at)",
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, columns in INDEXES.items():
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON movement {columns}")
