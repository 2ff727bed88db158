"""Tables of the performers service: the practice directory, LMCs and the performers list."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from pcse_kit.audit import audit_table, idempotency_table
from pcse_kit.db import text_enum
from pcse_kit.events import outbox_table
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # Every timestamp is an instant: stored with its time zone, compared as UTC.
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012 - SQLAlchemy's API


class ContractType(enum.StrEnum):
    GMS = "GMS"
    PMS = "PMS"
    APMS = "APMS"


class ListStatus(enum.StrEnum):
    """States of a National Performers List entry (SI 2013/335)."""

    PENDING = "pending"
    DEFERRED = "deferred"
    REFUSED = "refused"
    INCLUDED = "included"
    INCLUDED_WITH_CONDITIONS = "included_with_conditions"
    CONTINGENT_REMOVAL = "contingent_removal"
    SUSPENDED = "suspended"
    REMOVED = "removed"
    WITHDRAWN = "withdrawn"


class PracticeStatus(enum.StrEnum):
    """ODS statuses: a dormant code is kept and never reused; a proposed one is not open yet."""

    ACTIVE = "active"
    DORMANT = "dormant"
    CLOSED = "closed"
    PROPOSED = "proposed"


class ChangeKind(enum.StrEnum):
    """What a request asks. Only an application for inclusion (NPL1) carries NHS England's 12
    weeks and the 16-week goodwill-compensation mark; every other kind has its own target."""

    INCLUSION = "inclusion"
    JOINING = "joining"
    LEAVING = "leaving"
    STATUS_CHANGE = "status_change"
    CCT = "cct"
    GP_REGISTER = "gp_register"
    RETIREMENT = "retirement"


class ChangeOutcome(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Role(enum.StrEnum):
    PARTNER = "partner"
    SALARIED = "salaried"
    LOCUM = "locum"
    REGISTRAR = "registrar"
    RETAINER = "retainer"


class Lmc(Base):
    __tablename__ = "lmc"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class LmcIcb(Base):
    """LMCs and ICBs are many-to-many: many LMCs are groups spanning several ICBs."""

    __tablename__ = "lmc_icb"

    lmc_code: Mapped[str] = mapped_column(ForeignKey("lmc.code"), primary_key=True)
    icb_code: Mapped[str] = mapped_column(String(3), primary_key=True)


class Practice(Base):
    __tablename__ = "practice"
    __table_args__ = (
        CheckConstraint("ods_code ~ '^[A-Z][0-9]{5}$'", name="practice_ods_code_format"),
        CheckConstraint("list_size >= 0", name="practice_list_size_non_negative"),
        Index("ix_practice_lmc_code", "lmc_code", "ods_code"),
    )

    ods_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(8))
    icb_code: Mapped[str] = mapped_column(String(3))
    sub_icb_code: Mapped[str] = mapped_column(String(5))
    lmc_code: Mapped[str] = mapped_column(ForeignKey("lmc.code"))
    contract_type: Mapped[ContractType | None] = mapped_column(
        text_enum(ContractType, "contract_type")
    )
    """Null until known: the ODS file does not carry it."""
    list_size: Mapped[int]
    address: Mapped[str] = mapped_column(String(300), server_default="")
    status: Mapped[PracticeStatus] = mapped_column(
        text_enum(PracticeStatus, "practice_status"), server_default=PracticeStatus.ACTIVE.value
    )
    opened_on: Mapped[date | None]
    closed_on: Mapped[date | None]
    region_code: Mapped[str | None] = mapped_column(String(3))
    """NHS England region (the ODS file's national grouping, e.g. Y58)."""
    successor_code: Mapped[str | None] = mapped_column(String(6))
    """The practice this one merged into, from the ODS successor file."""
    dispensing: Mapped[bool | None]
    training_practice: Mapped[bool | None]
    out_of_hours_opt_out: Mapped[bool | None]
    """Each of the three is null while unknown, never false by default: payments reads them."""


class PracticeListSize(Base):
    """Registered and weighted (Carr-Hill) patients of a practice in one quarter."""

    __tablename__ = "practice_list_size"
    __table_args__ = (
        CheckConstraint(
            "extract(day FROM quarter_start) = 1 AND extract(month FROM quarter_start) IN "
            "(1, 4, 7, 10)",
            name="practice_list_size_quarter_start",
        ),
        CheckConstraint(
            "registered_patients >= 0 AND weighted_patients >= 0",
            name="practice_list_size_non_negative",
        ),
    )

    ods_code: Mapped[str] = mapped_column(ForeignKey("practice.ods_code"), primary_key=True)
    quarter_start: Mapped[date] = mapped_column(primary_key=True)
    registered_patients: Mapped[int]
    weighted_patients: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    source: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class BranchSite(Base):
    """A branch surgery: records and staff move between it and the main site."""

    __tablename__ = "branch_site"
    __table_args__ = (
        CheckConstraint("site_code ~ '^[A-Z][0-9]{8}$'", name="branch_site_code_format"),
        CheckConstraint("left(site_code, 6) = ods_code", name="branch_site_code_of_practice"),
        Index("ix_branch_site_practice", "ods_code"),
    )

    site_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    ods_code: Mapped[str] = mapped_column(ForeignKey("practice.ods_code"))
    name: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(8))


