"""Tables of the payments service: statements and lines, what was expected, what went wrong."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from pcse_kit.audit import audit_table, idempotency_table
from pcse_kit.db import text_enum
from pcse_kit.events import dead_letter_table, inbox_table, outbox_table
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # Every timestamp is an instant: stored with its time zone, compared as UTC.
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012 - SQLAlchemy's API


class Component(enum.StrEnum):
    """What a statement line pays or deducts (deductions: see ``DEDUCTIONS``)."""

    GLOBAL_SUM = "global_sum"
    PMS_BASELINE = "pms_baseline"
    APMS_CONTRACT = "apms_contract"
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
    ADDITIONAL_VOLUNTARY_CONTRIBUTIONS = "additional_voluntary_contributions"
    ADDED_YEARS = "added_years"
    ERRBO = "errbo"
    """Early retirement reduction buy-out, deducted for a GP who buys it."""

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
        Component.ADDITIONAL_VOLUNTARY_CONTRIBUTIONS,
        Component.ADDED_YEARS,
        Component.ERRBO,
    }
)


class Paymaster(enum.StrEnum):
    """Who pays a line: the commissioner whose money it is."""

    NHS_ENGLAND = "nhs_england"
    ICB = "icb"
    LOCAL_AUTHORITY = "local_authority"


class ChainStatus(enum.StrEnum):
    """Where a line is in the payment chain: authorised by the commissioner, entered by PCSE,
    then paid, failed or (after payment) reversed."""

    AUTHORISED = "authorised"
    ENTERED = "entered"
    PAID = "paid"
    FAILED = "failed"
    REVERSED = "reversed"


class PaymentRun(Base):
    """One imported payment run. Its id makes a replayed import a no-op."""

    __tablename__ = "payment_run"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    imported_at: Mapped[datetime] = mapped_column(server_default=func.now())
    imported_by: Mapped[str] = mapped_column(String(200))
    line_count: Mapped[int]
    statement_count: Mapped[int]
    total_pence: Mapped[int] = mapped_column(BigInteger)
    practice_codes: Mapped[list[str]] = mapped_column(ARRAY(String(6)))
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the file: the same run id with different content is refused."""


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
    """One itemised line. Amounts are integer pence: payments positive, deductions negative,
    and either may be zero (a global sum shown as £0 is itself evidence). Either sign is
    stored: an adjustment under a payment heading can be negative, a refund under a deduction
    heading positive; the paycode says which signs it can carry (:class:`PaycodeSign`).

    Lines are never changed once written (a trigger refuses it): a correction is a new line in
    a later run, so what a practice was told stays on record as evidence.
    """

    __tablename__ = "statement_line"
    __table_args__ = (
        Index("ix_statement_line_statement", "statement_id", "id"),
        # A run's lines arrive in one COPY and lie together in the heap, so a block-range
        # index finds them; a B-tree cost a tenth of the server's time in every import.
        Index("ix_statement_line_run", "run_id", postgresql_using="brin"),
        CheckConstraint("covers_to >= covers_from", name="statement_line_covers_ordered"),
        CheckConstraint(
            "gmc_number IS NULL OR gmc_number ~ '^[0-9]{7}$'", name="statement_line_gmc_format"
        ),
        CheckConstraint(
            "(status <> 'paid' OR paid_on IS NOT NULL) "
            "AND (status <> 'failed' OR failed_on IS NOT NULL) "
            "AND (status <> 'reversed' OR reversed_on IS NOT NULL)",
            name="statement_line_status_dated",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    statement_id: Mapped[int] = mapped_column(BigInteger)
    """The line's statement. Not a foreign key, which checked each line alone: a trigger checks
    every line an INSERT or COPY brings at once, and statements are never deleted nor their
    ids changed (triggers; migration 0013 says why this is the same guarantee)."""
    component: Mapped[Component] = mapped_column(text_enum(Component, "component", length=40))
    paycode: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(200))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    covers_from: Mapped[date]
    """First day of the period the line pays for (a QOF achievement line covers a year)."""
    covers_to: Mapped[date]
    paymaster: Mapped[Paymaster] = mapped_column(
        text_enum(Paymaster, "paymaster"), server_default=Paymaster.NHS_ENGLAND.value
    )
    source_system: Mapped[str] = mapped_column(String(40))
    authoriser: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[ChainStatus] = mapped_column(
        text_enum(ChainStatus, "chain_status"), server_default=ChainStatus.PAID.value
    )
    authorised_on: Mapped[date | None]
    entered_on: Mapped[date | None]
    paid_on: Mapped[date | None]
    failed_on: Mapped[date | None]
    reversed_on: Mapped[date | None]
    gmc_number: Mapped[str | None] = mapped_column(String(7))
    """The performer a pension line is for."""
    run_id: Mapped[str | None] = mapped_column(String(64))
    """The payment run that brought the line. Not a foreign key on purpose: the loader writes
    a run and all its lines in one transaction, and the per-row check cost a third of COPY's
    time (bench/payments_import.py)."""
    remittance_ref: Mapped[str | None] = mapped_column(String(40))
    """The remittance (bank credit) the line was paid in, where the run names one."""


class StatementRow(NamedTuple):
    """A statement as a page of statements shows it: the columns it reads, nothing tracked."""

    id: int
    ods_code: str
    period: date
    payment_date: date
    source_system: str


class LineRow(NamedTuple):
    """A statement line as the reads see it: its columns, without the ORM's per-object state.

    Lines never change once written, so there is nothing to track; and a tuple's attributes
    read several times faster than mapped ones, which a statement page and anomaly detection
    do for every line, many times over.
    """

    id: int
    statement_id: int
    component: Component
    paycode: str
    description: str
    amount_pence: int
    covers_from: date
    covers_to: date
    paymaster: Paymaster
    source_system: str
    authoriser: str | None
    status: ChainStatus
    authorised_on: date | None
    entered_on: date | None
    paid_on: date | None
    failed_on: date | None
    reversed_on: date | None
    gmc_number: str | None
    run_id: str | None
    remittance_ref: str | None


class PaycodeSign(enum.StrEnum):
    """The signs a paycode's lines can carry."""

    EITHER = "either"
    """A payment an adjustment can take below zero, or a deduction that can be refunded."""
    CREDIT = "credit"
    """Only money to the practice (arrears of an uplift)."""
    DEBIT = "debit"
    """Only money taken (AVCs, added years, ERRBO, prescription charges): a correction is a
    reversal of the line, not a line of the other sign."""


class LineTreatment(enum.StrEnum):
    """How detection reads a paycode's lines."""

    REGULAR = "regular"
    """Counts towards the months it covers."""
    ARREARS = "arrears"
    """Arrears of a rate decided after the months it covers: settles them, on its own date."""
    YEAR_END = "year_end"
    """Pension year-end balancing: settles the year; never fills a month, never a duplicate."""


class Paycode(Base):
    """PCSE paycodes and the component each pays: reference data, seeded by a migration."""

    __tablename__ = "paycode"
    __table_args__ = ({"info": {"reference": True}},)

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    component: Mapped[Component] = mapped_column(text_enum(Component, "component", length=40))
    description: Mapped[str] = mapped_column(String(200))
    sign: Mapped[PaycodeSign] = mapped_column(
        text_enum(PaycodeSign, "paycode_sign"), server_default=PaycodeSign.EITHER.value
    )
    treatment: Mapped[LineTreatment] = mapped_column(
        text_enum(LineTreatment, "line_treatment"), server_default=LineTreatment.REGULAR.value
    )


class RateKind(enum.StrEnum):
    """What a rate row means; ``value`` is a percentage or pence per patient per year."""

    EMPLOYEE_TIER = "employee_tier"
    """Employee contribution %, for pensionable pay between ``band_from`` and ``band_to``."""
    EMPLOYER = "employer"
    """Employer contribution %."""
    ADMIN_LEVY = "admin_levy"
    """Pension scheme administration levy %."""
    LMC_STATUTORY = "lmc_statutory"
    """Pence per registered patient per year, for the LMC in ``scope``."""
    LMC_VOLUNTARY = "lmc_voluntary"
    """Pence per registered patient per year, for the LMC in ``scope``."""
    GLOBAL_SUM = "global_sum"
    """Pence per weighted patient per year (GMS)."""
    OOH_OPT_OUT = "ooh_opt_out"
    """% of the global sum deducted from a practice that opted out of out-of-hours care."""
    QOF_ASPIRATION = "qof_aspiration"
    """% of last year's QOF achievement paid as this year's aspiration, over 12 months."""
    QOF_POINT_VALUE = "qof_point_value"
    """Pence per QOF point for the year: the aspiration is uprated by its change."""
    TRAINING_GRANT = "training_grant"
    """Pence per year for each GP registrar placed at a training practice."""
    SCHEME_EMPLOYER = "scheme_employer"
    """The scheme's whole employer rate %: the practice pays ``employer`` and NHS England
    funds the rest centrally. For reference; never expected of a practice."""


class Rate(Base):
    """A rate in force from ``effective_from`` until the next row of the same kind and scope.

    Rates change every April (and sometimes mid-year), so they are data, never constants.
    """

    __tablename__ = "rate"
    __table_args__ = (
        # A backdated uplift is a second row from the same day, told apart by when it was
        # decided; NULL (known in advance) is one value here, not many.
        UniqueConstraint(
            "kind",
            "scope",
            "effective_from",
            "band_from_pence",
            "decided_on",
            name="rate_one_per_band",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint(
            "band_to_pence IS NULL OR band_to_pence >= band_from_pence", name="rate_band_ordered"
        ),
        {"info": {"reference": True}},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[RateKind] = mapped_column(text_enum(RateKind, "rate_kind"))
    scope: Mapped[str] = mapped_column(String(64), server_default="")
    """'' for a national rate; the LMC's code for a levy."""
    effective_from: Mapped[date]
    band_from_pence: Mapped[int] = mapped_column(BigInteger, server_default="0")
    band_to_pence: Mapped[int | None] = mapped_column(BigInteger)
    value: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    source: Mapped[str] = mapped_column(String(200))
    decided_on: Mapped[date | None]
    """When a rate backdated to ``effective_from`` was decided (a pay-review uplift): months
    due before it keep the old rate as their expectation, and the difference comes as arrears.
    None when it was known before it took effect."""
    settle_by: Mapped[date | None]
    """By when the arrears of a backdated rate are due."""


class DeadlineKind(enum.StrEnum):
    PENSION_ESTIMATE = "pension_estimate"
    """The estimate of pensionable pay for a year, before it starts."""
    PENSION_CERTIFICATE = "pension_certificate"
    """Type 1 and Type 2 certificates, a year in arrears."""
    QOF_ACHIEVEMENT = "qof_achievement"
    """Payment of the year's QOF achievement once approved."""
    QOF_DECLARATION = "qof_declaration"
    """The practice's sign-off of the year's QOF achievement declaration in CQRS."""


class DeadlineRule(Base):
    """When something about financial year Y (from 1 April Y) is due: ``day``/``month`` of
    year Y + ``year_offset``, for every year from ``from_year`` until the next rule.

    A one-year extension is a rule for that year followed by one restoring the usual date.
    """

    __tablename__ = "deadline_rule"
    __table_args__ = (
        CheckConstraint("month BETWEEN 1 AND 12 AND day BETWEEN 1 AND 31", name="deadline_day"),
        {"info": {"reference": True}},
    )

    kind: Mapped[DeadlineKind] = mapped_column(
        text_enum(DeadlineKind, "deadline_kind"), primary_key=True
    )
    from_year: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[int]
    day: Mapped[int]
    year_offset: Mapped[int]
    source: Mapped[str] = mapped_column(String(200))


class TimingKind(enum.StrEnum):
    COMMISSIONER_APPROVAL = "commissioner_approval"
    """Days a declaration may await the commissioner's approval before it is stuck."""
    DISPUTE_ESCALATION = "dispute_escalation"
    """Days a query may stay unresolved after it was first raised before an LMC may escalate."""


class TimingRule(Base):
    """A number of days something may take, from ``effective_from`` until the next rule."""

    __tablename__ = "timing_rule"
    __table_args__ = (
        CheckConstraint("days > 0", name="timing_rule_days"),
        {"info": {"reference": True}},
    )

    kind: Mapped[TimingKind] = mapped_column(text_enum(TimingKind, "timing_kind"), primary_key=True)
    effective_from: Mapped[date] = mapped_column(primary_key=True)
    days: Mapped[int]
    source: Mapped[str] = mapped_column(String(200))


class CommissionerRule(Base):
    """Whose money a component is (the commissioner that authorises it), from a date.

    PCSE is the paying agent; the commissioner is who a practice chases and addresses a
    notice to. ``paycode`` narrows a rule to one paycode ('' for the whole component).
    """

    __tablename__ = "commissioner_rule"
    __table_args__ = ({"info": {"reference": True}},)

    component: Mapped[Component] = mapped_column(
        text_enum(Component, "component", length=40), primary_key=True
    )
    paycode: Mapped[str] = mapped_column(String(20), primary_key=True, server_default="")
    effective_from: Mapped[date] = mapped_column(primary_key=True)
    commissioner: Mapped[Paymaster] = mapped_column(text_enum(Paymaster, "paymaster"))
    route: Mapped[str] = mapped_column(String(200))
    """How the money reaches the practice: PCSE Online, ISFE, an invoice..."""
    source: Mapped[str] = mapped_column(String(200))


class PracticeDirectory(Base):
    """This service's copy of the performers service's practices (``practice.upserted``).

    The contract facts are None while the directory has not said: unknown, not false.
    """

    __tablename__ = "practice_directory"
    __table_args__ = (
        CheckConstraint("ods_code ~ '^[A-Z][0-9]{5}$'", name="practice_directory_ods_format"),
        CheckConstraint("list_size >= 0", name="practice_directory_list_size"),
        Index("ix_practice_directory_lmc", "lmc_code", "ods_code"),
    )

    ods_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lmc_code: Mapped[str] = mapped_column(String(64))
    list_size: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    contract_type: Mapped[str | None] = mapped_column(String(4))
    """GMS, PMS or APMS, as the performers service spells it."""
    dispensing: Mapped[bool | None]
    training_practice: Mapped[bool | None]
    out_of_hours_opt_out: Mapped[bool | None]
    icb_code: Mapped[str | None] = mapped_column(String(5))


class PracticeListSize(Base):
    """A practice's list for one quarter, registered and weighted (``practice.list_size_recorded``).

    The global sum is paid on the weighted list and levies on the registered one, recalculated
    each quarter: a month's expectation uses its own quarter's list, never today's.
    """

    __tablename__ = "practice_list_size"
    __table_args__ = (
        CheckConstraint(
            "extract(day FROM quarter_start) = 1 "
            "AND extract(month FROM quarter_start) IN (1, 4, 7, 10)",
            name="practice_list_size_quarter",
        ),
        CheckConstraint(
            "registered_patients >= 0 AND (weighted_patients IS NULL OR weighted_patients >= 0)",
            name="practice_list_size_counts",
        ),
    )

    ods_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    quarter_start: Mapped[date] = mapped_column(primary_key=True)
    registered_patients: Mapped[int]
    weighted_patients: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    """None where only the registered list is known (a list recorded for the QOF index)."""
    source: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ContractValue(Base):
    """The annual value of a PMS agreement (its baseline) or an APMS contract (its price), from
    a date: what a practice not on the global sum is paid in twelfths.

    A variation decided after the date it applies from (the pay-review uplift reaching a PMS
    contract in September, backdated to April) is a second row from the same date with the day
    it was decided: months due before then keep the old value, and the difference is arrears.
    """

    __tablename__ = "contract_value"
    __table_args__ = (
        CheckConstraint("annual_pence >= 0", name="contract_value_amount"),
        UniqueConstraint(
            "ods_code",
            "effective_from",
            "decided_on",
            name="contract_value_one_per_decision",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(6))
    effective_from: Mapped[date]
    decided_on: Mapped[date | None]
    contract_type: Mapped[str] = mapped_column(String(4))
    annual_pence: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(200))


class PerformerStatusChange(Base):
    """This service's copy of list decisions (``performer.status_changed``): whether a GP was
    suspended or removed when pay was taken for them."""

    __tablename__ = "performer_status_change"
    __table_args__ = (
        UniqueConstraint(
            "gmc_number", "effective_date", "to_status", name="performer_status_change_natural"
        ),
        Index("ix_performer_status_change_performer", "gmc_number", "effective_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gmc_number: Mapped[str] = mapped_column(String(7))
    effective_date: Mapped[date]
    from_status: Mapped[str] = mapped_column(String(40))
    to_status: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(200), server_default="")


class PerformerMembership(Base):
    """This service's copy of who works where (``membership.started`` / ``.ended``).

    Keyed by performer, practice and start date as well as the performers service's id, so
    that rows loaded from the demo directory and the events about them converge.
    """

    __tablename__ = "performer_membership"
    __table_args__ = (
        UniqueConstraint(
            "gmc_number", "ods_code", "start_date", name="performer_membership_natural"
        ),
        CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name="performer_membership_dates"
        ),
        Index("ix_performer_membership_practice", "ods_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    membership_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    gmc_number: Mapped[str] = mapped_column(String(7))
    ods_code: Mapped[str] = mapped_column(String(6))
    role: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date]
    end_date: Mapped[date | None]


class DeclarationState(enum.StrEnum):
    """CQRS states of a declaration, in order."""

    AWAITING_PROVIDER_APPROVAL = "awaiting_provider_approval"
    AWAITING_COMMISSIONER_APPROVAL = "awaiting_commissioner_approval"
    APPROVED = "approved"
    """Financially approved by the commissioner: payment is now due."""
    PAID = "paid"
    NO_DECLARATION_REQUIRED = "no_declaration_required"
    APPEALED = "appealed"
    """The practice disputes the achievement calculated: nothing is due until it is settled."""


class QofDeclaration(Base):
    """A practice's QOF achievement declaration for a financial year, as CQRS shows it."""

    __tablename__ = "qof_declaration"
    __table_args__ = (
        UniqueConstraint("ods_code", "financial_year", name="qof_declaration_one_per_year"),
        CheckConstraint("achievement_pence >= 0", name="qof_declaration_amount"),
        CheckConstraint(
            "(state IN ('approved', 'paid')) = (approved_on IS NOT NULL)",
            name="qof_declaration_approved_dated",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(6))
    financial_year: Mapped[int]
    """The year it starts: 2020 is 2020/21, with achievement as at 31 March 2021."""
    achievement_pence: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[DeclarationState] = mapped_column(
        text_enum(DeclarationState, "declaration_state", length=40)
    )
    declared_on: Mapped[date | None]
    approved_on: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    retired_pence: Mapped[int | None] = mapped_column(BigInteger)
    """The part of the achievement earned on indicators retired from the next year (2025/26
    retired 32, as CQRS shows per indicator): next year's aspiration leaves it out."""
    aspiration_paid_pence: Mapped[int | None] = mapped_column(BigInteger)
    """The aspiration paid for the year as CQRS shows it, when the statements held here do not
    cover the whole year: the balance due is the achievement less it."""
    appealed_on: Mapped[date | None]


class TraineePay(Base):
    """A change to what PCSE reimburses for a placement a month (the practice's revised set-up
    form), from a day, with the day it was decided: a pay award backdated to April and applied
    from August pay keeps the old amount right for the months due before the decision, and the
    difference is arrears."""

    __tablename__ = "trainee_pay"
    __table_args__ = (
        CheckConstraint("monthly_pence > 0", name="trainee_pay_amount"),
        UniqueConstraint(
            "placement_id",
            "applies_from",
            "decided_on",
            name="trainee_pay_one_per_decision",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    placement_id: Mapped[int] = mapped_column(
        ForeignKey("trainee_placement.id", ondelete="CASCADE")
    )
    applies_from: Mapped[date]
    decided_on: Mapped[date | None]
    monthly_pence: Mapped[int] = mapped_column(BigInteger)


class TraineePlacement(Base):
    """A GP registrar placed at a training practice whose pay PCSE reimburses monthly."""

    __tablename__ = "trainee_placement"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="trainee_placement_dates"),
        CheckConstraint("monthly_pence > 0", name="trainee_placement_amount"),
        Index("ix_trainee_placement_practice", "ods_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(6))
    gmc_number: Mapped[str] = mapped_column(String(7))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    monthly_pence: Mapped[int] = mapped_column(BigInteger)


class PensionEstimate(Base):
    """A performer's estimate of pensionable pay at one practice for a financial year.

    The contribution tier follows the performer's total across all posts that year.
    """

    __tablename__ = "pension_estimate"
    __table_args__ = (
        UniqueConstraint(
            "gmc_number", "ods_code", "financial_year", name="pension_estimate_one_per_post"
        ),
        CheckConstraint("pensionable_pay_pence >= 0", name="pension_estimate_amount"),
        Index("ix_pension_estimate_practice", "ods_code", "financial_year"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gmc_number: Mapped[str] = mapped_column(String(7))
    ods_code: Mapped[str] = mapped_column(String(6))
    financial_year: Mapped[int]
    pensionable_pay_pence: Mapped[int] = mapped_column(BigInteger)
    submitted_on: Mapped[date]
    declared_tier: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    """The contribution % the practice declared on the estimate: PCSE deducts at it. None
    where the estimate did not say (then the tier follows the pay this service knows)."""


class CertificateType(enum.StrEnum):
    TYPE_1 = "type_1"
    """Partners: one per contract."""
    TYPE_2 = "type_2"
    """Salaried, assistants, locums opted in: all posts on one self-assessment."""


class PensionCertificate(Base):
    """A Type 1 or Type 2 end-of-year certificate as received and processed by PCSE."""

    __tablename__ = "pension_certificate"
    __table_args__ = (
        UniqueConstraint(
            "gmc_number",
            "financial_year",
            "certificate_type",
            "ods_code",
            name="pension_certificate_one_per_year",
        ),
        CheckConstraint(
            "processed_on IS NULL OR processed_on >= submitted_on",
            name="pension_certificate_dates",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gmc_number: Mapped[str] = mapped_column(String(7))
    financial_year: Mapped[int]
    certificate_type: Mapped[CertificateType] = mapped_column(
        text_enum(CertificateType, "certificate_type")
    )
    ods_code: Mapped[str] = mapped_column(String(6), server_default="")
    """The contract, for a Type 1; '' for a Type 2, which covers every post."""
    submitted_on: Mapped[date]
    processed_on: Mapped[date | None]


class LocumForm(enum.StrEnum):
    A = "a"
    """Per practice, with the invoice."""
    B = "b"
    """Per calendar month of income received."""


class LocumPensionForm(Base):
    """A locum's Form A or B, kept with what PCSE Online's date rules make of it."""

    __tablename__ = "locum_pension_form"
    __table_args__ = (
        CheckConstraint("work_to >= work_from", name="locum_form_dates"),
        CheckConstraint("pensionable_pence >= 0", name="locum_form_amount"),
        Index("ix_locum_form_performer", "gmc_number"),
        Index("ix_locum_form_practice", "ods_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gmc_number: Mapped[str] = mapped_column(String(7))
    ods_code: Mapped[str] = mapped_column(String(6))
    form: Mapped[LocumForm] = mapped_column(text_enum(LocumForm, "locum_form", length=1))
    work_from: Mapped[date]
    work_to: Mapped[date]
    submitted_on: Mapped[date]
    bacs_reference: Mapped[str] = mapped_column(String(40))
    pensionable_pence: Mapped[int] = mapped_column(BigInteger)
    income_month: Mapped[date | None]
    """Form B: the first day of the month the practice paid the locum (income received), which
    the form, its deadline and its BACS reference follow."""


class ClaimState(enum.StrEnum):
    """Where a practice's claim is."""

    CLAIMED = "claimed"
    APPROVED = "approved"
    """Approved by the commissioner: payment falls due."""
    PAID = "paid"
    """The practice says it was paid; the statement lines say whether it was."""
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class PracticeClaim(Base):
    """A claim a practice made (an enhanced service, drugs, premises, a locum), as it records it:
    an approved claim is expected on a statement."""

    __tablename__ = "practice_claim"
    __table_args__ = (
        UniqueConstraint("ods_code", "reference", name="practice_claim_reference"),
        CheckConstraint("covers_to >= covers_from", name="practice_claim_covers_ordered"),
        CheckConstraint(
            "(state IN ('approved', 'paid')) <= (approved_on IS NOT NULL)",
            name="practice_claim_approved_dated",
        ),
        Index("ix_practice_claim_practice", "ods_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(6))
    reference: Mapped[str] = mapped_column(String(40))
    """The practice's own reference for the claim (or the commissioner's)."""
    component: Mapped[Component] = mapped_column(text_enum(Component, "component", length=40))
    paycode: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(200))
    covers_from: Mapped[date]
    covers_to: Mapped[date]
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    claimed_on: Mapped[date]
    approved_on: Mapped[date | None]
    state: Mapped[ClaimState] = mapped_column(text_enum(ClaimState, "claim_state"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AnomalyKind(enum.StrEnum):
    MISSING = "missing"
    LATE = "late"
    DUPLICATE = "duplicate"
    INCORRECT_AMOUNT = "incorrect_amount"
    PENSION_GAP = "pension_gap"
    PENSION_CATCH_UP = "pension_catch_up"
    WRONG_TIER = "wrong_tier"
    LEAVER_SUPERANNUATION = "leaver_superannuation"
    STUCK = "stuck"
    """A line stuck in the payment chain: authorised but not entered, entered but not paid by
    the due date, or failed and not run again."""
    STUCK_DECLARATION = "stuck_declaration"
    """A QOF declaration awaiting the practice's sign-off after the deadline, or awaiting the
    commissioner too long."""


class Direction(enum.StrEnum):
    """Which way the money at stake goes."""

    OWED_TO_PRACTICE = "owed_to_practice"
    REPAYABLE_BY_PRACTICE = "repayable_by_practice"


class Severity(enum.StrEnum):
    WARNING = "warning"
    HIGH = "high"


class Anomaly(Base):
    """A detected problem with a practice's payments, kept after it is put right.

    ``fingerprint`` names the problem (kind, practice, component, period, performer...): while
    it is detected, one open row per fingerprint holds its latest evidence; once it is no longer
    detected the row gets ``resolved_at``, and should it come back a new row opens.
    """

    __tablename__ = "anomaly"
    __table_args__ = (
        Index(
            "ux_anomaly_open",
            "fingerprint",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_anomaly_practice", "ods_code", "id"),
        CheckConstraint("amount_at_stake_pence >= 0", name="anomaly_amount"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    ods_code: Mapped[str] = mapped_column(String(6))
    kind: Mapped[AnomalyKind] = mapped_column(text_enum(AnomalyKind, "anomaly_kind"))
    severity: Mapped[Severity] = mapped_column(text_enum(Severity, "severity"))
    component: Mapped[Component] = mapped_column(text_enum(Component, "component", length=40))
    covers_from: Mapped[date]
    covers_to: Mapped[date | None]
    """The last day of the period concerned, where it is more than the month it starts."""
    gmc_number: Mapped[str | None] = mapped_column(String(7))
    claim_reference: Mapped[str | None] = mapped_column(String(40))
    """The practice's claim it is about, for an approved claim unpaid or paid wrong."""
    amount_at_stake_pence: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[Direction] = mapped_column(
        text_enum(Direction, "direction"), server_default=Direction.OWED_TO_PRACTICE.value
    )
    summary: Mapped[str] = mapped_column(String(400))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """{"facts": [[label, value]], "derivation": [[label, value]], "lineIds": [...]}"""
    first_detected_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_detected_at: Mapped[datetime] = mapped_column(server_default=func.now())
    resolved_at: Mapped[datetime | None]


class Dispute(Base):
    """A practice's query about anything it is owed (a line, an anomaly, a claim it recorded,
    or an item of its own with the amount claimed), from the day it first raised it with PCSE
    until it is resolved."""

    __tablename__ = "dispute"
    __table_args__ = (
        CheckConstraint(
            "line_id IS NOT NULL OR anomaly_id IS NOT NULL OR claim_id IS NOT NULL "
            "OR (component IS NOT NULL AND amount_claimed_pence IS NOT NULL)",
            name="dispute_is_about_something",
        ),
        CheckConstraint("amount_claimed_pence > 0", name="dispute_amount_claimed_positive"),
        CheckConstraint(
            "cas_reference ~ '^CAS-[0-9]{4,8}-[A-Z0-9]{6}$'", name="dispute_cas_format"
        ),
        Index("ix_dispute_practice", "ods_code", "opened_at"),
        Index("ix_dispute_cas_reference", "cas_reference"),
        Index(
            "ix_dispute_escalated",
            "ods_code",
            "escalated_on",
            postgresql_where=text("escalated_on IS NOT NULL"),
        ),
        # The daily pass reads only open disputes not yet announced as escalatable.
        Index(
            "ix_dispute_escalatable_unpublished",
            "raised_on",
            postgresql_where=text("resolved_at IS NULL AND escalatable_published_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    ods_code: Mapped[str] = mapped_column(String(6))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("statement_line.id"))
    anomaly_id: Mapped[int | None] = mapped_column(ForeignKey("anomaly.id"))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("practice_claim.id"))
    component: Mapped[Component | None] = mapped_column(
        text_enum(Component, "component", length=40)
    )
    """What the money is (an item of the practice's own; else the line's, claim's, anomaly's)."""
    amount_claimed_pence: Mapped[int | None] = mapped_column(BigInteger)
    """What the practice says it is owed, where it says (else the anomaly's or claim's)."""
    subject: Mapped[str] = mapped_column(String(300))
    raised_on: Mapped[date]
    """When the practice first raised it with PCSE: the escalation clock runs from here."""
    cas_reference: Mapped[str | None] = mapped_column(String(30))
    """The case reference PCSE gave the enquiry (CAS-...)."""
    health_service_body: Mapped[bool | None]
    """Whether the contractor elected to be a health service body (None: not said)."""
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    opened_by: Mapped[str] = mapped_column(String(200))
    escalated_on: Mapped[date | None]
    escalated_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(300))
    escalatable_published_at: Mapped[datetime | None]
    """When ``dispute.escalatable`` was written to the outbox: published once, and a daily run
    that was missed is made up by the next (every open dispute past its day without it)."""


class DeadlineNotice(Base):
    """A ``deadline.approaching`` published: once per practice, kind, due day and lead."""

    __tablename__ = "deadline_notice"

    ods_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    due_on: Mapped[date] = mapped_column(primary_key=True)
    lead_days: Mapped[int] = mapped_column(primary_key=True)
    published_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DisputeAttachment(Base):
    """A file kept as evidence of a dispute (a read receipt, a claim form), with its SHA-256;
    append-only (a trigger)."""

    __tablename__ = "dispute_attachment"
    __table_args__ = (
        CheckConstraint("size_bytes > 0", name="dispute_attachment_size"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="dispute_attachment_sha256"),
        UniqueConstraint("dispute_id", "sha256", name="dispute_attachment_once"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("dispute.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("dispute_event.id"))
    """The timeline step it is evidence of, if any."""
    file_name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_at: Mapped[datetime] = mapped_column(server_default=func.now())
    uploaded_by: Mapped[str] = mapped_column(String(200))


class CompensationState(enum.StrEnum):
    """Where a compensation claim is, in the order it moves."""

    DRAFT = "draft"
    """Assembled here from the evidence; not yet sent."""
    SUBMITTED = "submitted"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    """The practice rejected the offer (it may then go to dispute resolution)."""
    WITHDRAWN = "withdrawn"


class LossKind(enum.StrEnum):
    INTEREST = "interest"
    """Interest or overdraft cost of money paid late or not yet paid."""
    STAFF_TIME = "staff_time"
    """Staff time on a patient's record harm review (the records service's events)."""
    SESSIONS_LOST = "sessions_lost"
    """GP sessions lost while an application for inclusion waited beyond 16 weeks (the
    performers service's events)."""


class FactKind(enum.StrEnum):
    """A fact another service published that a compensation claim may rest on."""

    HARM_REVIEW = "harm_review"
    """records: ``harm_review.recorded`` (the whole review; the latest event wins)."""
    INCLUSION_DELAY = "inclusion_delay"
    """performers: ``change_request.goodwill_compensation_may_apply``."""


class CompensationFact(Base):
    """A fact from another service's stream, kept as its latest event said it, with its source
    (stream, event type, the review id or request reference)."""

    __tablename__ = "compensation_fact"
    __table_args__ = (
        UniqueConstraint("kind", "source_key", name="compensation_fact_once"),
        CheckConstraint("minutes_spent >= 0", name="compensation_fact_minutes"),
        CheckConstraint("weeks_beyond >= 0 AND days_beyond >= 0", name="compensation_fact_delay"),
        Index("ix_compensation_fact_practice", "ods_code", "kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[FactKind] = mapped_column(text_enum(FactKind, "fact_kind"))
    ods_code: Mapped[str] = mapped_column(String(6))
    stream: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(80))
    source_key: Mapped[str] = mapped_column(String(60))
    """The review id (records) or the change request's reference (performers)."""
    event_id: Mapped[str] = mapped_column(String(36))
    occurred_at: Mapped[datetime]
    """Of the event applied: an older one arriving late changes nothing."""
    on: Mapped[date]
    """The day the cost is priced at: the review's day (else the event's), or the day the 16
    weeks passed."""
    minutes_spent: Mapped[int | None]
    completed: Mapped[bool | None]
    weeks_beyond: Mapped[int | None]
    days_beyond: Mapped[int | None]
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """The payload's facts as published (no patient identifier is ever in one)."""


class CostingKind(enum.StrEnum):
    STAFF_HOUR = "staff_hour"
    """What an hour of the staff time spent on harm reviews costs the practice."""
    GP_SESSION = "gp_session"
    """What one GP session (a half day) lost is worth to the practice."""


class PracticeCosting(Base):
    """A practice's own figure, from a day until its next one: the basis of its claim, never a
    rate anyone publishes."""

    __tablename__ = "practice_costing"
    __table_args__ = (CheckConstraint("amount_pence > 0", name="practice_costing_amount"),)

    ods_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[CostingKind] = mapped_column(
        text_enum(CostingKind, "costing_kind"), primary_key=True
    )
    effective_from: Mapped[date] = mapped_column(primary_key=True)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    basis: Mapped[str] = mapped_column(String(300))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CompensationClaim(Base):
    """A claim for the losses late or missing money caused a practice, with its items."""

    __tablename__ = "compensation_claim"
    __table_args__ = (
        CheckConstraint("annual_rate > 0 AND annual_rate <= 100", name="compensation_rate"),
        CheckConstraint("offered_pence >= 0", name="compensation_offer"),
        Index("ix_compensation_claim_practice", "ods_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    ods_code: Mapped[str] = mapped_column(String(6))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("dispute.id"))
    state: Mapped[CompensationState] = mapped_column(
        text_enum(CompensationState, "compensation_state")
    )
    annual_rate: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    """The yearly rate the practice's money cost it (its overdraft rate), percent; None for a
    claim assembled from other services' facts (priced at the practice's costings)."""
    rate_basis: Mapped[str | None] = mapped_column(String(300))
    """Where the rate comes from: the practice's evidence."""
    as_of: Mapped[date]
    """The day the losses were worked out to."""
    claimed_pence: Mapped[int] = mapped_column(BigInteger)
    submitted_on: Mapped[date | None]
    offered_pence: Mapped[int | None] = mapped_column(BigInteger)
    offered_on: Mapped[date | None]
    decided_on: Mapped[date | None]
    note: Mapped[str | None] = mapped_column(String(2000))
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CompensationItem(Base):
    """One loss, with its source: the anomaly (or other fact) it is worked out from."""

    __tablename__ = "compensation_item"
    __table_args__ = (Index("ix_compensation_item_claim", "claim_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("compensation_claim.id"))
    kind: Mapped[LossKind] = mapped_column(text_enum(LossKind, "loss_kind"))
    description: Mapped[str] = mapped_column(String(400))
    principal_pence: Mapped[int] = mapped_column(BigInteger)
    days: Mapped[int]
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(400))
    anomaly_id: Mapped[int | None] = mapped_column(ForeignKey("anomaly.id"))
    fact_id: Mapped[int | None] = mapped_column(ForeignKey("compensation_fact.id"))
    """The other service's fact it rests on (its stream, event type and key)."""


class DisputeEventKind(enum.StrEnum):
    OPENED = "opened"
    SENT = "sent"
    """Something the practice sent: an email, a form, a CAS enquiry."""
    RECEIPT = "receipt"
    """An acknowledgement, a CAS number."""
    RESPONSE = "response"
    ESCALATED = "escalated"
    NOTE = "note"
    RESOLVED = "resolved"


class DisputeEvent(Base):
    """One step of a dispute's timeline, with its evidence; append-only (a trigger)."""

    __tablename__ = "dispute_event"
    __table_args__ = (Index("ix_dispute_event_dispute", "dispute_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("dispute.id"))
    kind: Mapped[DisputeEventKind] = mapped_column(text_enum(DisputeEventKind, "dispute_event"))
    occurred_on: Mapped[date]
    note: Mapped[str] = mapped_column(String(2000))
    evidence: Mapped[list[list[str]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    """[[label, value]]: what was sent, receipts, CAS numbers."""
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())
    recorded_by: Mapped[str] = mapped_column(String(200))


class Measure(enum.StrEnum):
    """A column of the "NHS Payments to General Practice" data set that statements can match."""

    GLOBAL_SUM = "global_sum"
    PMS_BALANCE = "pms_balance"
    QOF = "qof"
    PREMISES = "premises"
    SENIORITY = "seniority"
    LOCUM_ALLOWANCES = "locum_allowances"
    PCN = "pcn"
    PRESCRIBING_AND_DISPENSING_FEES = "prescribing_and_dispensing_fees"
    DRUGS = "drugs"
    OTHER = "other"
    TOTAL = "total"
    DEDUCTIONS = "deductions"
    """Published as a positive figure, like the data set."""
    NET = "net"


class PublishedYear(Base):
    """One year of the published data set, imported once; its year makes a replay a no-op."""

    __tablename__ = "published_year"

    financial_year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    imported_at: Mapped[datetime] = mapped_column(server_default=func.now())
    imported_by: Mapped[str] = mapped_column(String(200))
    practice_count: Mapped[int]
    digest: Mapped[str] = mapped_column(String(64))


class PublishedTotal(Base):
    """A practice's published annual total for one measure (cash basis, from NHAIS and ISFE)."""

    __tablename__ = "published_total"

    financial_year: Mapped[int] = mapped_column(
        ForeignKey("published_year.financial_year"), primary_key=True
    )
    ods_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    measure: Mapped[Measure] = mapped_column(text_enum(Measure, "measure"), primary_key=True)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    heading: Mapped[str] = mapped_column(String(200))
    """The data set's own heading(s) for it, which drift from year to year."""


class ConsentScope(enum.StrEnum):
    """What a practice lets an accountant see."""

    PAYMENTS = "payments"
    """Statements, lines, expected payments, anomalies, exports."""
    PAYMENTS_AND_PENSIONS = "payments_and_pensions"
    """Also the practice's side of its GPs' pensions: estimates, certificates, the blocking
    year; what an accountant needs to prepare partners' certificates."""

    @property
    def includes_pensions(self) -> bool:
        return self is ConsentScope.PAYMENTS_AND_PENSIONS


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
    scope: Mapped[ConsentScope] = mapped_column(
        text_enum(ConsentScope, "consent_scope", length=40),
        server_default=ConsentScope.PAYMENTS.value,
    )


class LedgerAccount(Base):
    """The nominal code a component is booked to in a journal export.

    ``owner`` ``*`` is the default chart every export uses (seeded by the migration); an
    accountant's (or a practice's) own rows, under its token subject, replace single codes.
    """

    __tablename__ = "ledger_account"
    __table_args__ = (
        PrimaryKeyConstraint("owner", "component"),
        CheckConstraint("code ~ '^[A-Za-z0-9][A-Za-z0-9./-]{0,19}$'", name="ledger_code_format"),
        {"info": {"reference": True}},
    )

    owner: Mapped[str] = mapped_column(String(200))
    component: Mapped[Component] = mapped_column(text_enum(Component, "component", length=40))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SubscriberKind(enum.StrEnum):
    """Who a webhook subscription speaks for, which decides the practices it hears of."""

    PRACTICE = "practice"
    ACCOUNTANT = "accountant"
    LMC = "lmc"
    OPERATOR = "operator"


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    """Deliveries are recorded and held; resuming sends them."""
    DISABLED = "disabled"
    """Failing for too long: nothing is recorded until it is resumed."""
    DELETED = "deleted"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Every attempt of the schedule failed; a replay sends it again."""
    WITHHELD = "withheld"
    """Not sent: the subscriber may no longer see the practice (a consent withdrawn)."""


class WebhookSubscription(Base):
    """Where to send which of this service's events, for whom; the secret signs them."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (
        CheckConstraint("url ~ '^https?://'", name="webhook_subscription_url"),
        CheckConstraint("cardinality(event_types) > 0", name="webhook_subscription_event_types"),
        Index("ix_webhook_subscription_owner", "kind", "owner"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[SubscriberKind] = mapped_column(text_enum(SubscriberKind, "subscriber_kind"))
    owner: Mapped[str] = mapped_column(String(200))
    """The accountant's subject, the LMC's code; for a practice or an operator, the subject
    that created it."""
    ods_codes: Mapped[list[str]] = mapped_column(ARRAY(String(6)))
    """A practice's subscription: the practices of the token that created it."""
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    description: Mapped[str | None] = mapped_column(String(300))
    secret: Mapped[str | None] = mapped_column(String(100))
    """``whsec_`` and base64 of 32 random bytes; None once deleted."""
    status: Mapped[SubscriptionStatus] = mapped_column(
        text_enum(SubscriptionStatus, "subscription_status")
    )
    status_reason: Mapped[str | None] = mapped_column(String(300))
    failing_since: Mapped[datetime | None]
    """The first failed attempt since the last success: long enough, and it is disabled."""
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(200))
    secret_rotated_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event for one subscription: unique, so a replayed stream adds nothing."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_webhook_delivery_event"),
        Index("ix_webhook_delivery_subscription", "subscription_id", "id"),
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscription.id"))
    webhook_id: Mapped[str] = mapped_column(String(60), unique=True)
    """The ``webhook-id`` header: the same on every attempt and replay."""
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(60))
    ods_code: Mapped[str] = mapped_column(String(6))
    body: Mapped[str] = mapped_column(Text)
    """Exactly the bytes sent (UTF-8), what the signature covers."""
    status: Mapped[DeliveryStatus] = mapped_column(text_enum(DeliveryStatus, "delivery_status"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_response_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


AuditEvent = audit_table(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
Inbox = inbox_table(Base.metadata)
DeadLetter = dead_letter_table(Base.metadata)
Outbox = outbox_table(Base.metadata)

APPEND_ONLY_TABLES = ("statement_line", "dispute_event", "dispute_attachment")
"""Besides audit_event: tables whose rows are evidence and never change."""
