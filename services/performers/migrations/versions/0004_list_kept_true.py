"""The list kept true: GMC registers, the registrar's window, conditions and reviews, the
published list; requests dated by the server with their own targets; the practice facts
payments needs and list sizes by quarter.

Existing performers with a CCT are taken to be on the GP Register from their CCT date (a CCT
in general practice entitles to entry); a GP without one shows as "not on the GP Register"
until an operator records the entry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("joining", "leaving", "status_change", "cct", "retirement")
NEW_KINDS = ("inclusion", "joining", "leaving", "status_change", "cct", "gp_register", "retirement")
ROLES = ("partner", "salaried", "locum", "registrar", "retainer")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.alter_column("practice", "contract_type", existing_type=sa.String(32), nullable=True)
    op.add_column("practice", sa.Column("region_code", sa.String(3), nullable=True))
    op.add_column("practice", sa.Column("successor_code", sa.String(6), nullable=True))
    for name in ("dispensing", "training_practice", "out_of_hours_opt_out"):
        op.add_column("practice", sa.Column(name, sa.Boolean(), nullable=True))
    op.create_table(
        "practice_list_size",
        sa.Column("ods_code", sa.String(9), sa.ForeignKey("practice.ods_code"), nullable=False),
        sa.Column("quarter_start", sa.Date(), nullable=False),
        sa.Column("registered_patients", sa.Integer(), nullable=False),
        sa.Column("weighted_patients", sa.Numeric(12, 2), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "extract(day FROM quarter_start) = 1 AND extract(month FROM quarter_start) IN "
            "(1, 4, 7, 10)",
            name="practice_list_size_quarter_start",
        ),
        sa.CheckConstraint(
            "registered_patients >= 0 AND weighted_patients >= 0",
            name="practice_list_size_non_negative",
        ),
        sa.PrimaryKeyConstraint("ods_code", "quarter_start"),
    )

    for name in (
        "gmc_registered_on",
        "gp_register_on",
        "training_programme_start",
        "suspension_review_on",
        "public_list_checked_on",
    ):
        op.add_column("performer", sa.Column(name, sa.Date(), nullable=True))
    op.add_column("performer", sa.Column("conditions", sa.String(1000), nullable=True))
    op.add_column("performer", sa.Column("designated_body", sa.String(200), nullable=True))
    op.add_column("performer", sa.Column("public_list_visible", sa.Boolean(), nullable=True))
    op.add_column("performer", sa.Column("public_list_entries", sa.Integer(), nullable=True))
    op.execute("UPDATE performer SET gp_register_on = cct_date WHERE cct_date IS NOT NULL")
    op.execute("DROP INDEX IF EXISTS ix_performer_without_cct")
    op.create_index(
        "ix_performer_off_gp_register",
        "performer",
        ["gmc_number"],
        postgresql_where=sa.text("gp_register_on IS NULL AND NOT under_training_supervision"),
    )

    op.drop_constraint("change_kind", "change_request", type_="check")
    op.create_check_constraint("change_kind", "change_request", f"kind IN ({_in(NEW_KINDS)})")
    op.add_column("change_request", sa.Column("complete_on", sa.Date(), nullable=True))
    op.execute("UPDATE change_request SET complete_on = submitted_on")
    op.alter_column("change_request", "complete_on", nullable=False)
    op.create_check_constraint(
        "change_request_complete_after", "change_request", "complete_on >= submitted_on"
    )
    op.add_column(
        "change_request",
        sa.Column(
            "role",
            sa.Enum(
                *ROLES,
                name="request_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
    )
    op.add_column("change_request", sa.Column("effective_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("change_request", "effective_on")
    op.drop_column("change_request", "role")
    op.drop_constraint("change_request_complete_after", "change_request", type_="check")
    op.drop_column("change_request", "complete_on")
    op.execute("DELETE FROM change_request WHERE kind IN ('inclusion', 'gp_register')")
    op.drop_constraint("change_kind", "change_request", type_="check")
    op.create_check_constraint("change_kind", "change_request", f"kind IN ({_in(OLD_KINDS)})")
    op.drop_index("ix_performer_off_gp_register", table_name="performer")
    op.create_index(
        "ix_performer_without_cct",
        "performer",
        ["gmc_number"],
        postgresql_where=sa.text("cct_date IS NULL AND NOT under_training_supervision"),
    )
    for name in (
        "public_list_entries",
        "public_list_visible",
        "designated_body",
        "conditions",
        "public_list_checked_on",
        "suspension_review_on",
        "training_programme_start",
        "gp_register_on",
        "gmc_registered_on",
    ):
        op.drop_column("performer", name)
    op.drop_table("practice_list_size")
    for name in ("out_of_hours_opt_out", "training_practice", "dispensing"):
        op.drop_column("practice", name)
    op.drop_column("practice", "successor_code")
    op.drop_column("practice", "region_code")
    # Fails while a practice's contract type is unknown: there is no honest default.
    op.alter_column("practice", "contract_type", existing_type=sa.String(32), nullable=False)