class Performer(Base):
    __tablename__ = "performer"
    __table_args__ = (
        CheckConstraint("gmc_number ~ '^[0-9]{7}$'", name="performer_gmc_number_format"),
        # The findings an LMC's summary asks for, on a list of some 40,000: twins by name and
        # date of birth, performers off the list, registrars without a CCT.
        Index(
            "ix_performer_name_born",
            func.lower(text("family_name")),
            func.lower(text("given_name")),
            "date_of_birth",
        ),
        Index(
            "ix_performer_not_on_list",
            "gmc_number",
            postgresql_where=text("status NOT IN ('included', 'included_with_conditions')"),
        ),
        Index(
            "ix_performer_off_gp_register",
            "gmc_number",
            postgresql_where=text("gp_register_on IS NULL AND NOT under_training_supervision"),
        ),
        # The few whose published-list check is a finding (listed twice, or included and not
        # shown): read from here, not from a scan of the whole list.
        Index(
            "ix_performer_public_list_finding",
            "gmc_number",
            postgresql_where=text(
                "public_list_entries > 1 OR (public_list_visible IS FALSE "
                "AND status IN ('included', 'included_with_conditions'))"
            ),
        ),
    )

    gmc_number: Mapped[str] = mapped_column(String(7), primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[ListStatus] = mapped_column(text_enum(ListStatus, "list_status"))
    date_of_birth: Mapped[date | None]
    cct_date: Mapped[date | None]
    """Certificate of Completion of Training. Not the test of a GP: many on the GP Register
    have none (qualified before 2005, or through CEGPR or the EEA)."""
    under_training_supervision: Mapped[bool] = mapped_column(server_default=text("false"))
    """A GP registrar: listed as under training supervision."""
    gmc_registered_on: Mapped[date | None]
    """First entry on the GMC's register of medical practitioners."""
    gp_register_on: Mapped[date | None]
    """Entry on the GMC's GP Register: what reg 26(2)(b) of SI 2013/335 requires of a GP who
    is not a registrar."""
    training_programme_start: Mapped[date | None]
    """A registrar's start on the GP training programme: the three-month window runs from it."""
    conditions: Mapped[str | None] = mapped_column(String(1000))
    """Conditions imposed on inclusion (reg 10), as decided."""
    suspension_review_on: Mapped[date | None]
    """When a suspension (reg 12) is next reviewed."""
    designated_body: Mapped[str | None] = mapped_column(String(200))
    """A designated body (Responsible Officers Regulations 2010, Sch. Part 1) employing the
    doctor: since 27 May 2024 (SI 2024/575) such a doctor may work without inclusion."""
    public_list_visible: Mapped[bool | None]
    """Whether the published performers list showed the performer at the last check; null
    when never checked."""
    public_list_checked_on: Mapped[date | None]
    public_list_entries: Mapped[int | None]
    """How many entries the published list had under this GMC number at the last check."""


class PerformerIdentity(Base):
    """How many performers share each name and date of birth (names in lower case, the
    duplicate test's own comparison): kept by triggers on ``performer``, one aggregate per
    statement, so the few identities two performers share are found from an index instead of
    comparing every performer on the list with every performer of an area on each request.
    Performers without a date of birth are not counted: they cannot match anyone."""

    __tablename__ = "performer_identity"
    # No CHECK that a count stays at or above zero: PostgreSQL checks the row an upsert
    # proposes (a delta of -1) before it finds the row to add it to.
    __table_args__ = (
        Index(
            "ix_performer_identity_shared",
            "family_key",
            "given_key",
            "date_of_birth",
            postgresql_where=text("performers > 1"),
        ),
    )

    family_key: Mapped[str] = mapped_column(Text, primary_key=True)
    """lower(family_name)."""
    given_key: Mapped[str] = mapped_column(Text, primary_key=True)
    """lower(given_name)."""
    date_of_birth: Mapped[date] = mapped_column(primary_key=True)
    performers: Mapped[int]


class Membership(Base):
    """A performer working at a practice, in a role, between two dates."""

    __tablename__ = "membership"
    __table_args__ = (
        CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name="membership_dates_ordered"
        ),
        Index("ix_membership_practice", "ods_code"),
        Index("ix_membership_performer", "gmc_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gmc_number: Mapped[str] = mapped_column(ForeignKey("performer.gmc_number"))
    ods_code: Mapped[str] = mapped_column(ForeignKey("practice.ods_code"))
    role: Mapped[Role] = mapped_column(text_enum(Role, "membership_role"))
    start_date: Mapped[date]
    end_date: Mapped[date | None] = mapped_column(server_default=text("NULL"))


class StatusChange(Base):
    """One change of a performer's list status: the append-only history (a trigger refuses
    UPDATE and DELETE)."""

    __tablename__ = "status_change"
    __table_args__ = (Index("ix_status_change_performer", "gmc_number", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gmc_number: Mapped[str] = mapped_column(ForeignKey("performer.gmc_number"))
    from_status: Mapped[ListStatus | None] = mapped_column(text_enum(ListStatus, "from_status"))
    to_status: Mapped[ListStatus] = mapped_column(text_enum(ListStatus, "to_status"))
    effective_date: Mapped[date]
    decision: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    recorded_by: Mapped[str] = mapped_column(String(200))


class ChangeRequest(Base):
    """A request to PCSE to change the list (join, leave, status, CCT, retire), with its timers."""

    __tablename__ = "change_request"
    __table_args__ = (
        CheckConstraint(
            "(decided_on IS NULL) = (outcome IS NULL)", name="change_request_decided_with_outcome"
        ),
        CheckConstraint(
            "decided_on IS NULL OR decided_on >= submitted_on", name="change_request_dates_ordered"
        ),
        CheckConstraint("complete_on >= submitted_on", name="change_request_complete_after"),
        Index("ix_change_request_open", "submitted_on", postgresql_where=text("outcome IS NULL")),
        Index("ix_change_request_performer", "gmc_number"),
        Index("ix_change_request_practice", "ods_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[ChangeKind] = mapped_column(text_enum(ChangeKind, "change_kind"))
    gmc_number: Mapped[str] = mapped_column(ForeignKey("performer.gmc_number"))
    ods_code: Mapped[str | None] = mapped_column(ForeignKey("practice.ods_code"))
    requested_status: Mapped[ListStatus | None] = mapped_column(
        text_enum(ListStatus, "requested_status")
    )
    submitted_on: Mapped[date]
    """The day the service received it: recorded by the server, never given by a practice."""
    complete_on: Mapped[date]
    """The day the application was complete, from which the timers run: the day received,
    unless an operator corrects it with evidence (kept in the audit trail)."""
    decided_on: Mapped[date | None]
    outcome: Mapped[ChangeOutcome | None] = mapped_column(text_enum(ChangeOutcome, "outcome"))
    role: Mapped[Role | None] = mapped_column(text_enum(Role, "request_role"))
    """For joining: the role the performer takes."""
    effective_on: Mapped[date | None]
    """Joining: first day; leaving: last day; CCT or GP Register: the date awarded or
    entered; retirement: last day on the list."""


AuditEvent = audit_table(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
Outbox = outbox_table(Base.metadata)
