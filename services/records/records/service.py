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

from pcse_kit import audit, dates
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from pcse_kit.identifiers import free_text
from sqlalchemy import func, select

from records import policy, repository, rules, timers
from records.models import (
    DEDUCTIONS,
    OTHER_NATIONS,
    AuditEvent,
    HarmOutcome,
    HarmReview,
    HistoryKind,
    IdempotencyKey,
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
    }


def refresh_dues(movement: Movement, targets: timers.Targets) -> None:
    """Set each timer's due date from the facts. A due date, once set, keeps the target in
    force when its timer started; the search and lost timers come and go with their state."""
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
    )
    movement.label_due_on = movement.label_due_on or dues.label
    movement.delivery_due_on = movement.delivery_due_on or dues.delivery
    movement.gp2gp_due_on = movement.gp2gp_due_on or dues.gp2gp
    movement.urgent_due_on = movement.urgent_due_on or dues.urgent
    movement.search_due_on = dues.search
    movement.lost_due_on = dues.lost if movement.lost_due_on is None else movement.lost_due_on
    if movement.status is not S.MISSING:
        movement.lost_due_on = None


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
        movement = self.movement
        current = movement.status
        rules.require(current, target)
        movement.status = target
        movement.status_changed_at = at
        movement.search_started_on = None
        if target is S.NO_PAPER_RECORD and movement.gp2gp_started_on is None:
            movement.gp2gp_started_on = dates.local_date(at)
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


async def _incident(
    change: _Change,
    kind: IncidentKind,
    *,
    ods_code: str | None,
    detail: str,
    at: datetime,
    found_nhs_number: str | None = None,
) -> Incident:
    movement = change.movement
    if await repository.incident_of_kind(change.session, movement.id, kind) is not None:
        raise Conflict(
            f"This movement already has a {kind.value.replace('_', ' ')} incident.", field="kind"
        )
    incident = Incident(
        reference=f"INC-{uuid.uuid4().hex[:10].upper()}",
        kind=kind,
        movement_id=movement.id,
        ods_code=ods_code,
        reported_at=at,
        reported_by=change.principal.subject,
        detail=detail,
        found_nhs_number=found_nhs_number,
    )
    change.session.add(incident)
    await change.session.flush()
    change.history(HistoryKind.INCIDENT_REPORTED, at=at, note=f"{incident.reference} {kind.value}")
    if kind is IncidentKind.ERRONEOUS_ARCHIVING and ods_code is not None:
        # One item per patient: a second archiving of the same patient's record adds nothing
        # to the practice's worklist.
        existing = await repository.harm_review_of_patient(
            change.session, ods_code, movement.nhs_number
        )
        if existing is None:
            change.session.add(
                HarmReview(
                    incident_id=incident.id,
                    movement_id=movement.id,
                    ods_code=ods_code,
                    nhs_number=movement.nhs_number,
                )
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
    return incident


# --------------------------------------------------------------------------------------------
# Requests and PCSE's own progress


def _check_ends(sending: End, receiving: End) -> None:
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
    _check_ends(sending, receiving)
    if (reason in DEDUCTIONS) != (deducted_on is not None):
        raise BadUserInput(
            "`deductedOn` is required after a deduction and only then.", field="deductedOn"
        )
    if deducted_on is not None:
        _not_future(deducted_on, field="deductedOn")

    async def write(session: AsyncSession) -> dict[str, Any]:
        now = _now()
        # The number comes from the row's own id, so it is unique without a retry.
        movement_id = await session.scalar(
            select(func.nextval(func.pg_get_serial_sequence("movement", "id")))
        )
        assert movement_id is not None
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
            if status is S.COLLECTED or status is S.DELIVERED:
                raise BadUserInput(
                    "Collection and delivery come from the courier's scans.", field="status"
                )
            change.status(status, at=now, kind=HistoryKind.STATUS_CHANGED)
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
        },
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


