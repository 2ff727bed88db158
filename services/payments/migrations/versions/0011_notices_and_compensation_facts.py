"""Payments' notices and the compensation facts other services publish.

``dispute.escalatable`` is published once per dispute (``escalatable_published_at``), so a
daily run that was missed is made up by the next. ``deadline.approaching`` is published once
per practice, kind, due day and lead (``deadline_notice``). Facts for compensation claims
arrive from the records stream (harm reviews: staff time) and the performers stream
(applications for inclusion decided beyond 16 weeks: sessions lost) into
``compensation_fact``; the practice's own costings (an hour of staff time, a GP session) are
dated figures in ``practice_costing``. A claim assembled from those facts has no interest rate,
so the rate and its basis become optional; each item may name the fact it rests on.

Existing open disputes already past day 41 have no marker: the first daily run after this
migration publishes them (they did become escalatable, and nobody was told).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOSS_KINDS_BEFORE = ("interest",)
LOSS_KINDS = (*LOSS_KINDS_BEFORE, "staff_time", "sessions_lost")


def _recheck(table: str, name: str, column: str, values: Sequence[str]) -> None:
    op.drop_constraint(name, table, type_="check")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(name, table, f"{column} IN ({listed})")


def upgrade() -> None:
    op.add_column(
        "dispute",
        sa.Column("escalatable_published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_dispute_escalatable_unpublished",
        "dispute",
        ["raised_on"],
        unique=False,
        postgresql_where=sa.text("resolved_at IS NULL AND escalatable_published_at IS NULL"),
    )
    op.create_table(
        "deadline_notice",
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("lead_days", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("ods_code", "kind", "due_on", "lead_days"),
    )  # fmt: skip
    op.create_table(
        "compensation_fact",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("harm_review", "inclusion_delay", name="fact_kind", native_enum=False,
                    create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("stream", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("source_key", sa.String(length=60), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("minutes_spent", sa.Integer(), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=True),
        sa.Column("weeks_beyond", sa.Integer(), nullable=True),
        sa.Column("days_beyond", sa.Integer(), nullable=True),
        sa.Column("facts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("minutes_spent >= 0", name="compensation_fact_minutes"),
        sa.CheckConstraint("weeks_beyond >= 0 AND days_beyond >= 0",
                           name="compensation_fact_delay"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "source_key", name="compensation_fact_once"),
    )  # fmt: skip
    op.create_index(
        "ix_compensation_fact_practice", "compensation_fact", ["ods_code", "kind"], unique=False
    )
    op.create_table(
        "practice_costing",
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("staff_hour", "gp_session", name="costing_kind", native_enum=False,
                    create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("basis", sa.String(length=300), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("amount_pence > 0", name="practice_costing_amount"),
        sa.PrimaryKeyConstraint("ods_code", "kind", "effective_from"),
    )  # fmt: skip
    op.alter_column("compensation_claim", "annual_rate", nullable=True)
    op.alter_column("compensation_claim", "rate_basis", nullable=True)
    op.add_column("compensation_item", sa.Column("fact_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "compensation_item_fact_id_fkey", "compensation_item", "compensation_fact",
        ["fact_id"], ["id"],
    )  # fmt: skip
    _recheck("compensation_item", "loss_kind", "kind", LOSS_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM compensation_item WHERE kind <> 'interest'")
    _recheck("compensation_item", "loss_kind", "kind", LOSS_KINDS_BEFORE)
    op.drop_constraint("compensation_item_fact_id_fkey", "compensation_item", type_="foreignkey")
    op.drop_column("compensation_item", "fact_id")
    op.execute("DELETE FROM compensation_claim c WHERE annual_rate IS NULL")
    op.alter_column("compensation_claim", "rate_basis", nullable=False)
    op.alter_column("compensation_claim", "annual_rate", nullable=False)
    op.drop_table("practice_costing")
    op.drop_index("ix_compensation_fact_practice", table_name="compensation_fact")
    op.drop_table("compensation_fact")
    op.drop_table("deadline_notice")
    op.drop_index("ix_dispute_escalatable_unpublished", table_name="dispute")
    op.drop_column("dispute", "escalatable_published_at")
