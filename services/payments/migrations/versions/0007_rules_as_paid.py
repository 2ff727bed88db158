"""Rules that match how practices are really paid.

Statement lines carry either sign (an adjustment under a payment heading, a refund under a
deduction heading) and the remittance they were paid in; paycodes say which signs they can
carry and how detection reads them; new components and paycodes (APMS contract payment, the
out-of-hours deduction, global sum arrears, pension year-end balancing, AVCs, added years,
ERRBO). Rates gain the date they were decided and by when their arrears are due; the
national rates are corrected and completed from their sources (the employer rate a practice
pays, the 80% aspiration share, the global sum per weighted patient with its backdated
uplifts, the out-of-hours deduction, QOF point values, the trainer's grant). The directory
copy gains the contract facts and a quarterly list history; list decisions, PMS and APMS
contract values, practice claims and the commissioner of each component are new tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPONENTS_BEFORE = (
    "global_sum", "pms_baseline", "qof_aspiration", "qof_achievement", "enhanced_service",
    "premises", "seniority", "locum_allowance", "trainee_reimbursement", "training_grant",
    "drugs", "dispensing_fees", "pcn", "other", "employee_superannuation",
    "employer_superannuation", "pension_admin_levy", "lmc_statutory_levy", "lmc_voluntary_levy",
    "prescription_charge_income",
)  # fmt: skip
COMPONENTS = (
    *COMPONENTS_BEFORE, "apms_contract", "additional_voluntary_contributions", "added_years",
    "errbo",
)  # fmt: skip
RATE_KINDS_BEFORE = (
    "employee_tier", "employer", "admin_levy", "lmc_statutory", "lmc_voluntary", "global_sum",
    "qof_aspiration",
)  # fmt: skip
RATE_KINDS = (*RATE_KINDS_BEFORE, "ooh_opt_out", "qof_point_value", "training_grant",
              "scheme_employer")  # fmt: skip
DEADLINES_BEFORE = ("pension_estimate", "pension_certificate", "qof_achievement")
DEADLINES = (*DEADLINES_BEFORE, "qof_declaration")
DECLARATION_STATES_BEFORE = (
    "awaiting_provider_approval", "awaiting_commissioner_approval", "approved", "paid",
    "no_declaration_required",
)  # fmt: skip
DECLARATION_STATES = (*DECLARATION_STATES_BEFORE, "appealed")
ANOMALY_KINDS_BEFORE = (
    "missing", "late", "duplicate", "incorrect_amount", "pension_gap", "pension_catch_up",
    "wrong_tier", "leaver_superannuation",
)  # fmt: skip
ANOMALY_KINDS = (*ANOMALY_KINDS_BEFORE, "stuck", "stuck_declaration")

# (code, component, description, sign, treatment)
NEW_PAYCODES = [
    ("APMSCON", "apms_contract", "APMS contract payment", "either", "regular"),
    ("GSUMOOH", "global_sum", "Global sum: out-of-hours opt-out deduction", "either", "regular"),
    ("GSUMARR", "global_sum", "Global sum: arrears of a backdated uplift", "credit", "arrears"),
    ("SUPEEYE", "employee_superannuation", "Superannuation: employee year-end balancing",
     "either", "year_end"),
    ("SUPERYE", "employer_superannuation", "Superannuation: employer year-end balancing",
     "either", "year_end"),
    ("SUPAVC", "additional_voluntary_contributions", "Additional voluntary contributions",
     "debit", "regular"),
    ("SUPADDYR", "added_years", "Superannuation: added years", "debit", "regular"),
    ("SUPERRBO", "errbo", "Superannuation: early retirement reduction buy-out", "debit",
     "regular"),
]  # fmt: skip
DEBIT_ONLY = ("PRESCHG",)

_EMP = "NHS Employers, employer contributions from April 2024"
_BMA25 = "BMA, 2025/26 GP contract changes"
# (kind, effective from, decided on, settle by, value, source)
RATES = [
    ("scheme_employer", "2015-04-01", None, None, "14.3", f"{_EMP}: the scheme's rate"),
    ("scheme_employer", "2019-04-01", None, None, "20.6",
     f"{_EMP}: 20.6% from 2019; practices pay 14.3%, NHS England the other 6.3% centrally"),
    ("scheme_employer", "2024-04-01", None, None, "23.7",
     f"{_EMP}: 23.7% from 2024; practices pay 14.3%, NHS England the other 9.4% centrally"),
    ("qof_aspiration", "2024-04-01", None, None, "80",
     "GP contract 2024/25 (BMA Focus on QOF; Lincs LMC; MiP 29 Feb 2024): aspiration 80%"),
    ("ooh_opt_out", "2004-04-01", None, None, "4.75",
     "SFE global sum: out-of-hours opt-out deduction 4.75% (Surrey & Sussex LMCs)"),
    ("global_sum", "2018-04-01", None, None, "8896",
     "Pulse, 2019: global sum £88.96 per weighted patient in 2018/19"),
    ("global_sum", "2019-04-01", None, None, "8988",
     "Pulse, 2019: global sum £89.88 per weighted patient in 2019/20"),
    ("global_sum", "2022-04-01", None, None, "9970",
     "Londonwide LMCs, Oct 2023: global sum £99.70 in 2022/23"),
    ("global_sum", "2023-04-01", None, None, "10228",
     "Londonwide LMCs, Oct 2023: original 2023/24 global sum £102.28"),
    ("global_sum", "2023-04-01", "2023-10-02", "2023-11-30", "10473",
     "SFE amendment, Oct 2023 (Pulse): £104.73 backdated to April 2023"),
    ("global_sum", "2024-04-01", None, None, "10757",
     "GP contract directions 2024/25 (Pulse, Mar 2024): £107.57"),
    ("global_sum", "2024-04-01", "2024-08-02", "2024-09-30", "11250",
     "NHS England, 2 Aug 2024 (Pulse): £112.50 backdated to April, paid in the Sept 2024 run"),
    ("global_sum", "2025-04-01", None, None, "12179", f"{_BMA25}: £121.79 from April 2025"),
    ("global_sum", "2025-04-01", "2025-08-07", "2025-09-30", "12334",
     "NHS England letter to ICBs, Aug 2025 (Practice Index 7 Aug 2025; Surrey & Sussex LMCs): "
     "£123.34 backdated to April, paid in the Aug-Sept 2025 runs"),
    ("qof_point_value", "2023-04-01", None, None, "21343", "CQRS QOF FAQ: £213.43 for 2023/24"),
    ("qof_point_value", "2024-04-01", None, None, "22062",
     "Ardens QOF FAQ; MiP 29 Feb 2024: £220.62 for 2024/25"),
    ("training_grant", "2023-04-01", None, None, "979400",
     "NHS England WT&E East Midlands: trainer grant £9,794 a year from April 2023"),
]  # fmt: skip
COMMISSIONERS = [
    # component, paycode, from, commissioner, route, source
    *(
        (component, "", "2013-04-01", "nhs_england", "PCSE Online (NHAIS before June 2021)",
         "NHS England commissioned primary medical services from April 2013")
        for component in (
            "global_sum", "pms_baseline", "apms_contract", "qof_aspiration", "qof_achievement",
            "enhanced_service", "premises", "seniority", "locum_allowance", "drugs",
            "dispensing_fees", "pcn", "other",
        )
    ),
    *(
        (component, "", "2022-07-01", "icb", "PCSE Online, as the ICB's paying agent",
         "NHS England: delegated commissioning of primary medical services to every ICB "
         "from 1 July 2022")
        for component in (
            "global_sum", "pms_baseline", "apms_contract", "qof_aspiration", "qof_achievement",
            "enhanced_service", "premises", "seniority", "locum_allowance", "drugs",
            "dispensing_fees", "pcn", "other",
        )
    ),
    ("trainee_reimbursement", "", "2013-04-01", "nhs_england", "PCSE Online",
     "NHS England (workforce, training and education): GP trainee pay, non-lead-employer areas"),
    ("training_grant", "", "2013-04-01", "nhs_england", "PCSE Online",
     "NHS England (workforce, training and education): trainer grant via PCSE"),
]  # fmt: skip


def _recheck(table: str, name: str, column: str, values: Sequence[str]) -> None:
    op.drop_constraint(name, table, type_="check")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(name, table, f"{column} IN ({listed})")


def upgrade() -> None:
    for table in ("statement_line", "paycode", "anomaly"):
        _recheck(table, "component", "component", COMPONENTS)
    _recheck("rate", "rate_kind", "kind", RATE_KINDS)
    _recheck("deadline_rule", "deadline_kind", "kind", DEADLINES)
    _recheck("qof_declaration", "declaration_state", "state", DECLARATION_STATES)
    _recheck("anomaly", "anomaly_kind", "kind", ANOMALY_KINDS)

    # Statement lines: either sign, and the remittance they were paid in.
    op.drop_constraint("statement_line_deductions_negative", "statement_line", type_="check")
    op.add_column("statement_line", sa.Column("remittance_ref", sa.String(40), nullable=True))

    # Paycodes: the signs they carry and how detection reads them.
    op.add_column(
        "paycode",
        sa.Column(
            "sign",
            sa.Enum("either", "credit", "debit", name="paycode_sign", native_enum=False,
                    create_constraint=True, length=32),
            server_default="either", nullable=False,
        ),
    )  # fmt: skip
    op.add_column(
        "paycode",
        sa.Column(
            "treatment",
            sa.Enum("regular", "arrears", "year_end", name="line_treatment", native_enum=False,
                    create_constraint=True, length=32),
            server_default="regular", nullable=False,
        ),
    )  # fmt: skip
    paycode = sa.table(
        "paycode", sa.column("code"), sa.column("component"), sa.column("description"),
        sa.column("sign"), sa.column("treatment"),
    )  # fmt: skip
    op.bulk_insert(
        paycode,
        [
            {"code": c, "component": k, "description": d, "sign": s, "treatment": t}
            for c, k, d, s, t in NEW_PAYCODES
        ],
    )
    op.execute(sa.update(paycode).where(paycode.c.code.in_(DEBIT_ONLY)).values(sign="debit"))
    op.execute(
        sa.update(paycode)
        .where(paycode.c.code == "SUPERER")
        .values(description="Superannuation: employer contributions (the practice's 14.38%)")
    )

    # Rates: when a backdated one was decided, and by when its arrears are due.
    op.add_column("rate", sa.Column("decided_on", sa.Date(), nullable=True))
    op.add_column("rate", sa.Column("settle_by", sa.Date(), nullable=True))
    op.drop_constraint("rate_one_per_band", "rate", type_="unique")
    op.create_unique_constraint(
        "rate_one_per_band", "rate",
        ["kind", "scope", "effective_from", "band_from_pence", "decided_on"],
        postgresql_nulls_not_distinct=True,
    )  # fmt: skip
    # The practice pays 14.3% (with the 0.08% levy, 14.38%) whatever the scheme's rate:
    # 20.6% and 23.7% are the scheme's, and NHS England pays the difference centrally.
    rate = sa.table(
        "rate", sa.column("kind"), sa.column("scope"), sa.column("effective_from", sa.Date()),
        sa.column("band_from_pence", sa.BigInteger()), sa.column("band_to_pence", sa.BigInteger()),
        sa.column("value", sa.Numeric()), sa.column("source"), sa.column("decided_on", sa.Date()),
        sa.column("settle_by", sa.Date()),
    )  # fmt: skip
    op.execute(
        sa.delete(rate).where(rate.c.kind == "employer", rate.c.effective_from > date(2015, 4, 1))
    )
    op.execute(
        sa.update(rate)
        .where(rate.c.kind == "employer")
        .values(
            source="NHS Employers (employer contributions from April 2024); PCSE: the "
            "practice pays 14.3% plus the 0.08% levy, 14.38% in all, at every scheme rate"
        )
    )
    op.execute(
        sa.update(rate)
        .where(rate.c.kind == "qof_aspiration")
        .values(source="BMA Focus on QOF payments: 70% of last year's achievement, to 2023/24")
    )
    op.bulk_insert(
        rate,
        [
            {
                "kind": kind, "scope": "", "effective_from": date.fromisoformat(on),
                "band_from_pence": 0, "band_to_pence": None, "value": Decimal(value),
                "source": source,
                "decided_on": date.fromisoformat(decided) if decided else None,
                "settle_by": date.fromisoformat(settle) if settle else None,
            }
            for kind, on, decided, settle, value, source in RATES
        ],
    )  # fmt: skip
    deadline = sa.table(
        "deadline_rule", sa.column("kind"), sa.column("from_year"), sa.column("month"),
        sa.column("day"), sa.column("year_offset"), sa.column("source"),
    )  # fmt: skip
    op.bulk_insert(
        deadline,
        [
            {"kind": "qof_declaration", "from_year": 2013, "month": 5, "day": 31,
             "year_offset": 1,
             "source": "Assumed: the practice signs its declaration off by 31 May, leaving the "
             "commissioner a month before the 30 June payment (no published date found)"},
        ],
    )  # fmt: skip

    op.create_table(
        "timing_rule",
        sa.Column(
            "kind",
            sa.Enum("commissioner_approval", name="timing_kind",
                    native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint("days > 0", name="timing_rule_days"),
        sa.PrimaryKeyConstraint("kind", "effective_from"),
    )  # fmt: skip
    timing = sa.table(
        "timing_rule", sa.column("kind"), sa.column("effective_from", sa.Date()),
        sa.column("days"), sa.column("source"),
    )  # fmt: skip
    op.bulk_insert(
        timing,
        [
            {"kind": "commissioner_approval", "effective_from": date(2013, 4, 1), "days": 30,
             "source": "Assumed: a declaration awaiting the commissioner for more than 30 days "
             "is stuck (CQRS publishes no approval time)"},
        ],
    )  # fmt: skip

    op.create_table(
        "commissioner_rule",
        sa.Column(
            "component",
            sa.Enum(*COMPONENTS, name="component", native_enum=False, create_constraint=True,
                    length=40),
            nullable=False,
        ),
        sa.Column("paycode", sa.String(length=20), server_default="", nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column(
            "commissioner",
            sa.Enum("nhs_england", "icb", "local_authority", name="paymaster", native_enum=False,
                    create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("component", "paycode", "effective_from"),
    )  # fmt: skip
    commissioner = sa.table(
        "commissioner_rule", sa.column("component"), sa.column("paycode"),
        sa.column("effective_from", sa.Date()), sa.column("commissioner"), sa.column("route"),
        sa.column("source"),
    )  # fmt: skip
    op.bulk_insert(
        commissioner,
        [
            {"component": c, "paycode": p, "effective_from": date.fromisoformat(f),
             "commissioner": who, "route": route, "source": src}
            for c, p, f, who, route, src in COMMISSIONERS
        ],
    )  # fmt: skip

    # The directory copy: contract facts (NULL: not said yet) and the list by quarter.
    for column in (
        sa.Column("contract_type", sa.String(length=4), nullable=True),
        sa.Column("dispensing", sa.Boolean(), nullable=True),
        sa.Column("training_practice", sa.Boolean(), nullable=True),
        sa.Column("out_of_hours_opt_out", sa.Boolean(), nullable=True),
        sa.Column("icb_code", sa.String(length=5), nullable=True),
    ):
        op.add_column("practice_directory", column)
    op.create_table(
        "practice_list_size",
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("quarter_start", sa.Date(), nullable=False),
        sa.Column("registered_patients", sa.Integer(), nullable=False),
        sa.Column("weighted_patients", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(
            "extract(day FROM quarter_start) = 1 "
            "AND extract(month FROM quarter_start) IN (1, 4, 7, 10)",
            name="practice_list_size_quarter",
        ),
        sa.CheckConstraint(
            "registered_patients >= 0 AND (weighted_patients IS NULL OR weighted_patients >= 0)",
            name="practice_list_size_counts",
        ),
        sa.PrimaryKeyConstraint("ods_code", "quarter_start"),
    )  # fmt: skip
    op.create_table(
        "contract_value",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("contract_type", sa.String(length=4), nullable=False),
        sa.Column("annual_pence", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint("annual_pence >= 0", name="contract_value_amount"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "ods_code",
            "effective_from",
            "decided_on",
            name="contract_value_one_per_decision",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "trainee_pay",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("placement_id", sa.BigInteger(), nullable=False),
        sa.Column("applies_from", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("monthly_pence", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("monthly_pence > 0", name="trainee_pay_amount"),
        sa.ForeignKeyConstraint(["placement_id"], ["trainee_placement.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "placement_id",
            "applies_from",
            "decided_on",
            name="trainee_pay_one_per_decision",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "performer_status_change",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("from_status", sa.String(length=40), nullable=False),
        sa.Column("to_status", sa.String(length=40), nullable=False),
        sa.Column("decision", sa.String(length=200), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "gmc_number", "effective_date", "to_status", name="performer_status_change_natural"
        ),
    )
    op.create_index(
        "ix_performer_status_change_performer",
        "performer_status_change",
        ["gmc_number", "effective_date"],
    )

    op.add_column("qof_declaration", sa.Column("retired_pence", sa.BigInteger(), nullable=True))
    op.add_column(
        "qof_declaration", sa.Column("aspiration_paid_pence", sa.BigInteger(), nullable=True)
    )
    op.add_column("qof_declaration", sa.Column("appealed_on", sa.Date(), nullable=True))
    op.add_column("pension_estimate", sa.Column("declared_tier", sa.Numeric(4, 1), nullable=True))
    op.add_column("locum_pension_form", sa.Column("income_month", sa.Date(), nullable=True))
    op.add_column("anomaly", sa.Column("covers_to", sa.Date(), nullable=True))
    op.add_column("anomaly", sa.Column("claim_reference", sa.String(length=40), nullable=True))
    op.add_column(
        "anomaly",
        sa.Column(
            "direction",
            sa.Enum("owed_to_practice", "repayable_by_practice", name="direction",
                    native_enum=False, create_constraint=True, length=32),
            server_default="owed_to_practice", nullable=False,
        ),
    )  # fmt: skip

    op.create_table(
        "practice_claim",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column(
            "component",
            sa.Enum(*COMPONENTS, name="component", native_enum=False, create_constraint=True,
                    length=40),
            nullable=False,
        ),
        sa.Column("paycode", sa.String(length=20), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("covers_from", sa.Date(), nullable=False),
        sa.Column("covers_to", sa.Date(), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("claimed_on", sa.Date(), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column(
            "state",
            sa.Enum("claimed", "approved", "paid", "rejected", "withdrawn", name="claim_state",
                    native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("covers_to >= covers_from", name="practice_claim_covers_ordered"),
        sa.CheckConstraint(
            "(state IN ('approved', 'paid')) <= (approved_on IS NOT NULL)",
            name="practice_claim_approved_dated",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ods_code", "reference", name="practice_claim_reference"),
    )  # fmt: skip
    op.create_index("ix_practice_claim_practice", "practice_claim", ["ods_code"])


def downgrade() -> None:
    op.drop_index("ix_practice_claim_practice", table_name="practice_claim")
    op.drop_table("practice_claim")
    op.drop_column("anomaly", "direction")
    op.drop_column("anomaly", "claim_reference")
    op.drop_column("anomaly", "covers_to")
    op.drop_column("locum_pension_form", "income_month")
    op.drop_column("pension_estimate", "declared_tier")
    for column in ("appealed_on", "aspiration_paid_pence", "retired_pence"):
        op.drop_column("qof_declaration", column)
    op.drop_index("ix_performer_status_change_performer", table_name="performer_status_change")
    op.drop_table("performer_status_change")
    op.drop_table("trainee_pay")
    op.drop_table("contract_value")
    op.drop_table("practice_list_size")
    for column in ("icb_code", "out_of_hours_opt_out", "training_practice", "dispensing",
                   "contract_type"):  # fmt: skip
        op.drop_column("practice_directory", column)
    op.drop_table("commissioner_rule")
    op.drop_table("timing_rule")
    op.execute("DELETE FROM deadline_rule WHERE kind = 'qof_declaration'")
    for kind, on, decided, _, value, _ in RATES:
        op.execute(
            sa.text(
                "DELETE FROM rate WHERE kind = :kind AND scope = '' AND effective_from = :on "
                "AND value = :value AND decided_on IS NOT DISTINCT FROM :decided"
            ).bindparams(
                kind=kind, on=date.fromisoformat(on), value=Decimal(value),
                decided=date.fromisoformat(decided) if decided else None,
            )
        )  # fmt: skip
    op.execute(
        "INSERT INTO rate (kind, scope, effective_from, band_from_pence, value, source) VALUES "
        "('employer', '', '2019-04-01', 0, 20.6, 'NHS Employers: employer contribution rate'), "
        "('employer', '', '2024-04-01', 0, 23.7, 'NHS Employers: employer contribution rate')"
    )
    op.drop_constraint("rate_one_per_band", "rate", type_="unique")
    op.create_unique_constraint(
        "rate_one_per_band", "rate", ["kind", "scope", "effective_from", "band_from_pence"]
    )
    op.drop_column("rate", "settle_by")
    op.drop_column("rate", "decided_on")
    codes = sa.table("paycode", sa.column("code"))
    op.execute(sa.delete(codes).where(codes.c.code.in_([code for code, *_ in NEW_PAYCODES])))
    op.drop_column("paycode", "treatment")
    op.drop_column("paycode", "sign")
    op.drop_column("statement_line", "remittance_ref")
    op.create_check_constraint(
        "statement_line_deductions_negative",
        "statement_line",
        "(component IN ('employee_superannuation', 'employer_superannuation', "
        "'pension_admin_levy', 'lmc_statutory_levy', 'lmc_voluntary_levy', "
        "'prescription_charge_income')) = (amount_pence <= 0) OR amount_pence = 0",
    )
    _recheck("anomaly", "anomaly_kind", "kind", ANOMALY_KINDS_BEFORE)
    _recheck("qof_declaration", "declaration_state", "state", DECLARATION_STATES_BEFORE)
    _recheck("deadline_rule", "deadline_kind", "kind", DEADLINES_BEFORE)
    _recheck("rate", "rate_kind", "kind", RATE_KINDS_BEFORE)
    for table in ("statement_line", "paycode", "anomaly"):
        _recheck(table, "component", "component", COMPONENTS_BEFORE)
