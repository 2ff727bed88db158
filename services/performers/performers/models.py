"""Tables of the performers service: the practice directory, LMCs and the performers list."""

from __future__ import annotations

import enum
from datetime import date, datetime

from pcse_kit.audit import audit_table, idempotency_table
from pcse_kit.db import text_enum
from pcse_kit.events import outbox_table
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, func, text
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
    JOINING = "joining"
    LEAVING = "leaving"
    STATUS_CHANGE = "status_change"
    CCT = "cct"
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
    contract_type: Mapped[ContractType] = mapped_column(text_enum(ContractType, "contract_type"))
    list_size: Mapped[int]
    address: Mapped[str] = mapped_column(String(300), server_default="")
    status: Mapped[PracticeStatus] = mapped_column(
        text_enum(PracticeStatus, "practice_status"), server_default=PracticeStatus.ACTIVE.value
    )
    opened_on: Mapped[date | None]
    closed_on: Mapped[date | None]


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
            "ix_performer_without_cct",
            "gmc_number",
            postgresql_where=text("cct_date IS NULL AND NOT under_training_supervision"),
        ),
    )

    gmc_number: Mapped[str] = mapped_column(String(7), primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[ListStatus] = mapped_column(text_enum(ListStatus, "list_status"))
    date_of_birth: Mapped[date | None]
    cct_date: Mapped[date | None]
    """Certificate of Completion of Training; until then a GP registrar."""
    under_training_supervision: Mapped[bool] = mapped_column(server_default=text("false"))


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
    decided_on: Mapped[date | None]
    outcome: Mapped[ChangeOutcome | None] = mapped_column(text_enum(ChangeOutcome, "outcome"))


AuditEvent = audit_table(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
Outbox = outbox_table(Base.metadata)
