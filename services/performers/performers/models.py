"""Tables of the performers service: the practice directory, LMCs and the performers list."""

from __future__ import annotations

import enum
from datetime import date, datetime

from pcse_kit.db import text_enum
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, text
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


class Performer(Base):
    __tablename__ = "performer"
    __table_args__ = (
        CheckConstraint("gmc_number ~ '^[0-9]{7}$'", name="performer_gmc_number_format"),
    )

    gmc_number: Mapped[str] = mapped_column(String(7), primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[ListStatus] = mapped_column(text_enum(ListStatus, "list_status"))


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
