"""The rules of the records service that change data. Each owns its write transaction.

Every change is validated before anything is written, runs under an idempotency key (a scan
under the courier's own scan id), and appends to the audit trail and to the movement's
history in the same transaction: the change and its evidence commit together or not at all.
The audit trail and the history name a movement by its movement number, never by the
patient's NHS number.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from pcse_kit import audit, dates, events
from pcse_kit.errors import BadUserInput, ClientError, Conflict, NotFound
from pcse_kit.identifiers import free_text
from sqlalchemy import func, select

from records import detection, policy, repository, rules, timers
from records.models import (
    DEDUCTIONS,
    FOUND_FROM_REGISTRATIONS,
    OTHER_NATIONS,
    AuditEvent,
    HarmGrade,
    HarmReview,
    HarmReviewList,
    HarmReviewSource,
    HistoryKind,
    IdempotencyKey,
    Incident,
    IncidentKind,
    IncidentOutcome,
    IncidentStatus,
    Movement,
    MovementEvent,
    MovementReason,
    MovementStatus,
    Outbox,
    Place,
    Scan,
    ScanKind,
    Urgency,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

S = MovementStatus
CLOCK_SKEW: Final = timedelta(minutes=5)
"""How far ahead of our clock a courier's scanner may be before its time is refused."""
_SCAN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_LABEL = re.compile(r"[A-Z0-9-]{4,20}")


@dataclass(frozen=True)
class End:
    """One end of a movement, its identifiers already validated at the edge."""

    place: Place
    ods_code: str | None = None
    site_code: str | None = None


@dataclass(frozen=True)
class Receipt:
    movement_number: str
    matched: bool
    incident_reference: str | None
    return_movement_number: str | None = None


STREAM: Final = "records"
"""The records service's stream on the event bus: registrations, incidents, harm reviews."""
DEFAULT_HARM_REVIEW_DAYS: Final = 30


def _now() -> datetime:
    return datetime.now(UTC)


