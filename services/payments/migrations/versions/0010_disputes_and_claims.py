"""Disputes about anything a practice is owed, dated from when it was first raised with PCSE.

A dispute may now be about a claim the practice recorded, or an item of its own (a component,
an amount claimed, a description), besides a line or an anomaly; it carries the date the
practice first raised it with PCSE (possibly before it was typed in here), the CAS reference
PCSE gave it (searchable), whether the contractor elected to be a health service body (which
decides its route to a remedy), and when it was escalated to the LMC. Attachments are stored
with their SHA-256 and size. The days before an LMC may escalate are a timing rule. A
compensation claim holds the losses late money caused (its items, each with its source) and
moves from draft to an offer, accepted or rejected.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op
from pcse_kit.audit import append_only_sql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPONENTS = (
    "global_sum", "pms_baseline", "apms_contract", "qof_aspiration", "qof_achievement",
    "enhanced_service", "premises", "seniority", "locum_allowance", "trainee_reimbursement",
    "training_grant", "drugs", "dispensing_fees", "pcn", "other", "employee_superannuation",
    "employer_superannuation", "pension_admin_levy", "lmc_statutory_levy", "lmc_voluntary_levy",
    "prescription_charge_income", "additional_voluntary_contributions", "added_years", "errbo",
)  # fmt: skip
TIMING_KINDS_BEFORE = ("commissioner_approval",)
TIMING_KINDS = (*TIMING_KINDS_BEFORE, "dispute_escalation")


def _recheck(table: str, name: str, column: str, values: Sequence[str]) -> None:
    op.drop_constraint(name, table, type_="check")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(name, table, f"{column} IN ({listed})")


def upgrade() -> None:
    op.add_column("dispute", sa.Column("claim_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "dispute_claim_id_fkey", "dispute", "practice_claim", ["claim_id"], ["id"]
    )
    op.add_column("dispute", sa.Column("component", sa.String(length=40), nullable=True))
    listed = ", ".join(f"'{c}'" for c in COMPONENTS)
    op.create_check_constraint("component", "dispute", f"component IN ({listed})")
    op.add_column("dispute", sa.Column("amount_claimed_pence", sa.BigInteger(), nullable=True))
    op.add_column("dispute", sa.Column("raised_on", sa.Date(), nullable=True))
    op.execute("UPDATE dispute SET raised_on = (opened_at AT TIME ZONE 'Europe/London')::date")
    op.alter_column("dispute", "raised_on", nullable=False)
    op.add_column("dispute", sa.Column("cas_reference", sa.String(length=30), nullable=True))
    op.add_column("dispute", sa.Column("health_service_body", sa.Boolean(), nullable=True))
    op.add_column("dispute", sa.Column("escalated_on", sa.Date(), nullable=True))
    op.add_column("dispute", sa.Column("escalated_by", sa.String(length=200), nullable=True))
    op.create_index("ix_dispute_cas_reference", "dispute", ["cas_reference"], unique=False)
    op.create_index(
        "ix_dispute_escalated",
        "dispute",
        ["ods_code", "escalated_on"],
        unique=False,
        postgresql_where=sa.text("escalated_on IS NOT NULL"),
    )
    op.drop_constraint("dispute_is_about_something", "dispute", type_="check")
    op.create_check_constraint(
        "dispute_is_about_something",
        "dispute",
        "line_id IS NOT NULL OR anomaly_id IS NOT NULL OR claim_id IS NOT NULL "
        "OR (component IS NOT NULL AND amount_claimed_pence IS NOT NULL)",
    )
    op.create_check_constraint(
        "dispute_amount_claimed_positive", "dispute", "amount_claimed_pence > 0"
    )
    op.create_check_constraint(
        "dispute_cas_format", "dispute", "cas_reference ~ '^CAS-[0-9]{4,8}-[A-Z0-9]{6}$'"
    )

    op.create_table(
        "dispute_attachment",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dispute_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name="dispute_attachment_size"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="dispute_attachment_sha256"),
        sa.ForeignKeyConstraint(["dispute_id"], ["dispute.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["dispute_event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dispute_id", "sha256", name="dispute_attachment_once"),
    )
    # Evidence: never edited, only added to.
    for statement in append_only_sql("dispute_attachment"):
        op.execute(statement)

    op.create_table(
        "compensation_claim",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("dispute_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "state",
            sa.Enum("draft", "submitted", "offered", "accepted", "rejected", "withdrawn",
                    name="compensation_state", native_enum=False, create_constraint=True,
                    length=32),
            nullable=False,
        ),
        sa.Column("annual_rate", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("rate_basis", sa.String(length=300), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("claimed_pence", sa.BigInteger(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("offered_pence", sa.BigInteger(), nullable=True),
        sa.Column("offered_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("annual_rate > 0 AND annual_rate <= 100", name="compensation_rate"),
        sa.CheckConstraint("offered_pence >= 0", name="compensation_offer"),
        sa.ForeignKeyConstraint(["dispute_id"], ["dispute.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )  # fmt: skip
    op.create_index("ix_compensation_claim_practice", "compensation_claim", ["ods_code"])
    op.create_table(
        "compensation_item",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("claim_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("interest", name="loss_kind", native_enum=False, create_constraint=True,
                    length=32),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=400), nullable=False),
        sa.Column("principal_pence", sa.BigInteger(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=400), nullable=False),
        sa.Column("anomaly_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["anomaly_id"], ["anomaly.id"]),
        sa.ForeignKeyConstraint(["claim_id"], ["compensation_claim.id"]),
        sa.PrimaryKeyConstraint("id"),
    )  # fmt: skip
    op.create_index("ix_compensation_item_claim", "compensation_item", ["claim_id", "id"])

    _recheck("timing_rule", "timing_kind", "kind", TIMING_KINDS)
    timing = sa.table(
        "timing_rule", sa.column("kind"), sa.column("effective_from", sa.Date()),
        sa.column("days"), sa.column("source"),
    )  # fmt: skip
    op.bulk_insert(
        timing,
        [
            {"kind": "dispute_escalation", "effective_from": date(2015, 9, 1), "days": 40,
             "source": "PCSE escalation process: an LMC may escalate a query unresolved more "
             "than 40 days after it was first raised, with a CAS number (Pulse; Essex LMC)"},
        ],
    )  # fmt: skip


def downgrade() -> None:
    op.execute("DELETE FROM timing_rule WHERE kind = 'dispute_escalation'")
    _recheck("timing_rule", "timing_kind", "kind", TIMING_KINDS_BEFORE)
    op.drop_table("compensation_item")
    op.drop_table("compensation_claim")
    op.execute("DROP TRIGGER dispute_attachment_append_only ON dispute_attachment")
    op.execute("DROP FUNCTION dispute_attachment_append_only()")
    op.drop_table("dispute_attachment")
    op.drop_constraint("dispute_cas_format", "dispute", type_="check")
    op.drop_constraint("component", "dispute", type_="check")
    op.drop_constraint("dispute_amount_claimed_positive", "dispute", type_="check")
    op.drop_constraint("dispute_is_about_something", "dispute", type_="check")
    op.execute("DELETE FROM dispute WHERE line_id IS NULL AND anomaly_id IS NULL")
    op.create_check_constraint(
        "dispute_is_about_something", "dispute", "line_id IS NOT NULL OR anomaly_id IS NOT NULL"
    )
    op.drop_index("ix_dispute_escalated", table_name="dispute")
    op.drop_index("ix_dispute_cas_reference", table_name="dispute")
    for column in (
        "escalated_by", "escalated_on", "health_service_body", "cas_reference", "raised_on",
        "amount_claimed_pence", "component",
    ):  # fmt: skip
        op.drop_column("dispute", column)
    op.drop_constraint("dispute_claim_id_fkey", "dispute", type_="foreign_key")
    op.drop_column("dispute", "claim_id")
