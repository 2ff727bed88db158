"""Movement ends and timers; scans, history, incidents, harm reviews; the directory copy;
audit trail, idempotency keys, inbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:54:07.356321
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

# The evidence: what happened to each movement, each courier scan, and who changed what.
APPEND_ONLY = ("movement_event", "scan", "audit_event")


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
        "consumer_position",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "stream", name="pk_consumer_position"),
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
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column(
            "applied_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )
    op.create_table(
        "practice_directory",
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("lmc_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("ods_code"),
    )
    op.create_index(
        "ix_practice_directory_lmc", "practice_directory", ["lmc_code", "ods_code"], unique=False
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "wrong_record_delivered",
                "erroneous_archiving",
                "empty_envelope",
                name="incident_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("movement_id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=9), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("found_nhs_number", sa.String(length=10), nullable=True),
        sa.CheckConstraint(
            "found_nhs_number IS NULL OR found_nhs_number ~ '^[0-9]{10}$'",
            name="incident_found_nhs_number_format",
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["movement.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("movement_id", "kind", name="uq_incident_movement_kind"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_incident_practice", "incident", ["ods_code", "kind"], unique=False)
    op.create_table(
        "movement_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "requested",
                "status_changed",
                "label_issued",
                "collection_scanned",
                "delivery_scanned",
                "received",
                "wrong_record_received",
                "incident_reported",
                "harm_review_recorded",
                "search_started",
                "gp2gp_integrated",
                "cancelled",
                name="history_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "from_status",
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
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("actor_subject", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["movement.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_movement_event_movement", "movement_event", ["movement_id", "id"], unique=False
    )
    op.create_table(
        "scan",
        sa.Column("scan_id", sa.String(length=64), nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "collection",
                "delivery",
                name="scan_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("printout_included", sa.Boolean(), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["movement.id"],
        ),
        sa.PrimaryKeyConstraint("scan_id"),
    )
    op.create_index("ix_scan_movement", "scan", ["movement_id", "scanned_at"], unique=False)
    op.create_table(
        "harm_review",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("nhs_number", sa.String(length=10), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "no_harm",
                "harm",
                "needs_follow_up",
                name="harm_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("reviewer", sa.String(length=200), nullable=True),
        sa.Column("reviewed_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="harm_review_nhs_number_format"),
        sa.CheckConstraint(
            "(outcome IS NULL) = (reviewed_on IS NULL) AND (outcome IS NULL) = (reviewer IS NULL)",
            name="harm_review_outcome_complete",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["movement.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ods_code", "nhs_number", name="uq_harm_review_patient"),
    )
    op.create_index("ix_harm_review_practice", "harm_review", ["ods_code", "id"], unique=False)
    op.add_column("movement", sa.Column("label_number", sa.String(length=20), nullable=True))
    op.add_column("movement", sa.Column("sender_site_code", sa.String(length=9), nullable=True))
    op.add_column("movement", sa.Column("receiver_site_code", sa.String(length=9), nullable=True))
    op.add_column("movement", sa.Column("deducted_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("label_issued_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("movement", sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("movement", sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("movement", sa.Column("gp2gp_started_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("gp2gp_integrated_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("search_started_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("label_due_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("delivery_due_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("gp2gp_due_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("urgent_due_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("search_due_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("lost_due_on", sa.Date(), nullable=True))
    # Movements made before either end could be off the directory: a null code was storage.
    places = "'practice', 'central_storage', 'wales', 'scotland', 'northern_ireland'"
    for end in ("sender", "receiver"):
        op.add_column("movement", sa.Column(f"{end}_place", sa.String(length=32), nullable=True))
        backfill = (
            f"UPDATE movement SET {end}_place = CASE WHEN {end}_ods_code IS NULL "  # noqa: S608 - fixed column names, no input
            "THEN 'central_storage' ELSE 'practice' END"
        )
        op.execute(backfill)
        op.alter_column("movement", f"{end}_place", nullable=False)
        op.create_check_constraint(f"{end}_place", "movement", f"{end}_place IN ({places})")
        op.create_check_constraint(
            f"movement_{end}_place",
            "movement",
            f"({end}_place = 'practice') = ({end}_ods_code IS NOT NULL)",
        )
        op.create_check_constraint(
            f"movement_{end}_site_of_practice",
            "movement",
            f"{end}_site_code IS NULL OR left({end}_site_code, 6) = {end}_ods_code",
        )
    op.create_check_constraint(
        "movement_delivered_after_collected",
        "movement",
        "delivered_at IS NULL OR collected_at IS NULL OR delivered_at >= collected_at",
    )
    op.add_column(
        "movement",
        sa.Column(
            "is_open",
            sa.Boolean(),
            sa.Computed(
                "status IN ('requested', 'in_progress', 'ready_for_collection', 'collected', 'missing') OR (status = 'no_paper_record' AND gp2gp_integrated_on IS NULL)",
                persisted=True,
            ),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_movement_receiver_open",
        "movement",
        ["receiver_ods_code", "receiver_site_code"],
        unique=False,
        postgresql_where=sa.text("is_open"),
    )
    op.create_index(
        "ix_movement_receiver_status",
        "movement",
        ["receiver_ods_code", "status", "requested_at"],
        unique=False,
    )
    op.create_index(
        "ix_movement_sender_open",
        "movement",
        ["sender_ods_code", "sender_site_code"],
        unique=False,
        postgresql_where=sa.text("is_open"),
    )
    op.create_index(
        "ix_movement_sender_status",
        "movement",
        ["sender_ods_code", "status", "requested_at"],
        unique=False,
    )
    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION {table}_append_only()")
    op.drop_index("ix_movement_sender_status", table_name="movement")
    op.drop_index(
        "ix_movement_sender_open", table_name="movement", postgresql_where=sa.text("is_open")
    )
    op.drop_index("ix_movement_receiver_status", table_name="movement")
    op.drop_index(
        "ix_movement_receiver_open", table_name="movement", postgresql_where=sa.text("is_open")
    )
    op.drop_constraint("movement_delivered_after_collected", "movement", type_="check")
    for end in ("sender", "receiver"):
        op.drop_constraint(f"movement_{end}_site_of_practice", "movement", type_="check")
        op.drop_constraint(f"movement_{end}_place", "movement", type_="check")
    op.drop_column("movement", "is_open")
    op.drop_column("movement", "lost_due_on")
    op.drop_column("movement", "search_due_on")
    op.drop_column("movement", "urgent_due_on")
    op.drop_column("movement", "gp2gp_due_on")
    op.drop_column("movement", "delivery_due_on")
    op.drop_column("movement", "label_due_on")
    op.drop_column("movement", "search_started_on")
    op.drop_column("movement", "gp2gp_integrated_on")
    op.drop_column("movement", "gp2gp_started_on")
    op.drop_column("movement", "received_at")
    op.drop_column("movement", "delivered_at")
    op.drop_column("movement", "collected_at")
    op.drop_column("movement", "label_issued_on")
    op.drop_column("movement", "deducted_on")
    op.drop_column("movement", "receiver_site_code")
    op.drop_column("movement", "receiver_place")
    op.drop_column("movement", "sender_site_code")
    op.drop_column("movement", "sender_place")
    op.drop_column("movement", "label_number")
    op.drop_index("ix_harm_review_practice", table_name="harm_review")
    op.drop_table("harm_review")
    op.drop_index("ix_scan_movement", table_name="scan")
    op.drop_table("scan")
    op.drop_index("ix_movement_event_movement", table_name="movement_event")
    op.drop_table("movement_event")
    op.drop_index("ix_incident_practice", table_name="incident")
    op.drop_table("incident")
    op.drop_index("ix_practice_directory_lmc", table_name="practice_directory")
    op.drop_table("practice_directory")
    op.drop_table("inbox")
    op.drop_table("idempotency_key")
    op.drop_table("consumer_position")
    op.drop_index("ix_audit_event_entity", table_name="audit_event")
    op.drop_table("audit_event")
