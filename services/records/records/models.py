"""Tables of the records service: movements of patients' paper (Lloyd George) records.

A movement row holds its current state and the due date of each timer, computed when the
timer starts (``records.timers``), so that backlog and overdue counts are plain comparisons
with today's date in SQL. Everything that happened to it is in ``movement_event``, and every
courier scan in ``scan``: both append-only, the evidence a practice needs when it complains.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Final

from pcse_kit.audit import audit_table, idempotency_table
from pcse_kit.db import text_enum
from pcse_kit.events import dead_letter_table, inbox_table
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # Every timestamp is an instant: stored with its time zone, compared as UTC.
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012 - SQLAlchemy's API


class MovementStatus(enum.StrEnum):
    """Statuses PCSE shows for a record movement, plus the failure states we detect."""

    REQUESTED = "requested"
    IN_PROGRESS = "in_progress"
    READY_FOR_COLLECTION = "ready_for_collection"
    COLLECTED = "collected"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    NO_PAPER_RECORD = "no_paper_record"
    MISSING = "missing"
    LOST = "lost"
    IN_CENTRAL_STORAGE = "in_central_storage"


class MovementReason(enum.StrEnum):
    REGISTRATION_ELSEWHERE = "registration_elsewhere"
    EMIGRATION = "emigration"
    DEATH = "death"
    REQUEST = "request"


DEDUCTIONS: Final = frozenset(
    {MovementReason.REGISTRATION_ELSEWHERE, MovementReason.EMIGRATION, MovementReason.DEATH}
)
"""Reasons that follow a deduction from a practice's list: PCSE prints the label itself."""


