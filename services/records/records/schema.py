"""The records subgraph: movements on Practice, the LMC summary on Lmc, one movement by number,
and the mutations that request, scan, receive, cancel and report on movements."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from pcse_kit.graphql import create_schema
from strawberry.types import Info

from records import identifiers, models, policy, repository, service
from records.context import RecordsContext
from records.types import HarmReviewItem, Lmc, Practice, RecordIncident, TrackedMovement


async def _tracked(info: Info[RecordsContext, None], number: str) -> TrackedMovement:
    """A movement just written, read back as the caller may see it."""
    row = await info.context.movement_by_number.load(number)
    assert row is not None
    return TrackedMovement.of(row, info.context)


@strawberry.type
class Query:
    @strawberry.field(
        description="One movement by its number: for the practices at either end, records "
        "operators and admins. Null if there is none (for those who may know); FORBIDDEN "
        "for everyone else, whether it exists or not."
    )
    async def record_movement(
        self,
        info: Info[RecordsContext, None],
        movement_number: Annotated[str, strawberry.argument(description="e.g. MV0000012345")],
    ) -> TrackedMovement | None:
        number = identifiers.movement_number(movement_number)
        row = policy.read_movement(
            info.context.principal, await info.context.movement_by_number.load(number)
        )
        return None if row is None else TrackedMovement.of(row, info.context)


@strawberry.input(description="One end of a movement to request.")
class MovementEndInput:
    place: models.Place = strawberry.field(description="A practice, central storage, a nation.")
    ods_code: str | None = strawberry.field(
        default=None, description="The practice, for a practice end (A81001)."
    )
    site_code: str | None = strawberry.field(
        default=None, description="The branch site, when the record is there (A81001001)."
    )


def _end(value: MovementEndInput, name: str) -> service.End:
    return service.End(
        place=value.place,
        ods_code=None
        if value.ods_code is None
        else identifiers.ods_code(value.ods_code, field=f"{name}.odsCode"),
        site_code=None
        if value.site_code is None
        else identifiers.site_code(value.site_code, field=f"{name}.siteCode"),
    )


@strawberry.input(description="A record movement to open; replays are harmless.")
class RequestMovementInput:
    nhs_number: str = strawberry.field(description="The patient (modulus-11 checked).")
    sending: MovementEndInput = strawberry.field(description="Where the record is.")
    receiving: MovementEndInput = strawberry.field(description="Where it must go.")
    reason: models.MovementReason = strawberry.field(description="Why it moves.")
    urgency: models.Urgency = strawberry.field(description="Routine or urgent.")
    deducted_on: date | None = strawberry.field(
        default=None, description="The deduction's date; required for a deduction, only then."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="PCSE's own progress on a movement; give at least one change.")
class UpdateMovementInput:
    movement_number: str = strawberry.field(description="The movement.")
    status: models.MovementStatus | None = strawberry.field(
        default=None,
        description="A new status the state machine allows (not collected or delivered: those "
        "come from scans; not cancelled: cancel it).",
    )
    label_number: str | None = strawberry.field(
        default=None, description="The PCS number of the label pack issued."
    )
    on: date | None = strawberry.field(
        default=None, description="When the label was issued; today if not given."
    )
    search_started_on: date | None = strawberry.field(
        default=None, description="The sender cannot find the record: the search starts."
    )
    gp2gp_integrated_on: date | None = strawberry.field(
        default=None, description="The receiver integrated the GP2GP record."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A courier's scan; its own id makes a resent scan harmless.")
class CourierScanInput:
    scan_id: str = strawberry.field(description="The courier's id for the scan.")
    movement_number: str = strawberry.field(description="The movement on the label.")
    kind: models.ScanKind = strawberry.field(description="Collection or delivery.")
    scanned_at: datetime = strawberry.field(description="When, with its time zone.")
    printout_included: bool | None = strawberry.field(
        default=None,
        description="For a record to another UK nation: the printout is in the envelope. "
        "Without it, collection raises an empty-envelope incident.",
    )


@strawberry.input(description="The receiving practice says whose record arrived.")
class ConfirmReceiptInput:
    movement_number: str = strawberry.field(description="The movement.")
    nhs_number: str = strawberry.field(description="The NHS number on the record received.")
    received_at: datetime | None = strawberry.field(
        default=None, description="When; now if not given."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="Something that went wrong with a movement.")
class ReportIncidentInput:
    movement_number: str = strawberry.field(description="The movement.")
    kind: models.IncidentKind = strawberry.field(description="What went wrong.")
    detail: str = strawberry.field(description="What was found, 1-500 characters.")
    found_nhs_number: str | None = strawberry.field(
        default=None, description="For a wrong record: the NHS number on what arrived."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A practice's finding for one patient on its harm-review worklist.")
class HarmReviewInput:
    review_id: strawberry.ID = strawberry.field(description="HarmReviewItem.id.")
    outcome: models.HarmOutcome = strawberry.field(description="No harm, harm, needs follow-up.")
    reviewer: str = strawberry.field(description="Who reviewed, e.g. 'Dr A Patel'.")
    reviewed_on: date = strawberry.field(description="When (not future).")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A movement to cancel before its record is collected.")
class CancelMovementInput:
    movement_number: str = strawberry.field(description="The movement.")
    reason: str = strawberry.field(description="Why, 1-300 characters; kept in the history.")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.type(description="What the receiving practice's confirmation found.")
class ReceiptResult:
    matched: bool = strawberry.field(
        description="The record is this movement's patient's; false raised an incident."
    )
    movement: TrackedMovement = strawberry.field(description="The movement, after the receipt.")
    incident: RecordIncident | None = strawberry.field(
        description="The wrong-record incident, when it did not match."
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Request a record movement (a practice for itself, or an operator); its "
        "label and urgent timers start."
    )
    async def request_record_movement(
        self, info: Info[RecordsContext, None], input: RequestMovementInput
    ) -> TrackedMovement:
        number = await service.request_movement(
            info.context.sessionmaker,
            info.context.principal,
            nhs_number=identifiers.nhs_number(input.nhs_number),
            sending=_end(input.sending, "sending"),
            receiving=_end(input.receiving, "receiving"),
            reason=input.reason,
            urgency=input.urgency,
            deducted_on=input.deducted_on,
            targets=info.context.targets,
            idempotency_key=input.idempotency_key,
        )
        return await _tracked(info, number)

    @strawberry.mutation(
        description="Record PCSE's own progress (operators): a label, a search, GP2GP "
        "integration, or a status the state machine allows."
    )
    async def update_record_movement(
        self, info: Info[RecordsContext, None], input: UpdateMovementInput
    ) -> TrackedMovement:
        number = await service.update_movement(
            info.context.sessionmaker,
            info.context.principal,
            movement_number=identifiers.movement_number(input.movement_number),
            status=input.status,
            label_number=input.label_number,
            search_started_on=input.search_started_on,
            gp2gp_integrated_on=input.gp2gp_integrated_on,
            on=input.on,
            targets=info.context.targets,
            idempotency_key=input.idempotency_key,
        )
        return await _tracked(info, number)

    @strawberry.mutation(
        description="Record a courier's collection or delivery scan (operators); applied once "
        "per scan id. A delivery needs a collection first."
    )
    async def record_courier_scan(
        self, info: Info[RecordsContext, None], input: CourierScanInput
    ) -> TrackedMovement:
        number = await service.record_scan(
            info.context.sessionmaker,
            info.context.principal,
            scan_id=input.scan_id,
            movement_number=identifiers.movement_number(input.movement_number),
            kind=input.kind,
            scanned_at=input.scanned_at,
            printout_included=input.printout_included,
            targets=info.context.targets,
        )
        return await _tracked(info, number)

    @strawberry.mutation(
        description="The receiving practice confirms receipt with the NHS number on the record; "
        "another patient's number raises a wrong-record incident. Only for a movement in "
        "transit."
    )
    async def confirm_record_receipt(
        self, info: Info[RecordsContext, None], input: ConfirmReceiptInput
    ) -> ReceiptResult:
        receipt = await service.confirm_receipt(
            info.context.sessionmaker,
            info.context.principal,
            movement_number=identifiers.movement_number(input.movement_number),
            nhs_number=identifiers.nhs_number(input.nhs_number),
            received_at=input.received_at,
            targets=info.context.targets,
            idempotency_key=input.idempotency_key,
        )
        movement = await _tracked(info, receipt.movement_number)
        incident = None
        if receipt.incident_reference is not None:
            incident = next(
                RecordIncident.of(row, movement.movement_number, sees_nhs=movement.sees_nhs)
                for row in await info.context.incidents_of_movement.load(movement.movement_id)
                if row.reference == receipt.incident_reference
            )
        return ReceiptResult(matched=receipt.matched, movement=movement, incident=incident)

    @strawberry.mutation(
        description="Report an incident: a wrong record, erroneous archiving (which puts the "
        "patient on the receiving practice's harm-review worklist) or an empty envelope."
    )
    async def report_record_incident(
        self, info: Info[RecordsContext, None], input: ReportIncidentInput
    ) -> RecordIncident:
        number = identifiers.movement_number(input.movement_number)
        reference = await service.report_incident(
            info.context.sessionmaker,
            info.context.principal,
            movement_number=number,
            kind=input.kind,
            detail=input.detail,
            found_nhs_number=None
            if input.found_nhs_number is None
            else identifiers.nhs_number(input.found_nhs_number, field="foundNhsNumber"),
            targets=info.context.targets,
            idempotency_key=input.idempotency_key,
        )
        movement = await _tracked(info, number)
        rows = await info.context.incidents_of_movement.load(movement.movement_id)
        return next(
            RecordIncident.of(row, number, sees_nhs=movement.sees_nhs)
            for row in rows
            if row.reference == reference
        )

    @strawberry.mutation(
        description="Record the outcome of one patient's harm review: the practice whose "
        "worklist it is (or an operator for it)."
    )
    async def record_harm_review_outcome(
        self, info: Info[RecordsContext, None], input: HarmReviewInput
    ) -> HarmReviewItem:
        review_id = await service.record_harm_review(
            info.context.sessionmaker,
            info.context.principal,
            review_id=_review_id(input.review_id),
            outcome=input.outcome,
            reviewer=input.reviewer,
            reviewed_on=input.reviewed_on,
            idempotency_key=input.idempotency_key,
        )
        [(review, number, reference)] = await _review(info, review_id)
        return HarmReviewItem.of(review, number, reference, principal=info.context.principal)

    @strawberry.mutation(
        description="Cancel a movement not yet collected: an operator, or a practice at either end."
    )
    async def cancel_record_movement(
        self, info: Info[RecordsContext, None], input: CancelMovementInput
    ) -> TrackedMovement:
        number = await service.cancel_movement(
            info.context.sessionmaker,
            info.context.principal,
            movement_number=identifiers.movement_number(input.movement_number),
            reason=input.reason,
            targets=info.context.targets,
            idempotency_key=input.idempotency_key,
        )
        return await _tracked(info, number)


MAX_ID_DIGITS = 18  # fits a bigint


def _review_id(value: str) -> int:
    if not value.isdigit() or len(value) > MAX_ID_DIGITS:
        raise BadUserInput("`reviewId` is not a harm review's id.", field="reviewId")
    return int(value)


async def _review(
    info: Info[RecordsContext, None], review_id: int
) -> list[tuple[models.HarmReview, str, str]]:
    async with info.context.sessionmaker() as session:
        return await repository.harm_review_items(session, [review_id])


schema = create_schema(query=Query, mutation=Mutation, types=[Practice, Lmc])
