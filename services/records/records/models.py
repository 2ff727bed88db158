"""Tables of the records service: movements of patients' paper (Lloyd George) records."""

from __future__ import annotations

import enum
from datetime import datetime

from pcse_kit.db import text_enum
from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, String
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


class Urgency(enum.StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class Movement(Base):
    """One record on its way from a sender to a receiver.

    Either end may be outside the practice directory (central storage, another UK nation):
    then its code is null.
    """

    __tablename__ = "movement"
    __table_args__ = (
        CheckConstraint("nhs_number ~ '^[0-9]{10}$'", name="movement_nhs_number_format"),
        CheckConstraint(
            "sender_ods_code IS DISTINCT FROM receiver_ods_code", name="movement_two_ends"
        ),
        Index("ix_movement_sender", "sender_ods_code", "requested_at", "id"),
        Index("ix_movement_receiver", "receiver_ods_code", "requested_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    movement_number: Mapped[str] = mapped_column(String(20), unique=True)
    nhs_number: Mapped[str] = mapped_column(String(10))
    sender_ods_code: Mapped[str | None] = mapped_column(String(9))
    receiver_ods_code: Mapped[str | None] = mapped_column(String(9))
    reason: Mapped[MovementReason] = mapped_column(text_enum(MovementReason, "movement_reason"))
    urgency: Mapped[Urgency] = mapped_column(text_enum(Urgency, "movement_urgency"))
    status: Mapped[MovementStatus] = mapped_column(text_enum(MovementStatus, "movement_status"))
    requested_at: Mapped[datetime]
    status_changed_at: Mapped[datetime]