async def record_scan(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    scan_id: str,
    movement_number: str,
    kind: ScanKind,
    scanned_at: datetime,
    printout_included: bool | None,
    targets: timers.Targets,
) -> str:
    """Apply a courier's scan once, however often the courier sends it.

    A collection starts the two-week delivery timer; a record collected for another UK nation
    without the printout confirmed in the envelope is an empty-envelope incident at once.
    """
    policy.operator(principal)
    if not _SCAN_ID.fullmatch(scan_id):
        raise BadUserInput("`scanId` must be 1-64 letters, digits or . _ : -", field="scanId")
    at = _instant(scanned_at, field="scannedAt")

    async def same_scan(session: AsyncSession, movement: Movement) -> bool:
        existing = await repository.scan_by_id(session, scan_id)
        if existing is None:
            return False
        recorded = (
            existing.movement_id,
            existing.kind,
            existing.scanned_at,
            existing.printout_included,
        )
        if recorded != (movement.id, kind, at, printout_included):
            raise Conflict(
                "This scan id was already recorded for a different scan.", field="scanId"
            )
        return True

    async with sessionmaker.begin() as session:
        # Locking the movement first makes a resent scan wait for the original to commit.
        movement = await _movement(session, principal, movement_number, _operator_only)
        if await same_scan(session, movement):
            return movement.movement_number
        if at < movement.requested_at:
            raise BadUserInput("A scan cannot come before the request.", field="scannedAt")
        change = _Change(session, principal, movement)
        if kind is ScanKind.COLLECTION:
            change.status(S.COLLECTED, at=at, kind=HistoryKind.COLLECTION_SCANNED)
            movement.collected_at = at
        else:
            if movement.collected_at is None:
                raise BadUserInput("A delivery scan needs a collection scan first.", field="status")
            if at < movement.collected_at:
                raise BadUserInput(
                    "A delivery cannot come before the collection.", field="scannedAt"
                )
            change.status(S.DELIVERED, at=at, kind=HistoryKind.DELIVERY_SCANNED)
            movement.delivered_at = at
        session.add(
            Scan(
                scan_id=scan_id,
                movement_id=movement.id,
                kind=kind,
                scanned_at=at,
                printout_included=printout_included,
            )
        )
        if (
            kind is ScanKind.COLLECTION
            and movement.receiver_place in OTHER_NATIONS
            and printout_included is not True
        ):
            await _incident(
                change,
                IncidentKind.EMPTY_ENVELOPE,
                ods_code=movement.sender_ods_code,
                detail="Collected for another UK nation without the printout confirmed in the "
                "envelope.",
                at=at,
            )
        await change.done(f"{kind.value}_scan", targets)
        return movement.movement_number


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
    """The receiving practice says whose record it holds. The movement's patient: received.
    Anyone else's: a wrong-record incident, and the movement waits for the right record."""
    at = _now() if received_at is None else _instant(received_at, field="receivedAt")

    async def write(session: AsyncSession) -> dict[str, Any]:
        movement = await _movement(session, principal, movement_number, policy.confirm_receipt)
        in_transit = movement.status is S.COLLECTED or (
            movement.status is S.DELIVERED and movement.received_at is None
        )
        if not in_transit:
            raise BadUserInput(
                f"Only a movement in transit can be received; this one is {movement.status.value}.",
                field="status",
            )
        if movement.collected_at is not None and at < movement.collected_at:
            raise BadUserInput("A receipt cannot come before the collection.", field="receivedAt")
        change = _Change(session, principal, movement)
        if nhs_number != movement.nhs_number:
            change.history(HistoryKind.WRONG_RECORD_RECEIVED, at=at)
            incident = await _incident(
                change,
                IncidentKind.WRONG_RECORD_DELIVERED,
                ods_code=movement.receiver_ods_code,
                detail="The record received is another patient's.",
                at=at,
                found_nhs_number=nhs_number,
            )
            await change.done("confirm_receipt", targets)
            return {
                "movementNumber": movement.movement_number,
                "matched": False,
                "incident": incident.reference,
            }
        if movement.status is S.COLLECTED:
            change.status(S.DELIVERED, at=at, kind=HistoryKind.RECEIVED)
            movement.delivered_at = at
        else:
            change.history(HistoryKind.RECEIVED, at=at)
        movement.received_at = at
        await change.done("confirm_receipt", targets)
        return {"movementNumber": movement.movement_number, "matched": True, "incident": None}

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
    return Receipt(
        movement_number=str(response["movementNumber"]),
        matched=bool(response["matched"]),
        incident_reference=response["incident"],
    )


# --------------------------------------------------------------------------------------------
# Incidents and harm reviews


