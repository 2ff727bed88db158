"""Registrations and the failures found from them; the collection and routine-request timers;
in storage at the practice and the wrong record as statuses; the incident lifecycle; harm
reviews graded, timed and loaded from NHS England's lists; monthly incident counts; the daily
feed; the outbox of the records stream, relayed to NATS JetStream.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from alembic import op
from pcse_kit import dates
from records.timers import Targets, due_dates

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "requested", "in_progress", "ready_for_collection", "collected", "delivered", "cancelled",
    "no_paper_record", "missing", "lost", "in_central_storage", "in_storage_at_practice",
    "wrong_record_delivered",
)  # fmt: skip
OLD_STATUSES = STATUSES[:10]
REASONS = ("registration_elsewhere", "emigration", "death", "request", "wrong_record_return")
HISTORY = (
    "requested", "status_changed", "label_issued", "collection_scanned", "delivery_scanned",
    "received", "wrong_record_received", "incident_reported", "harm_review_recorded",
    "search_started", "gp2gp_integrated", "cancelled", "marked_ready", "incident_updated",
    "return_opened",
)  # fmt: skip
INCIDENT_KINDS = (
    "wrong_record_delivered", "erroneous_archiving", "empty_envelope", "incomplete_record",
    "label_not_received", "label_wrong", "record_not_received", "incorrect_removal",
)  # fmt: skip
INCIDENT_STATUSES = ("open", "raised_with_pcse", "resolved")
OUTCOMES = (
    "record_received", "record_released", "re_registered", "label_received",
    "record_completed", "not_an_error", "other",
)  # fmt: skip
GRADES = ("none", "low", "moderate", "severe", "fatal")
REVIEW_SOURCES = ("detected", "nhs_england_list")
REGISTRATION_EVENTS = ("registered", "deducted")
REGISTRATION_REASONS = (
    "new_registration", "transfer", "fp69", "removal", "immediate_removal", "death",
    "emigration", "other",
)  # fmt: skip

OPEN_SQL = (
    "status IN ('requested', 'in_progress', 'ready_for_collection', 'collected', 'missing', "
    "'lost', 'wrong_record_delivered') "
    "OR (status = 'no_paper_record' AND gp2gp_integrated_on IS NULL) "
    "OR (status = 'in_central_storage' AND receiver_place = 'practice')"
)
OLD_OPEN_SQL = (
    "status IN ('requested', 'in_progress', 'ready_for_collection', 'collected', 'missing') "
    "OR (status = 'no_paper_record' AND gp2gp_integrated_on IS NULL)"
)
OPEN_COLUMNS = (
    "is_open, status, requested_at, label_due_on, label_issued_on, collected_at, "
    "delivery_due_on, delivered_at, received_at, gp2gp_due_on, gp2gp_integrated_on, "
    "urgent_due_on, request_due_on, collection_due_on, search_due_on, lost_due_on"
)
OLD_OPEN_COLUMNS = (
    "is_open, status, requested_at, label_due_on, label_issued_on, collected_at, "
    "delivery_due_on, delivered_at, gp2gp_due_on, gp2gp_integrated_on, urgent_due_on, "
    "search_due_on, lost_due_on"
)

# Incidents counted by the practice bearing them, the month they were reported (in England)
# and their kind; kept like movement_count, one aggregate per statement.
MONTH_ENDS = """
    SELECT ods_code, date_trunc('month', reported_at AT TIME ZONE 'Europe/London')::date
           AS month, kind, {sign} AS n
      FROM {rows} WHERE ods_code IS NOT NULL
"""
MONTH_APPLY = """
    INSERT INTO incident_month_count AS c (ods_code, month, kind, count)
    SELECT ods_code, month, kind, sum(n) FROM ({ends}) AS d
     GROUP BY ods_code, month, kind HAVING sum(n) <> 0
     ORDER BY ods_code, month, kind
    ON CONFLICT (ods_code, month, kind) DO UPDATE SET count = c.count + EXCLUDED.count;
