"""Status history, change requests, branch sites, audit trail, idempotency keys, outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:34:30.844111
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pcse_kit.audit import append_only_sql
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor_subject", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=100), nullable=False),
        sa.Column("entity_key", sa.String(length=200), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_audit_event_entity", "audit_event", ["entity", "entity_key", "id"], unique=False
    )
    op.create_table(
        "idempotency_key",
        sa.Column("actor_subject", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("actor_subject", "key"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_outbox_unrelayed",
        "outbox",
        ["stream", "id"],
        unique=False,
        postgresql_where=sa.text("relayed_at IS NULL"),
    )
    op.create_table(
        "status_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column(
            "from_status",
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
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
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
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["gmc_number"],
            ["performer.gmc_number"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_status_change_performer", "status_change", ["gmc_number", "id"], unique=False
    )
    op.create_table(
        "branch_site",
        sa.Column("site_code", sa.String(length=9), nullable=False),
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.CheckConstraint("site_code ~ '^[A-Z][0-9]{8}$'", name="branch_site_code_format"),
        sa.CheckConstraint("left(site_code, 6) = ods_code", name="branch_site_code_of_practice"),
        sa.ForeignKeyConstraint(
            ["ods_code"],
            ["practice.ods_code"],
        ),
        sa.PrimaryKeyConstraint("site_code"),
    )
    op.create_index("ix_branch_site_practice", "branch_site", ["ods_code"], unique=False)
    op.create_table(
        "change_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "joining",
                "leaving",
                "status_change",
                "cct",
                "retirement",
                name="change_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("ods_code", sa.String(length=9), nullable=True),
        sa.Column(
            "requested_status",
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
                name="requested_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "approved",
                "rejected",
                "withdrawn",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            "(decided_on IS NULL) = (outcome IS NULL)", name="change_request_decided_with_outcome"
        ),
        sa.CheckConstraint(
            "decided_on IS NULL OR decided_on >= submitted_on", name="change_request_dates_ordered"
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
        sa.UniqueConstraint("reference"),
    )
    op.create_index(
        "ix_change_request_open",
        "change_request",
        ["submitted_on"],
        unique=False,
        postgresql_where=sa.text("outcome IS NULL"),
    )
    op.create_index("ix_change_request_performer", "change_request", ["gmc_number"], unique=False)
    op.create_index("ix_change_request_practice", "change_request", ["ods_code"], unique=False)
    op.add_column("performer", sa.Column("date_of_birth", sa.Date(), nullable=True))
    op.add_column("performer", sa.Column("cct_date", sa.Date(), nullable=True))
    op.add_column(
        "performer",
        sa.Column(
            "under_training_supervision",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
    )
    op.add_column(
        "practice", sa.Column("address", sa.String(length=300), server_default="", nullable=False)
    )
    op.add_column(
        "practice",
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "dormant",
                "closed",
                "proposed",
                name="practice_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="active",
            nullable=False,
        ),
    )
    op.add_column("practice", sa.Column("opened_on", sa.Date(), nullable=True))
    op.add_column("practice", sa.Column("closed_on", sa.Date(), nullable=True))
    # The evidence trail and the list history are append-only.
    for table in ("audit_event", "status_change"):
        for statement in append_only_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in ("audit_event", "status_change"):
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION {table}_append_only()")
    op.drop_column("practice", "closed_on")
    op.drop_column("practice", "opened_on")
    op.drop_column("practice", "status")
    op.drop_column("practice", "address")
    op.drop_column("performer", "under_training_supervision")
    op.drop_column("performer", "cct_date")
    op.drop_column("performer", "date_of_birth")
    op.drop_index("ix_change_request_practice", table_name="change_request")
    op.drop_index("ix_change_request_performer", table_name="change_request")
    op.drop_index(
        "ix_change_request_open",
        table_name="change_request",
        postgresql_where=sa.text("outcome IS NULL"),
    )
    op.drop_table("change_request")
    op.drop_index("ix_branch_site_practice", table_name="branch_site")
    op.drop_table("branch_site")
    op.drop_index("ix_status_change_performer", table_name="status_change")
    op.drop_table("status_change")
    op.drop_index(
        "ix_outbox_unrelayed", table_name="outbox", postgresql_where=sa.text("relayed_at IS NULL")
    )
    op.drop_table("outbox")
    op.drop_table("idempotency_key")
    op.drop_index("ix_audit_event_entity", table_name="audit_event")
    op.drop_table("audit_event")
