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
from pcse_kit.events import dead_letter_table, inbox_table, outbox_table
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
    IN_STORAGE_AT_PRACTICE = "in_storage_at_practice"
    """PCSE's "In storage at GP practice": the receiving practice holds the record."""
    WRONG_RECORD_DELIVERED = "wrong_record_delivered"
    """Another patient's record arrived; the right one is still outstanding."""


class MovementReason(enum.StrEnum):
    REGISTRATION_ELSEWHERE = "registration_elsewhere"
    EMIGRATION = "emigration"
    DEATH = "death"
    REQUEST = "request"
    WRONG_RECORD_RETURN = "wrong_record_return"
    """Another patient's record, delivered in error, going back where it came from."""


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
    "status IN ('requested', 'in_progress', 'ready_for_collection', 'collected', 'missing', "
    "'lost', 'wrong_record_delivered') "
    "OR (status = 'no_paper_record' AND gp2gp_integrated_on IS NULL) "
    "OR (status = 'in_central_storage' AND receiver_place = 'practice')"
)
"""Still owed to someone: on its way, searched for, lost, a GP2GP transfer not yet in, another
patient's record delivered instead, or stored centrally when a practice should have it. A lost
record is still missing from the practice that needs it, so it stays in the backlog."""
OPEN_COLUMNS: Final = (
    "is_open", "status", "requested_at", "label_due_on", "label_issued_on", "collected_at",
    "delivery_due_on", "delivered_at", "received_at", "gp2gp_due_on", "gp2gp_integrated_on",
    "urgent_due_on", "request_due_on", "collection_due_on", "search_due_on", "lost_due_on",
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
        # Registrations are matched to records by patient.
        Index("ix_movement_nhs_number", "nhs_number"),
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
    ready_at: Mapped[datetime | None]
    """When the record was last marked ready for collection: the collection timer starts."""
    printout_attested: Mapped[bool | None]
    """For a record going to another UK nation: the sending practice confirmed, when it marked
    the record ready, that the printed electronic record is in the envelope."""
    nhs_number_to_sender_only: Mapped[bool] = mapped_column(server_default=text("false"))
    """A wrong record going back: its patient is no business of the practice it returns to,
    so only the practice holding it sees the NHS number."""
    returns_movement_id: Mapped[int | None] = mapped_column(ForeignKey("movement.id"))
    """For a wrong record going back: the movement it was delivered on in error."""
    label_due_on: Mapped[date | None]
    delivery_due_on: Mapped[date | None]
    gp2gp_due_on: Mapped[date | None]
    urgent_due_on: Mapped[date | None]
    request_due_on: Mapped[date | None]
    collection_due_on: Mapped[date | None]
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
    MARKED_READY = "marked_ready"
    INCIDENT_UPDATED = "incident_updated"
    RETURN_OPENED = "return_opened"


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
    INCOMPLETE_RECORD = "incomplete_record"
    """The record arrived with parts missing (a practice reports it)."""
    LABEL_NOT_RECEIVED = "label_not_received"
    LABEL_WRONG = "label_wrong"
    """A label for the wrong patient, practice or address (a practice reports it)."""
    RECORD_NOT_RECEIVED = "record_not_received"
    """Found from registrations: a patient registered here for weeks, no record on its way."""
    INCORRECT_REMOVAL = "incorrect_removal"
    """Found from registrations: a deduction the practice did not ask for and nothing explains."""


FOUND_FROM_REGISTRATIONS: Final = frozenset(
    {IncidentKind.RECORD_NOT_RECEIVED, IncidentKind.INCORRECT_REMOVAL}
)
"""Kinds only the registrations can show: raised by detection, never reported by hand."""


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    RAISED_WITH_PCSE = "raised_with_pcse"
    """The practice has raised it with PCSE, which gave it a case (CAS) reference."""
    RESOLVED = "resolved"


class IncidentOutcome(enum.StrEnum):
    """How an incident ended."""

    RECORD_RECEIVED = "record_received"
    RECORD_RELEASED = "record_released"
    """Central storage sent the record on to the practice."""
    RE_REGISTERED = "re_registered"
    """The patient removed in error is back on the practice's list."""
    LABEL_RECEIVED = "label_received"
    RECORD_COMPLETED = "record_completed"
    NOT_AN_ERROR = "not_an_error"
    OTHER = "other"


class Incident(Base):
    """Something that went wrong with a movement or a registration, with its lifecycle: open,
    raised with PCSE (its CAS reference), resolved with an outcome.

    On a movement: one of each kind per movement and bearing practice (a wrong record can come
    more than once). On a registration: one of each kind per registration.
    """

    __tablename__ = "incident"
    __table_args__ = (
        CheckConstraint(
            "found_nhs_number IS NULL OR found_nhs_number ~ '^[0-9]{10}$'",
            name="incident_found_nhs_number_format",
        ),
        CheckConstraint(
            "movement_id IS NOT NULL OR registration_id IS NOT NULL", name="incident_subject"
        ),
        CheckConstraint(
            "(status = 'resolved') = (resolved_on IS NOT NULL AND outcome IS NOT NULL)",
            name="incident_resolution_complete",
        ),
        CheckConstraint(
            "(pcse_reference IS NULL) = (raised_on IS NULL) "
            "AND (status <> 'raised_with_pcse' OR pcse_reference IS NOT NULL) "
            "AND (status <> 'open' OR pcse_reference IS NULL)",
            name="incident_raised_complete",
        ),
        Index(
            "uq_incident_movement_kind_practice",
            "movement_id",
            "kind",
            "ods_code",
            unique=True,
            postgresql_nulls_not_distinct=True,
            # A second wrong delivery on the same movement is a new incident.
            postgresql_where=text("movement_id IS NOT NULL AND kind <> 'wrong_record_delivered'"),
        ),
        Index(
            "uq_incident_registration_kind",
            "registration_id",
            "kind",
            unique=True,
            postgresql_where=text("registration_id IS NOT NULL"),
        ),
        Index("ix_incident_practice", "ods_code", "kind"),
        Index("ix_incident_movement", "movement_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[IncidentKind] = mapped_column(text_enum(IncidentKind, "incident_kind"))
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("movement.id"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registration.id"))
    ods_code: Mapped[str | None] = mapped_column(String(9))
    """The practice that bears it: the receiver of a wrong or archived record, the sender of an
    empty envelope, the practice whose registration shows it."""
    reported_at: Mapped[datetime]
    reported_by: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(String(500))
    found_nhs_number: Mapped[str | None] = mapped_column(String(10))
    """The NHS number on the record that arrived instead: shown only to the receiving practice."""
    status: Mapped[IncidentStatus] = mapped_column(
        text_enum(IncidentStatus, "incident_status"), server_default=IncidentStatus.OPEN.value
    )
    pcse_reference: Mapped[str | None] = mapped_column(String(30))
    raised_on: Mapped[date | None]
    resolved_on: Mapped[date | None]
    outcome: Mapped[IncidentOutcome | None] = mapped_column(
        text_enum(IncidentOutcome, "incident_outcome")
    )
    resolution: Mapped[str | None] = mapped_column(String(500))
    remedied_on: Mapped[date | None]
    """When what it was about was put right, as the facts show it: for a removal in error,
    the day the patient was registered again (which can come before we heard of it)."""


class IncidentMonthCount(Base):
    """Incidents each practice bears, by the month they were reported and their kind: kept by
    triggers on ``incident``, so an LMC's twelve-month trends, and England's medians beside
    them, read a few rows per practice."""

    __tablename__ = "incident_month_count"

    ods_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    month: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[IncidentKind] = mapped_column(
        text_enum(IncidentKind, "incident_month_count_kind"), primary_key=True
    )
    count: Mapped[int] = mapped_column(BigInteger)


class HarmGrade(enum.StrEnum):
    """NHS England's levels of harm for a patient safety incident (LFPSE)."""

    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    SEVERE = "severe"
    FATAL = "fatal"


class HarmReviewSource(enum.StrEnum):
    DETECTED = "detected"
    """From an erroneous-archiving incident found here."""
    NHS_ENGLAND_LIST = "nhs_england_list"
    """From a list of NHS numbers NHS England sent the practice."""


class HarmReviewList(Base):
    """A list of patients NHS England asked a practice to review for harm, as it was loaded."""

    __tablename__ = "harm_review_list"
    __table_args__ = (UniqueConstraint("ods_code", "list_reference", name="uq_harm_review_list"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(9))
    list_reference: Mapped[str] = mapped_column(String(64))
    received_on: Mapped[date]
    patients: Mapped[int]
    loaded_by: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class HarmReview(Base):
    """One patient on a practice's harm-review worklist: after their record was archived in
    error here, or because NHS England's list names them. One item per patient and practice,
    however many incidents or lists name them.

    Completed with a harm grade, whether the patient was told and NHS England notified, and the
    time it took (the evidence for a compensation claim); never before the record arrived.
    """

    __tablename__ = "harm_review"
    __table_args__ = (
        UniqueConstraint("ods_code", "nhs_number", name="uq_harm_review_patient"),
        CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="harm_review_nhs_number_format"),
        CheckConstraint(
            "(harm_grade IS NULL) = (reviewed_on IS NULL) "
            "AND (harm_grade IS NULL) = (reviewer IS NULL)",
            name="harm_review_grade_complete",
        ),
        CheckConstraint("minutes_spent >= 0", name="harm_review_minutes_spent"),
        CheckConstraint(
            "incident_id IS NOT NULL OR list_id IS NOT NULL", name="harm_review_source_named"
        ),
        Index("ix_harm_review_practice", "ods_code", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[HarmReviewSource] = mapped_column(
        text_enum(HarmReviewSource, "harm_review_source"),
        server_default=HarmReviewSource.DETECTED.value,
    )
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))
    list_id: Mapped[int | None] = mapped_column(ForeignKey("harm_review_list.id"))
    movement_id: Mapped[int | None] = mapped_column(ForeignKey("movement.id"))
    ods_code: Mapped[str] = mapped_column(String(9))
    nhs_number: Mapped[str] = mapped_column(String(10))
    due_on: Mapped[date]
    harm_grade: Mapped[HarmGrade | None] = mapped_column(text_enum(HarmGrade, "harm_grade"))
    patient_informed: Mapped[bool] = mapped_column(server_default=text("false"))
    nhs_england_notified: Mapped[bool] = mapped_column(server_default=text("false"))
    minutes_spent: Mapped[int] = mapped_column(server_default=text("0"))
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reviewed_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class RegistrationEvent(enum.StrEnum):
    REGISTERED = "registered"
    DEDUCTED = "deducted"


class RegistrationReason(enum.StrEnum):
    """Why a patient joined or left a practice's list, as the clinical system records it."""

    NEW_REGISTRATION = "new_registration"
    """Joined: first registration with the NHS (a baby, someone from abroad): no record to
    come; no Lloyd George envelope has been issued for one since 1 January 2021."""
    TRANSFER = "transfer"
    """Joined from, or left for, another practice."""
    FP69 = "fp69"
    """Left: deducted after an FP69 (address not confirmed) expired."""
    REMOVAL = "removal"
    """Left: removed at the practice's request (the eight-day route)."""
    IMMEDIATE_REMOVAL = "immediate_removal"
    """Left: removed at once after a violent incident reported to the police."""
    DEATH = "death"
    EMIGRATION = "emigration"
    OTHER = "other"
    """Left, for a reason the practice's system does not name."""


JOINING: Final = frozenset({RegistrationReason.NEW_REGISTRATION, RegistrationReason.TRANSFER})
LEAVING: Final = frozenset(
    {
        RegistrationReason.TRANSFER,
        RegistrationReason.FP69,
        RegistrationReason.REMOVAL,
        RegistrationReason.IMMEDIATE_REMOVAL,
        RegistrationReason.DEATH,
        RegistrationReason.EMIGRATION,
        RegistrationReason.OTHER,
    }
)


class RegistrationFile(Base):
    """One export of a practice's registrations and deductions, loaded once: the same file
    again is a no-op that returns the first load's result."""

    __tablename__ = "registration_file"
    __table_args__ = (UniqueConstraint("ods_code", "digest", name="uq_registration_file"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(9))
    digest: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int]
    added: Mapped[int]
    """Rows new to the service; the rest were already known from an earlier export."""
    loaded_by: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class Registration(Base):
    """A patient joining or leaving a practice's list, from the practice's own clinical-system
    export or keyed in. Each fact is kept once however many exports repeat it."""

    __tablename__ = "registration"
    __table_args__ = (
        UniqueConstraint(
            "ods_code", "nhs_number", "event", "effective_on", name="uq_registration_fact"
        ),
        CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="registration_nhs_number_format"),
        CheckConstraint(
            "(event = 'registered' AND reason IN ('new_registration', 'transfer')) OR "
            "(event = 'deducted' AND reason <> 'new_registration')",
            name="registration_reason_fits_event",
        ),
        Index("ix_registration_patient", "nhs_number", "effective_on"),
        Index("ix_registration_practice", "ods_code", "effective_on", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ods_code: Mapped[str] = mapped_column(String(9))
    nhs_number: Mapped[str] = mapped_column(String(10))
    event: Mapped[RegistrationEvent] = mapped_column(
        text_enum(RegistrationEvent, "registration_event")
    )
    effective_on: Mapped[date]
    reason: Mapped[RegistrationReason] = mapped_column(
        text_enum(RegistrationReason, "registration_reason")
    )
    removal_requested_on: Mapped[date | None]
    """For a removal: when the practice asked for it."""
    fp69_flagged_on: Mapped[date | None]
    """For an FP69 deduction: when the flag was set."""
    under_18: Mapped[bool | None]
    """For an FP69 deduction: whether the patient was under 18 on the day (never deducted)."""
    file_id: Mapped[int | None] = mapped_column(ForeignKey("registration_file.id"))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class Feed(Base):
    """One daily feed of movement updates and courier scans, applied all or nothing, once."""

    __tablename__ = "feed"

    feed_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int]
    movements_opened: Mapped[int]
    movements_changed: Mapped[int]
    scans: Mapped[int]
    incidents: Mapped[int]
    loaded_by: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


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
Outbox = outbox_table(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
Inbox = inbox_table(Base.metadata)
DeadLetter = dead_letter_table(Base.metadata)