"""
MONTH_FUNCTIONS = {
    "incident_month_count_inserted": MONTH_APPLY.format(
        ends=MONTH_ENDS.format(sign=1, rows="new_rows")
    ),
    "incident_month_count_deleted": MONTH_APPLY.format(
        ends=MONTH_ENDS.format(sign=-1, rows="old_rows")
    ),
    "incident_month_count_updated": MONTH_APPLY.format(
        ends=MONTH_ENDS.format(sign=1, rows="new_rows")
        + " UNION ALL "
        + MONTH_ENDS.format(sign=-1, rows="old_rows")
    ),
}
MONTH_TRIGGERS = {
    "incident_month_count_inserted": ("INSERT", "NEW TABLE AS new_rows"),
    "incident_month_count_deleted": ("DELETE", "OLD TABLE AS old_rows"),
    "incident_month_count_updated": ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
}


def _check_in(table: str, name: str, column: str, values: Sequence[str]) -> None:
    """Replace an enum's CHECK constraint (named after the enum) with one for ``values``."""
    op.drop_constraint(name, table, type_="check")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(name, table, f"{column} IN ({listed})")


def _enum(name: str, values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _open_indexes(columns: str) -> None:
    op.execute(
        "CREATE INDEX ix_movement_open_sender ON movement (sender_ods_code, sender_site_code) "
        f"INCLUDE ({columns}, receiver_ods_code) WHERE is_open"
    )
    op.execute(
        "CREATE INDEX ix_movement_open_receiver ON movement "
        f"(receiver_ods_code, receiver_site_code) INCLUDE ({columns}, sender_ods_code) "
        "WHERE is_open"
    )


def _replace_is_open(expression: str) -> None:
    # The covering indexes go with the column; they come back with the new columns below.
    op.drop_index("ix_movement_open_sender", table_name="movement")
    op.drop_index("ix_movement_open_receiver", table_name="movement")
    op.drop_column("movement", "is_open")
    op.add_column(
        "movement",
        sa.Column("is_open", sa.Boolean(), sa.Computed(expression, persisted=True), nullable=False),
    )


def upgrade() -> None:  # noqa: PLR0915 - one migration, many small steps
    # Movements: the new statuses, the collection and routine-request timers, the attestation
    # and the wrong record's return.
    for table, name, column in (
        ("movement", "movement_status", "status"),
        ("movement_event", "from_status", "from_status"),
        ("movement_event", "to_status", "to_status"),
        ("movement_count", "movement_count_status", "status"),
    ):
        _check_in(table, name, column, STATUSES)
    _check_in("movement", "movement_reason", "reason", REASONS)
    _check_in("movement_event", "history_kind", "kind", HISTORY)
    op.add_column("movement", sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("movement", sa.Column("printout_attested", sa.Boolean(), nullable=True))
    op.add_column(
        "movement",
        sa.Column(
            "nhs_number_to_sender_only",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
    )
    op.add_column("movement", sa.Column("returns_movement_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(None, "movement", "movement", ["returns_movement_id"], ["id"])
    op.add_column("movement", sa.Column("request_due_on", sa.Date(), nullable=True))
    op.add_column("movement", sa.Column("collection_due_on", sa.Date(), nullable=True))
    op.create_index("ix_movement_nhs_number", "movement", ["nhs_number"], unique=False)
    _replace_is_open(OPEN_SQL)
    _open_indexes(OPEN_COLUMNS)
    _start_new_timers()

    # Registrations and the files they came in.
    op.create_table(
        "registration_file",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ods_code", "digest", name="uq_registration_file"),
    )
    op.create_table(
        "registration",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("nhs_number", sa.String(length=10), nullable=False),
        sa.Column("event", _enum("registration_event", REGISTRATION_EVENTS), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", _enum("registration_reason", REGISTRATION_REASONS), nullable=False),
        sa.Column("removal_requested_on", sa.Date(), nullable=True),
        sa.Column("fp69_flagged_on", sa.Date(), nullable=True),
        sa.Column("under_18", sa.Boolean(), nullable=True),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="registration_nhs_number_format"),
        sa.CheckConstraint(
            "(event = 'registered' AND reason IN ('new_registration', 'transfer')) OR "
            "(event = 'deducted' AND reason <> 'new_registration')",
            name="registration_reason_fits_event",
        ),
        sa.ForeignKeyConstraint(["file_id"], ["registration_file.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "ods_code", "nhs_number", "event", "effective_on", name="uq_registration_fact"
        ),
    )
    op.create_index(
        "ix_registration_patient", "registration", ["nhs_number", "effective_on"], unique=False
    )
    op.create_index(
        "ix_registration_practice",
        "registration",
        ["ods_code", "effective_on", "id"],
        unique=False,
    )

    # Incidents: on a movement or a registration, with a lifecycle.
    _check_in("incident", "incident_kind", "kind", INCIDENT_KINDS)
    op.drop_constraint("uq_incident_movement_kind", "incident", type_="unique")
    op.alter_column("incident", "movement_id", existing_type=sa.BigInteger(), nullable=True)
    op.add_column("incident", sa.Column("registration_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(None, "incident", "registration", ["registration_id"], ["id"])
    op.add_column(
        "incident",
        sa.Column(
            "status",
            _enum("incident_status", INCIDENT_STATUSES),
            server_default="open",
            nullable=False,
        ),
    )
    op.add_column("incident", sa.Column("pcse_reference", sa.String(length=30), nullable=True))
    op.add_column("incident", sa.Column("raised_on", sa.Date(), nullable=True))
    op.add_column("incident", sa.Column("resolved_on", sa.Date(), nullable=True))
    op.add_column(
        "incident", sa.Column("outcome", _enum("incident_outcome", OUTCOMES), nullable=True)
    )
    op.add_column("incident", sa.Column("resolution", sa.String(length=500), nullable=True))
    op.add_column("incident", sa.Column("remedied_on", sa.Date(), nullable=True))
    op.create_check_constraint(
        "incident_subject", "incident", "movement_id IS NOT NULL OR registration_id IS NOT NULL"
    )
    op.create_check_constraint(
        "incident_resolution_complete",
        "incident",
        "(status = 'resolved') = (resolved_on IS NOT NULL AND outcome IS NOT NULL)",
    )
    op.create_check_constraint(
        "incident_raised_complete",
        "incident",
        "(pcse_reference IS NULL) = (raised_on IS NULL) "
        "AND (status <> 'raised_with_pcse' OR pcse_reference IS NOT NULL) "
        "AND (status <> 'open' OR pcse_reference IS NULL)",
    )
    op.create_index(
        "uq_incident_movement_kind_practice",
        "incident",
        ["movement_id", "kind", "ods_code"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("movement_id IS NOT NULL AND kind <> 'wrong_record_delivered'"),
    )
    op.create_index(
        "uq_incident_registration_kind",
        "incident",
        ["registration_id", "kind"],
        unique=True,
        postgresql_where=sa.text("registration_id IS NOT NULL"),
    )
    op.create_index("ix_incident_movement", "incident", ["movement_id"], unique=False)

    op.create_table(
        "incident_month_count",
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kind", _enum("incident_month_count_kind", INCIDENT_KINDS), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ods_code", "month", "kind"),
    )
    for name, body in MONTH_FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )
        event, transition = MONTH_TRIGGERS[name]
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON incident REFERENCING {transition} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    op.execute("LOCK TABLE incident IN SHARE MODE")
    ends = MONTH_ENDS.format(sign=1, rows="incident")
    op.execute(
        "INSERT INTO incident_month_count (ods_code, month, kind, count) "  # noqa: S608 - our SQL
        f"SELECT ods_code, month, kind, sum(n) FROM ({ends}) AS d GROUP BY ods_code, month, kind"
    )

    # Harm reviews: from a detection or from NHS England's list; graded, timed, due.
    op.create_table(
        "harm_review_list",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("list_reference", sa.String(length=64), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ods_code", "list_reference", name="uq_harm_review_list"),
    )
    op.alter_column("harm_review", "incident_id", existing_type=sa.BigInteger(), nullable=True)
    op.alter_column("harm_review", "movement_id", existing_type=sa.BigInteger(), nullable=True)
    op.add_column(
        "harm_review",
        sa.Column(
            "source",
            _enum("harm_review_source", REVIEW_SOURCES),
            server_default="detected",
            nullable=False,
        ),
    )
    op.add_column("harm_review", sa.Column("list_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(None, "harm_review", "harm_review_list", ["list_id"], ["id"])
    op.add_column("harm_review", sa.Column("due_on", sa.Date(), nullable=True))
    op.add_column(
        "harm_review", sa.Column("harm_grade", _enum("harm_grade", GRADES), nullable=True)
    )
    for column in ("patient_informed", "nhs_england_notified"):
        op.add_column(
            "harm_review",
            sa.Column(column, sa.Boolean(), server_default=sa.text("false"), nullable=False),
        )
    op.add_column(
        "harm_review",
        sa.Column("minutes_spent", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    # The old outcome had no grade. "No harm" is grade none; "harm" is graded low, the least
    # grade that is harm, for the practice to regrade; "needs follow-up" was not a finished
    # review, so it is outstanding again, with the reviewer kept in the audit trail.
    op.drop_constraint("harm_review_outcome_complete", "harm_review", type_="check")
    op.execute(
        "UPDATE harm_review SET harm_grade = CASE outcome WHEN 'no_harm' THEN 'none' "
        "WHEN 'harm' THEN 'low' END, due_on = (created_at AT TIME ZONE 'Europe/London')::date "
        "+ 30"
    )
    op.execute(
        "UPDATE harm_review SET reviewer = NULL, reviewed_on = NULL WHERE harm_grade IS NULL"
    )
    op.alter_column("harm_review", "due_on", existing_type=sa.Date(), nullable=False)
    op.drop_column("harm_review", "outcome")
    op.create_check_constraint(
        "harm_review_grade_complete",
        "harm_review",
        "(harm_grade IS NULL) = (reviewed_on IS NULL) AND (harm_grade IS NULL) = (reviewer IS NULL)",
    )
    op.create_check_constraint("harm_review_minutes_spent", "harm_review", "minutes_spent >= 0")
    op.create_check_constraint(
        "harm_review_source_named",
        "harm_review",
        "incident_id IS NOT NULL OR list_id IS NOT NULL",
    )

    # The daily feed, applied once.
    op.create_table(
        "feed",
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("movements_opened", sa.Integer(), nullable=False),
        sa.Column("movements_changed", sa.Integer(), nullable=False),
        sa.Column("scans", sa.Integer(), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("feed_id"),
    )

    # The outbox of the records stream.
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("payload", sa.dialects.postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        # The trace context of the change, so the relay sends the event within its trace.
        sa.Column(
            "trace_context", sa.dialects.postgresql.JSONB(astext_type=sa.Text()), nullable=True
        ),
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


def _start_new_timers() -> None:
    """Records already waiting for collection start that timer from when they were marked
    ready; open routine requests start theirs from the request."""
    connection = op.get_bind()
    targets = Targets()
    waiting = connection.execute(
        sa.text("SELECT id, status_changed_at FROM movement WHERE status = 'ready_for_collection'")
    ).all()
    for movement_id, changed in waiting:
        dues = _dues(targets, requested=changed, ready=changed, routine=False)
        connection.execute(
            sa.text("UPDATE movement SET ready_at = :at, collection_due_on = :due WHERE id = :id"),
            {"at": changed, "due": dues.collection, "id": movement_id},
        )
    requests = connection.execute(
        sa.text(
            "SELECT id, requested_at FROM movement WHERE is_open AND reason = 'request' "
            "AND urgency = 'routine'"
        )
    ).all()
    for movement_id, requested in requests:
        dues = _dues(targets, requested=requested, ready=None, routine=True)
        connection.execute(
            sa.text("UPDATE movement SET request_due_on = :due WHERE id = :id"),
            {"due": dues.request, "id": movement_id},
        )


def _dues(
    targets: Targets, *, requested: datetime, ready: datetime | None, routine: bool
) -> object:
    ready_on: date | None = None if ready is None else dates.local_date(ready)
    return due_dates(
        targets,
        requested_on=dates.local_date(requested),
        urgent=False,
        deducted_on=None,
        collected_on=None,
        gp2gp_started_on=None,
        search_started_on=None,
        missing_since=None,
        ready_on=ready_on,
        routine_request=routine,
    )


def downgrade() -> None:
    # The history is append-only: rows naming what this revision added cannot be rewritten.
    added = ", ".join(f"'{v}'" for v in (*STATUSES[10:], *HISTORY[12:]))
    used = op.get_bind().execute(
        sa.text(
            f"SELECT count(*) FROM movement_event WHERE kind IN ({added}) "  # noqa: S608 - ours
            f"OR from_status IN ({added}) OR to_status IN ({added})"
        )
    )
    if used.scalar():
        raise RuntimeError(
            "The append-only history holds statuses or events added by revision 0007; "
            "it cannot be taken back to 0006."
        )
    op.drop_index(
        "ix_outbox_unrelayed", table_name="outbox", postgresql_where=sa.text("relayed_at IS NULL")
    )
    op.drop_table("outbox")
    op.drop_table("feed")
    op.drop_constraint("harm_review_source_named", "harm_review", type_="check")
    op.drop_constraint("harm_review_minutes_spent", "harm_review", type_="check")
    op.drop_constraint("harm_review_grade_complete", "harm_review", type_="check")
    op.add_column(
        "harm_review",
        sa.Column(
            "outcome", _enum("harm_outcome", ("no_harm", "harm", "needs_follow_up")), nullable=True
        ),
    )
    op.execute(
        "UPDATE harm_review SET outcome = CASE WHEN harm_grade = 'none' THEN 'no_harm' "
        "WHEN harm_grade IS NOT NULL THEN 'harm' END"
    )
    op.execute("DELETE FROM harm_review WHERE incident_id IS NULL")
    for column in (
        "minutes_spent", "nhs_england_notified", "patient_informed", "harm_grade", "due_on",
        "list_id", "source",
    ):  # fmt: skip
        op.drop_column("harm_review", column)
    op.alter_column("harm_review", "movement_id", existing_type=sa.BigInteger(), nullable=False)
    op.alter_column("harm_review", "incident_id", existing_type=sa.BigInteger(), nullable=False)
    op.create_check_constraint(
        "harm_review_outcome_complete",
        "harm_review",
        "(outcome IS NULL) = (reviewed_on IS NULL) AND (outcome IS NULL) = (reviewer IS NULL)",
    )
    op.drop_table("harm_review_list")
    for name in MONTH_FUNCTIONS:
        op.execute(f"DROP TRIGGER {name} ON incident")
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("incident_month_count")
    op.execute(
        "DELETE FROM incident WHERE movement_id IS NULL OR kind NOT IN "
        "('wrong_record_delivered', 'erroneous_archiving', 'empty_envelope')"
    )
    op.drop_index("ix_incident_movement", table_name="incident")
    op.drop_index("uq_incident_registration_kind", table_name="incident")
    op.drop_index("uq_incident_movement_kind_practice", table_name="incident")
    for name in ("incident_raised_complete", "incident_resolution_complete", "incident_subject"):
        op.drop_constraint(name, "incident", type_="check")
    for column in (
        "remedied_on", "resolution", "outcome", "resolved_on", "raised_on", "pcse_reference",
        "status", "registration_id",
    ):  # fmt: skip
        op.drop_column("incident", column)
    op.alter_column("incident", "movement_id", existing_type=sa.BigInteger(), nullable=False)
    op.create_unique_constraint("uq_incident_movement_kind", "incident", ["movement_id", "kind"])
    _check_in("incident", "incident_kind", "kind", INCIDENT_KINDS[:3])
    op.drop_table("registration")
    op.drop_table("registration_file")
    _replace_is_open(OLD_OPEN_SQL)
    for column in (
        "collection_due_on", "request_due_on", "returns_movement_id",
        "nhs_number_to_sender_only", "printout_attested", "ready_at",
    ):  # fmt: skip
        op.drop_column("movement", column)
    _open_indexes(OLD_OPEN_COLUMNS)
    op.drop_index("ix_movement_nhs_number", table_name="movement")
    op.execute(
        "UPDATE movement SET status = 'delivered' "
        "WHERE status IN ('in_storage_at_practice', 'wrong_record_delivered')"
    )
    op.execute(
        "DELETE FROM movement_count WHERE status IN ('in_storage_at_practice', 'wrong_record_delivered')"
    )
    _check_in("movement", "movement_reason", "reason", REASONS[:4])
    _check_in("movement_event", "history_kind", "kind", HISTORY[:12])
    for table, name, column in (
        ("movement", "movement_status", "status"),
        ("movement_event", "from_status", "from_status"),
        ("movement_event", "to_status", "to_status"),
        ("movement_count", "movement_count_status", "status"),
    ):
        _check_in(table, name, column, OLD_STATUSES)