async def _idempotent(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    key: str,
    operation: str,
    request: dict[str, Any],
    write: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run ``write`` once per key: a replay gets the first response and changes nothing."""
    return await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=key,
        operation=operation,
        request=request,
        write=write,
    )


def _text(value: str, *, field: str, limit: int) -> str:
    # Free text reaches operators, admins and the audit trail: never an NHS number in it.
    return free_text(value, field=field, limit=limit)


def _not_future(value: date, *, field: str) -> None:
    dates.not_future(value, today=dates.today(), field=field)


def _instant(value: datetime, *, field: str) -> datetime:
    if value.tzinfo is None:
        raise BadUserInput(f"`{field}` needs a time zone.", field=field)
    if value > _now() + CLOCK_SKEW:
        raise BadUserInput(f"`{field}` cannot be in the future.", field=field)
    return value.astimezone(UTC)


def movement_values(movement: Movement) -> dict[str, Any]:
    """What the audit trail keeps of a movement: everything but the patient's identity."""

    def iso(value: date | datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "movementNumber": movement.movement_number,
        "labelNumber": movement.label_number,
        "status": movement.status.value,
        "sending": [
            movement.sender_place.value,
            movement.sender_ods_code,
            movement.sender_site_code,
        ],
        "receiving": [
            movement.receiver_place.value,
            movement.receiver_ods_code,
            movement.receiver_site_code,
        ],
        "reason": movement.reason.value,
        "urgency": movement.urgency.value,
        "requestedAt": iso(movement.requested_at),
        "statusChangedAt": iso(movement.status_changed_at),
        "deductedOn": iso(movement.deducted_on),
        "labelIssuedOn": iso(movement.label_issued_on),
        "collectedAt": iso(movement.collected_at),
        "deliveredAt": iso(movement.delivered_at),
        "receivedAt": iso(movement.received_at),
        "gp2gpStartedOn": iso(movement.gp2gp_started_on),
        "gp2gpIntegratedOn": iso(movement.gp2gp_integrated_on),
        "searchStartedOn": iso(movement.search_started_on),
        "readyAt": iso(movement.ready_at),
        "printoutAttested": movement.printout_attested,
    }


def refresh_dues(movement: Movement, targets: timers.Targets) -> None:
    """Set each timer's due date from the facts. A due date, once set, keeps the target in
    force when its timer started; the collection, search and lost timers come and go with
    their state."""
    missing_since = (
        dates.local_date(movement.status_changed_at) if movement.status is S.MISSING else None
    )
    dues = timers.due_dates(
        targets,
        requested_on=dates.local_date(movement.requested_at),
        urgent=movement.urgency is Urgency.URGENT,
        deducted_on=movement.deducted_on,
        collected_on=None
        if movement.collected_at is None
        else dates.local_date(movement.collected_at),
        gp2gp_started_on=movement.gp2gp_started_on,
        search_started_on=movement.search_started_on,
        missing_since=missing_since,
        ready_on=None if movement.ready_at is None else dates.local_date(movement.ready_at),
        routine_request=movement.reason is MovementReason.REQUEST
        and movement.urgency is Urgency.ROUTINE,
        from_other_nation=movement.sender_place in OTHER_NATIONS,
    )
    movement.label_due_on = movement.label_due_on or dues.label
    movement.delivery_due_on = movement.delivery_due_on or dues.delivery
    movement.gp2gp_due_on = movement.gp2gp_due_on or dues.gp2gp
    movement.urgent_due_on = movement.urgent_due_on or dues.urgent
    movement.request_due_on = movement.request_due_on or dues.request
    movement.collection_due_on = dues.collection
    movement.search_due_on = dues.search
    movement.lost_due_on = dues.lost if movement.lost_due_on is None else movement.lost_due_on
    if movement.status is not S.MISSING:
        movement.lost_due_on = None


def transition(movement: Movement, target: MovementStatus, *, at: datetime) -> MovementStatus:
    """Move ``movement`` to ``target`` if the state machine allows it, with the facts that go
    with the new status; the status it left. Any search ends with it."""
    current = movement.status
    rules.require(current, target)
    movement.status = target
    movement.status_changed_at = at
    movement.search_started_on = None
    if target is S.NO_PAPER_RECORD and movement.gp2gp_started_on is None:
        movement.gp2gp_started_on = dates.local_date(at)
    if target is S.READY_FOR_COLLECTION:
        movement.ready_at = at
    if target is S.IN_STORAGE_AT_PRACTICE and movement.received_at is None:
        movement.received_at = at
    return current


def scan_transition(movement: Movement, kind: ScanKind, *, at: datetime) -> MovementStatus:
    """What a courier's scan does to a movement: collected or delivered, with its time; the
    status it left. Refused (BAD_USER_INPUT) when the scan cannot be right."""
    if at < movement.requested_at:
        raise BadUserInput("A scan cannot come before the request.", field="scannedAt")
    if kind is ScanKind.COLLECTION:
        current = transition(movement, S.COLLECTED, at=at)
        movement.collected_at = at
        movement.delivered_at = None
        return current
    if movement.collected_at is None:
        raise BadUserInput("A delivery scan needs a collection scan first.", field="status")
    if at < movement.collected_at:
        raise BadUserInput("A delivery cannot come before the collection.", field="scannedAt")
    current = transition(movement, S.DELIVERED, at=at)
    movement.delivered_at = at
    return current


def empty_envelope(movement: Movement, kind: ScanKind) -> bool:
    """A record collected for another UK nation without the sending practice's confirmation
    that the printout is in the envelope: the courier cannot see inside the bag."""
    return (
        kind is ScanKind.COLLECTION
        and movement.receiver_place in OTHER_NATIONS
        and movement.printout_attested is not True
    )


class _Change:
    """One write to a movement: its history rows and audit event, from one before-image."""

    def __init__(self, session: AsyncSession, principal: Principal, movement: Movement) -> None:
        self.session = session
        self.principal = principal
        self.movement = movement
        self.before = movement_values(movement)

    def history(
        self,
        kind: HistoryKind,
        *,
        at: datetime,
        note: str | None = None,
        from_status: MovementStatus | None = None,
        to_status: MovementStatus | None = None,
    ) -> None:
        self.session.add(
            MovementEvent(
                movement_id=self.movement.id,
                kind=kind,
                occurred_at=at,
                from_status=from_status,
                to_status=to_status,
                actor_subject=self.principal.subject,
                actor_role=str(self.principal.role),
                note=note,
            )
        )

    def status(
        self, target: MovementStatus, *, at: datetime, kind: HistoryKind, note: str | None = None
    ) -> None:
        """Move to ``target`` if the state machine allows it; any search ends with it."""
        current = transition(self.movement, target, at=at)
        self.history(kind, at=at, note=note, from_status=current, to_status=target)

    async def done(self, action: str, targets: timers.Targets) -> None:
        refresh_dues(self.movement, targets)
        await self.session.flush()
        await audit.record(
            self.session,
            AuditEvent,
            actor=self.principal,
            action=action,
            entity="movement",
            key=self.movement.movement_number,
            before=self.before,
            after=movement_values(self.movement),
        )
        # What this change shows, or no longer shows, with the patient's registrations.
        await detection.detect(
            self.session, self.principal, today=dates.today(), patients=[self.movement.nhs_number]
        )


async def _movement(
    session: AsyncSession,
    principal: Principal,
    number: str,
    allow: Callable[[Principal, Movement | None], Movement],
) -> Movement:
    """The movement, locked; NOT_FOUND only for operators, who may know it is absent."""
    movement = await repository.movement_for_update(session, number)
    if movement is None and principal.operates(policy.DOMAIN):
        raise NotFound("No movement has this number.", field="movementNumber")
    return allow(principal, movement)


def _operator_only(principal: Principal, movement: Movement | None) -> Movement:
    policy.operator(principal)
    assert movement is not None  # operators hear NOT_FOUND first
    return movement


async def _new_movement_id(session: AsyncSession) -> int:
    # The number comes from the row's own id, so it is unique without a retry.
    movement_id = await session.scalar(
        select(func.nextval(func.pg_get_serial_sequence("movement", "id")))
    )
    assert movement_id is not None
    return int(movement_id)


async def publish(
    session: AsyncSession, event_type: str, key: str, payload: dict[str, Any]
) -> None:
    """One event on the records stream, in the caller's transaction. Payloads never hold a
    patient identifier."""
    await events.publish(session, Outbox, stream=STREAM, type=event_type, key=key, payload=payload)


def incident_payload(incident: Incident) -> dict[str, Any]:
    """What the bus says of an incident: its kind, who bears it, where it stands."""

    def iso(value: date | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "reference": incident.reference,
        "kind": incident.kind.value,
        "odsCode": incident.ods_code,
        "reportedOn": dates.local_date(incident.reported_at).isoformat(),
        "status": incident.status.value,
        "pcseReference": incident.pcse_reference,
        "raisedOn": iso(incident.raised_on),
        "resolvedOn": iso(incident.resolved_on),
        "outcome": None if incident.outcome is None else incident.outcome.value,
    }


_NO_DIGITS: Final = str.maketrans("0123456789", "GHJKLMNPQR")


def new_reference() -> str:
    """Twelve random letters: never a run of digits that could pass for an NHS number."""
    return f"INC-{uuid.uuid4().hex[:12].upper().translate(_NO_DIGITS)}"


async def _incident(
    change: _Change,
    kind: IncidentKind,
    *,
    ods_code: str | None,
    detail: str,
    at: datetime,
    found_nhs_number: str | None = None,
    harm_review_days: int = DEFAULT_HARM_REVIEW_DAYS,
) -> Incident:
    movement = change.movement
    # A second wrong delivery on one movement is a new incident; anything else happens once.
    if kind is not IncidentKind.WRONG_RECORD_DELIVERED and (
        await repository.incident_of_kind(change.session, movement.id, kind, ods_code) is not None
    ):
        raise Conflict(
            f"This movement already has a {kind.value.replace('_', ' ')} incident.", field="kind"
        )
    incident = Incident(
        reference=new_reference(),
        kind=kind,
        movement_id=movement.id,
        ods_code=ods_code,
        reported_at=at,
        reported_by=change.principal.subject,
        detail=detail,
        found_nhs_number=found_nhs_number,
        status=IncidentStatus.OPEN,
    )
    change.session.add(incident)
    await change.session.flush()
    change.history(HistoryKind.INCIDENT_REPORTED, at=at, note=f"{incident.reference} {kind.value}")
    if kind is IncidentKind.ERRONEOUS_ARCHIVING and ods_code is not None:
        await add_harm_review(
            change.session,
            ods_code=ods_code,
            nhs_number=movement.nhs_number,
            incident_id=incident.id,
            movement_id=movement.id,
            due_on=dates.local_date(at) + timedelta(days=harm_review_days),
        )
    await audit.record(
        change.session,
        AuditEvent,
        actor=change.principal,
        action="report_incident",
        entity="incident",
        key=incident.reference,
        before=None,
        after={
            "reference": incident.reference,
            "kind": kind.value,
            "movementNumber": movement.movement_number,
            "odsCode": ods_code,
            "detail": detail,
        },
    )
    await publish(change.session, "incident.opened", incident.reference, incident_payload(incident))
    return incident


async def add_harm_review(
    session: AsyncSession,
    *,
    ods_code: str,
    nhs_number: str,
    due_on: date,
    incident_id: int | None = None,
    list_id: int | None = None,
    movement_id: int | None = None,
) -> bool:
    """Put a patient on a practice's worklist, once: a second incident or list naming the same
    patient adds nothing. Whether the item is new."""
    return await repository.add_harm_review(
        session,
        ods_code=ods_code,
        nhs_number=nhs_number,
        due_on=due_on,
        incident_id=incident_id,
        list_id=list_id,
        movement_id=movement_id,
        source=HarmReviewSource.DETECTED
        if incident_id is not None
        else HarmReviewSource.NHS_ENGLAND_LIST,
    )


# --------------------------------------------------------------------------------------------
# Requests and PCSE's own progress


def check_ends(sending: End, receiving: End) -> None:
    for end, name in ((sending, "sending"), (receiving, "receiving")):
        if (end.place is Place.PRACTICE) != (end.ods_code is not None):
            raise BadUserInput(
                f"`{name}.odsCode` is required for a practice and only for one.",
                field=f"{name}.odsCode",
            )
        if end.site_code is not None and (
            end.ods_code is None or not end.site_code.startswith(end.ods_code)
        ):
            raise BadUserInput(
                f"`{name}.siteCode` must be a branch site of `{name}.odsCode`.",
                field=f"{name}.siteCode",
            )
    if sending.ods_code is None and receiving.ods_code is None:
        raise BadUserInput("One end of a movement must be a practice.", field="receiving.place")
    if sending.ods_code == receiving.ods_code:
        raise BadUserInput(
            "A record cannot move to the practice it leaves.", field="receiving.odsCode"
        )


async def request_movement(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    nhs_number: str,
    sending: End,
    receiving: End,
    reason: MovementReason,
    urgency: Urgency,
    deducted_on: date | None,
    targets: timers.Targets,
    idempotency_key: str,
) -> str:
    """Open a movement; its label timer runs from the deduction, an urgent one's from now."""
    policy.request_movement(principal, (sending.ods_code, receiving.ods_code))
    check_ends(sending, receiving)
    if (reason in DEDUCTIONS) != (deducted_on is not None):
        raise BadUserInput(
            "`deductedOn` is required after a deduction and only then.", field="deductedOn"
        )
    if deducted_on is not None:
        _not_future(deducted_on, field="deductedOn")
    if reason is MovementReason.WRONG_RECORD_RETURN:
        raise BadUserInput(
            "A wrong record's return is opened by confirming receipt of it.", field="reason"
        )

    async def write(session: AsyncSession) -> dict[str, Any]:
        now = _now()
        movement_id = await _new_movement_id(session)
        movement = Movement(
            id=movement_id,
            movement_number=f"MV{movement_id:010d}",
            nhs_number=nhs_number,
            sender_place=sending.place,
            sender_ods_code=sending.ods_code,
            sender_site_code=sending.site_code,
            receiver_place=receiving.place,
            receiver_ods_code=receiving.ods_code,
            receiver_site_code=receiving.site_code,
            reason=reason,
            urgency=urgency,
            status=S.REQUESTED,
            requested_at=now,
            status_changed_at=now,
            deducted_on=deducted_on,
        )
        session.add(movement)
        await session.flush()
        change = _Change(session, principal, movement)
        change.before = {}
        change.history(HistoryKind.REQUESTED, at=now, to_status=S.REQUESTED)
        await change.done("request_movement", targets)
        return {"movementNumber": movement.movement_number}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="requestRecordMovement",
        request={
            # A digest of the request is stored with the key; the NHS number only as part of it.
            "nhsNumber": nhs_number,
            "sending": [sending.place.value, sending.ods_code, sending.site_code],
            "receiving": [receiving.place.value, receiving.ods_code, receiving.site_code],
            "reason": reason.value,
            "urgency": urgency.value,
            "deductedOn": None if deducted_on is None else deducted_on.isoformat(),
        },
        write=write,
    )
    return str(response["movementNumber"])


