"""Demo movements for every demo practice: every status, every timer breached (and some met
or running), every incident kind, and a harm-review worklist part-way through.

The rows and NHS numbers are the same every time; their dates are days before the day the
demo is loaded, so that running, met and breached timers all show whenever it is looked at.
NHS numbers come from the test range, 999 000 0000 to 999 999 9999, with valid check digits.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from nhs_number.validate import calculate_checksum, is_valid
from pcse_kit import dates
from sqlalchemy import exists, func, select, text

from records import timers
from records.models import (
    HarmOutcome,
    HarmReview,
    HistoryKind,
    Incident,
    IncidentKind,
    Movement,
    MovementEvent,
    MovementReason,
    MovementStatus,
    Place,
    Scan,
    ScanKind,
    Urgency,
)
from records.service import refresh_dues
from records.settings import RecordsSettings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SEED = 6
TEST_RANGE_PREFIX = "999"
"""NHS numbers 999 000 0000-999 999 9999 are the test range: never a real patient."""
ACTOR = ("demo-loader", "operator")
REVIEWER = "Dr Demo Reviewer"
S = MovementStatus


def test_nhs_numbers(rng: random.Random) -> Iterator[str]:
    """Endless valid NHS numbers from the test range, each used once."""
    seen: set[str] = set()
    while True:
        stem = f"{TEST_RANGE_PREFIX}{rng.randint(0, 999_999):06d}"
        # A stem whose check digit would be 10 yields no valid number; is_valid rejects it.
        number = f"{stem}{calculate_checksum(stem)}"
        if number not in seen and is_valid(number):
            seen.add(number)
            yield number


@dataclass(frozen=True, kw_only=True)
class Shape:
    """One demo movement relative to the practice it is made for: ``outgoing`` from it or
    coming to it, with its facts in days before the load."""

    status: MovementStatus
    path: tuple[MovementStatus, ...] = ()
    """Statuses between requested and ``status``, for the history."""
    outgoing: bool = False
    reason: MovementReason = MovementReason.REGISTRATION_ELSEWHERE
    urgent: bool = False
    requested: int = 10
    deducted: int | None = None
    label: int | None = None
    collected: int | None = None
    delivered: int | None = None
    received: bool = False
    gp2gp: int | None = None
    gp2gp_integrated: int | None = None
    search: int | None = None
    changed: int | None = None
    at_branch: bool = False
    other_end: Place = Place.PRACTICE
    incident: IncidentKind | None = None
    printout: bool | None = None


SHAPES: tuple[Shape, ...] = (
    # The usual path, each stage running to time.
    Shape(status=S.REQUESTED, deducted=10, requested=10),
    Shape(status=S.IN_PROGRESS, path=(S.REQUESTED,), outgoing=True, deducted=20, requested=20,
          label=6),
    Shape(status=S.READY_FOR_COLLECTION, path=(S.IN_PROGRESS,), outgoing=True, deducted=21,
          requested=21, label=5, at_branch=True),
    Shape(status=S.COLLECTED, path=(S.READY_FOR_COLLECTION,), deducted=26, requested=26, label=8,
          collected=4),
    Shape(status=S.DELIVERED, path=(S.COLLECTED,), outgoing=True, deducted=40, requested=40,
          label=20, collected=12, delivered=5, received=True),
    # Each timer breached.
    Shape(status=S.REQUESTED, deducted=45, requested=45),  # label
    Shape(status=S.COLLECTED, path=(S.READY_FOR_COLLECTION,), deducted=60, requested=60, label=40,
          collected=25),  # delivery
    Shape(status=S.NO_PAPER_RECORD, deducted=30, requested=30, gp2gp=20),  # GP2GP
    Shape(status=S.READY_FOR_COLLECTION, path=(S.REQUESTED,), outgoing=True,
          reason=MovementReason.REQUEST, urgent=True, requested=16, at_branch=True),  # urgent
    Shape(status=S.REQUESTED, outgoing=True, reason=MovementReason.REQUEST, requested=30,
          search=12),  # search
    Shape(status=S.MISSING, path=(S.READY_FOR_COLLECTION,), outgoing=True, deducted=260,
          requested=260, label=240, changed=200),  # lost
    # Met late, met, and the rest of the statuses.
    Shape(status=S.DELIVERED, path=(S.COLLECTED,), deducted=70, requested=70, label=50,
          collected=40, delivered=15, received=True),
    Shape(status=S.NO_PAPER_RECORD, outgoing=True, deducted=12, requested=12, gp2gp=3),
    Shape(status=S.NO_PAPER_RECORD, deducted=50, requested=50, gp2gp=40, gp2gp_integrated=35),
    Shape(status=S.CANCELLED, path=(S.REQUESTED,), outgoing=True, reason=MovementReason.REQUEST,
          requested=15, changed=14),
    Shape(status=S.LOST, path=(S.MISSING,), outgoing=True, deducted=400, requested=400, label=380,
          changed=150),
    Shape(status=S.IN_CENTRAL_STORAGE, path=(S.COLLECTED,), outgoing=True,
          other_end=Place.CENTRAL_STORAGE, reason=MovementReason.DEATH, deducted=90,
          requested=90, label=70, collected=60, changed=50),
    # Incidents.
    Shape(status=S.DELIVERED, path=(S.COLLECTED,), deducted=35, requested=35, label=18,
          collected=9, delivered=3, incident=IncidentKind.WRONG_RECORD_DELIVERED),
    Shape(status=S.COLLECTED, path=(S.READY_FOR_COLLECTION,), outgoing=True, other_end=Place.WALES,
          reason=MovementReason.EMIGRATION, deducted=30, requested=30, label=12, collected=6,
          printout=False, incident=IncidentKind.EMPTY_ENVELOPE),
    Shape(status=S.COLLECTED, path=(S.READY_FOR_COLLECTION,), outgoing=True,
          other_end=Place.SCOTLAND, reason=MovementReason.EMIGRATION, deducted=28,
          requested=28, label=10, collected=5, printout=True),
)  # fmt: skip
ARCHIVED_IN_ERROR = 4
"""Records per practice found in central storage for its registered patients."""
HARM_OUTCOMES = (HarmOutcome.NO_HARM, HarmOutcome.HARM, HarmOutcome.NEEDS_FOLLOW_UP, None)


class _Builder:
    def __init__(self, anchor: datetime, rng: random.Random) -> None:
        self.anchor = anchor
        self.rng = rng
        self.numbers = test_nhs_numbers(rng)
        self.targets = timers.Targets()
        self.next_id = 1
        self.movements: list[Movement] = []
        self.history: list[MovementEvent] = []
        self.scans: list[Scan] = []
        self.incidents: list[Incident] = []
        self.reviews: list[HarmReview] = []

    def at(self, days: int | None) -> datetime | None:
        if days is None:
            return None
        return self.anchor - timedelta(days=days, minutes=self.rng.randint(0, 8 * 60))

    def on(self, days: int | None) -> date | None:
        instant = self.at(days)
        return None if instant is None else dates.local_date(instant)

    def event(
        self,
        movement: Movement,
        kind: HistoryKind,
        at: datetime,
        *,
        before: MovementStatus | None = None,
        after: MovementStatus | None = None,
        note: str | None = None,
    ) -> None:
        self.history.append(
            MovementEvent(
                movement_id=movement.id,
                kind=kind,
                occurred_at=at,
                from_status=before,
                to_status=after,
                actor_subject=ACTOR[0],
                actor_role=ACTOR[1],
                note=note,
            )
        )

    def movement(self, code: str, other: str, sites: list[str], shape: Shape) -> Movement:
        requested = self.at(shape.requested)
        assert requested is not None
        collected, delivered = self.at(shape.collected), self.at(shape.delivered)
        changed = (
            self.at(shape.changed) or delivered or collected or self.at(shape.label) or requested
        )
        this_end = (Place.PRACTICE, code, sites[0] if shape.at_branch and sites else None)
        far_end: tuple[Place, str | None, str | None] = (
            (Place.PRACTICE, other, None)
            if shape.other_end is Place.PRACTICE
            else (shape.other_end, None, None)
        )
        sender, receiver = (this_end, far_end) if shape.outgoing else (far_end, this_end)
        movement = Movement(
            id=self.next_id,
            movement_number=f"MV{self.next_id:010d}",
            label_number=None if shape.label is None else f"PCS{self.rng.randint(0, 10**8):08d}",
            nhs_number=next(self.numbers),
            sender_place=sender[0],
            sender_ods_code=sender[1],
            sender_site_code=sender[2],
            receiver_place=receiver[0],
            receiver_ods_code=receiver[1],
            receiver_site_code=receiver[2],
            reason=shape.reason,
            urgency=Urgency.URGENT if shape.urgent else Urgency.ROUTINE,
            status=shape.status,
            requested_at=requested,
            status_changed_at=changed,
            deducted_on=self.on(shape.deducted),
            label_issued_on=self.on(shape.label),
            collected_at=collected,
            delivered_at=delivered,
            received_at=delivered if shape.received else None,
            gp2gp_started_on=self.on(shape.gp2gp),
            gp2gp_integrated_on=self.on(shape.gp2gp_integrated),
            search_started_on=self.on(shape.search),
        )
        self.next_id += 1
        refresh_dues(movement, self.targets)
        self.movements.append(movement)
        self._history(movement, shape, requested, changed)
        return movement

    def _history(
        self, movement: Movement, shape: Shape, requested: datetime, changed: datetime
    ) -> None:
        self.event(movement, HistoryKind.REQUESTED, requested, after=S.REQUESTED)
        if movement.label_issued_on is not None:
            issued = datetime.combine(movement.label_issued_on, time(9), UTC)
            self.event(
                movement, HistoryKind.LABEL_ISSUED, issued, note=f"PCS {movement.label_number}"
            )
        steps = [s for s in shape.path if s is not S.REQUESTED]
        previous = S.REQUESTED
        for step in steps:
            at = (
                movement.collected_at
                if step is S.COLLECTED
                else requested + (changed - requested) / 2
            )
            assert at is not None
            kind = (
                HistoryKind.COLLECTION_SCANNED
                if step is S.COLLECTED
                else HistoryKind.STATUS_CHANGED
            )
            self.event(movement, kind, at, before=previous, after=step)
            previous = step
        if shape.status is not S.REQUESTED:
            kind = {
                S.COLLECTED: HistoryKind.COLLECTION_SCANNED,
                S.DELIVERED: HistoryKind.DELIVERY_SCANNED,
                S.CANCELLED: HistoryKind.CANCELLED,
            }.get(shape.status, HistoryKind.STATUS_CHANGED)
            note = (
                "Patient re-registered at the same practice."
                if shape.status is S.CANCELLED
                else None
            )
            self.event(movement, kind, changed, before=previous, after=shape.status, note=note)
        if shape.search is not None:
            started = datetime.combine(movement.search_started_on or requested.date(), time(9), UTC)
            self.event(movement, HistoryKind.SEARCH_STARTED, started)
        if movement.received_at is not None:
            self.event(movement, HistoryKind.RECEIVED, movement.received_at)
        scans = (
            (ScanKind.COLLECTION, movement.collected_at),
            (ScanKind.DELIVERY, movement.delivered_at),
        )
        for scan, instant in scans:
            if instant is not None:
                self.scans.append(
                    Scan(
                        scan_id=f"CS-{movement.movement_number}-{scan.value[0].upper()}",
                        movement_id=movement.id,
                        kind=scan,
                        scanned_at=instant,
                        printout_included=shape.printout if scan is ScanKind.COLLECTION else None,
                    )
                )

    def incident(
        self,
        movement: Movement,
        kind: IncidentKind,
        *,
        ods_code: str | None,
        detail: str,
        outcome: HarmOutcome | None = None,
    ) -> None:
        at = movement.status_changed_at + timedelta(hours=2)
        incident = Incident(
            id=len(self.incidents) + 1,
            reference=f"INC-D{movement.id:09d}",
            kind=kind,
            movement_id=movement.id,
            ods_code=ods_code,
            reported_at=at,
            reported_by=ACTOR[0],
            detail=detail,
            found_nhs_number=next(self.numbers)
            if kind is IncidentKind.WRONG_RECORD_DELIVERED
            else None,
        )
        if kind is IncidentKind.WRONG_RECORD_DELIVERED:
            self.event(movement, HistoryKind.WRONG_RECORD_RECEIVED, at)
        self.event(
            movement, HistoryKind.INCIDENT_REPORTED, at, note=f"{incident.reference} {kind.value}"
        )
        self.incidents.append(incident)
        if kind is IncidentKind.ERRONEOUS_ARCHIVING and ods_code is not None:
            self._harm_review(movement, incident, ods_code, outcome)

    def _harm_review(
        self, movement: Movement, incident: Incident, ods_code: str, outcome: HarmOutcome | None
    ) -> None:
        reviewed_at = incident.reported_at + timedelta(days=30)
        self.reviews.append(
            HarmReview(
                incident_id=incident.id,
                movement_id=movement.id,
                ods_code=ods_code,
                nhs_number=movement.nhs_number,
                outcome=outcome,
                created_at=incident.reported_at,
                reviewer=None if outcome is None else REVIEWER,
                reviewed_on=None if outcome is None else dates.local_date(reviewed_at),
            )
        )
        if outcome is not None:
            note = f"{outcome.value}, by {REVIEWER}"
            self.event(movement, HistoryKind.HARM_REVIEW_RECORDED, reviewed_at, note=note)


INCIDENT_DETAIL = {
    IncidentKind.WRONG_RECORD_DELIVERED: "The envelope held another patient's record.",
    IncidentKind.EMPTY_ENVELOPE: "Collected for Wales without the printout in the envelope.",
    IncidentKind.ERRONEOUS_ARCHIVING: "Found in central storage; the patient is registered here.",
}


def build(codes: list[str], sites: dict[str, list[str]], anchor: datetime) -> _Builder:
    builder = _Builder(anchor, random.Random(SEED))
    for index, code in enumerate(codes):
        for slot, shape in enumerate(SHAPES):
            other = codes[(index + slot + 1) % len(codes)]
            movement = builder.movement(code, other, sites.get(code, []), shape)
            if shape.incident is not None:
                bearer = (
                    movement.sender_ods_code
                    if shape.incident is IncidentKind.EMPTY_ENVELOPE
                    else movement.receiver_ods_code
                )
                builder.incident(
                    movement,
                    shape.incident,
                    ods_code=bearer,
                    detail=INCIDENT_DETAIL[shape.incident],
                )
        for slot, outcome in enumerate(HARM_OUTCOMES[:ARCHIVED_IN_ERROR]):
            other = codes[(index + slot + 7) % len(codes)]
            # Sent on from another practice, then archived instead of delivered.
            shape = Shape(status=S.IN_CENTRAL_STORAGE, path=(S.COLLECTED,), deducted=300 - slot,
                          requested=300 - slot, label=280 - slot, collected=270 - slot,
                          changed=260 - slot)  # fmt: skip
            movement = builder.movement(code, other, [], shape)
            builder.incident(
                movement,
                IncidentKind.ERRONEOUS_ARCHIVING,
                ods_code=code,
                detail=INCIDENT_DETAIL[IncidentKind.ERRONEOUS_ARCHIVING],
                outcome=outcome,
            )
    return builder


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    directory = json.loads(RecordsSettings().demo_directory.read_text())
    codes = [p["odsCode"] for p in directory["practices"]]
    sites = {
        p["odsCode"]: [s["siteCode"] for s in p.get("branchSites", [])]
        for p in directory["practices"]
    }
    today = dates.today()
    builder = build(codes, sites, datetime.combine(today, time(9), UTC))
    async with sessionmaker.begin() as session:
        if await session.scalar(select(exists().select_from(Movement))):
            return False
        session.add_all(builder.movements)
        await session.flush()
        session.add_all([*builder.incidents, *builder.scans])
        await session.flush()
        session.add_all([*builder.reviews, *builder.history])
        # Rows came with their own ids; the sequences must carry on after them.
        for table, last in (
            ("movement", builder.next_id - 1),
            ("incident", len(builder.incidents)),
        ):
            sequence = text(f"pg_get_serial_sequence('{table}', 'id')")
            await session.execute(select(func.setval(sequence, last)))
    return True
