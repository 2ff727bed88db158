"""Demo movements for every demo practice: every status, every timer breached (and some met
or running), every incident kind and state, registrations behind the movements, and a
harm-review worklist part-way through, partly from NHS England's list.

The rows and NHS numbers are the same every time; their dates are days before the day the
demo is loaded, so that running, met and breached timers all show whenever it is looked at.
NHS numbers come from the test range, 999 000 0000 to 999 999 9999, with valid check digits.
What the registrations show (a record not received, a removal in error) is found by the
service's own detection when the demo is loaded, as it would be for a practice's file.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from nhs_number.validate import calculate_checksum, is_valid
from pcse_kit import dates
from pcse_kit.auth import Principal, Role
from sqlalchemy import exists, func, select, text

from records import detection, timers
from records.models import (
    HarmGrade,
    HarmReview,
    HarmReviewList,
    HarmReviewSource,
    HistoryKind,
    Incident,
    IncidentKind,
    IncidentStatus,
    Movement,
    MovementEvent,
    MovementReason,
    MovementStatus,
    Place,
    Registration,
    RegistrationEvent,
    RegistrationReason,
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
    """For another UK nation: the sending practice's confirmation when it marked it ready."""
    ready: int | None = None
    """When it was marked ready for collection (defaults to half-way to its status change)."""
    raised: int | None = None
    """The incident was raised with PCSE this many days ago."""


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
    Shape(status=S.READY_FOR_COLLECTION, path=(S.IN_PROGRESS,), outgoing=True, deducted=40,
          requested=40, label=20, ready=16),  # collection: not collected the following week
    Shape(status=S.IN_PROGRESS, path=(S.REQUESTED,), reason=MovementReason.REQUEST,
          requested=60, changed=50),  # a routine request
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
    Shape(status=S.IN_STORAGE_AT_PRACTICE, path=(S.COLLECTED, S.DELIVERED), deducted=45,
          requested=45, label=25, collected=15, delivered=10, received=True),
    Shape(status=S.DELIVERED, path=(S.COLLECTED,), other_end=Place.SCOTLAND,
          reason=MovementReason.REGISTRATION_ELSEWHERE, deducted=60, requested=60, label=30,
          collected=28, delivered=4),  # from another nation: the longer delivery target
    # Incidents, and where each stands.
    Shape(status=S.WRONG_RECORD_DELIVERED, path=(S.COLLECTED, S.DELIVERED), deducted=95,
          requested=95, label=80, collected=70, delivered=66, changed=64,
          incident=IncidentKind.WRONG_RECORD_DELIVERED, raised=60),
    Shape(status=S.COLLECTED, path=(S.READY_FOR_COLLECTION,), outgoing=True, other_end=Place.WALES,
          reason=MovementReason.EMIGRATION, deducted=30, requested=30, label=12, collected=6,
          incident=IncidentKind.EMPTY_ENVELOPE, raised=3),
    Shape(status=S.COLLECTED, path=(S.READY_FOR_COLLECTION,), outgoing=True,
          other_end=Place.SCOTLAND, reason=MovementReason.EMIGRATION, deducted=28,
          requested=28, label=10, collected=5, printout=True),
    Shape(status=S.IN_STORAGE_AT_PRACTICE, path=(S.COLLECTED, S.DELIVERED), deducted=55,
          requested=55, label=35, collected=25, delivered=20, received=True,
          incident=IncidentKind.INCOMPLETE_RECORD),
    Shape(status=S.REQUESTED, outgoing=True, deducted=33, requested=33,
          incident=IncidentKind.LABEL_NOT_RECEIVED),
    Shape(status=S.IN_PROGRESS, path=(S.REQUESTED,), outgoing=True, deducted=24, requested=24,
          label=5, incident=IncidentKind.LABEL_WRONG),
)  # fmt: skip
ARCHIVED_IN_ERROR = 4
"""Records per practice found in central storage for its registered patients."""
HARM_GRADES = (HarmGrade.NONE, HarmGrade.LOW, HarmGrade.MODERATE, None)
"""The reviews of the archived records: three done (their records released and received),
one outstanding, its record still in storage."""
MINUTES = (25, 40, 90, 15)


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
        self.registrations: list[Registration] = []
        self.lists: list[HarmReviewList] = []

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

    def movement(
        self,
        code: str,
        other: str,
        sites: list[str],
        shape: Shape,
        *,
        nhs_number: str | None = None,
    ) -> Movement:
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
        was_ready = shape.status is S.READY_FOR_COLLECTION or S.READY_FOR_COLLECTION in shape.path
        ready = self.at(shape.ready) or (
            requested + ((collected or changed) - requested) / 2 if was_ready else None
        )
        movement = Movement(
            id=self.next_id,
            movement_number=f"MV{self.next_id:010d}",
            label_number=None if shape.label is None else f"PCS{self.rng.randint(0, 10**8):08d}",
            nhs_number=nhs_number or next(self.numbers),
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
            ready_at=ready,
            printout_attested=shape.printout,
            nhs_number_to_sender_only=False,
        )
        self.next_id += 1
        self.movements.append(movement)
        self._history(movement, shape, requested, changed)
        if shape.status is S.WRONG_RECORD_DELIVERED:
            # The courier delivered a record, but not this one: delivery is still owed.
            movement.delivered_at = None
        refresh_dues(movement, self.targets)
        self._registrations(movement)
        return movement

    def _registrations(self, movement: Movement) -> None:
        """The registrations behind a movement: the patient joining the receiving practice and
        leaving the sending one, on the day of the deduction."""
        on = movement.deducted_on
        if on is None:
            return
        if movement.receiver_ods_code is not None:
            self.register(movement.receiver_ods_code, movement.nhs_number, on)
        if movement.sender_ods_code is not None:
            reason = {
                MovementReason.EMIGRATION: RegistrationReason.EMIGRATION,
                MovementReason.DEATH: RegistrationReason.DEATH,
            }.get(movement.reason, RegistrationReason.TRANSFER)
            self.deduct(movement.sender_ods_code, movement.nhs_number, on, reason)

    def register(
        self,
        code: str,
        nhs_number: str,
        on: date,
        reason: RegistrationReason = RegistrationReason.TRANSFER,
    ) -> None:
        self.registrations.append(
            Registration(
                ods_code=code,
                nhs_number=nhs_number,
                event=RegistrationEvent.REGISTERED,
                effective_on=on,
                reason=reason,
                recorded_by=ACTOR[0],
            )
        )

    def deduct(
        self,
        code: str,
        nhs_number: str,
        on: date,
        reason: RegistrationReason,
        *,
        fp69_flagged_on: date | None = None,
    ) -> None:
        self.registrations.append(
            Registration(
                ods_code=code,
                nhs_number=nhs_number,
                event=RegistrationEvent.DEDUCTED,
                effective_on=on,
                reason=reason,
                fp69_flagged_on=fp69_flagged_on,
                under_18=False if fp69_flagged_on is not None else None,
                recorded_by=ACTOR[0],
            )
        )

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
            at = {
                S.COLLECTED: movement.collected_at,
                S.DELIVERED: movement.delivered_at,
                S.READY_FOR_COLLECTION: movement.ready_at,
            }.get(step) or requested + (changed - requested) / 2
            kind = {
                S.COLLECTED: HistoryKind.COLLECTION_SCANNED,
                S.DELIVERED: HistoryKind.DELIVERY_SCANNED,
            }.get(step, HistoryKind.STATUS_CHANGED)
            self.event(movement, kind, at, before=previous, after=step)
            previous = step
        if shape.status is not S.REQUESTED:
            kind = {
                S.COLLECTED: HistoryKind.COLLECTION_SCANNED,
                S.DELIVERED: HistoryKind.DELIVERY_SCANNED,
                S.CANCELLED: HistoryKind.CANCELLED,
                S.IN_STORAGE_AT_PRACTICE: HistoryKind.RECEIVED,
                S.WRONG_RECORD_DELIVERED: HistoryKind.WRONG_RECORD_RECEIVED,
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
                    )
                )

    def incident(
        self,
        movement: Movement,
        kind: IncidentKind,
        *,
        ods_code: str | None,
        detail: str,
        raised: int | None = None,
    ) -> Incident:
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
            status=IncidentStatus.OPEN,
        )
        if raised is not None:
            incident.status = IncidentStatus.RAISED_WITH_PCSE
            incident.pcse_reference = f"CAS-{movement.id:07d}-D"
            incident.raised_on = self.on(raised)
        self.event(
            movement, HistoryKind.INCIDENT_REPORTED, at, note=f"{incident.reference} {kind.value}"
        )
        self.incidents.append(incident)
        if kind is IncidentKind.WRONG_RECORD_DELIVERED and incident.found_nhs_number:
            self._return(movement, incident.found_nhs_number, at)
        return incident

    def _return(self, movement: Movement, found: str, at: datetime) -> None:
        """The other patient's record going back where it came from."""
        back = Movement(
            id=self.next_id,
            movement_number=f"MV{self.next_id:010d}",
            nhs_number=found,
            sender_place=movement.receiver_place,
            sender_ods_code=movement.receiver_ods_code,
            sender_site_code=movement.receiver_site_code,
            receiver_place=movement.sender_place,
            receiver_ods_code=movement.sender_ods_code,
            receiver_site_code=movement.sender_site_code,
            reason=MovementReason.WRONG_RECORD_RETURN,
            urgency=Urgency.ROUTINE,
            status=S.REQUESTED,
            requested_at=at,
            status_changed_at=at,
            nhs_number_to_sender_only=True,
            returns_movement_id=movement.id,
        )
        self.next_id += 1
        refresh_dues(back, self.targets)
        self.movements.append(back)
        self.event(back, HistoryKind.REQUESTED, at, after=S.REQUESTED)
        self.event(movement, HistoryKind.RETURN_OPENED, at, note=back.movement_number)

    def archived(self, code: str, other: str, slot: int, grade: HarmGrade | None) -> None:
        """A record sent on from another practice and archived instead of delivered, its
        patient registered here; reviewed for harm once released, or still waiting."""
        shape = Shape(status=S.IN_CENTRAL_STORAGE, path=(S.COLLECTED,), deducted=300 - slot,
                      requested=300 - slot, label=280 - slot, collected=270 - slot,
                      changed=260 - slot)  # fmt: skip
        stored = self.movement(code, other, [], shape)
        incident = self.incident(
            stored,
            IncidentKind.ERRONEOUS_ARCHIVING,
            ods_code=code,
            detail=INCIDENT_DETAIL[IncidentKind.ERRONEOUS_ARCHIVING],
        )
        review = HarmReview(
            source=HarmReviewSource.DETECTED,
            incident_id=incident.id,
            movement_id=stored.id,
            ods_code=code,
            nhs_number=stored.nhs_number,
            created_at=incident.reported_at,
            due_on=dates.local_date(incident.reported_at) + timedelta(days=30),
            patient_informed=grade is not None and grade is not HarmGrade.NONE,
            nhs_england_notified=grade is HarmGrade.MODERATE,
            minutes_spent=MINUTES[slot],
        )
        self.reviews.append(review)
        if grade is None:
            return
        # Released from storage, received here, then reviewed.
        released = Shape(status=S.IN_STORAGE_AT_PRACTICE, path=(S.COLLECTED, S.DELIVERED),
                         other_end=Place.CENTRAL_STORAGE, reason=MovementReason.REQUEST,
                         requested=240 - slot, collected=235 - slot, delivered=230 - slot,
                         received=True)  # fmt: skip
        self.movement(code, other, [], released, nhs_number=stored.nhs_number)
        reviewed_at = incident.reported_at + timedelta(days=40)
        review.harm_grade, review.reviewer = grade, REVIEWER
        review.reviewed_on = dates.local_date(reviewed_at)
        note = f"{grade.value}, by {REVIEWER}"
        self.event(stored, HistoryKind.HARM_REVIEW_RECORDED, reviewed_at, note=note)

    def listed(self, code: str, outstanding: str) -> None:
        """NHS England's list: one patient new to the worklist, one already on it."""
        listing = HarmReviewList(
            id=len(self.lists) + 1,
            ods_code=code,
            list_reference=f"NHSE-2019-{code}",
            received_on=self.on(200) or self.anchor.date(),
            patients=2,
            loaded_by=ACTOR[0],
        )
        self.lists.append(listing)
        patient = next(self.numbers)
        self.register(code, patient, self.on(400) or self.anchor.date())
        # Its record came back from storage with the list.
        released = Shape(status=S.IN_STORAGE_AT_PRACTICE, path=(S.COLLECTED, S.DELIVERED),
                         other_end=Place.CENTRAL_STORAGE, reason=MovementReason.REQUEST,
                         requested=215, collected=212, delivered=205, received=True)  # fmt: skip
        self.movement(code, code, [], released, nhs_number=patient)
        self.reviews.append(
            HarmReview(
                source=HarmReviewSource.NHS_ENGLAND_LIST,
                list_id=listing.id,
                ods_code=code,
                nhs_number=patient,
                created_at=self.at(200),
                due_on=listing.received_on + timedelta(days=30),
            )
        )
        assert outstanding  # already on the worklist: the list adds nothing for that patient

    def plant_registrations(self, code: str, other: str) -> None:
        """What only the registrations show, for the service's detection to find: a patient
        registered ten weeks with no record on its way; a removal nobody asked for; another,
        put right when the patient came back; an FP69 deduction a month after the flag; and a
        proper one."""
        on = self.on
        self.register(code, next(self.numbers), on(70) or self.anchor.date())
        self.deduct(
            code, next(self.numbers), on(20) or self.anchor.date(), RegistrationReason.OTHER
        )
        back = next(self.numbers)
        self.deduct(code, back, on(120) or self.anchor.date(), RegistrationReason.OTHER)
        self.register(code, back, on(90) or self.anchor.date())
        self.deduct(code, next(self.numbers), on(10) or self.anchor.date(),
                    RegistrationReason.FP69, fp69_flagged_on=on(40))  # fmt: skip
        self.deduct(code, next(self.numbers), on(150) or self.anchor.date(),
                    RegistrationReason.FP69, fp69_flagged_on=on(400))  # fmt: skip
        assert other


