"""Line detail and the payment chain, payment runs, the expected schedule's inputs and rates,
anomalies, disputes, pensions, and the copy of the performers directory.

Rates, deadlines and paycodes are reference data seeded here; later changes are new rows with
their effective dates, in later migrations or through recordRate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:49:33.294948
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from pcse_kit.audit import append_only_sql
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("statement_line", "dispute_event")

PAYCODES = [
    ("GSUM", "global_sum", "Global sum"),
    ("PMSBASE", "pms_baseline", "PMS baseline"),
    ("QOFASP", "qof_aspiration", "QOF aspiration"),
    ("QOFACH", "qof_achievement", "QOF achievement"),
    ("ESCHILD", "enhanced_service", "Enhanced service: childhood immunisations"),
    ("ESFLU", "enhanced_service", "Enhanced service: seasonal influenza"),
    ("ESLDHC", "enhanced_service", "Enhanced service: learning disability health checks"),
    ("ESSHING", "enhanced_service", "Enhanced service: shingles"),
    ("PREMRENT", "premises", "Premises: notional rent"),
    ("PREMRATES", "premises", "Premises: business rates"),
    ("SENIOR", "seniority", "Seniority (closed 31 March 2020)"),
    ("LOCPAR", "locum_allowance", "Locum allowance: parental leave"),
    ("LOCSICK", "locum_allowance", "Locum allowance: sickness"),
    ("TRAINEE", "trainee_reimbursement", "GP trainee pay reimbursement"),
    ("TRGRANT", "training_grant", "Training grant"),
    ("DRUGS", "drugs", "Reimbursement of drugs"),
    ("DISPFEE", "dispensing_fees", "Dispensing fees"),
    ("PRESFEE", "dispensing_fees", "Prescribing fees"),
    ("PCNPART", "pcn", "PCN participation"),
    ("PCNARRS", "pcn", "PCN additional roles reimbursement"),
    ("OTHER", "other", "Other payments"),
    ("SUPEREE", "employee_superannuation", "Superannuation: employee contributions"),
    ("SUPERER", "employer_superannuation", "Superannuation: employer contributions"),
    ("SUPADMIN", "pension_admin_levy", "Pension scheme administration levy"),
    ("LMCSTAT", "lmc_statutory_levy", "LMC statutory levy"),
    ("LMCVOL", "lmc_voluntary_levy", "LMC voluntary levy"),
    ("PRESCHG", "prescription_charge_income", "Prescription charge income"),
]

_NHSBSA = "NHSBSA / NHS Employers: member contribution tiers"
# (effective from, lower bound of the band in pence, upper bound or None, %)
EMPLOYEE_TIERS = [
    *(
        ("2024-04-01", low, high, rate, _NHSBSA)
        for low, high, rate in [
            (0, 1_325_900, "5.2"),
            (1_326_000, 2_683_100, "6.5"),
            (2_683_200, 3_269_100, "8.3"),
            (3_269_200, 4_907_800, "9.8"),
            (4_907_900, 6_292_400, "10.7"),
            (6_292_500, None, "12.5"),
        ]
    ),
    *(
        ("2025-04-01", low, high, rate, _NHSBSA)
        for low, high, rate in [
            (0, 1_325_900, "5.2"),
            (1_326_000, 2_779_700, "6.5"),
            (2_779_800, 3_386_800, "8.3"),
            (3_386_900, 5_084_500, "9.8"),
            (5_084_600, 6_519_000, "10.7"),
            (6_519_100, None, "12.5"),
        ]
    ),
]
# (kind, effective from, %, source)
NATIONAL_RATES = [
    ("employer", "2015-04-01", "14.3", "NHS Employers: employer contribution rate"),
    ("employer", "2019-04-01", "20.6", "NHS Employers: employer contribution rate"),
    ("employer", "2024-04-01", "23.7", "NHS Employers: employer contribution rate"),
    ("admin_levy", "2017-04-01", "0.08", "PCSE bulletin 2017: scheme administration levy"),
    ("qof_aspiration", "2013-04-01", "70", "QOF aspiration: about 70% of last year's achievement"),
]
# (kind, from financial year, month, day, years after the year's start, source)
DEADLINES = [
    (
        "pension_estimate",
        2015,
        3,
        1,
        0,
        "PCSE estimate of pensionable pay (sources give 1 Mar, 31 Mar or 1 Apr)",
    ),
    (
        "pension_certificate",
        2015,
        2,
        28,
        2,
        "PCSE: Type 1 and Type 2 certificates due 28 February, a year in arrears",
    ),
    ("qof_achievement", 2013, 6, 30, 1, "QOF achievement payment due by the end of June"),
]


def upgrade() -> None:
    op.create_table(
        "anomaly",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "missing",
                "late",
                "duplicate",
                "incorrect_amount",
                "pension_gap",
                "pension_catch_up",
                "wrong_tier",
                "leaver_superannuation",
                name="anomaly_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "warning",
                "high",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
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
        sa.Column("covers_from", sa.Date(), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=True),
        sa.Column("amount_at_stake_pence", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.String(length=400), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "first_detected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_detected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_at_stake_pence >= 0", name="anomaly_amount"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_anomaly_practice", "anomaly", ["ods_code", "id"], unique=False)
    op.create_index(
        "ux_anomaly_open",
        "anomaly",
        ["fingerprint"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
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
        "deadline_rule",
        sa.Column(
            "kind",
            sa.Enum(
                "pension_estimate",
                "pension_certificate",
                "qof_achievement",
                name="deadline_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("from_year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("year_offset", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint("month BETWEEN 1 AND 12 AND day BETWEEN 1 AND 31", name="deadline_day"),
        sa.PrimaryKeyConstraint("kind", "from_year"),
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
        "locum_pension_form",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column(
            "form",
            sa.Enum("a", "b", name="locum_form", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("work_from", sa.Date(), nullable=False),
        sa.Column("work_to", sa.Date(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("bacs_reference", sa.String(length=40), nullable=False),
        sa.Column("pensionable_pence", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("pensionable_pence >= 0", name="locum_form_amount"),
        sa.CheckConstraint("work_to >= work_from", name="locum_form_dates"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_locum_form_performer", "locum_pension_form", ["gmc_number"], unique=False)
    op.create_index("ix_locum_form_practice", "locum_pension_form", ["ods_code"], unique=False)
    op.create_table(
        "paycode",
        sa.Column("code", sa.String(length=20), nullable=False),
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
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "payment_run",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("imported_by", sa.String(length=200), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("statement_count", sa.Integer(), nullable=False),
        sa.Column("total_pence", sa.BigInteger(), nullable=False),
        sa.Column("practice_codes", postgresql.ARRAY(sa.String(length=6)), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "pension_certificate",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("financial_year", sa.Integer(), nullable=False),
        sa.Column(
            "certificate_type",
            sa.Enum(
                "type_1",
                "type_2",
                name="certificate_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("ods_code", sa.String(length=6), server_default="", nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("processed_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "processed_on IS NULL OR processed_on >= submitted_on", name="pension_certificate_dates"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "gmc_number",
            "financial_year",
            "certificate_type",
            "ods_code",
            name="pension_certificate_one_per_year",
        ),
    )
    op.create_table(
        "pension_estimate",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("financial_year", sa.Integer(), nullable=False),
        sa.Column("pensionable_pay_pence", sa.BigInteger(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.CheckConstraint("pensionable_pay_pence >= 0", name="pension_estimate_amount"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "gmc_number", "ods_code", "financial_year", name="pension_estimate_one_per_post"
        ),
    )
    op.create_index(
        "ix_pension_estimate_practice",
        "pension_estimate",
        ["ods_code", "financial_year"],
        unique=False,
    )
    op.create_table(
        "performer_membership",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("membership_id", sa.BigInteger(), nullable=True),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name="performer_membership_dates"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "gmc_number", "ods_code", "start_date", name="performer_membership_natural"
        ),
        sa.UniqueConstraint("membership_id"),
    )
    op.create_index(
        "ix_performer_membership_practice", "performer_membership", ["ods_code"], unique=False
    )
    op.create_table(
        "practice_directory",
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lmc_code", sa.String(length=64), nullable=False),
        sa.Column("list_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("ods_code ~ '^[A-Z][0-9]{5}$'", name="practice_directory_ods_format"),
        sa.CheckConstraint("list_size >= 0", name="practice_directory_list_size"),
        sa.PrimaryKeyConstraint("ods_code"),
    )
    op.create_index(
        "ix_practice_directory_lmc", "practice_directory", ["lmc_code", "ods_code"], unique=False
    )
    op.create_table(
        "qof_declaration",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("financial_year", sa.Integer(), nullable=False),
        sa.Column("achievement_pence", sa.BigInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "awaiting_provider_approval",
                "awaiting_commissioner_approval",
                "approved",
                "paid",
                "no_declaration_required",
                name="declaration_state",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("declared_on", sa.Date(), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(state IN ('approved', 'paid')) = (approved_on IS NOT NULL)",
            name="qof_declaration_approved_dated",
        ),
        sa.CheckConstraint("achievement_pence >= 0", name="qof_declaration_amount"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ods_code", "financial_year", name="qof_declaration_one_per_year"),
    )
    op.create_table(
        "rate",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "employee_tier",
                "employer",
                "admin_levy",
                "lmc_statutory",
                "lmc_voluntary",
                "global_sum",
                "qof_aspiration",
                name="rate_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("scope", sa.String(length=64), server_default="", nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("band_from_pence", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("band_to_pence", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "band_to_pence IS NULL OR band_to_pence >= band_from_pence", name="rate_band_ordered"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "kind", "scope", "effective_from", "band_from_pence", name="rate_one_per_band"
        ),
    )
    op.create_table(
        "trainee_placement",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("monthly_pence", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("ends_on >= starts_on", name="trainee_placement_dates"),
        sa.CheckConstraint("monthly_pence > 0", name="trainee_placement_amount"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_trainee_placement_practice", "trainee_placement", ["ods_code"], unique=False
    )
    op.create_table(
        "dispute",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=True),
        sa.Column("anomaly_id", sa.BigInteger(), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column(
            "opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=300), nullable=True),
        sa.CheckConstraint(
            "line_id IS NOT NULL OR anomaly_id IS NOT NULL", name="dispute_is_about_something"
        ),
        sa.ForeignKeyConstraint(
            ["anomaly_id"],
            ["anomaly.id"],
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["statement_line.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_dispute_practice", "dispute", ["ods_code", "opened_at"], unique=False)
    op.create_table(
        "dispute_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dispute_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "opened",
                "sent",
                "receipt",
                "response",
                "escalated",
                "note",
                "resolved",
                name="dispute_event",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column(
            "evidence",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["dispute.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dispute_event_dispute", "dispute_event", ["dispute_id", "id"], unique=False)
    # Existing lines get what their statement says: the month it covers, its source system,
    # and paid on the statement's payment date.
    for column in (
        sa.Column("covers_from", sa.Date(), nullable=True),
        sa.Column("covers_to", sa.Date(), nullable=True),
        sa.Column(
            "paymaster",
            sa.Enum(
                "nhs_england",
                "icb",
                "local_authority",
                name="paymaster",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="nhs_england",
            nullable=False,
        ),
        sa.Column("source_system", sa.String(length=40), nullable=True),
        sa.Column("authoriser", sa.String(length=200), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "authorised",
                "entered",
                "paid",
                "failed",
                "reversed",
                name="chain_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="paid",
            nullable=False,
        ),
        sa.Column("authorised_on", sa.Date(), nullable=True),
        sa.Column("entered_on", sa.Date(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("failed_on", sa.Date(), nullable=True),
        sa.Column("reversed_on", sa.Date(), nullable=True),
        sa.Column("gmc_number", sa.String(length=7), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
    ):
        op.add_column("statement_line", column)
    op.execute(
        """
        UPDATE statement_line AS l
        SET covers_from = s.period,
            covers_to = (s.period + interval '1 month' - interval '1 day')::date,
            source_system = s.source_system,
            paid_on = s.payment_date
        FROM statement AS s
        WHERE s.id = l.statement_id
        """
    )
    for name in ("covers_from", "covers_to", "source_system"):
        op.alter_column("statement_line", name, nullable=False)
    # A zero line of either kind must be storable: a global sum shown as £0 is evidence.
    op.drop_constraint("statement_line_deductions_negative", "statement_line", type_="check")
    op.create_check_constraint(
        "statement_line_deductions_negative",
        "statement_line",
        "(component IN ('employee_superannuation', 'employer_superannuation', "
        "'pension_admin_levy', 'lmc_statutory_levy', 'lmc_voluntary_levy', "
        "'prescription_charge_income')) = (amount_pence <= 0) OR amount_pence = 0",
    )
    op.create_check_constraint(
        "statement_line_covers_ordered", "statement_line", "covers_to >= covers_from"
    )
    op.create_check_constraint(
        "statement_line_gmc_format",
        "statement_line",
        "gmc_number IS NULL OR gmc_number ~ '^[0-9]{7}$'",
    )
    op.create_check_constraint(
        "statement_line_status_dated",
        "statement_line",
        "(status <> 'paid' OR paid_on IS NOT NULL) "
        "AND (status <> 'failed' OR failed_on IS NOT NULL) "
        "AND (status <> 'reversed' OR reversed_on IS NOT NULL)",
    )
    op.create_index("ix_statement_line_run", "statement_line", ["run_id"], unique=False)
    # Lines and dispute timelines are evidence: never edited, only added to.
    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)
    _seed_reference_data()


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION {table}_append_only()")
    for name in (
        "statement_line_status_dated",
        "statement_line_gmc_format",
        "statement_line_covers_ordered",
    ):
        op.drop_constraint(name, "statement_line", type_="check")
    op.drop_constraint("statement_line_deductions_negative", "statement_line", type_="check")
    op.create_check_constraint(
        "statement_line_deductions_negative",
        "statement_line",
        "(component IN ('employee_superannuation', 'employer_superannuation', "
        "'pension_admin_levy', 'lmc_statutory_levy', 'lmc_voluntary_levy', "
        "'prescription_charge_income')) = (amount_pence <= 0)",
    )
    op.drop_index("ix_statement_line_run", table_name="statement_line")
    op.drop_column("statement_line", "run_id")
    op.drop_column("statement_line", "gmc_number")
    op.drop_column("statement_line", "reversed_on")
    op.drop_column("statement_line", "failed_on")
    op.drop_column("statement_line", "paid_on")
    op.drop_column("statement_line", "entered_on")
    op.drop_column("statement_line", "authorised_on")
    op.drop_column("statement_line", "status")
    op.drop_column("statement_line", "authoriser")
    op.drop_column("statement_line", "source_system")
    op.drop_column("statement_line", "paymaster")
    op.drop_column("statement_line", "covers_to")
    op.drop_column("statement_line", "covers_from")
    op.drop_index("ix_dispute_event_dispute", table_name="dispute_event")
    op.drop_table("dispute_event")
    op.drop_index("ix_dispute_practice", table_name="dispute")
    op.drop_table("dispute")
    op.drop_index("ix_trainee_placement_practice", table_name="trainee_placement")
    op.drop_table("trainee_placement")
    op.drop_table("rate")
    op.drop_table("qof_declaration")
    op.drop_index("ix_practice_directory_lmc", table_name="practice_directory")
    op.drop_table("practice_directory")
    op.drop_index("ix_performer_membership_practice", table_name="performer_membership")
    op.drop_table("performer_membership")
    op.drop_index("ix_pension_estimate_practice", table_name="pension_estimate")
    op.drop_table("pension_estimate")
    op.drop_table("pension_certificate")
    op.drop_table("payment_run")
    op.drop_table("paycode")
    op.drop_index("ix_locum_form_practice", table_name="locum_pension_form")
    op.drop_index("ix_locum_form_performer", table_name="locum_pension_form")
    op.drop_table("locum_pension_form")
    op.drop_table("inbox")
    op.drop_table("deadline_rule")
    op.drop_table("consumer_position")
    op.drop_index(
        "ux_anomaly_open", table_name="anomaly", postgresql_where=sa.text("resolved_at IS NULL")
    )
    op.drop_index("ix_anomaly_practice", table_name="anomaly")
    op.drop_table("anomaly")


def _seed_reference_data() -> None:
    paycode = sa.table(
        "paycode", sa.column("code"), sa.column("component"), sa.column("description")
    )
    op.bulk_insert(paycode, [{"code": c, "component": k, "description": d} for c, k, d in PAYCODES])
    rate = sa.table(
        "rate",
        sa.column("kind"),
        sa.column("scope"),
        sa.column("effective_from", sa.Date()),
        sa.column("band_from_pence", sa.BigInteger()),
        sa.column("band_to_pence", sa.BigInteger()),
        sa.column("value", sa.Numeric()),
        sa.column("source"),
    )
    rows = [
        {"kind": "employee_tier", "scope": "", "effective_from": date.fromisoformat(on),
         "band_from_pence": low, "band_to_pence": high, "value": Decimal(value), "source": source}
        for on, low, high, value, source in EMPLOYEE_TIERS
    ] + [
        {"kind": kind, "scope": "", "effective_from": date.fromisoformat(on),
         "band_from_pence": 0, "band_to_pence": None, "value": Decimal(value), "source": source}
        for kind, on, value, source in NATIONAL_RATES
    ]  # fmt: skip
    op.bulk_insert(rate, rows)
    deadline = sa.table(
        "deadline_rule",
        sa.column("kind"),
        sa.column("from_year"),
        sa.column("month"),
        sa.column("day"),
        sa.column("year_offset"),
        sa.column("source"),
    )
    op.bulk_insert(
        deadline,
        [
            {"kind": k, "from_year": y, "month": m, "day": d, "year_offset": o, "source": src}
            for k, y, m, d, o, src in DEADLINES
        ],
    )
