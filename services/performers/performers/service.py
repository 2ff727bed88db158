"""The rules of the performers service that change data. Each owns its write transaction.

Every change is validated before anything is written, runs under an idempotency key, appends
to the audit trail and publishes its event through the outbox, all in one transaction: the
change, its evidence and its notification commit together or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pcse_kit import audit, dates, events
from pcse_kit.auth import Forbidden
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from pcse_kit.identifiers import free_text
from sqlalchemy import select

from performers import policy, rules
from performers.models import (
    AuditEvent,
    ChangeKind,
    ChangeOutcome,
    ChangeRequest,
    IdempotencyKey,
    ListStatus,
    Membership,
    Outbox,
    Performer,
    Practice,
    StatusChange,
)
from performers.models import (
    Role as MembershipRole,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

STREAM = "performers"


@dataclass(frozen=True)
class Written:
    """What a mutation changed: the table and key to read it back by."""

    entity: str
    key: str


def _operator(principal: Principal) -> None:
    if not principal.operates(policy.DOMAIN):
        raise Forbidden


async def _idempotent(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    key: str,
    operation: str,
    request: dict[str, Any],
    write: Callable[[AsyncSession], Awaitable[Written]],
) -> Written:
    """Run ``write`` once per key: a replay gets the first result and changes nothing."""

    async def remembered(session: AsyncSession) -> dict[str, Any]:
        return asdict(await write(session))

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=key,
        operation=operation,
        request=request,
        write=remembered,
    )
    return Written(**response)


async def _performer(session: AsyncSession, gmc_number: str) -> Performer:
    row = await session.get(Performer, gmc_number, with_for_update=True)
    if row is None:
        raise NotFound("No performer has this GMC number.", field="gmcNumber")
    return row


async def _practice(session: AsyncSession, ods_code: str) -> Practice:
    row = await session.get(Practice, ods_code)
    if row is None:
        raise NotFound("No practice has this ODS code.", field="odsCode")
    return row


def _not_future(value: date, *, field: str) -> None:
    dates.not_future(value, today=dates.today(), field=field)


async def record_decision(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    gmc_number: str,
    to_status: ListStatus,
    effective_date: date,
    decision: str,
    source: str,
    idempotency_key: str,
) -> Written:
    """Apply a list decision, if the regulations allow the change from the current status."""
    _operator(principal)
    _not_future(effective_date, field="effectiveDate")
    # Free text reaches operators, admins and the audit trail: never an NHS number in it.
    decision = free_text(decision, field="decision", limit=300)
    source = free_text(source, field="source", limit=300)

    async def write(session: AsyncSession) -> Written:
        performer = await _performer(session, gmc_number)
        before = performer.status
        if not rules.allowed(before, to_status):
            raise BadUserInput(
                f"A performer who is {before.value} cannot become {to_status.value}.",
                field="toStatus",
            )
        performer.status = to_status
        if to_status in rules.ON_LIST and performer.cct_date is not None:
            performer.under_training_supervision = False
        session.add(
            StatusChange(
                gmc_number=gmc_number,
                from_status=before,
                to_status=to_status,
                effective_date=effective_date,
                decision=decision,
                source=source,
                recorded_by=principal.subject,
            )
        )
        change = {
            "gmcNumber": gmc_number,
            "from": before.value,
            "to": to_status.value,
            "effectiveDate": effective_date.isoformat(),
            "decision": decision,
            "source": source,
        }
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="record_decision",
            entity="performer",
            key=gmc_number,
            before={"status": before.value},
            after={"status": to_status.value, **change},
        )
        await events.publish(
            session, Outbox, stream=STREAM, type="performer.status_changed", key=gmc_number,
            payload=change,
        )  # fmt: skip
        return Written("performer", gmc_number)

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="recordListDecision",
        request={
            "gmcNumber": gmc_number,
            "toStatus": to_status.value,
            "effectiveDate": effective_date.isoformat(),
            "decision": decision,
            "source": source,
        },
        write=write,
    )


async def open_change_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    kind: ChangeKind,
    gmc_number: str,
    ods_code: str | None,
    requested_status: ListStatus | None,
    submitted_on: date,
    idempotency_key: str,
) -> Written:
    """Open a request; its 12-week and 16-week timers run from ``submitted_on``."""
    is_practice = ods_code is not None and principal.is_practice_of(ods_code)
    if not (principal.operates(policy.DOMAIN) or is_practice):
        raise Forbidden
    _not_future(submitted_on, field="submittedOn")
    if (kind is ChangeKind.STATUS_CHANGE) != (requested_status is not None):
        raise BadUserInput(
            "`requestedStatus` is required for a status change and only for one.",
            field="requestedStatus",
        )
    if kind in {ChangeKind.JOINING, ChangeKind.LEAVING} and ods_code is None:
        raise BadUserInput("Joining and leaving name the practice.", field="odsCode")

    async def write(session: AsyncSession) -> Written:
        await _performer(session, gmc_number)
        if ods_code is not None:
            await _practice(session, ods_code)
        request = ChangeRequest(
            reference=f"CR-{uuid.uuid4().hex[:10].upper()}",
            kind=kind,
            gmc_number=gmc_number,
            ods_code=ods_code,
            requested_status=requested_status,
            submitted_on=submitted_on,
        )
        session.add(request)
        await session.flush()
        after = _request_values(request)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="open_change_request",
            entity="change_request",
            key=request.reference,
            before=None,
            after=after,
        )
        await events.publish(
            session, Outbox, stream=STREAM, type="change_request.opened",
            key=request.reference, payload=after,
        )  # fmt: skip
        return Written("change_request", request.reference)

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="openChangeRequest",
        request={
            "kind": kind.value,
            "gmcNumber": gmc_number,
            "odsCode": ods_code,
            "requestedStatus": None if requested_status is None else requested_status.value,
            "submittedOn": submitted_on.isoformat(),
        },
        write=write,
    )


async def decide_change_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    outcome: ChangeOutcome,
    decided_on: date,
    idempotency_key: str,
) -> Written:
    """Close a request with its outcome; a closed request cannot be decided again."""
    _operator(principal)
    _not_future(decided_on, field="decidedOn")

    async def write(session: AsyncSession) -> Written:
        request = await session.scalar(
            select(ChangeRequest).where(ChangeRequest.reference == reference).with_for_update()
        )
        if request is None:
            raise NotFound("No change request has this reference.", field="reference")
        if request.outcome is not None:
            raise Conflict(
                f"This request was already decided ({request.outcome.value}).", field="reference"
            )
        if decided_on < request.submitted_on:
            raise BadUserInput("A request cannot be decided before it was made.", field="decidedOn")
        before = _request_values(request)
        request.outcome = outcome
        request.decided_on = decided_on
        after = _request_values(request)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="decide_change_request",
            entity="change_request",
            key=reference,
            before=before,
            after=after,
        )
        await events.publish(
            session, Outbox, stream=STREAM, type="change_request.decided", key=reference,
            payload=after,
        )  # fmt: skip
        return Written("change_request", reference)

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="decideChangeRequest",
        request={
            "reference": reference,
            "outcome": outcome.value,
            "decidedOn": decided_on.isoformat(),
        },
        write=write,
    )


async def add_membership(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    gmc_number: str,
    ods_code: str,
    role: MembershipRole,
    start_date: date,
    end_date: date | None,
    idempotency_key: str,
) -> Written:
    """A performer starts at a practice (a practice may record its own joiners)."""
    if not (principal.operates(policy.DOMAIN) or principal.is_practice_of(ods_code)):
        raise Forbidden
    if end_date is not None and end_date < start_date:
        raise BadUserInput("`endDate` cannot be before `startDate`.", field="endDate")

    async def write(session: AsyncSession) -> Written:
        await _performer(session, gmc_number)
        await _practice(session, ods_code)
        membership = Membership(
            gmc_number=gmc_number,
            ods_code=ods_code,
            role=role,
            start_date=start_date,
            end_date=end_date,
        )
        session.add(membership)
        await session.flush()
        after = membership_values(membership)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="add_membership",
            entity="membership",
            key=str(membership.id),
            before=None,
            after=after,
        )
        await events.publish(
            session, Outbox, stream=STREAM, type="membership.started", key=gmc_number,
            payload=after,
        )  # fmt: skip
        if end_date is not None:
            await events.publish(
                session, Outbox, stream=STREAM, type="membership.ended", key=gmc_number,
                payload=after,
            )  # fmt: skip
        return Written("membership", str(membership.id))

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="addMembership",
        request={
            "gmcNumber": gmc_number,
            "odsCode": ods_code,
            "role": role.value,
            "startDate": start_date.isoformat(),
            "endDate": None if end_date is None else end_date.isoformat(),
        },
        write=write,
    )


async def end_membership(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    membership_id: int,
    end_date: date,
    idempotency_key: str,
) -> Written:
    """A performer leaves a practice; payments hears of it to stop superannuation."""

    async def write(session: AsyncSession) -> Written:
        membership = await session.get(Membership, membership_id, with_for_update=True)
        operator = principal.operates(policy.DOMAIN)
        if membership is None and operator:
            raise NotFound("No membership has this id.", field="membershipId")
        # Anyone else hears the same whether it does not exist or is not theirs.
        if membership is None or not (operator or principal.is_practice_of(membership.ods_code)):
            raise Forbidden
        if membership.end_date is not None:
            raise Conflict("This membership has already ended.", field="membershipId")
        if end_date < membership.start_date:
            raise BadUserInput("`endDate` cannot be before the start date.", field="endDate")
        before = membership_values(membership)
        membership.end_date = end_date
        after = membership_values(membership)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="end_membership",
            entity="membership",
            key=str(membership_id),
            before=before,
            after=after,
        )
        await events.publish(
            session, Outbox, stream=STREAM, type="membership.ended",
            key=membership.gmc_number, payload=after,
        )  # fmt: skip
        return Written("membership", str(membership_id))

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="endMembership",
        request={"membershipId": membership_id, "endDate": end_date.isoformat()},
        write=write,
    )


def _request_values(request: ChangeRequest) -> dict[str, Any]:
    return {
        "reference": request.reference,
        "kind": request.kind.value,
        "gmcNumber": request.gmc_number,
        "odsCode": request.ods_code,
        "requestedStatus": None
        if request.requested_status is None
        else request.requested_status.value,
        "submittedOn": request.submitted_on.isoformat(),
        "decidedOn": None if request.decided_on is None else request.decided_on.isoformat(),
        "outcome": None if request.outcome is None else request.outcome.value,
    }


def membership_values(membership: Membership) -> dict[str, Any]:
    return {
        "membershipId": membership.id,
        "gmcNumber": membership.gmc_number,
        "odsCode": membership.ods_code,
        "role": membership.role.value,
        "startDate": membership.start_date.isoformat(),
        "endDate": None if membership.end_date is None else membership.end_date.isoformat(),
    }
