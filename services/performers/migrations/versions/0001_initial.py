"""Practice directory, LMCs, performers and memberships.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 08:01:50.467281
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
        "lmc",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "performer",
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "deferred",
                "refused",
                "included",
                "included_with_conditions",
                "contingent_removal",
                "suspended",
                "removed",
                "withdrawn",
                name="list_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("gmc_number ~ '^[0-9]{7}$'", name="performer_gmc_number_format"),
        sa.PrimaryKeyConstraint("gmc_number"),
    )
    op.create_table(
        "lmc_icb",
        sa.Column("lmc_code", sa.String(length=64), nullable=False),
        sa.Column("icb_code", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["lmc_code"],
            ["lmc.code"],
        ),
        sa.PrimaryKeyConstraint("lmc_code", "icb_code"),
    )
    op.create_table(
        "practice",
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.Column("icb_code", sa.String(length=3), nullable=False),
        sa.Column("sub_icb_code", sa.String(length=5), nullable=False),
        sa.Column("lmc_code", sa.String(length=64), nullable=False),
        sa.Column(
            "contract_type",
            sa.Enum(
                "GMS",
                "PMS",
                "APMS",
                name="contract_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("list_size", sa.Integer(), nullable=False),
        sa.CheckConstraint("ods_code ~ '^[A-Z][0-9]{5}$'", name="practice_ods_code_format"),
        sa.CheckConstraint("list_size >= 0", name="practice_list_size_non_negative"),
        sa.ForeignKeyConstraint(
            ["lmc_code"],
            ["lmc.code"],
        ),
        sa.PrimaryKeyConstraint("ods_code"),
    )
    op.create_index("ix_practice_lmc_code", "practice", ["lmc_code", "ods_code"], unique=False)
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "partner",
                "salaried",
                "locum",
                "registrar",
                "retainer",
                name="membership_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), server_default=sa.text("NULL"), nullable=True),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name="membership_dates_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["gmc_number"],
            ["performer.gmc_number"],
        ),
        sa.ForeignKeyConstraint(
            ["ods_code"],
            ["practice.ods_code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_membership_performer", "membership", ["gmc_number"], unique=False)
    op.create_index("ix_membership_practice", "membership", ["ods_code"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_membership_practice", table_name="membership")
    op.drop_index("ix_membership_performer", table_name="membership")
    op.drop_table("membership")
    op.drop_index("ix_practice_lmc_code", table_name="practice")
    op.drop_table("practice")
    op.drop_table("lmc_icb")
    op.drop_table("performer")
    op.drop_table("lmc")
