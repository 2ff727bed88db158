"""Consent with a scope, and the chart of accounts journal exports book to.

An accountant's consent now says what it covers: payments only, or payments and pensions.
Every consent granted before is payments only (``scope`` defaults to ``payments``): a practice
that wants its accountant to see pensions grants it again with the wider scope.

``ledger_account`` maps each component to a nominal code: owner ``*`` is the default chart
(seeded here, as the README documents it); an accountant's or a practice's own rows replace
single codes for its exports.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPONENTS = (
    "global_sum", "pms_baseline", "qof_aspiration", "qof_achievement", "enhanced_service",
    "premises", "seniority", "locum_allowance", "trainee_reimbursement", "training_grant",
    "drugs", "dispensing_fees", "pcn", "other", "employee_superannuation",
    "employer_superannuation", "pension_admin_levy", "lmc_statutory_levy", "lmc_voluntary_levy",
    "prescription_charge_income", "apms_contract", "additional_voluntary_contributions",
    "added_years", "errbo",
)  # fmt: skip

PENSION_PARTNERS = "Partners' current accounts: NHS pension (employer)"
PENSION_EXTRAS = "Partners' current accounts: pension AVCs, added years, ERRBO"
DEFAULT_CHART = (
    ("global_sum", "4000", "GMS global sum"),
    ("pms_baseline", "4001", "PMS contract baseline"),
    ("apms_contract", "4002", "APMS contract payments"),
    ("qof_aspiration", "4100", "QOF aspiration"),
    ("qof_achievement", "4101", "QOF achievement"),
    ("enhanced_service", "4200", "Enhanced services"),
    ("pcn", "4210", "PCN income"),
    ("premises", "4300", "Premises reimbursements: rent and rates"),
    ("seniority", "4400", "Seniority payments"),
    ("locum_allowance", "4410", "Locum reimbursements"),
    ("trainee_reimbursement", "4500", "GP registrar reimbursement"),
    ("training_grant", "4510", "Trainer's grant"),
    ("drugs", "4600", "Dispensing: drugs reimbursement"),
    ("dispensing_fees", "4610", "Dispensing: fees"),
    ("prescription_charge_income", "4620", "Dispensing: prescription charges collected"),
    ("other", "4900", "Other NHS income"),
    ("employee_superannuation", "2300", "Partners' current accounts: NHS pension (employee)"),
    ("employer_superannuation", "2310", PENSION_PARTNERS),
    ("pension_admin_levy", "2310", PENSION_PARTNERS),
    ("additional_voluntary_contributions", "2320", PENSION_EXTRAS),
    ("added_years", "2320", PENSION_EXTRAS),
    ("errbo", "2320", PENSION_EXTRAS),
    ("lmc_statutory_levy", "7900", "LMC levies"),
    ("lmc_voluntary_levy", "7900", "LMC levies"),
)


def upgrade() -> None:
    op.add_column(
        "accountant_consent",
        sa.Column(
            "scope",
            sa.Enum(
                "payments", "payments_and_pensions", name="consent_scope", native_enum=False,
                create_constraint=True, length=40,
            ),
            server_default="payments",
            nullable=False,
        ),
    )  # fmt: skip
    ledger = op.create_table(
        "ledger_account",
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column(
            "component",
            sa.Enum(
                *COMPONENTS, name="component", native_enum=False, create_constraint=True, length=40
            ),
            nullable=False,
        ),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9./-]{0,19}$'", name="ledger_code_format"),
        sa.PrimaryKeyConstraint("owner", "component"),
    )
    op.bulk_insert(
        ledger, [{"owner": "*", "component": c, "code": k, "name": n} for c, k, n in DEFAULT_CHART]
    )


def downgrade() -> None:
    op.drop_table("ledger_account")
    op.drop_column("accountant_consent", "scope")
