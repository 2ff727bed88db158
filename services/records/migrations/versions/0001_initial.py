"""Record movements.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 08:01:48.439861
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "movement",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("movement_number", sa.String(length=20), nullable=False),
        sa.Column("nhs_number", sa.String(length=10), nullable=False),
        sa.Column("sender_ods_code", sa.String(length=9), nullable=True),
        sa.Column("receiver_ods_code", sa.String(length=9), nullable=True),
        sa.Column(
            "reason",
            sa.Enum(
                "registration_elsewhere",
                "emigration",
                "death",
                "request",
                name="movement_reason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "urgency",
            sa.Enum(
                "routine",
                "urgent",
                name="movement_urgency",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "in_progress",
                "ready_for_collection",
                "collected",
                "delivered",
                "cancelled",
                "no_paper_record",
                "missing",
                "lost",
                "in_central_storage",
                name="movement_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="movement_nhs_number_format"),
        sa.CheckConstraint(
            "sender_ods_code IS DISTINCT FROM receiver_ods_code", name="movement_two_ends"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("movement_number"),
    )
    op.create_index(
        "ix_movement_receiver",
        "movement",
        ["receiver_ods_code", "requested_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_movement_sender", "movement", ["sender_ods_code", "requested_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_movement_sender", table_name="movement")
    op.drop_index("ix_movement_receiver", table_name="movement")
    op.drop_table("movement")