async def report_incident(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    movement_number: str,
    kind: IncidentKind,
    detail: str,
    found_nhs_number: str | None,
    targets: timers.Targets,
    idempotency_key: str,
) -> str:
    """Report what went wrong. A record archived in error puts its patient on the receiving
    practice's harm-review worklist."""
    text = _text(detail, field="detail", limit=500)
    if (kind is IncidentKind.WRONG_RECORD_DELIVERED) != (found_nhs_number is not None):
        raise BadUserInput(
            "`foundNhsNumber` is required for a wrong record and only for one.",
            field="foundNhsNumber",
        )

    async def write(session: AsyncSession) -> dict[str, Any]:
        movement = await _movement(session, principal, movement_number, policy.act_on)
        ods_code: str | None
        if kind is IncidentKind.WRONG_RECORD_DELIVERED:
            if movement.collected_at is None:
                raise BadUserInput(
                    "A record not yet collected cannot be delivered.", field="status"
                )
            if found_nhs_number == movement.nhs_number:
                raise BadUserInput(
                    "That is this movement's own patient: confirm receipt instead.",
                    field="foundNhsNumber",
                )
            ods_code = movement.receiver_ods_code
        elif kind is IncidentKind.ERRONEOUS_ARCHIVING:
            # The reconciliation: a patient registered at a practice, their record in storage.
            if movement.status is not S.IN_CENTRAL_STORAGE or movement.receiver_ods_code is None:
                raise BadUserInput(
                    "Erroneous archiving is a record in central storage for a patient "
                    "registered at a practice.",
                    field="kind",
                )
            ods_code = movement.receiver_ods_code
        else:
            if movement.receiver_place not in OTHER_NATIONS:
                raise BadUserInput(
                    "An empty envelope is reported on a record sent to another UK nation.",
                    field="kind",
                )
            if movement.collected_at is None:
                raise BadUserInput("The envelope has not been collected yet.", field="status")
            ods_code = movement.sender_ods_code
        change = _Change(session, principal, movement)
        incident = await _incident(
            change,
            kind,
            ods_code=ods_code,
            detail=text,
            at=_now(),
            found_nhs_number=found_nhs_number,
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
    return str(response["reference"])


async def record_harm_review(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    review_id: int,
    outcome: HarmOutcome,
    reviewer: str,
    reviewed_on: date,
    idempotency_key: str,
) -> int:
    """Record the practice's review of one patient; a later review (after follow-up) replaces
    the outcome, and the history keeps both."""
    name = _text(reviewer, field="reviewer", limit=200)
    _not_future(reviewed_on, field="reviewedOn")

    async def write(session: AsyncSession) -> dict[str, Any]:
        review = await repository.harm_review_for_update(session, review_id)
        if review is None and principal.operates(policy.DOMAIN):
            raise NotFound("No harm review has this id.", field="reviewId")
        review = policy.review_harm(principal, review)
        if reviewed_on < dates.local_date(review.created_at):
            raise BadUserInput(
                "A review cannot come before the patient was put on the worklist.",
                field="reviewedOn",
            )
        before = {
            "outcome": None if review.outcome is None else review.outcome.value,
            "reviewer": review.reviewer,
            "reviewedOn": None if review.reviewed_on is None else review.reviewed_on.isoformat(),
        }
        review.outcome, review.reviewer, review.reviewed_on = outcome, name, reviewed_on
        session.add(
            MovementEvent(
                movement_id=review.movement_id,
                kind=HistoryKind.HARM_REVIEW_RECORDED,
                occurred_at=_now(),
                actor_subject=principal.subject,
                actor_role=str(principal.role),
                note=f"{outcome.value}, by {name} on {reviewed_on.isoformat()}",
            )
        )
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="record_harm_review",
            entity="harm_review",
            key=str(review.id),
            before=before,
            after={
                "outcome": outcome.value,
                "reviewer": name,
                "reviewedOn": reviewed_on.isoformat(),
            },
        )
        return {"reviewId": review.id}

    response = await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="recordHarmReviewOutcome",
        request={
            "reviewId": review_id,
            "outcome": outcome.value,
            "reviewer": name,
            "reviewedOn": reviewed_on.isoformat(),
        },
        write=write,
    )
    return int(response["reviewId"])
