"""Tables of the payments service: monthly statements and their itemised lines."""

from __future__ import annotations

import enum
from datetime import date, datetime

from pcse_kit.audit import audit_table, idempotency_table
from pcse_kit.db import text_enum
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # Every timestamp is an instant: stored with its time zone, compared as UTC.
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012 - SQLAlchemy's API


class Component(enum.StrEnum):
    """What a statement line pays or deducts. Deductions are the last six."""

    GLOBAL_SUM = "global_sum"
    PMS_BASELINE = "pms_baseline"
    QOF_ASPIRATION = "qof_aspiration"
    QOF_ACHIEVEMENT = "qof_achievement"
    ENHANCED_SERVICE = "enhanced_service"
    PREMISES = "premises"
    SENIORITY = "seniority"
    LOCUM_ALLOWANCE = "locum_allowance"
    TRAINEE_REIMBURSEMENT = "trainee_reimbursement"
    TRAINING_GRANT = "training_grant"
    DRUGS = "drugs"
    DISPENSING_FEES = "dispensing_fees"
    PCN = "pcn"
    OTHER = "other"
    EMPLOYEE_SUPERANNUATION = "employee_superannuation"
    EMPLOYER_SUPERANNUATION = "employer_superannuation"
    PENSION_ADMIN_LEVY = "pension_admin_levy"
    LMC_STATUTORY_LEVY = "lmc_statutory_levy"
    LMC_VOLUNTARY_LEVY = "lmc_voluntary_levy"
    PRESCRIPTION_CHARGE_INCOME = "prescription_charge_income"

    @property
    def is_deduction(self) -> bool:
        return self in DEDUCTIONS


DEDUCTIONS = frozenset(
    {
        Component.EMPLOYEE_SUPERANNUATION,
        Component.EMPLOYER_SUPERANNUATION,
        Component.PENSION_ADMIN_LEVY,
        Component.LMC_STATUTORY_LEVY,
        Component.LMC_VOLUNTARY_LEVY,
        Component.PRESCRIPTION_CHARGE_INCOME,
    }
)


class Statement(Base):
    """A practice's monthly payment statement."""

    __tablename__ = "statement"
    __table_args__ = (
        UniqueConstraint("ods_code", "period", name="statement_one_per_practice_period"),
        CheckConstraint("ods_code ~ '^[A-Z][0-9]{5}$'", name="statement_ods_code_format"),
        CheckConstraint("extract(day FROM period) = 1", name="statement_period_is_month"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(6))
    period: Mapped[date]
    """First day of the month the statement covers."""
    payment_date: Mapped[date]
    source_system: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StatementLine(Base):
    """One itemised line. Amounts are integer pence; deductions are negative."""

    __tablename__ = "statement_line"
    __table_args__ = (
        Index("ix_statement_line_statement", "statement_id", "id"),
        CheckConstraint(
            "(component IN ('employee_superannuation', 'employer_superannuation', "
            "'pension_admin_levy', 'lmc_statutory_levy', 'lmc_voluntary_levy', "
            "'prescription_charge_income')) = (amount_pence <= 0)",
            name="statement_line_deductions_negative",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statement.id", ondelete="CASCADE"))
    component: Mapped[Component] = mapped_column(text_enum(Component, "component", length=40))
    paycode: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(200))
    amount_pence: Mapped[int] = mapped_column(BigInteger)


class AccountantConsent(Base):
    """A practice's consent for an accountant to see its payments, until revoked.

    Rows are never deleted: a revocation sets ``revoked_at``, so every grant and revoke stays
    on record.
    """

    __tablename__ = "accountant_consent"
    __table_args__ = (
        CheckConstraint("ods_code ~ '^[A-Z][0-9]{5}$'", name="consent_ods_code_format"),
        CheckConstraint(
            "revoked_at IS NULL OR revoked_at >= granted_at", name="consent_revoked_after_grant"
        ),
        Index(
            "ux_consent_active",
            "ods_code",
            "accountant_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index("ix_consent_accountant", "accountant_id", "ods_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(6))
    accountant_id: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(server_default=func.now())
    granted_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(200))


AuditEvent = audit_table(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