async def update_movement(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    movement_number: str,
    status: MovementStatus | None,
    label_number: str | None,
    search_started_on: date | None,
    gp2gp_integrated_on: date | None,
    on: date | None,
    printout_included: bool | None,
    targets: timers.Targets,
    idempotency_key: str,
) -> str:
    """PCSE's own progress on a movement: a label issued, a search begun, a GP2GP transfer
    integrated, a status reached. Each part is checked before any is applied."""
    policy.operator(principal)
    if (
        status is None
        and label_number is None
        and search_started_on is None
        and (gp2gp_integrated_on is None)
    ):
        raise BadUserInput(
            "Say what changed: a status, a label, a search or GP2GP.", field="status"
        )
    if status is S.CANCELLED:
        raise BadUserInput("Cancel with cancelRecordMovement, giving a reason.", field="status")
    if status in rules.FROM_SCANS:
        raise BadUserInput("Collection and delivery come from the courier's scans.", field="status")
    if status in rules.FROM_RECEIPT:
        raise BadUserInput(
            "Only the receiving practice can say another patient's record arrived: "
            "confirmRecordReceipt.",
            field="status",
        )
    if printout_included is not None and status is not S.READY_FOR_COLLECTION:
        raise BadUserInput(
            "`printoutIncluded` is confirmed when the record is marked ready.",
            field="printoutIncluded",
        )
    if label_number is not None and not _LABEL.fullmatch(label_number):
        raise BadUserInput(
            "`labelNumber` must be 4-20 capital letters, digits or hyphens.", field="labelNumber"
        )
    issued_on = on or dates.today()
    _not_future(issued_on, field="on")
    if search_started_on is not None:
        _not_future(search_started_on, field="searchStartedOn")
    if gp2gp_integrated_on is not None:
        _not_future(gp2gp_integrated_on, field="gp2gpIntegratedOn")

    async def write(session: AsyncSession) -> dict[str, Any]:
        movement = await _movement(session, principal, movement_number, _operator_only)
        change = _Change(session, principal, movement)
        now = _now()
        if search_started_on is not None:
            if movement.status not in {S.REQUESTED, S.IN_PROGRESS, S.READY_FOR_COLLECTION}:
                raise BadUserInput(
                    "Only a record not yet collected can be searched for.", field="status"
                )
            if search_started_on < dates.local_date(movement.requested_at):
                raise BadUserInput(
                    "A search cannot start before the request.", field="searchStartedOn"
                )
        if gp2gp_integrated_on is not None and (
            movement.gp2gp_started_on is None or gp2gp_integrated_on < movement.gp2gp_started_on
        ):
            raise BadUserInput(
                "GP2GP integration needs a GP2GP transfer that started before it.",
                field="gp2gpIntegratedOn",
            )
        if status is not None:
            change.status(status, at=now, kind=HistoryKind.STATUS_CHANGED)
            if status is S.READY_FOR_COLLECTION:
                movement.printout_attested = printout_included
        if label_number is not None:
            movement.label_number = label_number
            movement.label_issued_on = issued_on
            change.history(HistoryKind.LABEL_ISSUED, at=now, note=f"PCS {label_number}")
        if search_started_on is not None:
            movement.search_started_on = search_started_on
            change.history(HistoryKind.SEARCH_STARTED, at=now)
        if gp2gp_integrated_on is not None:
            movement.gp2gp_integrated_on = gp2gp_integrated_on
            change.history(HistoryKind.GP2GP_INTEGRATED, at=now)
        await change.done("update_movement", targets)
        return {"movementNumber": movement.movement_number}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="updateRecordMovement",
        request={
            "movementNumber": movement_number,
            "status": None if status is None else status.value,
            "labelNumber": label_number,
            "searchStartedOn": None if search_started_on is None else search_started_on.isoformat(),
            "gp2gpIntegratedOn": None
            if gp2gp_integrated_on is None
            else gp2gp_integrated_on.isoformat(),
            "on": None if on is None else on.isoformat(),
            "printoutIncluded": printout_included,
        },
        write=write,
    )
    return str(response["movementNumber"])


