"""Statements and their itemised lines.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 08:01:46.624672
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
        "statement",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("payment_date", sa.Date(), nullable=False),
        sa.Column("source_system", sa.String(length=40), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("ods_code ~ '^[A-Z][0-9]{5}$'", name="statement_ods_code_format"),
        sa.CheckConstraint("extract(day FROM period) = 1", name="statement_period_is_month"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ods_code", "period", name="statement_one_per_practice_period"),
    )
    op.create_table(
        "statement_line",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("statement_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "component",
            sa.Enum(
                "global_sum",
                "pms_baseline",
                "qof_aspiration",
                "qof_achievement",
                "enhanced_service",
                "premises",
                "seniority",
                "locum_allowance",
                "trainee_reimbursement",
                "training_grant",
                "drugs",
                "dispensing_fees",
                "pcn",
                "other",
                "employee_superannuation",
                "employer_superannuation",
                "pension_admin_levy",
                "lmc_statutory_levy",
                "lmc_voluntary_levy",
                "prescription_charge_income",
                name="component",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("paycode", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "(component IN ('employee_superannuation', 'employer_superannuation', 'pension_admin_levy', 'lmc_statutory_levy', 'lmc_voluntary_levy', 'prescription_charge_income')) = (amount_pence <= 0)",
            name="statement_line_deductions_negative",
        ),
        sa.ForeignKeyConstraint(["statement_id"], ["statement.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_statement_line_statement", "statement_line", ["statement_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_statement_line_statement", table_name="statement_line")
    op.drop_table("statement_line")
    op.drop_table("statement")