INCIDENT_DETAIL = {
    IncidentKind.WRONG_RECORD_DELIVERED: "The envelope held another patient's record.",
    IncidentKind.EMPTY_ENVELOPE: "Collected for Wales without the sending practice confirming "
    "the printout.",
    IncidentKind.ERRONEOUS_ARCHIVING: "Found in central storage; the patient is registered here.",
    IncidentKind.INCOMPLETE_RECORD: "The second envelope of a two-bag record never came.",
    IncidentKind.LABEL_NOT_RECEIVED: "No label five weeks after the deduction.",
    IncidentKind.LABEL_WRONG: "The label names another practice.",
}
BY_SENDER = frozenset(
    {IncidentKind.EMPTY_ENVELOPE, IncidentKind.LABEL_NOT_RECEIVED, IncidentKind.LABEL_WRONG}
)


def build(codes: list[str], sites: dict[str, list[str]], anchor: datetime) -> _Builder:
    builder = _Builder(anchor, random.Random(SEED))
    for index, code in enumerate(codes):
        for slot, shape in enumerate(SHAPES):
            other = codes[(index + slot + 1) % len(codes)]
            movement = builder.movement(code, other, sites.get(code, []), shape)
            if shape.incident is not None:
                bearer = (
                    movement.sender_ods_code
                    if shape.incident in BY_SENDER
                    else movement.receiver_ods_code
                )
                builder.incident(
                    movement,
                    shape.incident,
                    ods_code=bearer,
                    detail=INCIDENT_DETAIL[shape.incident],
                    raised=shape.raised,
                )
        outstanding = ""
        for slot, grade in enumerate(HARM_GRADES[:ARCHIVED_IN_ERROR]):
            other = codes[(index + slot + 7) % len(codes)]
            builder.archived(code, other, slot, grade)
            outstanding = builder.reviews[-1].nhs_number if grade is None else outstanding
        builder.listed(code, outstanding)
        builder.plant_registrations(code, codes[(index + 3) % len(codes)])
    return builder


DEMO_PRINCIPAL = Principal(subject=ACTOR[0], role=Role.OPERATOR, scope=frozenset({"records"}))


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
        session.add_all([*builder.incidents, *builder.scans, *builder.lists])
        session.add_all(builder.registrations)
        await session.flush()
        session.add_all([*builder.reviews, *builder.history])
        await session.flush()
        # Rows came with their own ids; the sequences must carry on after them.
        for table, last in (
            ("movement", builder.next_id - 1),
            ("incident", len(builder.incidents)),
            ("harm_review_list", len(builder.lists)),
        ):
            sequence = text(f"pg_get_serial_sequence('{table}', 'id')")
            await session.execute(select(func.setval(sequence, last)))
        # What the registrations show, found as a practice's file would have it found.
        await detection.detect(session, DEMO_PRINCIPAL, today=today)
    return True