async def mark_ready(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    movement_number: str,
    printout_included: bool | None,
    targets: timers.Targets,
    idempotency_key: str,
) -> str:
    """The sending practice has bagged and labelled the record: ready for collection, and the
    collection timer starts. For Wales, Scotland or Northern Ireland it confirms here that the
    printed electronic record is in the envelope: the courier cannot see inside the bag."""

    async def write(session: AsyncSession) -> dict[str, Any]:
        movement = await _movement(session, principal, movement_number, policy.mark_ready)
        cross_border = movement.receiver_place in OTHER_NATIONS
        if cross_border and printout_included is None:
            raise BadUserInput(
                "A record for another UK nation needs the printout confirmed (or denied).",
                field="printoutIncluded",
            )
        if not cross_border and printout_included is not None:
            raise BadUserInput(
                "The printout is confirmed only for a record going to another UK nation.",
                field="printoutIncluded",
            )
        change = _Change(session, principal, movement)
        now = _now()
        change.status(
            S.READY_FOR_COLLECTION,
            at=now,
            kind=HistoryKind.MARKED_READY,
            note=None
            if printout_included is None
            else ("Printout in the envelope." if printout_included else "No printout."),
        )
        movement.printout_attested = printout_included
        await change.done("mark_ready", targets)
        return {"movementNumber": movement.movement_number}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="markRecordReady",
        request={"movementNumber": movement_number, "printoutIncluded": printout_included},
        write=write,
    )
    return str(response["movementNumber"])


async def cancel_movement(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    movement_number: str,
    reason: str,
    targets: timers.Targets,
    idempotency_key: str,
) -> str:
    """Cancel a movement not yet collected: by PCSE, or by a practice at either end."""
    note = _text(reason, field="reason", limit=300)

    async def write(session: AsyncSession) -> dict[str, Any]:
        movement = await _movement(session, principal, movement_number, policy.act_on)
        change = _Change(session, principal, movement)
        change.status(S.CANCELLED, at=_now(), kind=HistoryKind.CANCELLED, note=note)
        await change.done("cancel_movement", targets)
        return {"movementNumber": movement.movement_number}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="cancelRecordMovement",
        request={"movementNumber": movement_number, "reason": note},
        write=write,
    )
    return str(response["movementNumber"])


# --------------------------------------------------------------------------------------------
# Courier scans and receipt


