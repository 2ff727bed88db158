"""GraphQL types of the records subgraph: paper records moving in and out of a practice."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final

import strawberry
from pcse_kit import dates
from pcse_kit.auth import Principal
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import lmc_code, practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection, filter_values
from strawberry.federation.schema_directives import Cost
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from records import models, policy, repository, timers, trends
from records.context import (
    HarmReviewQuery,
    IncidentQuery,
    MovementQuery,
    RecordsContext,
    RegistrationQuery,
)
from records.timers import TimerKind

strawberry.enum(
    models.MovementStatus,
    description="Where a record movement stands: PCSE's statuses plus missing, lost, storage.",
)
strawberry.enum(models.MovementReason, description="Why the record moves.")
strawberry.enum(models.Urgency, description="Routine or urgent.")
strawberry.enum(
    models.Place,
    description="What is at one end of a movement: a practice (or its branch site), central "
    "storage, or another UK nation, which GP2GP does not reach.",
)
strawberry.enum(models.ScanKind, description="A courier scan: at collection or at delivery.")
strawberry.enum(models.IncidentKind, description="What went wrong with a movement or a list.")
strawberry.enum(
    models.IncidentStatus,
    description="Open, raised with PCSE (with its case reference), or resolved.",
)
strawberry.enum(models.IncidentOutcome, description="How an incident ended.")
strawberry.enum(
    models.HarmGrade,
    description="NHS England's levels of harm for a patient safety incident: none, low, "
    "moderate, severe, fatal.",
)
strawberry.enum(
    models.HarmReviewSource,
    description="Why a patient is on the worklist: an archiving found here, or NHS England's list.",
)
strawberry.enum(models.RegistrationEvent, description="A patient joined or left the list.")
strawberry.enum(models.RegistrationReason, description="Why a patient joined or left the list.")
strawberry.enum(models.HistoryKind, description="What happened to a movement.")
strawberry.enum(
    timers.TimerKind,
    description="A target a movement runs against (label, collection, delivery, GP2GP, urgent "
    "and routine requests, search, lost).",
)
strawberry.enum(
    timers.TimerState,
    description="Running, met, late (stopped after its due date) or breached (running past it).",
)

SECONDS_PER_DAY = 86_400


@strawberry.enum(description="Whether a record is coming to the practice or leaving it.")
class Direction(enum.Enum):
    IN = repository.IN
    OUT = repository.OUT


@strawberry.type(description="One end of a movement.")
class MovementEnd:
    place: models.Place = strawberry.field(description="What is at this end.")
    ods_code: str | None = strawberry.field(description="The practice; null off the directory.")
    site_code: str | None = strawberry.field(
        description="The practice's branch site, when the record is there rather than at the "
        "main site."
    )


@strawberry.type(description="One timer of a movement, on England's working-day calendar.")
class RecordTimer:
    kind: timers.TimerKind = strawberry.field(description="Which target.")
    started_on: date = strawberry.field(description="When it started running.")
    due_on: date = strawberry.field(description="When it is due (working days, bank holidays "
                                    "excluded; calendar months for lost).")  # fmt: skip
    stopped_on: date | None = strawberry.field(description="When it stopped; null if running.")
    state: timers.TimerState = strawberry.field(description="Where it stands today.")
    breached: bool = strawberry.field(description="Late or breached.")

    @classmethod
    def of(cls, timer: timers.Timer) -> RecordTimer:
        return cls(
            kind=timer.kind,
            started_on=timer.started_on,
            due_on=timer.due_on,
            stopped_on=timer.stopped_on,
            state=timer.state,
            breached=timer.breached,
        )


def movement_timers(row: models.Movement, *, on: date) -> list[timers.Timer]:
    """Every timer the movement has started, with the stops repository.OVERDUE counts on."""

    def day(value: datetime | None) -> date | None:
        return None if value is None else dates.local_date(value)

    collected, ready = day(row.collected_at), day(row.ready_at)
    arrived = min((d for d in (day(row.delivered_at), day(row.received_at)) if d), default=None)
    request_stop = min((d for d in (arrived, row.gp2gp_integrated_on) if d), default=None)
    missing_since = (
        dates.local_date(row.status_changed_at)
        if row.status is models.MovementStatus.MISSING
        else None
    )
    waiting = row.status is models.MovementStatus.READY_FOR_COLLECTION
    # The collection timer runs only while the record waits; it stops at the collection after
    # the latest "ready", and a record that moved on otherwise (cancelled, missing) has none.
    collection_stop = (
        collected
        if collected is not None
        and row.ready_at is not None
        and row.collected_at is not None
        and row.collected_at >= row.ready_at
        else None
    )
    specs: list[tuple[TimerKind, date | None, date | None, date | None, bool]] = [
        (TimerKind.LABEL, row.deducted_on, row.label_due_on, row.label_issued_on or collected,
         row.is_open),
        (TimerKind.COLLECTION, ready, row.collection_due_on, collection_stop, waiting),
        (TimerKind.DELIVERY, collected, row.delivery_due_on, arrived, row.is_open),
        (TimerKind.GP2GP, row.gp2gp_started_on, row.gp2gp_due_on, row.gp2gp_integrated_on,
         row.is_open),
        (TimerKind.URGENT, day(row.requested_at) if row.urgent_due_on else None,
         row.urgent_due_on, request_stop, row.is_open),
        (TimerKind.REQUEST, day(row.requested_at) if row.request_due_on else None,
         row.request_due_on, request_stop, row.is_open),
        (TimerKind.SEARCH, row.search_started_on, row.search_due_on, None, row.is_open),
        (TimerKind.LOST, missing_since, row.lost_due_on, None, row.is_open),
    ]  # fmt: skip
    found = (
        timers.evaluate(kind, started_on=start, due_on=due, stopped_on=stop, is_open=live, on=on)
        for kind, start, due, stop, live in specs
    )
    return [timer for timer in found if timer is not None]


@strawberry.type(description="One thing that happened to a movement: its append-only history.")
class MovementHistoryEntry:
    kind: models.HistoryKind = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When it happened (a scan's own time).")
    recorded_at: datetime = strawberry.field(description="When it was recorded here.")
    from_status: models.MovementStatus | None = strawberry.field(
        description="Status before, for a status change."
    )
    to_status: models.MovementStatus | None = strawberry.field(
        description="Status after, for a status change."
    )
    recorded_by: str = strawberry.field(description="Who recorded it (the token's subject).")
    recorded_by_role: str = strawberry.field(description="In which role.")
    note: str | None = strawberry.field(description="A reason, a label or an incident reference.")

    @classmethod
    def of(cls, row: models.MovementEvent) -> MovementHistoryEntry:
        return cls(
            kind=row.kind,
            occurred_at=row.occurred_at,
            recorded_at=row.recorded_at,
            from_status=row.from_status,
            to_status=row.to_status,
            recorded_by=row.actor_subject,
            recorded_by_role=row.actor_role,
            note=row.note,
        )


NEXT_STEP: dict[models.IncidentKind, str] = {
    models.IncidentKind.WRONG_RECORD_DELIVERED: "Keep the record that came: a return movement "
    "takes it back. Your patient's record is still owed: raise this with PCSE and record the "
    "case reference here.",
    models.IncidentKind.ERRONEOUS_ARCHIVING: "Ask PCSE to release the record from storage "
    "(raise it, then record the case reference here); review the patient for harm once it "
    "arrives (your harm-review worklist).",
    models.IncidentKind.EMPTY_ENVELOPE: "Print the electronic record for the receiving nation "
    "and raise this with PCSE.",
    models.IncidentKind.INCOMPLETE_RECORD: "Raise this with PCSE, saying what is missing.",
    models.IncidentKind.LABEL_NOT_RECEIVED: "Order a label on PCSE Online ('Request "
    "movement') and raise this with PCSE.",
    models.IncidentKind.LABEL_WRONG: "Do not use the label: destroy it securely and ask PCSE "
    "Supplies to reissue it, quoting its PCS number.",
    models.IncidentKind.RECORD_NOT_RECEIVED: "Raise a medical record movement enquiry with PCSE "
    "giving the patient's details; no movement to you shows the record on its way.",
    models.IncidentKind.INCORRECT_REMOVAL: "If the patient is still yours, register them again "
    "and raise this with PCSE: the capitation is lost from the deduction until then.",
}


@strawberry.type(description="A patient joining or leaving a practice's list.")
class PatientRegistration:
    id: strawberry.ID = strawberry.field(description="Identifies the fact.")
    ods_code: str = strawberry.field(description="The practice.")
    nhs_number: str | None = strawberry.field(
        description="The patient; shown only to the practice itself."
    )
    event: models.RegistrationEvent = strawberry.field(description="Registered or deducted.")
    effective_on: date = strawberry.field(description="The day it took effect.")
    reason: models.RegistrationReason = strawberry.field(description="Why.")
    removal_requested_on: date | None = strawberry.field(
        description="For a removal: when the practice asked for it."
    )
    fp69_flagged_on: date | None = strawberry.field(
        description="For an FP69 deduction: when the flag was set."
    )
    recorded_at: datetime = strawberry.field(description="When it reached us.")
    row: strawberry.Private[models.Registration]

    @classmethod
    def of(cls, row: models.Registration, *, principal: Principal) -> PatientRegistration:
        return cls(
            id=strawberry.ID(str(row.id)),
            ods_code=row.ods_code,
            nhs_number=row.nhs_number if principal.is_practice_of(row.ods_code) else None,
            event=row.event,
            effective_on=row.effective_on,
            reason=row.reason,
            removal_requested_on=row.removal_requested_on,
            fp69_flagged_on=row.fp69_flagged_on,
            recorded_at=row.recorded_at,
            row=row,
        )

    @strawberry.field(description="Incidents this fact showed (record not received, removal).")
    async def incidents(self, info: Info[RecordsContext, None]) -> list[RecordIncident]:
        rows = await info.context.incidents_of_registration.load(self.row.id)
        context = info.context
        return [
            RecordIncident.of(row, None, self.row, principal=context.principal, today=context.today)
            for row in rows
        ]


@strawberry.type(
    description="Something that went wrong with a movement or a registration, and where it "
    "stands: open, raised with PCSE, resolved."
)
class RecordIncident:
    reference: str = strawberry.field(description="Our reference, e.g. INC-1A2B3C4D5E6F.")
    kind: models.IncidentKind = strawberry.field(description="What went wrong.")
    movement_number: str | None = strawberry.field(
        description="The movement it happened to; null for one found from a registration."
    )
    ods_code: str | None = strawberry.field(
        description="The practice that bears it: the receiver of a wrong, archived or incomplete "
        "record, the sender of an empty envelope or a label, the practice whose registration "
        "shows it."
    )
    reported_at: datetime = strawberry.field(description="When it was reported or found.")
    reported_by: str = strawberry.field(description="Who (the token's subject).")
    detail: str = strawberry.field(description="What was found.")
    nhs_number: str | None = strawberry.field(
        description="The patient: shown to the practices at the movement's ends, or to the "
        "practice whose registration it is; null for everyone else."
    )
    found_nhs_number: str | None = strawberry.field(
        description="For a wrong record: the NHS number on the record that arrived instead. "
        "Shown only to the receiving practice."
    )
    status: models.IncidentStatus = strawberry.field(description="Where it stands.")
    pcse_reference: str | None = strawberry.field(
        description="PCSE's case (CAS) reference, once raised with PCSE."
    )
    raised_on: date | None = strawberry.field(description="When it was raised with PCSE.")
    resolved_on: date | None = strawberry.field(description="When it was resolved.")
    outcome: models.IncidentOutcome | None = strawberry.field(description="How it ended.")
    resolution: str | None = strawberry.field(description="What happened, in words.")
    age_days: int = strawberry.field(description="Days from report to resolution, or to today.")
    escalatable: bool = strawberry.field(
        description="Raised with PCSE more than 40 days ago and still not resolved: the "
        "practice's LMC may escalate it."
    )
    escalatable_from: date | None = strawberry.field(
        description="The first day the LMC may escalate it (day 41 after it was raised)."
    )
    days_off_list: int | None = strawberry.field(
        description="For an incorrect removal: days the patient has been off the list, the "
        "capitation lost (to re-registration, or to today)."
    )
    next_step: str | None = strawberry.field(
        description="What the practice does next; null once resolved."
    )
    registration: PatientRegistration | None = strawberry.field(
        description="The registration that showed it, for one found from registrations."
    )

    @classmethod
    def of(
        cls,
        row: models.Incident,
        movement: models.Movement | None,
        registration: models.Registration | None,
        *,
        principal: Principal,
        today: date,
        movement_number: str | None = None,
    ) -> RecordIncident:
        if movement is not None:
            # The practice bearing it is at one end, or (a record archived in error) is where
            # the patient is registered now.
            sees_patient = policy.sees_nhs_number(principal, movement) or (
                row.ods_code is not None and principal.is_practice_of(row.ods_code)
            )
            patient: str | None = movement.nhs_number
        elif registration is not None:
            sees_patient = principal.is_practice_of(registration.ods_code)
            patient = registration.nhs_number
        else:
            sees_patient, patient = False, None
        reported = dates.local_date(row.reported_at)
        end = row.resolved_on or today
        escalatable_from = (
            None
            if row.raised_on is None
            else row.raised_on + timedelta(days=timers.ESCALATION_DAYS + 1)
        )
        next_step = None
        if row.status is models.IncidentStatus.OPEN:
            next_step = NEXT_STEP[row.kind]
        elif row.status is models.IncidentStatus.RAISED_WITH_PCSE and escalatable_from:
            next_step = (
                f"PCSE has it ({row.pcse_reference}). Unresolved from {escalatable_from}, your "
                "LMC may escalate it."
            )
        return cls(
            reference=row.reference,
            kind=row.kind,
            movement_number=movement.movement_number if movement is not None else movement_number,
            ods_code=row.ods_code,
            reported_at=row.reported_at,
            reported_by=row.reported_by,
            detail=row.detail,
            nhs_number=patient if sees_patient else None,
            found_nhs_number=row.found_nhs_number
            if policy.sees_found_nhs_number(principal, movement)
            else None,
            status=row.status,
            pcse_reference=row.pcse_reference,
            raised_on=row.raised_on,
            resolved_on=row.resolved_on,
            outcome=row.outcome,
            resolution=row.resolution,
            age_days=(end - reported).days,
            escalatable=row.status is models.IncidentStatus.RAISED_WITH_PCSE
            and escalatable_from is not None
            and today >= escalatable_from,
            escalatable_from=escalatable_from,
            days_off_list=((row.remedied_on or end) - registration.effective_on).days
            if registration is not None and row.kind is models.IncidentKind.INCORRECT_REMOVAL
            else None,
            next_step=next_step,
            registration=None
            if registration is None
            else PatientRegistration.of(registration, principal=principal),
        )


def _days(now: datetime, then: datetime) -> int:
    return int((now - then).total_seconds() // SECONDS_PER_DAY)


@strawberry.type(
    description="A patient's paper record moving between two places, with its timers, history "
    "and incidents."
)
class TrackedMovement:
    movement_number: str = strawberry.field(description="PCSE movement number.")
    label_number: str | None = strawberry.field(
        description="PCS number of the label pack, once issued."
    )
    nhs_number: str | None = strawberry.field(
        description="The patient's NHS number; shown only to the sending and receiving "
        "practices, null for everyone else."
    )
    sending: MovementEnd = strawberry.field(description="Where the record comes from.")
    receiving: MovementEnd = strawberry.field(description="Where the record goes.")
    sending_ods_code: str | None = strawberry.field(
        description="Sending practice; null for central storage or another UK nation."
    )
    receiving_ods_code: str | None = strawberry.field(
        description="Receiving practice; null for central storage or another UK nation."
    )
    reason: models.MovementReason = strawberry.field(description="Why the record moves.")
    urgency: models.Urgency = strawberry.field(description="Routine or urgent.")
    status: models.MovementStatus = strawberry.field(description="Current status.")
    open: bool = strawberry.field(
        description="Still on someone's desk: on its way, searched for, or GP2GP not yet in."
    )
    requested_at: datetime = strawberry.field(description="When the movement was requested.")
    status_changed_at: datetime = strawberry.field(description="When the status last changed.")
    deducted_on: date | None = strawberry.field(
        description="The deduction that started it (registration elsewhere, emigration, death)."
    )
    label_issued_on: date | None = strawberry.field(description="When the label was issued.")
    collected_at: datetime | None = strawberry.field(description="The courier's collection scan.")
    delivered_at: datetime | None = strawberry.field(description="The courier's delivery scan.")
    received_at: datetime | None = strawberry.field(
        description="When the receiving practice confirmed it holds this patient's record."
    )
    gp2gp_started_on: date | None = strawberry.field(description="When GP2GP transfer began.")
    gp2gp_integrated_on: date | None = strawberry.field(
        description="When the receiver integrated the GP2GP record."
    )
    ready_at: datetime | None = strawberry.field(
        description="When the record was last marked ready for collection."
    )
    printout_attested: bool | None = strawberry.field(
        description="For a record to another UK nation: the sending practice confirmed the "
        "printout is in the envelope (true), said it is not (false), or has not said (null)."
    )
    movement_id: strawberry.Private[int]
    principal: strawberry.Private[Principal]
    now: strawberry.Private[datetime]
    today: strawberry.Private[date]
    sees_nhs: strawberry.Private[bool]
    row: strawberry.Private[models.Movement]

    @staticmethod
    def fields_of(
        row: models.Movement, *, principal: Principal, now: datetime, today: date
    ) -> dict[str, Any]:
        sees_nhs = policy.sees_nhs_number(principal, row)
        return {
            "movement_number": row.movement_number,
            "label_number": row.label_number,
            "nhs_number": row.nhs_number if sees_nhs else None,
            "sending": MovementEnd(
                place=row.sender_place, ods_code=row.sender_ods_code, site_code=row.sender_site_code
            ),
            "receiving": MovementEnd(
                place=row.receiver_place,
                ods_code=row.receiver_ods_code,
                site_code=row.receiver_site_code,
            ),
            "sending_ods_code": row.sender_ods_code,
            "receiving_ods_code": row.receiver_ods_code,
            "reason": row.reason,
            "urgency": row.urgency,
            "status": row.status,
            "open": row.is_open,
            "requested_at": row.requested_at,
            "status_changed_at": row.status_changed_at,
            "deducted_on": row.deducted_on,
            "label_issued_on": row.label_issued_on,
            "collected_at": row.collected_at,
            "delivered_at": row.delivered_at,
            "received_at": row.received_at,
            "gp2gp_started_on": row.gp2gp_started_on,
            "gp2gp_integrated_on": row.gp2gp_integrated_on,
            "ready_at": row.ready_at,
            "printout_attested": row.printout_attested,
            "movement_id": row.id,
            "principal": principal,
            "now": now,
            "today": today,
            "sees_nhs": sees_nhs,
            "row": row,
        }

    @classmethod
    def of(cls, row: models.Movement, context: RecordsContext) -> TrackedMovement:
        return cls(
            **cls.fields_of(row, principal=context.principal, now=context.now, today=context.today)
        )

    @strawberry.field(description="Whole days since the movement was requested.")
    def age_days(self) -> int:
        return _days(self.now, self.requested_at)

    @strawberry.field(description="Working days since the movement was requested (England).")
    def age_working_days(self) -> int:
        return timers.working_days_between(dates.local_date(self.requested_at), self.today)

    @strawberry.field(description="Whole days in the current status.")
    def days_in_status(self) -> int:
        return _days(self.now, self.status_changed_at)

    @strawberry.field(description="Every timer the movement has started, met, late or running.")
    def timers(self) -> list[RecordTimer]:
        return [RecordTimer.of(t) for t in movement_timers(self.row, on=self.today)]

    @strawberry.field(description="The timers it has breached or met late.")
    def breached_timers(self) -> list[TimerKind]:
        return [t.kind for t in movement_timers(self.row, on=self.today) if t.breached]

    @strawberry.field(description="Everything that happened to it, oldest first: append-only.")
    async def history(self, info: Info[RecordsContext, None]) -> list[MovementHistoryEntry]:
        rows = await info.context.history.load(self.movement_id)
        return [MovementHistoryEntry.of(row) for row in rows]

    @strawberry.field(description="Incidents reported on it, oldest first.")
    async def incidents(self, info: Info[RecordsContext, None]) -> list[RecordIncident]:
        rows = await info.context.incidents_of_movement.load(self.movement_id)
        return [
            RecordIncident.of(row, self.row, None, principal=self.principal, today=self.today)
            for row in rows
        ]


@strawberry.type(description="A movement in a practice's list: in to it or out of it.")
class RecordMovement(TrackedMovement):
    direction: Direction = strawberry.field(description="In to or out of the practice asking.")

    @classmethod
    def from_row(
        cls, direction: str, row: models.Movement, *, context: RecordsContext
    ) -> RecordMovement:
        fields = TrackedMovement.fields_of(
            row, principal=context.principal, now=context.now, today=context.today
        )
        return cls(direction=Direction(direction), **fields)


# --------------------------------------------------------------------------------------------
# Backlog


@strawberry.type(description="Open movements of one age band.")
class AgeBucketCount:
    label: str = strawberry.field(description="The band, e.g. '2 to 4 weeks'.")
    min_days: int = strawberry.field(description="Youngest age in the band, in days.")
    max_days: int | None = strawberry.field(description="Oldest age in the band; null: no limit.")
    count: int = strawberry.field(description="Open movements of that age.")


def _ages(counts: tuple[int, ...]) -> list[AgeBucketCount]:
    return [
        AgeBucketCount(label=b.label, min_days=b.min_days, max_days=b.max_days, count=c)
        for b, c in zip(timers.AGE_BUCKETS, counts, strict=True)
    ]


@strawberry.type(description="Open movements one way, by stage and age.")
class BacklogCounts:
    open: int = strawberry.field(description="All open movements.")
    awaiting_collection: int = strawberry.field(
        description="Requested, in progress or ready for collection."
    )
    in_transit: int = strawberry.field(description="Collected, not yet delivered.")
    missing: int = strawberry.field(description="Declared missing, not yet found or lost.")
    lost: int = strawberry.field(description="Declared lost: still owed to the practice.")
    in_storage: int = strawberry.field(
        description="In central storage though a practice should have it."
    )
    wrong_record: int = strawberry.field(
        description="Another patient's record delivered instead; the right one still owed."
    )
    overdue: int = strawberry.field(description="With any timer breached.")
    ages: list[AgeBucketCount] = strawberry.field(description="By age since the request.")

    @classmethod
    def of(cls, rows: list[repository.BacklogRow]) -> BacklogCounts:
        return cls(
            open=sum(r.open for r in rows),
            awaiting_collection=sum(r.awaiting_collection for r in rows),
            in_transit=sum(r.in_transit for r in rows),
            missing=sum(r.missing for r in rows),
            lost=sum(r.lost for r in rows),
            in_storage=sum(r.in_storage for r in rows),
            wrong_record=sum(r.wrong_record for r in rows),
            overdue=sum(r.overdue for r in rows),
            ages=_ages(tuple(sum(r.ages[i] for r in rows) for i in range(len(timers.AGE_BUCKETS)))),
        )


@strawberry.type(description="The backlog at one branch site of the practice.")
class SiteBacklog:
    site_code: str = strawberry.field(description="Nine-character ODS site code.")
    incoming: BacklogCounts = strawberry.field(description="Records on their way to the site.")
    outgoing: BacklogCounts = strawberry.field(description="Records still to leave the site.")


@strawberry.type(description="A practice's open movements, in and out, and at each branch site.")
class RecordsBacklog:
    incoming: BacklogCounts = strawberry.field(description="Records on their way in, all sites.")
    outgoing: BacklogCounts = strawberry.field(description="Records on their way out, all sites.")
    sites: list[SiteBacklog] = strawberry.field(
        description="Branch sites with open movements, by site code; the main site is the rest."
    )

    @classmethod
    def of(cls, rows: list[repository.BacklogRow]) -> RecordsBacklog:
        def way(direction: str, site: str | None = None, *, every_site: bool = False) -> Any:
            return BacklogCounts.of(
                [
                    r
                    for r in rows
                    if r.direction == direction and (every_site or r.site_code == site)
                ]
            )

        sites = sorted({r.site_code for r in rows if r.site_code is not None})
        return cls(
            incoming=way(repository.IN, every_site=True),
            outgoing=way(repository.OUT, every_site=True),
            sites=[
                SiteBacklog(
                    site_code=s, incoming=way(repository.IN, s), outgoing=way(repository.OUT, s)
                )
                for s in sites
            ],
        )


# --------------------------------------------------------------------------------------------
# Harm reviews


@strawberry.type(description="How many completed reviews found one harm grade.")
class HarmGradeCount:
    grade: models.HarmGrade = strawberry.field(description="The grade.")
    count: int = strawberry.field(description="Completed reviews with it.")


@strawberry.type(description="Progress through a harm-review worklist, and the time it took.")
class HarmReviewProgress:
    total: int = strawberry.field(description="Patients on the worklist.")
    reviewed: int = strawberry.field(description="Completed, with a harm grade.")
    outstanding: int = strawberry.field(description="Still to complete.")
    overdue: int = strawberry.field(description="Still to complete, past their due date.")
    by_grade: list[HarmGradeCount] = strawberry.field(description="Completed, by harm grade.")
    patients_informed: int = strawberry.field(description="Patients told about it.")
    nhs_england_notified: int = strawberry.field(description="Cases notified to NHS England.")
    minutes_spent: int = strawberry.field(
        description="Staff time recorded on these reviews, in minutes: evidence for a claim."
    )

    @classmethod
    def of(cls, progress: repository.HarmProgress) -> HarmReviewProgress:
        return cls(
            total=progress.total,
            reviewed=progress.reviewed,
            outstanding=progress.outstanding,
            overdue=progress.overdue,
            by_grade=[
                HarmGradeCount(grade=grade, count=count)
                for grade, count in zip(models.HarmGrade, progress.grades, strict=True)
            ],
            patients_informed=progress.patients_informed,
            nhs_england_notified=progress.nhs_england_notified,
            minutes_spent=progress.minutes_spent,
        )


@strawberry.type(
    description="One patient to review for harm: their record was archived in error, or NHS "
    "England's list names them."
)
class HarmReviewItem:
    id: strawberry.ID = strawberry.field(description="Identifies the item, to record a review.")
    source: models.HarmReviewSource = strawberry.field(description="Why the patient is here.")
    movement_number: str | None = strawberry.field(
        description="The movement of the patient's record, where one is known."
    )
    incident_reference: str | None = strawberry.field(
        description="The erroneous-archiving incident, for one found here."
    )
    list_reference: str | None = strawberry.field(
        description="NHS England's list, for one loaded from it."
    )
    nhs_number: str | None = strawberry.field(
        description="The patient; shown only to the practice whose worklist it is."
    )
    due_on: date = strawberry.field(description="When the review is due.")
    overdue: bool = strawberry.field(description="Not completed, and past its due date.")
    harm_grade: models.HarmGrade | None = strawberry.field(description="Null until completed.")
    patient_informed: bool = strawberry.field(description="The patient has been told.")
    nhs_england_notified: bool = strawberry.field(description="NHS England has been told.")
    minutes_spent: int = strawberry.field(description="Staff time on it so far, in minutes.")
    reviewer: str | None = strawberry.field(description="Who completed the review.")
    reviewed_on: date | None = strawberry.field(description="When it was completed.")
    added_at: datetime = strawberry.field(description="When the patient joined the worklist.")
    ods_code: strawberry.Private[str]
    patient: strawberry.Private[str]

    @classmethod
    def of(
        cls, item: repository.ReviewItem, *, principal: Principal, today: date
    ) -> HarmReviewItem:
        row, movement_number, reference, listed = item
        return cls(
            id=strawberry.ID(str(row.id)),
            source=row.source,
            movement_number=movement_number,
            incident_reference=reference,
            list_reference=None if listed is None else listed.list_reference,
            nhs_number=row.nhs_number if principal.is_practice_of(row.ods_code) else None,
            due_on=row.due_on,
            overdue=row.harm_grade is None and today > row.due_on,
            harm_grade=row.harm_grade,
            patient_informed=row.patient_informed,
            nhs_england_notified=row.nhs_england_notified,
            minutes_spent=row.minutes_spent,
            reviewer=row.reviewer,
            reviewed_on=row.reviewed_on,
            added_at=row.created_at,
            ods_code=row.ods_code,
            patient=row.nhs_number,
        )

    @strawberry.field(
        description="The patient's record has reached the practice: the review can be completed."
    )
    async def record_arrived(self, info: Info[RecordsContext, None]) -> bool:
        return await info.context.record_arrived.load((self.ods_code, self.patient))


@strawberry.type(description="A practice's harm-review worklist.")
class HarmReviewWorklist:
    ods_code: strawberry.Private[str]

    @strawberry.field(description="How far the practice has got.")
    async def progress(self, info: Info[RecordsContext, None]) -> HarmReviewProgress:
        found = await info.context.harm_progress.load(self.ods_code)
        return HarmReviewProgress.of(found[1] if found else repository.HarmProgress())

    @strawberry.field(description="One item per patient, in the order they were added.")
    async def items(
        self,
        info: Info[RecordsContext, None],
        outstanding_only: Annotated[
            bool, strawberry.argument(description="Only those not yet completed.")
        ] = False,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[HarmReviewItem]:
        page = PageRequest.parse(first, after, parsers=(int,))
        rows = await info.context.harm_reviews.load(
            (self.ods_code, HarmReviewQuery(outstanding_only=outstanding_only, page=page))
        )
        context = info.context
        return build_connection(
            rows,
            page,
            key=lambda row: (row[0].id,),
            node=lambda row: HarmReviewItem.of(
                row, principal=context.principal, today=context.today
            ),
        )


# --------------------------------------------------------------------------------------------
# Entities


@strawberry.federation.type(keys=["odsCode"], description="A GP practice (owned by performers).")
class Practice:
    ods_code: str = strawberry.field(description="ODS practice code.")

    @classmethod
    async def resolve_reference(
        cls,
        info: Info[RecordsContext, None],
        odsCode: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Practice:
        # A caller not entitled to this practice's movements gets nothing for it: FORBIDDEN.
        code = practice_code(odsCode)
        policy.read_practice(info.context.principal, code)
        return cls(ods_code=code)

    @strawberry.field(
        description="Records moving in and out of the practice, newest first. Null, with a "
        "FORBIDDEN error, for a caller who may not see them."
    )
    async def record_movements(
        self,
        info: Info[RecordsContext, None],
        direction: Annotated[
            Direction | None, strawberry.argument(description="Only in, or only out.")
        ] = None,
        status: Annotated[
            list[models.MovementStatus] | None,
            strawberry.argument(description="Only movements in these statuses."),
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[RecordMovement] | None:
        policy.read_practice(info.context.principal, self.ods_code)
        query = MovementQuery(
            directions=frozenset(
                {repository.IN, repository.OUT} if direction is None else {direction.value}
            ),
            statuses=filter_values(status, field="status", members=len(models.MovementStatus)),
            page=PageRequest.parse(first, after, parsers=(datetime.fromisoformat, int)),
        )
        rows = await info.context.movements.load((self.ods_code, query))
        context = info.context
        return build_connection(
            rows,
            query.page,
            key=lambda row: (row[1].requested_at.isoformat(), row[1].id),
            node=lambda row: RecordMovement.from_row(row[0], row[1], context=context),
        )

    @strawberry.field(
        description="Open movements in and out, awaiting collection, in transit and overdue, by "
        "age, for the practice and each branch site. Null, with FORBIDDEN, for a caller who may "
        "not see them."
    )
    async def records_backlog(self, info: Info[RecordsContext, None]) -> RecordsBacklog | None:
        policy.read_practice(info.context.principal, self.ods_code)
        return RecordsBacklog.of(await info.context.backlogs.load(self.ods_code))

    @strawberry.field(
        description="Incidents on movements in and out of the practice, newest first. Null, "
        "with FORBIDDEN, for a caller who may not see them."
    )
    async def record_incidents(
        self,
        info: Info[RecordsContext, None],
        kind: Annotated[
            list[models.IncidentKind] | None, strawberry.argument(description="Only these kinds.")
        ] = None,
        status: Annotated[
            list[models.IncidentStatus] | None,
            strawberry.argument(description="Only in these states."),
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[RecordIncident] | None:
        context = info.context
        policy.read_practice(context.principal, self.ods_code)
        page = PageRequest.parse(first, after, parsers=(datetime.fromisoformat, int))
        rows = await context.incidents.load(
            (
                self.ods_code,
                IncidentQuery(
                    kinds=filter_values(kind, field="kind", members=len(models.IncidentKind)),
                    statuses=filter_values(
                        status, field="status", members=len(models.IncidentStatus)
                    ),
                    page=page,
                ),
            )
        )
        return build_connection(
            rows,
            page,
            key=lambda row: (row[0].reported_at.isoformat(), row[0].id),
            node=lambda row: RecordIncident.of(
                row[0], row[1], row[2], principal=context.principal, today=context.today
            ),
        )

    @strawberry.field(
        description="The practice's registrations and deductions as it sent them, newest first. "
        "Null, with FORBIDDEN, for a caller who may not see them."
    )
    async def patient_registrations(
        self,
        info: Info[RecordsContext, None],
        event: Annotated[
            models.RegistrationEvent | None,
            strawberry.argument(description="Only registrations, or only deductions."),
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[PatientRegistration] | None:
        context = info.context
        policy.read_practice(context.principal, self.ods_code)
        page = PageRequest.parse(first, after, parsers=(date.fromisoformat, int))
        rows = await context.registrations.load(
            (self.ods_code, RegistrationQuery(event=event, page=page))
        )
        return build_connection(
            rows,
            page,
            key=lambda row: (row.effective_on.isoformat(), row.id),
            node=lambda row: PatientRegistration.of(row, principal=context.principal),
        )

    @strawberry.field(
        description="The practice's harm-review worklist for records archived in error. Null, "
        "with FORBIDDEN, for a caller who may not see it."
    )
    def harm_reviews(self, info: Info[RecordsContext, None]) -> HarmReviewWorklist | None:
        policy.read_practice(info.context.principal, self.ods_code)
        return HarmReviewWorklist(ods_code=self.ods_code)


@strawberry.type(description="How many movements to and from the area are in one status.")
class MovementStatusCount:
    status: models.MovementStatus = strawberry.field(description="The status.")
    incoming: int = strawberry.field(description="Movements to the area's practices.")
    outgoing: int = strawberry.field(
        description="Movements from the area's practices (one between two of them is counted "
        "both in and out)."
    )


@strawberry.type(description="How many open movements have breached one timer.")
class TimerCount:
    timer: timers.TimerKind = strawberry.field(description="The timer.")
    count: int = strawberry.field(description="Open movements past its due date.")


@strawberry.type(description="How many incidents of one kind.")
class IncidentCount:
    kind: models.IncidentKind = strawberry.field(description="The kind.")
    count: int = strawberry.field(description="How many.")


_OPEN_FIGURES: Final = frozenset({"open", "awaitingCollection", "inTransit", "overdue"})


def _asked_for(fields: Sequence[Selection]) -> set[str]:
    """The names of the fields asked for just below ``fields``, through any fragment."""

    def among(selections: Sequence[Selection]) -> set[str]:
        names: set[str] = set()
        for selection in selections:
            if isinstance(selection, SelectedField):
                names.add(selection.name)
            else:
                names |= among(selection.selections)
        return names

    return among([child for field in fields for child in field.selections])


@strawberry.type(description="One practice's records figures in an LMC's summary.")
class PracticeRecordsSummary:
    ods_code: str = strawberry.field(description="The practice.")
    name: str = strawberry.field(description="Its name, as the directory has it.")
    open: int = strawberry.field(description="Open movements in and out.")
    awaiting_collection: int = strawberry.field(description="Of which awaiting collection.")
    in_transit: int = strawberry.field(description="Of which in transit.")
    overdue: int = strawberry.field(description="Of which with a timer breached.")
    incidents: int = strawberry.field(description="Incidents the practice bears.")
    harm_reviews_outstanding: int = strawberry.field(description="Patients still to review.")


@strawberry.type(description="One month of one problem in an LMC's area.")
class TrendMonth:
    month: date = strawberry.field(description="The month's first day.")
    count: int | None = strawberry.field(
        description="Incidents that month, rounded to the nearest 5; null when 1-7 (suppressed)."
    )
    suppressed: bool = strawberry.field(description="The count is too small to show.")
    per_100_practices: float | None = strawberry.field(
        description="The rounded count per 100 of the area's practices; null when suppressed."
    )
    england_median_per_100_practices: float = strawberry.field(
        description="England's median across LMCs of the same rate that month."
    )


@strawberry.type(description="One problem's twelve months (or as many as asked) in an area.")
class ProblemTrend:
    kind: models.IncidentKind = strawberry.field(description="The problem.")
    months: list[TrendMonth] = strawberry.field(description="Oldest month first.")


@strawberry.type(
    description="Records movements across an LMC's practices: counts only, never a patient "
    "identifier."
)
class RecordsLmcSummary:
    practice_count: int = strawberry.field(description="Practices in the area.")
    lmc: strawberry.Private[str]
    codes: strawberry.Private[list[str]]
    names: strawberry.Private[dict[str, str]]
    shared: strawberry.Private[dict[str, asyncio.Future[Any]]]
    """Queries two fields need, run once when both are asked for."""

    def _once(self, name: str, query: Callable[[], Awaitable[Any]]) -> asyncio.Future[Any]:
        if name not in self.shared:
            self.shared[name] = asyncio.ensure_future(query())
        return self.shared[name]

    @strawberry.field(description="Movements in and out of the area's practices, by status.")
    async def status_counts(self, info: Info[RecordsContext, None]) -> list[MovementStatusCount]:
        async with info.context.sessionmaker() as session:
            counts = {s: (i, o) for s, i, o in await repository.status_counts(session, self.lmc)}
        return [
            MovementStatusCount(
                status=status,
                incoming=counts.get(status, (0, 0))[0],
                outgoing=counts.get(status, (0, 0))[1],
            )
            for status in models.MovementStatus
        ]

    @strawberry.field(description="Open movements to or from the area, each once.")
    async def open(self, info: Info[RecordsContext, None]) -> BacklogCounts:
        summary = await self._open_summary(info)
        return BacklogCounts(
            open=summary.open,
            awaiting_collection=summary.awaiting_collection,
            in_transit=summary.in_transit,
            missing=summary.missing,
            lost=summary.lost,
            in_storage=summary.in_storage,
            wrong_record=summary.wrong_record,
            overdue=summary.overdue,
            ages=_ages(summary.ages),
        )

    @strawberry.field(
        description="Open movements past each timer's due date (one can be past several)."
    )
    async def overdue_by_timer(self, info: Info[RecordsContext, None]) -> list[TimerCount]:
        summary = await self._open_summary(info)
        return [
            TimerCount(timer=kind, count=count)
            for kind, count in zip(timers.TimerKind, summary.by_timer, strict=True)
        ]

    @strawberry.field(description="Incidents the area's practices bear, by kind.")
    async def incidents_by_kind(self, info: Info[RecordsContext, None]) -> list[IncidentCount]:
        counts = await self._incident_counts(info)
        return [
            IncidentCount(kind=kind, count=sum(c for _, k, c in counts if k == kind))
            for kind in models.IncidentKind
        ]

    @strawberry.field(description="The area's harm-review worklists together.")
    async def harm_reviews(self, info: Info[RecordsContext, None]) -> HarmReviewProgress:
        total = repository.HarmProgress()
        for _, progress in await self._harm_progress(info):
            total += progress
        return HarmReviewProgress.of(total)

    @strawberry.field(
        description="Incidents the area's practices bore each month, by problem, with England's "
        "median beside them: counts only, small ones suppressed (0 shown, 1-7 not, 8 or more "
        "rounded to the nearest 5), rates per 100 practices."
    )
    async def trends(
        self,
        info: Info[RecordsContext, None],
        months: Annotated[
            int, strawberry.argument(description="How many months, up to this one (1-24).")
        ] = 12,
    ) -> list[ProblemTrend]:
        if not 1 <= months <= trends.MAX_MONTHS:
            raise BadUserInput(f"`months` must be 1-{trends.MAX_MONTHS}.", field="months")
        context = info.context
        window = trends.months_ending(context.today, months)
        kinds = [kind.value for kind in models.IncidentKind]

        async def compute() -> dict[tuple[date, str], float]:
            async with context.sessionmaker() as session:
                counts, sizes = await repository.england_incident_months(session, since=window[0])
            return trends.medians(counts, sizes, window, kinds)

        async with context.sessionmaker() as session:
            area = await repository.incident_months(session, self.codes, since=window[0])
        england = await trends.england_medians(window[0], compute)
        size = len(self.codes)
        result = []
        for kind in models.IncidentKind:
            points = []
            for month in window:
                shown = trends.suppress(area.get((month, kind.value), 0))
                points.append(
                    TrendMonth(
                        month=month,
                        count=shown,
                        suppressed=shown is None,
                        per_100_practices=trends.rate(shown, size),
                        england_median_per_100_practices=england.get((month, kind.value), 0.0),
                    )
                )
            result.append(ProblemTrend(kind=kind, months=points))
        return result

    @strawberry.field(description="Each practice in the area, by ODS code.")
    async def practices(self, info: Info[RecordsContext, None]) -> list[PracticeRecordsSummary]:
        # Each figure read only when asked for: the open counts are a pass over every open
        # movement of the area (about 108,000 in the largest), not needed for a list of codes.
        asked = _asked_for(info.selected_fields)
        open_counts = (await self._open(info)).by_practice if asked & _OPEN_FIGURES else {}
        # Each practice's incidents summed once here: summing the area's rows again for
        # every practice grew with the square of the area (1,100 practices in the largest).
        incidents: dict[str | None, int] = {}
        if "incidents" in asked:
            for practice, _, count in await self._incident_counts(info):
                incidents[practice] = incidents.get(practice, 0) + count
        outstanding: dict[str, int] = {}
        if "harmReviewsOutstanding" in asked:
            outstanding = {c: p.outstanding for c, p in await self._harm_progress(info)}
        summaries = []
        for code in self.codes:
            open_, awaiting, transit, late = open_counts.get(code, (0, 0, 0, 0))
            summaries.append(
                PracticeRecordsSummary(
                    ods_code=code,
                    name=self.names[code],
                    open=open_,
                    awaiting_collection=awaiting,
                    in_transit=transit,
                    overdue=late,
                    incidents=incidents.get(code, 0),
                    harm_reviews_outstanding=outstanding.get(code, 0),
                )
            )
        return summaries

    async def _open_summary(self, info: Info[RecordsContext, None]) -> repository.OpenSummary:
        return (await self._open(info)).summary

    async def _open(self, info: Info[RecordsContext, None]) -> repository.OpenInArea:
        """The area's open movements, read once for ``open``, ``overdueByTimer`` and
        ``practices`` together."""
        context = info.context

        async def query() -> repository.OpenInArea:
            return await repository.open_in_area(
                context.sessionmaker, self.lmc, now=context.now, today=context.today
            )

        found: repository.OpenInArea = await self._once("open", query)
        return found

    async def _incident_counts(
        self, info: Info[RecordsContext, None]
    ) -> list[tuple[str | None, models.IncidentKind, int]]:
        async def query() -> list[tuple[str | None, models.IncidentKind, int]]:
            async with info.context.sessionmaker() as session:
                return await repository.incident_counts(session, self.lmc)

        counts: list[tuple[str | None, models.IncidentKind, int]] = await self._once(
            "incidents", query
        )
        return counts

    async def _harm_progress(
        self, info: Info[RecordsContext, None]
    ) -> list[tuple[str, repository.HarmProgress]]:
        context = info.context

        async def query() -> list[tuple[str, repository.HarmProgress]]:
            async with context.sessionmaker() as session:
                return await repository.harm_progress_in_area(
                    session, self.lmc, today=context.today
                )

        found: list[tuple[str, repository.HarmProgress]] = await self._once("harm", query)
        return found


@strawberry.federation.type(
    keys=["code"], description="A Local Medical Committee (owned by performers)."
)
class Lmc:
    code: str = strawberry.field(description="Stable slug, e.g. kernow.")

    @classmethod
    def resolve_reference(cls, code: str) -> Lmc:
        return cls(code=lmc_code(code))

    @strawberry.field(
        description="Records movements across the LMC's practices: counts by status and age, "
        "overdue by timer, incidents, harm reviews, per practice. For the LMC itself, records "
        "operators and admins; null with FORBIDDEN for anyone else.",
        # Works over a whole LMC area (about 65 practices on average), not one row: what the
        # gateway's cost estimate charges for it, where a keyed field costs 1.
        directives=[Cost(weight=20)],
    )
    async def records_summary(self, info: Info[RecordsContext, None]) -> RecordsLmcSummary | None:
        policy.lmc_summary(info.context.principal, self.code)
        practices = await info.context.practices_of_lmc.load(self.code)
        return RecordsLmcSummary(
            practice_count=len(practices),
            lmc=self.code,
            codes=[p.ods_code for p in practices],
            names={p.ods_code: p.name for p in practices},
            shared={},
        )
