"""The records subgraph: movements on Practice, the LMC summary on Lmc, one movement by number,
and the mutations that request, scan, receive, cancel and report on movements."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

import strawberry
from pcse_kit import dates
from pcse_kit.errors import BadUserInput
from pcse_kit.graphql import create_schema
from strawberry.types import Info

from records import (
    feed,
    identifiers,
    models,
    policy,
    registering,
    registrations,
    repository,
    service,
)
from records.context import RecordsContext
from records.types import (
    HarmReviewItem,
    Lmc,
    PatientRegistration,
    Practice,
    RecordIncident,
    TrackedMovement,
)

_INCIDENT_REFERENCE = re.compile(r"INC-[A-Z0-9]{6,16}")


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
    printout_included: bool | None = strawberry.field(
        default=None,
        description="With status READY_FOR_COLLECTION for another UK nation: the sending "
        "practice confirmed the printout is in the envelope.",
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="The sending practice has bagged and labelled the record.")
class MarkReadyInput:
    movement_number: str = strawberry.field(description="The movement.")
    printout_included: bool | None = strawberry.field(
        default=None,
        description="For another UK nation (required then, and only then): the printed "
        "electronic record is in the envelope. The courier cannot see inside the bag: without "
        "this confirmation the collection raises an empty-envelope incident.",
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A courier's scan; its own id makes a resent scan harmless.")
class CourierScanInput:
    scan_id: str = strawberry.field(description="The courier's id for the scan.")
    movement_number: str = strawberry.field(description="The movement on the label.")
    kind: models.ScanKind = strawberry.field(description="Collection or delivery.")
    scanned_at: datetime = strawberry.field(description="When, with its time zone.")


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


@strawberry.input(
    description="A practice's work on one patient's harm review: the time so far, and to "
    "complete it, the grade, who and when."
)
class HarmReviewInput:
    review_id: strawberry.ID = strawberry.field(description="HarmReviewItem.id.")
    minutes_spent: int = strawberry.field(
        description="Staff time on this patient so far, in minutes, in all (not an increment)."
    )
    patient_informed: bool = strawberry.field(description="The patient has been told.")
    nhs_england_notified: bool = strawberry.field(
        description="NHS England has been told of any adverse consequence."
    )
    harm_grade: models.HarmGrade | None = strawberry.field(
        default=None,
        description="To complete the review (only once the record has arrived): the harm found.",
    )
    reviewer: str | None = strawberry.field(
        default=None, description="Who completed it, e.g. 'Dr A Patel'; with harmGrade."
    )
    reviewed_on: date | None = strawberry.field(
        default=None, description="When it was completed (not future); with harmGrade."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="An incident raised with PCSE, with its case reference.")
class RaiseIncidentInput:
    reference: str = strawberry.field(description="RecordIncident.reference.")
    pcse_reference: str = strawberry.field(description="PCSE's case (CAS) reference.")
    raised_on: date = strawberry.field(description="When it was raised (not future).")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="An incident over, with its outcome.")
class ResolveIncidentInput:
    reference: str = strawberry.field(description="RecordIncident.reference.")
    outcome: models.IncidentOutcome = strawberry.field(description="How it ended.")
    resolved_on: date = strawberry.field(description="When (not future).")
    resolution: str | None = strawberry.field(
        default=None, description="What happened, 1-500 characters; no patient identifiers."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="One registration or deduction from the practice's own system.")
class PatientRegistrationInput:
    ods_code: str = strawberry.field(description="The practice.")
    nhs_number: str = strawberry.field(description="The patient (modulus-11 checked).")
    event: models.RegistrationEvent = strawberry.field(description="Registered or deducted.")
    effective_on: date = strawberry.field(description="The day it took effect (not future).")
    reason: models.RegistrationReason = strawberry.field(
        description="Registered: NEW_REGISTRATION or TRANSFER; deducted: any but NEW_REGISTRATION."
    )
    removal_requested_on: date | None = strawberry.field(
        default=None, description="For a removal: when the practice asked for it."
    )
    fp69_flagged_on: date | None = strawberry.field(
        default=None, description="For an FP69 deduction: when the flag was set."
    )
    date_of_birth: date | None = strawberry.field(
        default=None,
        description="For an FP69 deduction: to know if the patient was under 18 (never "
        "deducted then); only that is kept.",
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A practice's export of registrations and deductions.")
class ImportPatientRegistrationsInput:
    ods_code: str = strawberry.field(description="The practice.")
    csv: str = strawberry.field(
        description="The export in the registrations CSV format (the records README); larger "
        "ones by `python -m records import-registrations`."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Optional: the same file is loaded once anyway."
    )


@strawberry.input(description="NHS England's list of patients a practice must review for harm.")
class HarmReviewListInput:
    ods_code: str = strawberry.field(description="The practice.")
    list_reference: str = strawberry.field(description="NHS England's reference for the list.")
    received_on: date = strawberry.field(description="When the practice received it.")
    nhs_numbers: list[str] = strawberry.field(description="The patients, as listed.")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A day's feed of movement updates and courier scans.")
class ImportFeedInput:
    feed_id: str = strawberry.field(description="The feed's id, e.g. PCSE-2026-11-20.")
    csv: str = strawberry.field(
        description="The feed in the feed CSV format (the records README); a whole day's by "
        "`python -m records import-feed`."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Optional: the same feed is applied once anyway."
    )


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
    return_movement: TrackedMovement | None = strawberry.field(
        description="When it did not match: the movement taking the record that came back."
    )


@strawberry.type(description="A registrations file, as loaded.")
class PatientRegistrationsLoaded:
    ods_code: str = strawberry.field(description="The practice.")
    rows: int = strawberry.field(description="Rows in the file.")
    added: int = strawberry.field(description="Facts new to the service.")
    incidents_opened: int = strawberry.field(description="Incidents they showed.")
    incidents_resolved: int = strawberry.field(description="Incidents they cleared.")
    replayed: bool = strawberry.field(description="The same file was loaded before.")


@strawberry.type(description="NHS England's list, as loaded.")
class HarmReviewListLoaded:
    list_reference: str = strawberry.field(description="The list.")
    patients: int = strawberry.field(description="Patients on it.")
    added: int = strawberry.field(description="New to the worklist; the rest were on it.")


@strawberry.type(description="A feed, as applied.")
class FeedApplied:
    feed_id: str = strawberry.field(description="The feed.")
    lines: int = strawberry.field(description="Lines in it.")
    movements_opened: int = strawberry.field(description="New movements.")
    movements_changed: int = strawberry.field(description="Movements it changed.")
    scans: int = strawberry.field(description="Courier scans applied.")
    incidents: int = strawberry.field(description="Empty-envelope incidents it raised.")
    replayed: bool = strawberry.field(description="The same feed was applied before.")


def _incident(
    info: Info[RecordsContext, None],
    found: tuple[models.Incident, models.Movement | None, models.Registration | None],
) -> RecordIncident:
    incident, movement, registration = found
    context = info.context
    return RecordIncident.of(
        incident, movement, registration, principal=context.principal, today=context.today
    )


async def _incident_by_reference(
    info: Info[RecordsContext, None], reference: str
) -> RecordIncident:
    async with info.context.sessionmaker() as session:
        [found] = await repository.incidents_with_subjects(session, [reference])
    return _incident(info, found)


def _reference(value: str) -> str:
    if not _INCIDENT_REFERENCE.fullmatch(value):
        raise BadUserInput("`reference` is not an incident reference.", field="reference")
    return value


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Request a record movement (a practice for itself, or an operator); its "
        "label and request timers start."
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
            printout_included=input.printout_included,
            targets=info.context.targets,
            idempotency_key=input.idempotency_key,
        )
        return await _tracked(info, number)

    @strawberry.mutation(
        description="The sending practice marks a record ready for collection (the collection "
        "timer starts); for another UK nation it confirms the printout is in the envelope."
    )
    async def mark_record_ready(
        self, info: Info[RecordsContext, None], input: MarkReadyInput
    ) -> TrackedMovement:
        number = await service.mark_ready(
            info.context.sessionmaker,
            info.context.principal,
            movement_number=identifiers.movement_number(input.movement_number),
            printout_included=input.printout_included,
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
            targets=info.context.targets,
        )
        return await _tracked(info, number)

    @strawberry.mutation(
        description="The receiving practice confirms receipt with the NHS number on the record "
        "(the movement is done: in storage at the practice); another patient's number keeps "
        "the movement open, raises a wrong-record incident and opens the return movement. Only "
        "the receiving practice may do this."
    )
    async def confirm_record_receipt(
        self, info: Info[RecordsContext, None], input: ConfirmReceiptInput
    ) -> ReceiptResult:
        number = identifiers.movement_number(input.movement_number)
        receipt = await service.confirm_receipt(
            info.context.sessionmaker,
            info.context.principal,
            movement_number=number,
            nhs_number=identifiers.nhs_number(input.nhs_number),
            received_at=input.received_at,
            targets=info.context.targets,
            idempotency_key=input.idempotency_key,
        )
        movement = await _tracked(info, receipt.movement_number)
        incident = None
        if receipt.incident_reference is not None:
            incident = await _incident_by_reference(info, receipt.incident_reference)
        back = None
        if receipt.return_movement_number is not None:
            back = await _tracked(info, receipt.return_movement_number)
        return ReceiptResult(
            matched=receipt.matched, movement=movement, incident=incident, return_movement=back
        )

    @strawberry.mutation(
        description="Report an incident on a movement: erroneous archiving (the patient goes on "
        "the receiving practice's harm-review worklist), an empty envelope, an incomplete "
        "record, a label not received or wrong, or a wrong record (the receiving practice only, "
        "as for a receipt). Record not received and incorrect removal are found from "
        "registrations, not reported."
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
            harm_review_days=info.context.rules.harm_review_days,
            idempotency_key=input.idempotency_key,
        )
        return await _incident_by_reference(info, reference)

    @strawberry.mutation(
        description="The practice bearing an incident (or an operator) records that it raised "
        "it with PCSE, with PCSE's case reference: the 40-day escalation clock starts."
    )
    async def raise_record_incident_with_pcse(
        self, info: Info[RecordsContext, None], input: RaiseIncidentInput
    ) -> RecordIncident:
        reference = await service.raise_incident(
            info.context.sessionmaker,
            info.context.principal,
            reference=_reference(input.reference),
            pcse_reference=input.pcse_reference,
            raised_on=input.raised_on,
            idempotency_key=input.idempotency_key,
        )
        return await _incident_by_reference(info, reference)

    @strawberry.mutation(
        description="The practice bearing an incident (or an operator) records how it ended."
    )
    async def resolve_record_incident(
        self, info: Info[RecordsContext, None], input: ResolveIncidentInput
    ) -> RecordIncident:
        reference = await service.resolve_incident(
            info.context.sessionmaker,
            info.context.principal,
            reference=_reference(input.reference),
            outcome=input.outcome,
            resolved_on=input.resolved_on,
            resolution=input.resolution,
            idempotency_key=input.idempotency_key,
        )
        return await _incident_by_reference(info, reference)

    @strawberry.mutation(
        description="Record a practice's work on one patient's harm review (the practice whose "
        "worklist it is, or an operator for it): time spent, patient informed, NHS England "
        "notified, and to complete it the harm grade, once the record has arrived."
    )
    async def record_harm_review(
        self, info: Info[RecordsContext, None], input: HarmReviewInput
    ) -> HarmReviewItem:
        review_id = await service.record_harm_review(
            info.context.sessionmaker,
            info.context.principal,
            review_id=_review_id(input.review_id),
            harm_grade=input.harm_grade,
            patient_informed=input.patient_informed,
            nhs_england_notified=input.nhs_england_notified,
            minutes_spent=input.minutes_spent,
            reviewer=input.reviewer,
            reviewed_on=input.reviewed_on,
            idempotency_key=input.idempotency_key,
        )
        [item] = await _review(info, review_id)
        return HarmReviewItem.of(item, principal=info.context.principal, today=info.context.today)

    @strawberry.mutation(
        description="Load NHS England's list of a practice's patients to review for harm (the "
        "practice, or an operator): each patient once on the worklist, with a due date."
    )
    async def load_harm_review_list(
        self, info: Info[RecordsContext, None], input: HarmReviewListInput
    ) -> HarmReviewListLoaded:
        numbers = [identifiers.nhs_number(value, field="nhsNumbers") for value in input.nhs_numbers]
        loaded = await service.load_harm_review_list(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=identifiers.ods_code(input.ods_code, field="odsCode"),
            list_reference=input.list_reference,
            nhs_numbers=numbers,
            received_on=input.received_on,
            harm_review_days=info.context.rules.harm_review_days,
            idempotency_key=input.idempotency_key,
        )
        return HarmReviewListLoaded(
            list_reference=loaded.list_reference, patients=loaded.patients, added=loaded.added
        )

    @strawberry.mutation(
        description="Record one registration or deduction (the practice, or an operator); what "
        "it shows (record not received, archived in error, incorrect removal) is found at once."
    )
    async def record_patient_registration(
        self, info: Info[RecordsContext, None], input: PatientRegistrationInput
    ) -> PatientRegistration:
        ods_code = identifiers.ods_code(input.ods_code, field="odsCode")
        today = dates.today()
        fact = registrations.check(
            nhs_number=identifiers.nhs_number(input.nhs_number),
            event=input.event,
            effective_on=input.effective_on,
            reason=input.reason,
            removal_requested_on=input.removal_requested_on,
            fp69_flagged_on=input.fp69_flagged_on,
            date_of_birth=input.date_of_birth,
            today=today,
        )
        registration_id = await registering.record_registration(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=ods_code,
            fact=fact,
            today=today,
            rules=info.context.rules,
            idempotency_key=input.idempotency_key,
        )
        async with info.context.sessionmaker() as session:
            row = await session.get(models.Registration, registration_id)
        assert row is not None
        return PatientRegistration.of(row, principal=info.context.principal)

    @strawberry.mutation(
        description="Load a practice's export of registrations and deductions (the practice, or "
        "an operator), all or nothing; the same file again changes nothing."
    )
    async def import_patient_registrations(
        self, info: Info[RecordsContext, None], input: ImportPatientRegistrationsInput
    ) -> PatientRegistrationsLoaded:
        if len(input.csv) > registering.MAX_FILE_CHARACTERS:
            raise BadUserInput("The file is too large for a request; use the CLI.", field="csv")
        loaded = await registering.import_registrations(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=identifiers.ods_code(input.ods_code, field="odsCode"),
            csv_text=input.csv,
            today=dates.today(),
            rules=info.context.rules,
            idempotency_key=input.idempotency_key,
        )
        return PatientRegistrationsLoaded(
            ods_code=loaded.ods_code,
            rows=loaded.rows,
            added=loaded.added,
            incidents_opened=sum(loaded.opened.values()),
            incidents_resolved=loaded.resolved,
            replayed=loaded.replayed,
        )

    @strawberry.mutation(
        description="Apply a feed of movement updates and courier scans (operators), all or "
        "nothing; the same feed again changes nothing."
    )
    async def import_records_feed(
        self, info: Info[RecordsContext, None], input: ImportFeedInput
    ) -> FeedApplied:
        if len(input.csv) > feed.MAX_REQUEST_CHARACTERS:
            raise BadUserInput("The feed is too large for a request; use the CLI.", field="csv")
        applied = await feed.import_feed(
            info.context.sessionmaker,
            info.context.principal,
            feed_id=feed.feed_id(input.feed_id),
            csv_text=input.csv,
            targets=info.context.targets,
            today=dates.today(),
            idempotency_key=input.idempotency_key,
        )
        return FeedApplied(
            feed_id=applied.feed_id,
            lines=applied.lines,
            movements_opened=applied.movements_opened,
            movements_changed=applied.movements_changed,
            scans=applied.scans,
            incidents=applied.incidents,
            replayed=applied.replayed,
        )

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


async def _review(info: Info[RecordsContext, None], review_id: int) -> list[repository.ReviewItem]:
    async with info.context.sessionmaker() as session:
        return await repository.harm_review_items(session, [review_id])


schema = create_schema(query=Query, mutation=Mutation, types=[Practice, Lmc])
