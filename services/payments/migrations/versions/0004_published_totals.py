"""Annual totals from the published "NHS Payments to General Practice" data set.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:14:57.984568
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "published_year",
        sa.Column("financial_year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("imported_by", sa.String(length=200), nullable=False),
        sa.Column("practice_count", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("financial_year"),
    )
    op.create_table(
        "published_total",
        sa.Column("financial_year", sa.Integer(), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column(
            "measure",
            sa.Enum(
                "global_sum",
                "pms_balance",
                "qof",
                "premises",
                "seniority",
                "locum_allowances",
                "pcn",
                "prescribing_and_dispensing_fees",
                "drugs",
                "other",
                "total",
                "deductions",
                "net",
                name="measure",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("heading", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["financial_year"],
            ["published_year.financial_year"],
        ),
        sa.PrimaryKeyConstraint("financial_year", "ods_code", "measure"),
    )


def downgrade() -> None:
    op.drop_table("published_total")
    op.drop_table("published_year")