class Urgency(enum.StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class Place(enum.StrEnum):
    """What is at one end of a movement; a branch site is a practice end with a site code."""

    PRACTICE = "practice"
    CENTRAL_STORAGE = "central_storage"
    WALES = "wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern_ireland"


OTHER_NATIONS: Final = frozenset({Place.WALES, Place.SCOTLAND, Place.NORTHERN_IRELAND})
"""GP2GP does not reach them: the whole record must be printed into the envelope."""

OPEN_SQL: Final = (
    "status IN ('requested', 'in_progress', 'ready_for_collection', 'collected', 'missing') "
    "OR (status = 'no_paper_record' AND gp2gp_integrated_on IS NULL)"
)
"""Still on someone's desk: on its way, being searched for, or a GP2GP transfer not yet in."""
OPEN_COLUMNS: Final = (
    "is_open", "status", "requested_at", "label_due_on", "label_issued_on", "collected_at",
    "delivery_due_on", "delivered_at", "gp2gp_due_on", "gp2gp_integrated_on", "urgent_due_on",
    "search_due_on", "lost_due_on",
)  # fmt: skip
"""What the counts of open movements read: their stage, every timer, their age."""


class Movement(Base):
    """One record on its way from a sender to a receiver.

    Either end may be outside the practice directory (central storage, another UK nation):
    then its code is null. A branch-site end carries the practice's code and the site's.
    """

    __tablename__ = "movement"
    __table_args__ = (
        CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="movement_nhs_number_format"),
        CheckConstraint(
            "sender_ods_code IS DISTINCT FROM receiver_ods_code", name="movement_two_ends"
        ),
        CheckConstraint(
            "(sender_place = 'practice') = (sender_ods_code IS NOT NULL)",
            name="movement_sender_place",
        ),
        CheckConstraint(
            "(receiver_place = 'practice') = (receiver_ods_code IS NOT NULL)",
            name="movement_receiver_place",
        ),
        CheckConstraint(
            "sender_site_code IS NULL OR left(sender_site_code, 6) = sender_ods_code",
            name="movement_sender_site_of_practice",
        ),
        CheckConstraint(
            "receiver_site_code IS NULL OR left(receiver_site_code, 6) = receiver_ods_code",
            name="movement_receiver_site_of_practice",
        ),
        CheckConstraint(
            "delivered_at IS NULL OR collected_at IS NULL OR delivered_at >= collected_at",
            name="movement_delivered_after_collected",
        ),
        Index("ix_movement_sender", "sender_ods_code", "requested_at", "id"),
        Index("ix_movement_receiver", "receiver_ods_code", "requested_at", "id"),
        # A practice's backlog and an LMC's open counts are its open movements: a small part
        # of all it ever had. Each index carries every column those counts read (stage,
        # timers, age, the other end), so they are index-only scans: at national size an
        # LMC's open movements lie on some 20,000 heap pages.
        Index(
            "ix_movement_open_sender",
            "sender_ods_code",
            "sender_site_code",
            postgresql_where=text("is_open"),
            postgresql_include=[*OPEN_COLUMNS, "receiver_ods_code"],
        ),
        Index(
            "ix_movement_open_receiver",
            "receiver_ods_code",
            "receiver_site_code",
            postgresql_where=text("is_open"),
            postgresql_include=[*OPEN_COLUMNS, "sender_ods_code"],
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    movement_number: Mapped[str] = mapped_column(String(20), unique=True)
    label_number: Mapped[str | None] = mapped_column(String(20))
    """The PCS number of the label pack, once PCSE has issued one."""
    nhs_number: Mapped[str] = mapped_column(String(10))
    sender_place: Mapped[Place] = mapped_column(text_enum(Place, "sender_place"))
    sender_ods_code: Mapped[str | None] = mapped_column(String(9))
    sender_site_code: Mapped[str | None] = mapped_column(String(9))
    receiver_place: Mapped[Place] = mapped_column(text_enum(Place, "receiver_place"))
    receiver_ods_code: Mapped[str | None] = mapped_column(String(9))
    receiver_site_code: Mapped[str | None] = mapped_column(String(9))
    reason: Mapped[MovementReason] = mapped_column(text_enum(MovementReason, "movement_reason"))
    urgency: Mapped[Urgency] = mapped_column(text_enum(Urgency, "movement_urgency"))
    status: Mapped[MovementStatus] = mapped_column(text_enum(MovementStatus, "movement_status"))
    requested_at: Mapped[datetime]
    status_changed_at: Mapped[datetime]
    deducted_on: Mapped[date | None]
    label_issued_on: Mapped[date | None]
    collected_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    """When the receiving practice confirmed it holds this patient's record."""
    gp2gp_started_on: Mapped[date | None]
    gp2gp_integrated_on: Mapped[date | None]
    search_started_on: Mapped[date | None]
    """Set while the sender searches for a record it cannot find; cleared when that ends."""
    label_due_on: Mapped[date | None]
    delivery_due_on: Mapped[date | None]
    gp2gp_due_on: Mapped[date | None]
    urgent_due_on: Mapped[date | None]
    search_due_on: Mapped[date | None]
    lost_due_on: Mapped[date | None]
    is_open: Mapped[bool] = mapped_column(Computed(OPEN_SQL, persisted=True))


class HistoryKind(enum.StrEnum):
    REQUESTED = "requested"
    STATUS_CHANGED = "status_changed"
    LABEL_ISSUED = "label_issued"
    COLLECTION_SCANNED = "collection_scanned"
    DELIVERY_SCANNED = "delivery_scanned"
    RECEIVED = "received"
    WRONG_RECORD_RECEIVED = "wrong_record_received"
    INCIDENT_REPORTED = "incident_reported"
    HARM_REVIEW_RECORDED = "harm_review_recorded"
    SEARCH_STARTED = "search_started"
    GP2GP_INTEGRATED = "gp2gp_integrated"
    CANCELLED = "cancelled"


class MovementEvent(Base):
    """One thing that happened to a movement: its append-only history (a trigger refuses
    UPDATE and DELETE). Notes never hold a patient identifier."""

    __tablename__ = "movement_event"
    __table_args__ = (Index("ix_movement_event_movement", "movement_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    movement_id: Mapped[int] = mapped_column(ForeignKey("movement.id"))
    kind: Mapped[HistoryKind] = mapped_column(text_enum(HistoryKind, "history_kind"))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    from_status: Mapped[MovementStatus | None] = mapped_column(
        text_enum(MovementStatus, "from_status")
    )
    to_status: Mapped[MovementStatus | None] = mapped_column(text_enum(MovementStatus, "to_status"))
    actor_subject: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(300))


class ScanKind(enum.StrEnum):
    COLLECTION = "collection"
    DELIVERY = "delivery"


class Scan(Base):
    """A courier's scan, keyed by the courier's own scan id so that a resent scan is a no-op.

    Append-only, like the history."""

    __tablename__ = "scan"
    __table_args__ = (Index("ix_scan_movement", "movement_id", "scanned_at"),)

    scan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    movement_id: Mapped[int] = mapped_column(ForeignKey("movement.id"))
    kind: Mapped[ScanKind] = mapped_column(text_enum(ScanKind, "scan_kind"))
    scanned_at: Mapped[datetime]
    printout_included: Mapped[bool | None]
    """For a record leaving for another UK nation: whether the printout was in the envelope."""
    recorded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class IncidentKind(enum.StrEnum):
    WRONG_RECORD_DELIVERED = "wrong_record_delivered"
    ERRONEOUS_ARCHIVING = "erroneous_archiving"
    EMPTY_ENVELOPE = "empty_envelope"


class Incident(Base):
    """Something that went wrong with a movement; at most one of each kind per movement."""

    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("movement_id", "kind", name="uq_incident_movement_kind"),
        CheckConstraint(
            "found_nhs_number IS NULL OR found_nhs_number ~ '^[0-9]{10}$'",
            name="incident_found_nhs_number_format",
        ),
        Index("ix_incident_practice", "ods_code", "kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[IncidentKind] = mapped_column(text_enum(IncidentKind, "incident_kind"))
    movement_id: Mapped[int] = mapped_column(ForeignKey("movement.id"))
    ods_code: Mapped[str | None] = mapped_column(String(9))
    """The practice that bears it: the receiver of a wrong or archived record, the sender of an
    empty envelope."""
    reported_at: Mapped[datetime]
    reported_by: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(String(500))
    found_nhs_number: Mapped[str | None] = mapped_column(String(10))
    """The NHS number on the record that arrived instead: shown only to the movement's ends."""


class HarmOutcome(enum.StrEnum):
    NO_HARM = "no_harm"
    HARM = "harm"
    NEEDS_FOLLOW_UP = "needs_follow_up"


class HarmReview(Base):
    """One patient on a practice's harm-review worklist after their record was archived in
    error: one item per patient and practice, however many incidents name them."""

    __tablename__ = "harm_review"
    __table_args__ = (
        UniqueConstraint("ods_code", "nhs_number", name="uq_harm_review_patient"),
        CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="harm_review_nhs_number_format"),
        CheckConstraint(
            "(outcome IS NULL) = (reviewed_on IS NULL) AND (outcome IS NULL) = (reviewer IS NULL)",
            name="harm_review_outcome_complete",
        ),
        Index("ix_harm_review_practice", "ods_code", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    movement_id: Mapped[int] = mapped_column(ForeignKey("movement.id"))
    ods_code: Mapped[str] = mapped_column(String(9))
    nhs_number: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[HarmOutcome | None] = mapped_column(text_enum(HarmOutcome, "harm_outcome"))
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reviewed_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class MovementCount(Base):
    """How many movements each practice has sent and received, by status: kept by triggers
    on ``movement`` (one aggregate per statement, so a COPY of a million rows is one
    update per practice and status), so an LMC's counts read a few rows per practice
    instead of every movement its practices ever had."""

    __tablename__ = "movement_count"
    # No CHECK that a count stays at or above zero: PostgreSQL checks the row an upsert
    # proposes (a delta of -1) before it finds the row to add it to.
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="movement_count_direction"),
    )

    ods_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    status: Mapped[MovementStatus] = mapped_column(
        text_enum(MovementStatus, "movement_count_status"), primary_key=True
    )
    count: Mapped[int] = mapped_column(BigInteger)


class PracticeDirectory(Base):
    """Our copy of the practice directory, from the performers stream: which LMC a practice
    is in, for the LMC summary. Performers owns these facts; we never write them otherwise."""

    __tablename__ = "practice_directory"
    __table_args__ = (Index("ix_practice_directory_lmc", "lmc_code", "ods_code"),)

    ods_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    lmc_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


AuditEvent = audit_table(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
Inbox = inbox_table(Base.metadata)
DeadLetter = dead_letter_table(Base.metadata)