EMPTY_ENVELOPE_DETAIL: Final = (
    "Collected for another UK nation without the sending practice confirming the printout "
    "was in the envelope."
)


async def apply_scan(
    change: _Change, *, kind: ScanKind, at: datetime, scan_id: str
) -> Incident | None:
    """A courier's scan on a movement already locked: the status it drives, the scan row, and
    the empty-envelope incident when a record leaves for another UK nation unconfirmed."""
    movement = change.movement
    current = scan_transition(movement, kind, at=at)
    target = movement.status
    history = (
        HistoryKind.COLLECTION_SCANNED
        if kind is ScanKind.COLLECTION
        else HistoryKind.DELIVERY_SCANNED
    )
    change.history(history, at=at, from_status=current, to_status=target)
    change.session.add(Scan(scan_id=scan_id, movement_id=movement.id, kind=kind, scanned_at=at))
    if empty_envelope(movement, kind):
        return await _incident(
            change,
            IncidentKind.EMPTY_ENVELOPE,
            ods_code=movement.sender_ods_code,
            detail=EMPTY_ENVELOPE_DETAIL,
            at=at,
        )
    return None


async def record_scan(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    scan_id: str,
    movement_number: str,
    kind: ScanKind,
    scanned_at: datetime,
    targets: timers.Targets,
) -> str:
    """Apply a courier's scan once, however often the courier sends it.

    A collection starts the delivery timer. The courier cannot see inside the bag: a record
    leaving for another UK nation is an empty-envelope incident only when the sending practice
    did not confirm the printout when it marked the record ready.
    """
    policy.operator(principal)
    if not _SCAN_ID.fullmatch(scan_id):
        raise BadUserInput("`scanId` must be 1-64 letters, digits or . _ : -", field="scanId")
    at = _instant(scanned_at, field="scannedAt")

    async def same_scan(session: AsyncSession, movement: Movement) -> bool:
        existing = await repository.scan_by_id(session, scan_id)
        if existing is None:
            return False
        recorded = (existing.movement_id, existing.kind, existing.scanned_at)
        if recorded != (movement.id, kind, at):
            raise Conflict(
                "This scan id was already recorded for a different scan.", field="scanId"
            )
        return True

    async with sessionmaker.begin() as session:
        # Locking the movement first makes a resent scan wait for the original to commit.
        movement = await _movement(session, principal, movement_number, _operator_only)
        if await same_scan(session, movement):
            return movement.movement_number
        change = _Change(session, principal, movement)
        await apply_scan(change, kind=kind, at=at, scan_id=scan_id)
        await change.done(f"{kind.value}_scan", targets)
        return movement.movement_number


async def _wrong_record(
    change: _Change, *, found_nhs_number: str, at: datetime, detail: str
) -> tuple[Incident, Movement]:
    """Another patient's record arrived: the movement stays open for the right one, the
    receiving practice bears a wrong-record incident, and the record it holds goes back where
    it came from on a return movement whose patient only that practice sees."""
    movement = change.movement
    change.history(HistoryKind.WRONG_RECORD_RECEIVED, at=at)
    change.status(S.WRONG_RECORD_DELIVERED, at=at, kind=HistoryKind.STATUS_CHANGED)
    # The courier delivered a record, but not this one: delivery is still owed.
    movement.delivered_at = None
    incident = await _incident(
        change,
        IncidentKind.WRONG_RECORD_DELIVERED,
        ods_code=movement.receiver_ods_code,
        detail=detail,
        at=at,
        found_nhs_number=found_nhs_number,
    )
    session = change.session
    return_id = await _new_movement_id(session)
    back = Movement(
        id=return_id,
        movement_number=f"MV{return_id:010d}",
        nhs_number=found_nhs_number,
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
    session.add(back)
    await session.flush()
    returned = _Change(session, change.principal, back)
    returned.before = {}
    returned.history(
        HistoryKind.REQUESTED,
        at=at,
        to_status=S.REQUESTED,
        note=f"Return of a record delivered in error on {movement.movement_number}",
    )
    change.history(HistoryKind.RETURN_OPENED, at=at, note=back.movement_number)
    refresh_dues(back, timers.Targets())
    await returned.done("open_wrong_record_return", timers.Targets())
    return incident, back


async def _audited_refusal(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    operation: str,
    movement_number: str,
    error: ClientError,
) -> None:
    """A write naming a patient's NHS number was refused: say so in the audit trail, in a
    transaction of its own, so that guessing leaves a trace. The number tried is never kept."""
    async with sessionmaker.begin() as session:
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action=f"refused_{operation}",
            entity="movement",
            key=movement_number,
            before=None,
            after={"code": error.code, "field": error.field},
        )


