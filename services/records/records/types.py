"""GraphQL types of the records subgraph: paper records moving in and out of a practice."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from pcse_kit import dates
from pcse_kit.auth import Principal
from pcse_kit.identifiers import lmc_code, practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection, filter_values
from strawberry.federation.schema_directives import Cost
from strawberry.types import Info

from records import models, policy, repository, timers
from records.context import HarmReviewQuery, IncidentQuery, MovementQuery, RecordsContext
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
strawberry.enum(models.IncidentKind, description="What went wrong with a movement.")
strawberry.enum(
    models.HarmOutcome,
    description="A practice's finding for one patient after erroneous archiving.",
)
strawberry.enum(models.HistoryKind, description="What happened to a movement.")
strawberry.enum(
    timers.TimerKind,
    description="A target a movement runs against (label, delivery, GP2GP, urgent, search, lost).",
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

    collected, delivered = day(row.collected_at), day(row.delivered_at)
    urgent_stop = min((d for d in (delivered, row.gp2gp_integrated_on) if d), default=None)
    missing_since = (
        dates.local_date(row.status_changed_at)
        if row.status is models.MovementStatus.MISSING
        else None
    )
    specs: list[tuple[TimerKind, date | None, date | None, date | None]] = [
        (TimerKind.LABEL, row.deducted_on, row.label_due_on, row.label_issued_on or collected),
        (TimerKind.DELIVERY, collected, row.delivery_due_on, delivered),
        (TimerKind.GP2GP, row.gp2gp_started_on, row.gp2gp_due_on, row.gp2gp_integrated_on),
        (TimerKind.URGENT, day(row.requested_at) if row.urgent_due_on else None,
         row.urgent_due_on, urgent_stop),
        (TimerKind.SEARCH, row.search_started_on, row.search_due_on, None),
        (TimerKind.LOST, missing_since, row.lost_due_on, None),
    ]  # fmt: skip
    found = (
        timers.evaluate(
            kind, started_on=start, due_on=due, stopped_on=stop, is_open=row.is_open, on=on
        )
        for kind, start, due, stop in specs
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


@strawberry.type(description="Something that went wrong with a movement.")
class RecordIncident:
    reference: str = strawberry.field(description="Our reference, e.g. INC-1A2B3C4D5E.")
    kind: models.IncidentKind = strawberry.field(description="What went wrong.")
    movement_number: str = strawberry.field(description="The movement it happened to.")
    ods_code: str | None = strawberry.field(
        description="The practice that bears it: the receiver of a wrong or archived record, "
        "the sender of an empty envelope."
    )
    reported_at: datetime = strawberry.field(description="When it was reported.")
    reported_by: str = strawberry.field(description="Who reported it (the token's subject).")
    detail: str = strawberry.field(description="What was found.")
    found_nhs_number: str | None = strawberry.field(
        description="For a wrong record: the NHS number on the record that arrived. Shown only "
        "to the movement's sending and receiving practices."
    )

    @classmethod
    def of(cls, row: models.Incident, movement_number: str, *, sees_nhs: bool) -> RecordIncident:
        return cls(
            reference=row.reference,
            kind=row.kind,
            movement_number=movement_number,
            ods_code=row.ods_code,
            reported_at=row.reported_at,
            reported_by=row.reported_by,
            detail=row.detail,
            found_nhs_number=row.found_nhs_number if sees_nhs else None,
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
    movement_id: strawberry.Private[int]
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
            "movement_id": row.id,
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
            RecordIncident.of(row, self.movement_number, sees_nhs=self.sees_nhs) for row in rows
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
    overdue: int = strawberry.field(description="With any timer breached.")
    ages: list[AgeBucketCount] = strawberry.field(description="By age since the request.")

    @classmethod
    def of(cls, rows: list[repository.BacklogRow]) -> BacklogCounts:
        return cls(
            open=sum(r.open for r in rows),
            awaiting_collection=sum(r.awaiting_collection for r in rows),
            in_transit=sum(r.in_transit for r in rows),
            missing=sum(r.missing for r in rows),
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


@strawberry.type(description="A practice's progress through its harm-review worklist.")
class HarmReviewProgress:
    total: int = strawberry.field(description="Patients on the worklist.")
    reviewed: int = strawberry.field(description="With an outcome recorded.")
    outstanding: int = strawberry.field(description="Still to review.")
    no_harm: int = strawberry.field(description="Reviewed: no harm.")
    harm: int = strawberry.field(description="Reviewed: harm.")
    needs_follow_up: int = strawberry.field(description="Reviewed: needs follow-up.")

    @classmethod
    def of(cls, progress: repository.HarmProgress) -> HarmReviewProgress:
        return cls(
            total=progress.total,
            reviewed=progress.reviewed,
            outstanding=progress.outstanding,
            no_harm=progress.no_harm,
            harm=progress.harm,
            needs_follow_up=progress.needs_follow_up,
        )


@strawberry.type(description="One patient whose record was archived in error, to review for harm.")
class HarmReviewItem:
    id: strawberry.ID = strawberry.field(description="Identifies the item, to record an outcome.")
    movement_number: str = strawberry.field(description="The movement whose record was archived.")
    incident_reference: str = strawberry.field(description="The erroneous-archiving incident.")
    nhs_number: str | None = strawberry.field(
        description="The patient; shown only to the practice whose worklist it is."
    )
    outcome: models.HarmOutcome | None = strawberry.field(description="Null until reviewed.")
    reviewer: str | None = strawberry.field(description="Who reviewed the patient.")
    reviewed_on: date | None = strawberry.field(description="When.")
    added_at: datetime = strawberry.field(description="When the patient joined the worklist.")

    @classmethod
    def of(
        cls, row: models.HarmReview, movement_number: str, reference: str, *, principal: Principal
    ) -> HarmReviewItem:
        return cls(
            id=strawberry.ID(str(row.id)),
            movement_number=movement_number,
            incident_reference=reference,
            nhs_number=row.nhs_number if principal.is_practice_of(row.ods_code) else None,
            outcome=row.outcome,
            reviewer=row.reviewer,
            reviewed_on=row.reviewed_on,
            added_at=row.created_at,
        )


@strawberry.type(description="A practice's harm-review worklist after erroneous archiving.")
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
            bool, strawberry.argument(description="Only those without an outcome.")
        ] = False,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[HarmReviewItem]:
        page = PageRequest.parse(first, after, parsers=(int,))
        rows = await info.context.harm_reviews.load(
            (self.ods_code, HarmReviewQuery(outstanding_only=outstanding_only, page=page))
        )
        principal = info.context.principal
        return build_connection(
            rows,
            page,
            key=lambda row: (row[0].id,),
            node=lambda row: HarmReviewItem.of(row[0], row[1], row[2], principal=principal),
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
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[RecordIncident] | None:
        principal = info.context.principal
        policy.read_practice(principal, self.ods_code)
        page = PageRequest.parse(first, after, parsers=(datetime.fromisoformat, int))
        rows = await info.context.incidents.load(
            (
                self.ods_code,
                IncidentQuery(
                    kinds=filter_values(kind, field="kind", members=len(models.IncidentKind)),
                    page=page,
                ),
            )
        )
        # Every incident here is on a movement to or from this practice.
        sees_nhs = principal.is_practice_of(self.ods_code)
        return build_connection(
            rows,
            page,
            key=lambda row: (row[0].reported_at.isoformat(), row[0].id),
            node=lambda row: RecordIncident.of(row[0], row[1], sees_nhs=sees_nhs),
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


@strawberry.type(
    description="Records movements across an LMC's practices: counts only, never a patient "
    "identifier."
)
class RecordsLmcSummary:
    practice_count: int = strawberry.field(description="Practices in the area.")
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
            counts = {s: (i, o) for s, i, o in await repository.status_counts(session, self.codes)}
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
        found = await info.context.harm_progress.load_many(self.codes)
        progress = [row[1] for row in found if row is not None]
        return HarmReviewProgress.of(
            repository.HarmProgress(
                total=sum(p.total for p in progress),
                no_harm=sum(p.no_harm for p in progress),
                harm=sum(p.harm for p in progress),
                needs_follow_up=sum(p.needs_follow_up for p in progress),
            )
        )

    @strawberry.field(description="Each practice in the area, by ODS code.")
    async def practices(self, info: Info[RecordsContext, None]) -> list[PracticeRecordsSummary]:
        async with info.context.sessionmaker() as session:
            open_counts = await repository.open_by_practice(
                session, self.codes, today=info.context.today
            )
        incidents = await self._incident_counts(info)
        progress = await info.context.harm_progress.load_many(self.codes)
        outstanding = {row[0]: row[1].outstanding for row in progress if row is not None}
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
                    incidents=sum(c for p, _, c in incidents if p == code),
                    harm_reviews_outstanding=outstanding.get(code, 0),
                )
            )
        return summaries

    async def _open_summary(self, info: Info[RecordsContext, None]) -> repository.OpenSummary:
        context = info.context

        async def query() -> repository.OpenSummary:
            async with context.sessionmaker() as session:
                return await repository.open_summary(
                    session, self.codes, now=context.now, today=context.today
                )

        summary: repository.OpenSummary = await self._once("open", query)
        return summary

    async def _incident_counts(
        self, info: Info[RecordsContext, None]
    ) -> list[tuple[str | None, models.IncidentKind, int]]:
        async def query() -> list[tuple[str | None, models.IncidentKind, int]]:
            async with info.context.sessionmaker() as session:
                return await repository.incident_counts(session, self.codes)

        counts: list[tuple[str | None, models.IncidentKind, int]] = await self._once(
            "incidents", query
        )
        return counts


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
            codes=[p.ods_code for p in practices],
            names={p.ods_code: p.name for p in practices},
            shared={},
        )