async def confirm_receipt(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    movement_number: str,
    nhs_number: str,
    received_at: datetime | None,
    targets: timers.Targets,
    idempotency_key: str,
) -> Receipt:
    """The receiving practice says whose record it holds. The movement's patient: in storage
    at the practice, done. Anyone else's: the wrong-record path (:func:`_wrong_record`).

    Only the receiving practice, which sees the movement's NHS number anyway, may compare one
    with it: anyone else is refused before any comparison, so the answer never depends on
    whether a guess was right, and every refusal is in the audit trail.
    """
    try:
        at = _now() if received_at is None else _instant(received_at, field="receivedAt")

        async def write(session: AsyncSession) -> dict[str, Any]:
            movement = await repository.movement_for_update(session, movement_number)
            movement = policy.confirm_receipt(principal, movement)
            if movement.status not in rules.RECEIVABLE:
                raise BadUserInput(
                    f"Only a movement still owed can be received; this one is "
                    f"{movement.status.value}.",
                    field="status",
                )
            if movement.collected_at is not None and at < movement.collected_at:
                raise BadUserInput(
                    "A receipt cannot come before the collection.", field="receivedAt"
                )
            change = _Change(session, principal, movement)
            if nhs_number != movement.nhs_number:
                if not rules.allowed(movement.status, S.WRONG_RECORD_DELIVERED):
                    raise BadUserInput(
                        "Another patient's record can arrive only on a record in transit or "
                        "delivered.",
                        field="status",
                    )
                incident, back = await _wrong_record(
                    change,
                    found_nhs_number=nhs_number,
                    at=at,
                    detail="The record received is another patient's.",
                )
                await change.done("confirm_receipt", targets)
                return {
                    "movementNumber": movement.movement_number,
                    "matched": False,
                    "incident": incident.reference,
                    "returnMovement": back.movement_number,
                }
            change.status(S.IN_STORAGE_AT_PRACTICE, at=at, kind=HistoryKind.RECEIVED)
            movement.received_at = at
            await change.done("confirm_receipt", targets)
            return {
                "movementNumber": movement.movement_number,
                "matched": True,
                "incident": None,
                "returnMovement": None,
            }

        response = await _idempotent(
            sessionmaker,
            principal,
            key=idempotency_key,
            operation="confirmRecordReceipt",
            request={
                "movementNumber": movement_number,
                "nhsNumber": nhs_number,
                "receivedAt": None if received_at is None else at.isoformat(),
            },
            write=write,
        )
    except ClientError as error:
        await _audited_refusal(
            sessionmaker,
            principal,
            operation="confirmRecordReceipt",
            movement_number=movement_number,
            error=error,
        )
        raise
    return Receipt(
        movement_number=str(response["movementNumber"]),
        matched=bool(response["matched"]),
        incident_reference=response["incident"],
        return_movement_number=response.get("returnMovement"),
    )


# --------------------------------------------------------------------------------------------
# Incidents


BY_RECEIVER: Final = frozenset(
    {IncidentKind.WRONG_RECORD_DELIVERED, IncidentKind.INCOMPLETE_RECORD}
)
"""Reported on what arrived: the receiving practice bears them."""
BY_SENDER: Final = frozenset({IncidentKind.LABEL_NOT_RECEIVED, IncidentKind.LABEL_WRONG})
"""Labels go to the sending practice, which bears these."""


def _bearer(kind: IncidentKind, movement: Movement, found_nhs_number: str | None) -> str | None:
    """Check that an incident reported by hand fits its movement; the practice that bears it."""
    if kind is IncidentKind.WRONG_RECORD_DELIVERED:
        if not rules.allowed(movement.status, S.WRONG_RECORD_DELIVERED):
            raise BadUserInput(
                "Another patient's record can arrive only on a record in transit or delivered.",
                field="status",
            )
        if found_nhs_number == movement.nhs_number:
            raise BadUserInput(
                "That is this movement's own patient: confirm receipt instead.",
                field="foundNhsNumber",
            )
        return movement.receiver_ods_code
    if kind is IncidentKind.ERRONEOUS_ARCHIVING:
        # A record in central storage for a patient registered at a practice.
        if movement.status is not S.IN_CENTRAL_STORAGE or movement.receiver_ods_code is None:
            raise BadUserInput(
                "Erroneous archiving is a record in central storage for a patient "
                "registered at a practice.",
                field="kind",
            )
        return movement.receiver_ods_code
    if kind is IncidentKind.EMPTY_ENVELOPE:
        if movement.receiver_place not in OTHER_NATIONS:
            raise BadUserInput(
                "An empty envelope is reported on a record sent to another UK nation.",
                field="kind",
            )
        if movement.collected_at is None:
            raise BadUserInput("The envelope has not been collected yet.", field="status")
        return movement.sender_ods_code
    if kind is IncidentKind.INCOMPLETE_RECORD:
        if movement.status not in {S.DELIVERED, S.IN_STORAGE_AT_PRACTICE}:
            raise BadUserInput(
                "An incomplete record is reported once it has arrived.", field="status"
            )
        return movement.receiver_ods_code
    # The labels.
    if movement.collected_at is not None or not movement.is_open:
        raise BadUserInput("A label matters only before the record is collected.", field="status")
    if kind is IncidentKind.LABEL_NOT_RECEIVED and movement.label_number is not None:
        raise BadUserInput(
            "PCSE says this movement's label was issued: report it as wrong if it is.",
            field="kind",
        )
    return movement.sender_ods_code


async def report_incident(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    movement_number: str,
    kind: IncidentKind,
    detail: str,
    found_nhs_number: str | None,
    targets: timers.Targets,
    harm_review_days: int,
    idempotency_key: str,
) -> str:
    """Report what went wrong with a movement, by hand.

    A record archived in error puts its patient on the receiving practice's harm-review
    worklist. A wrong record (the receiving practice naming the NHS number on what arrived)
    takes the same path as a receipt of it. Only the receiving practice may name an NHS number
    to compare with the movement's, and a refusal of any report naming one is audited.
    """
    try:
        text = _text(detail, field="detail", limit=500)
        if kind in FOUND_FROM_REGISTRATIONS:
            raise BadUserInput(
                "This kind is found from the practice's registrations, not reported.",
                field="kind",
            )
        if (kind is IncidentKind.WRONG_RECORD_DELIVERED) != (found_nhs_number is not None):
            raise BadUserInput(
                "`foundNhsNumber` is required for a wrong record and only for one.",
                field="foundNhsNumber",
            )
        allow = (
            policy.confirm_receipt if kind is IncidentKind.WRONG_RECORD_DELIVERED else policy.act_on
        )

        async def write(session: AsyncSession) -> dict[str, Any]:
            # No NOT_FOUND here, even for operators: the answer must not depend on the number.
            movement = allow(
                principal, await repository.movement_for_update(session, movement_number)
            )
            ods_code = _bearer(kind, movement, found_nhs_number)
            change = _Change(session, principal, movement)
            if kind is IncidentKind.WRONG_RECORD_DELIVERED:
                assert found_nhs_number is not None
                incident, _ = await _wrong_record(
                    change, found_nhs_number=found_nhs_number, at=_now(), detail=text
                )
            else:
                incident = await _incident(
                    change,
                    kind,
                    ods_code=ods_code,
                    detail=text,
                    at=_now(),
                    harm_review_days=harm_review_days,
                )
            await change.done("report_incident", targets)
            return {"reference": incident.reference}

        response = await _idempotent(
            sessionmaker,
            principal,
            key=idempotency_key,
            operation="reportRecordIncident",
            request={
                "movementNumber": movement_number,
                "kind": kind.value,
                "detail": text,
                "foundNhsNumber": found_nhs_number,
            },
            write=write,
        )
    except ClientError as error:
        if found_nhs_number is not None:
            await _audited_refusal(
                sessionmaker,
                principal,
                operation="reportRecordIncident",
                movement_number=movement_number,
                error=error,
            )
        raise
    return str(response["reference"])


_PCSE_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9-]{3,29}")


async def _incident_for_update(
    session: AsyncSession, principal: Principal, reference: str
) -> Incident:
    incident = await repository.incident_for_update(session, reference)
    if incident is None and principal.operates(policy.DOMAIN):
        raise NotFound("No incident has this reference.", field="reference")
    return policy.act_on_incident(principal, incident)


def incident_values(incident: Incident) -> dict[str, Any]:
    return incident_payload(incident) | {"resolution": incident.resolution}


async def raise_incident(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    pcse_reference: str,
    raised_on: date,
    idempotency_key: str,
) -> str:
    """The practice raised the incident with PCSE, which gave it a case (CAS) reference: the
    40-day escalation clock starts from that day."""
    case = pcse_reference.strip().upper()
    if not _PCSE_REFERENCE.fullmatch(case):
        raise BadUserInput(
            "`pcseReference` must be PCSE's case reference: 4-30 letters, digits or hyphens.",
            field="pcseReference",
        )
    _not_future(raised_on, field="raisedOn")

    async def write(session: AsyncSession) -> dict[str, Any]:
        incident = await _incident_for_update(session, principal, reference)
        if incident.status is IncidentStatus.RESOLVED:
            raise Conflict("This incident is resolved.", field="reference")
        if raised_on < dates.local_date(incident.reported_at):
            raise BadUserInput("An incident cannot be raised before it happened.", field="raisedOn")
        before = incident_values(incident)
        incident.status = IncidentStatus.RAISED_WITH_PCSE
        incident.pcse_reference = case
        incident.raised_on = raised_on
        await _incident_changed(session, principal, incident, before, "raise_incident")
        await publish(session, "incident.raised", incident.reference, incident_payload(incident))
        return {"reference": incident.reference}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="raiseRecordIncidentWithPcse",
        request={"reference": reference, "pcseReference": case, "raisedOn": raised_on.isoformat()},
        write=write,
    )
    return str(response["reference"])


async def resolve_incident(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    outcome: IncidentOutcome,
    resolved_on: date,
    resolution: str | None,
    idempotency_key: str,
) -> str:
    """The incident is over, with its outcome; what happened is kept in the audit trail."""
    note = None if resolution is None else _text(resolution, field="resolution", limit=500)
    _not_future(resolved_on, field="resolvedOn")

    async def write(session: AsyncSession) -> dict[str, Any]:
        incident = await _incident_for_update(session, principal, reference)
        if incident.status is IncidentStatus.RESOLVED:
            raise Conflict("This incident is already resolved.", field="reference")
        if resolved_on < (incident.raised_on or dates.local_date(incident.reported_at)):
            raise BadUserInput(
                "An incident cannot be resolved before it was reported or raised.",
                field="resolvedOn",
            )
        before = incident_values(incident)
        incident.status = IncidentStatus.RESOLVED
        incident.outcome = outcome
        incident.resolved_on = resolved_on
        incident.resolution = note
        await _incident_changed(session, principal, incident, before, "resolve_incident")
        await publish(session, "incident.resolved", incident.reference, incident_payload(incident))
        return {"reference": incident.reference}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="resolveRecordIncident",
        request={
            "reference": reference,
            "outcome": outcome.value,
            "resolvedOn": resolved_on.isoformat(),
            "resolution": note,
        },
        write=write,
    )
    return str(response["reference"])


async def _incident_changed(
    session: AsyncSession,
    principal: Principal,
    incident: Incident,
    before: dict[str, Any],
    action: str,
) -> None:
    await session.flush()
    if incident.movement_id is not None:
        session.add(
            MovementEvent(
                movement_id=incident.movement_id,
                kind=HistoryKind.INCIDENT_UPDATED,
                occurred_at=_now(),
                actor_subject=principal.subject,
                actor_role=str(principal.role),
                note=f"{incident.reference} {incident.status.value}",
            )
        )
    await audit.record(
        session,
        AuditEvent,
        actor=principal,
        action=action,
        entity="incident",
        key=incident.reference,
        before=before,
        after=incident_values(incident),
    )


# --------------------------------------------------------------------------------------------
# Harm reviews


def review_values(review: HarmReview) -> dict[str, Any]:
    """A harm review as the audit trail and the bus keep it: never the patient."""
    return {
        "reviewId": review.id,
        "odsCode": review.ods_code,
        "source": review.source.value,
        "dueOn": review.due_on.isoformat(),
        "harmGrade": None if review.harm_grade is None else review.harm_grade.value,
        "completed": review.harm_grade is not None,
        "patientInformed": review.patient_informed,
        "nhsEnglandNotified": review.nhs_england_notified,
        "minutesSpent": review.minutes_spent,
        "reviewer": review.reviewer,
        "reviewedOn": None if review.reviewed_on is None else review.reviewed_on.isoformat(),
    }


MAX_MINUTES: Final = 60 * 24 * 30
"""A month of a person's time on one patient: anything more is a typing error."""


async def record_harm_review(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    review_id: int,
    harm_grade: HarmGrade | None,
    patient_informed: bool,
    nhs_england_notified: bool,
    minutes_spent: int,
    reviewer: str | None,
    reviewed_on: date | None,
    idempotency_key: str,
) -> int:
    """Record a practice's work on one patient's review: the time spent so far, whether the
    patient was told and NHS England notified, and, to complete it, the harm grade, who and
    when. A review completes only once the patient's record has arrived at the practice; a later
    review (after follow-up) replaces the grade, and the audit trail keeps both."""
    if not 0 <= minutes_spent <= MAX_MINUTES:
        raise BadUserInput(
            f"`minutesSpent` must be 0-{MAX_MINUTES} minutes in all.", field="minutesSpent"
        )
    completing = harm_grade is not None
    if completing != (reviewer is not None) or completing != (reviewed_on is not None):
        raise BadUserInput(
            "A completed review needs its harm grade, reviewer and date together.",
            field="harmGrade",
        )
    name = None if reviewer is None else _text(reviewer, field="reviewer", limit=200)
    if reviewed_on is not None:
        _not_future(reviewed_on, field="reviewedOn")

    async def write(session: AsyncSession) -> dict[str, Any]:
        review = await repository.harm_review_for_update(session, review_id)
        if review is None and principal.operates(policy.DOMAIN):
            raise NotFound("No harm review has this id.", field="reviewId")
        review = policy.review_harm(principal, review)
        if reviewed_on is not None and reviewed_on < dates.local_date(review.created_at):
            raise BadUserInput(
                "A review cannot come before the patient was put on the worklist.",
                field="reviewedOn",
            )
        if completing and not await repository.record_arrived(
            session, review.ods_code, review.nhs_number
        ):
            raise BadUserInput(
                "The review can be completed only once the patient's record has arrived.",
                field="harmGrade",
            )
        before = review_values(review)
        review.harm_grade, review.reviewer, review.reviewed_on = harm_grade, name, reviewed_on
        review.patient_informed = patient_informed
        review.nhs_england_notified = nhs_england_notified
        review.minutes_spent = minutes_spent
        if review.movement_id is not None:
            session.add(
                MovementEvent(
                    movement_id=review.movement_id,
                    kind=HistoryKind.HARM_REVIEW_RECORDED,
                    occurred_at=_now(),
                    actor_subject=principal.subject,
                    actor_role=str(principal.role),
                    note=(
                        f"{harm_grade.value}, by {name} on {reviewed_on.isoformat()}"
                        if harm_grade is not None and reviewed_on is not None
                        else f"{minutes_spent} minutes so far"
                    ),
                )
            )
        after = review_values(review)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="record_harm_review",
            entity="harm_review",
            key=str(review.id),
            before=before,
            after=after,
        )
        await publish(session, "harm_review.recorded", review.ods_code, after)
        return {"reviewId": review.id}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="recordHarmReview",
        request={
            "reviewId": review_id,
            "harmGrade": None if harm_grade is None else harm_grade.value,
            "patientInformed": patient_informed,
            "nhsEnglandNotified": nhs_england_notified,
            "minutesSpent": minutes_spent,
            "reviewer": name,
            "reviewedOn": None if reviewed_on is None else reviewed_on.isoformat(),
        },
        write=write,
    )
    return int(response["reviewId"])


@dataclass(frozen=True)
class ListLoaded:
    list_reference: str
    patients: int
    added: int
    """Patients new to the worklist; the others were on it already."""
    replayed: bool = False


MAX_LIST_PATIENTS: Final = 20_000
"""Larger than any practice's list from the archived-records incident (a few hotspots had
thousands; most practices fewer than 20)."""
_LIST_REFERENCE = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")


async def load_harm_review_list(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    list_reference: str,
    nhs_numbers: list[str],
    received_on: date,
    harm_review_days: int,
    idempotency_key: str,
) -> ListLoaded:
    """A list of NHS numbers NHS England sent a practice to review for harm, loaded as it came:
    each patient once on the worklist, due ``harm_review_days`` after the list arrived. The
    same list again changes nothing."""
    policy.load_harm_review_list(principal, ods_code)
    if not _LIST_REFERENCE.fullmatch(list_reference):
        raise BadUserInput(
            "`listReference` must be 1-64 letters, digits or . _ : / -", field="listReference"
        )
    if not 0 < len(nhs_numbers) <= MAX_LIST_PATIENTS:
        raise BadUserInput(
            f"`nhsNumbers` must hold 1-{MAX_LIST_PATIENTS:,} NHS numbers.", field="nhsNumbers"
        )
    _not_future(received_on, field="receivedOn")
    patients = sorted(set(nhs_numbers))
    due_on = received_on + timedelta(days=harm_review_days)

    async def write(session: AsyncSession) -> dict[str, Any]:
        existing = await repository.harm_review_list(session, ods_code, list_reference)
        if existing is not None:
            raise Conflict(
                "A list with this reference was already loaded for the practice.",
                field="listReference",
            )
        loaded = HarmReviewList(
            ods_code=ods_code,
            list_reference=list_reference,
            received_on=received_on,
            patients=len(patients),
            loaded_by=principal.subject,
        )
        session.add(loaded)
        await session.flush()
        added = await repository.add_listed_harm_reviews(
            session, ods_code=ods_code, list_id=loaded.id, nhs_numbers=patients, due_on=due_on
        )
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="load_harm_review_list",
            entity="harm_review_list",
            key=f"{ods_code}/{list_reference}",
            before=None,
            after={
                "odsCode": ods_code,
                "listReference": list_reference,
                "receivedOn": received_on.isoformat(),
                "patients": len(patients),
                "added": added,
                "dueOn": due_on.isoformat(),
            },
        )
        return {"listReference": list_reference, "patients": len(patients), "added": added}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="loadHarmReviewList",
        request={
            "odsCode": ods_code,
            "listReference": list_reference,
            "nhsNumbers": patients,
            "receivedOn": received_on.isoformat(),
        },
        write=write,
    )
    return ListLoaded(
        list_reference=str(response["listReference"]),
        patients=int(response["patients"]),
        added=int(response["added"]),
    )
