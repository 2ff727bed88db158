"""Change requests: a new entrant's application for inclusion, a practice's or an operator's
request, its dates, and its decision taking effect.

A practice opens requests about its own practice: joining for any GP on the list (the list is
published, reg 3 of SI 2013/335, so whether a GMC number is on it is no secret), every other
kind only for a GP working there now; anything else is refused alike whether the GP exists or
not. Dates that start a timer are the server's: a practice cannot back-date a request; an
operator may give an earlier day, or correct the day an application was complete, with the
evidence, in the audit trail. An approval takes effect in the transaction that records it.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from pcse_kit import audit, dates
from pcse_kit.auth import Forbidden
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from sqlalchemy import or_, select

from performers import policy, rules
from performers.models import (
    AuditEvent,
    ChangeKind,
    ChangeOutcome,
    ChangeRequest,
    ListStatus,
    Membership,
    Performer,
    Practice,
    StatusChange,
)
from performers.models import (
    Role as MembershipRole,
)
from performers.service import apply_status, end_current, start_membership
from performers.writes import (
    EVIDENCE_MAX,
    Written,
    clean_text,
    existing_practice,
    idempotent,
    iso,
    locked_performer,
    not_future,
    operator_only,
    publish,
    registration_values,
    request_values,
)

if TYPE_CHECKING:
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True, kw_only=True)
class NewEntrant:
    """An application for inclusion (NPL1), as an operator records it."""

    gmc_number: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    gmc_registered_on: date | None
    gp_register_on: date | None
    registrar: bool
    training_programme_start: date | None
    ods_code: str | None
    """The practice the applicant means to join, if known: named on the request."""


def _received_and_complete(
    principal: Principal,
    *,
    received_on: date | None,
    complete_on: date | None,
    evidence: str | None,
    today: date,
    received_field: str = "submittedOn",
) -> tuple[date, date, str | None]:
    """The server's dates for a new request: today, unless an operator gives earlier ones
    with evidence (a paper application received last week, say). A practice gives none."""
    operator = principal.operates(policy.DOMAIN)
    for value, name in ((received_on, received_field), (complete_on, "completeOn")):
        if value is None:
            continue
        not_future(value, field=name)
        if value != today and not operator:
            raise BadUserInput(
                "The service records the day a request is received; a practice cannot date "
                "it. Leave it out.",
                field=name,
            )
    received = received_on or today
    complete = complete_on or received
    if complete < received:
        raise BadUserInput(
            "An application cannot be complete before it arrived.", field="completeOn"
        )
    if (received != today or complete != received) and operator and evidence is None:
        raise BadUserInput("A date other than today needs the evidence for it.", field="evidence")
    if evidence is not None:
        evidence = clean_text(evidence, field="evidence", limit=EVIDENCE_MAX)
    return received, complete, evidence


async def apply_for_inclusion(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    entrant: NewEntrant,
    received_on: date | None,
    complete_on: date | None,
    evidence: str | None,
    idempotency_key: str,
) -> Written:
    """A new entrant's application (NPL1): the performer is pending, and the request's 12 and
    16 weeks run from the day it was complete."""
    operator_only(principal)
    today = dates.today()
    received, complete, evidence = _received_and_complete(
        principal,
        received_on=received_on,
        complete_on=complete_on,
        evidence=evidence,
        today=today,
        received_field="receivedOn",
    )
    given = clean_text(entrant.given_name, field="givenName", limit=100)
    family = clean_text(entrant.family_name, field="familyName", limit=100)
    for value, name in (
        (entrant.date_of_birth, "dateOfBirth"),
        (entrant.gmc_registered_on, "gmcRegisteredOn"),
        (entrant.gp_register_on, "gpRegisterOn"),
    ):
        if value is not None:
            not_future(value, field=name)
    if entrant.registrar and entrant.training_programme_start is None:
        raise BadUserInput(
            "A registrar's training programme start is needed: the three-month window runs "
            "from it.",
            field="trainingProgrammeStart",
        )
    if not entrant.registrar and entrant.gp_register_on is None:
        raise BadUserInput(
            "A GP who is not a registrar must be on the GMC GP Register (reg 26(2)(b)).",
            field="gpRegisterOn",
        )

    async def write(session: AsyncSession) -> Written:
        if entrant.ods_code is not None:
            await existing_practice(session, entrant.ods_code)
        performer = await session.get(Performer, entrant.gmc_number, with_for_update=True)
        if performer is None:
            performer = Performer(
                gmc_number=entrant.gmc_number,
                given_name=given,
                family_name=family,
                status=ListStatus.PENDING,
                date_of_birth=entrant.date_of_birth,
                under_training_supervision=entrant.registrar,
                gmc_registered_on=entrant.gmc_registered_on,
                gp_register_on=entrant.gp_register_on,
                training_programme_start=entrant.training_programme_start,
            )
            session.add(performer)
            await session.flush()
            session.add(
                StatusChange(
                    gmc_number=entrant.gmc_number,
                    from_status=None,
                    to_status=ListStatus.PENDING,
                    effective_date=received,
                    decision="application for inclusion (NPL1) received",
                    source="PCSE",
                    recorded_by=principal.subject,
                )
            )
            await publish(
                session,
                "performer.status_changed",
                entrant.gmc_number,
                {
                    "gmcNumber": entrant.gmc_number,
                    "from": None,
                    "to": ListStatus.PENDING.value,
                    "effectiveDate": received.isoformat(),
                    "decision": "application for inclusion (NPL1) received",
                    "source": "PCSE",
                    "conditions": None,
                    "suspensionReviewOn": None,
                },
            )
        else:
            # Coming back after refusal, removal or withdrawal: a new application.
            await apply_status(
                session,
                principal,
                performer,
                to_status=ListStatus.PENDING,
                effective_date=received,
                decision="application for inclusion (NPL1) received",
                source="PCSE",
                field="gmcNumber",
            )
            performer.under_training_supervision = entrant.registrar
            for name in ("gmc_registered_on", "gp_register_on", "training_programme_start"):
                value = getattr(entrant, name)
                if value is not None:
                    setattr(performer, name, value)
        request = ChangeRequest(
            reference=_reference(),
            kind=ChangeKind.INCLUSION,
            gmc_number=entrant.gmc_number,
            ods_code=entrant.ods_code,
            submitted_on=received,
            complete_on=complete,
        )
        session.add(request)
        await session.flush()
        after = request_values(request)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="apply_for_inclusion",
            entity="change_request",
            key=request.reference,
            before=None,
            after={**after, **registration_values(performer), "evidence": evidence},
        )
        await publish(session, "change_request.opened", request.reference, after)
        return Written("change_request", request.reference)

    return await idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="applyForInclusion",
        request={
            **{
                k: v.isoformat() if hasattr(v, "isoformat") else v
                for k, v in asdict(entrant).items()
            },
            "receivedOn": iso(received_on),
            "completeOn": iso(complete_on),
            "evidence": evidence,
        },
        write=write,
    )


def _reference() -> str:
    return f"CR-{uuid.uuid4().hex[:10].upper()}"


@dataclass(frozen=True, kw_only=True)
class RequestInput:
    kind: ChangeKind
    gmc_number: str
    ods_code: str | None
    requested_status: ListStatus | None = None
    role: MembershipRole | None = None
    effective_on: date | None = None
    submitted_on: date | None = None
    complete_on: date | None = None
    evidence: str | None = None


def _check_request_shape(request: RequestInput) -> None:
    kind = request.kind
    if kind is ChangeKind.INCLUSION:
        raise BadUserInput(
            "An application for inclusion is recorded with applyForInclusion.", field="kind"
        )
    if (kind is ChangeKind.STATUS_CHANGE) != (request.requested_status is not None):
        raise BadUserInput(
            "`requestedStatus` is required for a status change and only for one.",
            field="requestedStatus",
        )
    if kind in {ChangeKind.JOINING, ChangeKind.LEAVING} and request.ods_code is None:
        raise BadUserInput("Joining and leaving name the practice.", field="odsCode")
    if (kind is ChangeKind.JOINING) != (request.role is not None):
        raise BadUserInput("`role` is required for joining and only for it.", field="role")
    needs_date = {ChangeKind.JOINING, ChangeKind.LEAVING, ChangeKind.CCT, ChangeKind.GP_REGISTER}
    if kind in needs_date and request.effective_on is None:
        raise BadUserInput(
            "`effectiveOn` is required: the first day (joining), the last day (leaving), or "
            "the date awarded or entered (CCT, GP Register).",
            field="effectiveOn",
        )
    if kind in {ChangeKind.CCT, ChangeKind.GP_REGISTER} and request.effective_on is not None:
        not_future(request.effective_on, field="effectiveOn")


async def open_change_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    request: RequestInput,
    idempotency_key: str,
) -> Written:
    """Open a request; its target (and for an application, 16 weeks) runs from the day it is
    complete, which the server records."""
    ods_code = request.ods_code
    is_practice = ods_code is not None and principal.is_practice_of(ods_code)
    operator = principal.operates(policy.DOMAIN)
    if not (operator or is_practice):
        raise Forbidden
    _check_request_shape(request)
    received, complete, evidence = _received_and_complete(
        principal,
        received_on=request.submitted_on,
        complete_on=request.complete_on,
        evidence=request.evidence,
        today=dates.today(),
    )

    async def write(session: AsyncSession) -> Written:
        if ods_code is not None:
            await existing_practice(session, ods_code)
        if not operator and request.kind is not ChangeKind.JOINING:
            # About a GP who works here now, and no one else: anything else is refused the
            # same way whether the GMC number exists or not.
            assert ods_code is not None
            if not await _works_at(session, request.gmc_number, ods_code, received):
                raise Forbidden
        await locked_performer(session, request.gmc_number)
        row = ChangeRequest(
            reference=_reference(),
            kind=request.kind,
            gmc_number=request.gmc_number,
            ods_code=ods_code,
            requested_status=request.requested_status,
            submitted_on=received,
            complete_on=complete,
            role=request.role,
            effective_on=request.effective_on,
        )
        session.add(row)
        await session.flush()
        after = request_values(row)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="open_change_request",
            entity="change_request",
            key=row.reference,
            before=None,
            after={**after, "evidence": evidence},
        )
        await publish(session, "change_request.opened", row.reference, after)
        return Written("change_request", row.reference)

    return await idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="openChangeRequest",
        request={
            k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in asdict(request).items()
        },
        write=write,
    )


async def _works_at(session: AsyncSession, gmc_number: str, ods_code: str, on: date) -> bool:
    found = await session.scalar(
        select(Membership.id)
        .where(
            Membership.gmc_number == gmc_number,
            Membership.ods_code == ods_code,
            Membership.start_date <= on,
            or_(Membership.end_date.is_(None), Membership.end_date >= on),
        )
        .limit(1)
    )
    return found is not None


async def correct_request_dates(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    complete_on: date,
    evidence: str,
    idempotency_key: str,
) -> Written:
    """An operator corrects the day an application was complete, with the evidence."""
    operator_only(principal)
    not_future(complete_on, field="completeOn")
    evidence = clean_text(evidence, field="evidence", limit=EVIDENCE_MAX)

    async def write(session: AsyncSession) -> Written:
        request = await _request(session, reference)
        if complete_on < request.submitted_on:
            raise BadUserInput(
                "An application cannot be complete before it arrived.", field="completeOn"
            )
        if request.decided_on is not None and complete_on > request.decided_on:
            raise BadUserInput("It was decided before that day.", field="completeOn")
        before = request_values(request)
        request.complete_on = complete_on
        after = request_values(request)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="correct_request_dates",
            entity="change_request",
            key=reference,
            before=before,
            after={**after, "evidence": evidence},
        )
        await publish(session, "change_request.corrected", reference, after)
        return Written("change_request", reference)

    return await idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="correctChangeRequestDates",
        request={
            "reference": reference,
            "completeOn": complete_on.isoformat(),
            "evidence": evidence,
        },
        write=write,
    )


async def _request(session: AsyncSession, reference: str) -> ChangeRequest:
    request = await session.scalar(
        select(ChangeRequest).where(ChangeRequest.reference == reference).with_for_update()
    )
    if request is None:
        raise NotFound("No change request has this reference.", field="reference")
    return request


async def decide_change_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    outcome: ChangeOutcome,
    decided_on: date,
    idempotency_key: str,
) -> Written:
    """Close a request with its outcome; an approval takes effect in the same transaction."""
    operator_only(principal)
    not_future(decided_on, field="decidedOn")

    async def write(session: AsyncSession) -> Written:
        request = await _request(session, reference)
        if request.outcome is not None:
            raise Conflict(
                f"This request was already decided ({request.outcome.value}).", field="reference"
            )
        if decided_on < request.complete_on:
            raise BadUserInput(
                "A request cannot be decided before it was complete.", field="decidedOn"
            )
        before = request_values(request)
        request.outcome = outcome
        request.decided_on = decided_on
        if outcome is ChangeOutcome.APPROVED:
            await _take_effect(session, principal, request)
        elif request.kind is ChangeKind.INCLUSION:
            await _close_application(session, principal, request, outcome, decided_on)
        after = request_values(request)
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
        await publish(session, "change_request.decided", reference, after)
        weeks = rules.weeks_beyond_goodwill(request.kind, request.complete_on, decided_on)
        goodwill = rules.goodwill_from(request.kind, request.complete_on)
        if outcome is ChangeOutcome.APPROVED and goodwill is not None and decided_on > goodwill:
            practice = (
                None if request.ods_code is None else await session.get(Practice, request.ods_code)
            )
            await publish(
                session,
                "change_request.goodwill_compensation_may_apply",
                reference,
                {
                    **after,
                    "lmcCode": None if practice is None else practice.lmc_code,
                    "sixteenWeeksPassedOn": goodwill.isoformat(),
                    "daysBeyondSixteenWeeks": (decided_on - goodwill).days,
                    "weeksBeyondSixteen": weeks,
                },
            )
        return Written("change_request", reference)

    return await idempotent(
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


async def _close_application(
    session: AsyncSession,
    principal: Principal,
    request: ChangeRequest,
    outcome: ChangeOutcome,
    decided_on: date,
) -> None:
    """An application refused (reg 7) or withdrawn ends the pending entry with it; a performer
    no longer pending (decided by a list decision meanwhile) stays as they are."""
    performer = await locked_performer(session, request.gmc_number)
    target = ListStatus.REFUSED if outcome is ChangeOutcome.REJECTED else ListStatus.WITHDRAWN
    if performer.status in {ListStatus.PENDING, ListStatus.DEFERRED}:
        await apply_status(
            session,
            principal,
            performer,
            to_status=target,
            effective_date=decided_on,
            decision=f"request {request.reference} {outcome.value}",
            source="NHS England",
            field="outcome",
        )


async def _take_effect(session: AsyncSession, principal: Principal, request: ChangeRequest) -> None:
    """What an approval does, by kind: every effect in the history and published."""
    performer = await locked_performer(session, request.gmc_number)
    decided_on = request.decided_on
    assert decided_on is not None
    decision = f"request {request.reference} approved"
    kind = request.kind
    if kind is ChangeKind.INCLUSION:
        await apply_status(
            session, principal, performer, to_status=ListStatus.INCLUDED,
            effective_date=decided_on, decision=decision, source="NHS England", field="outcome",
        )  # fmt: skip
    elif kind is ChangeKind.STATUS_CHANGE:
        assert request.requested_status is not None
        await apply_status(
            session, principal, performer, to_status=request.requested_status,
            effective_date=decided_on, decision=decision, source="NHS England", field="outcome",
        )  # fmt: skip
    elif kind is ChangeKind.JOINING:
        assert request.ods_code is not None
        assert request.role is not None
        assert request.effective_on is not None
        await start_membership(
            session,
            principal,
            gmc_number=request.gmc_number,
            ods_code=request.ods_code,
            role=request.role,
            start_date=request.effective_on,
            end_date=None,
        )
    elif kind is ChangeKind.LEAVING:
        assert request.ods_code is not None
        assert request.effective_on is not None
        ended = await end_current(
            session, principal, request.gmc_number, request.effective_on, ods_code=request.ods_code
        )
        if not ended:
            raise Conflict(
                "The performer has no membership at that practice to end.", field="reference"
            )
    elif kind in {ChangeKind.CCT, ChangeKind.GP_REGISTER}:
        assert request.effective_on is not None
        before = registration_values(performer)
        if kind is ChangeKind.CCT:
            performer.cct_date = request.effective_on
            performer.under_training_supervision = False
        else:
            performer.gp_register_on = request.effective_on
        after = registration_values(performer)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="record_registration",
            entity="performer",
            key=performer.gmc_number,
            before=before,
            after={**after, "evidence": decision},
        )
        await publish(session, "performer.registration_recorded", performer.gmc_number, after)
    elif kind is ChangeKind.RETIREMENT:
        last_day = request.effective_on or decided_on
        await end_current(session, principal, request.gmc_number, last_day, ods_code=None)
        await apply_status(
            session, principal, performer, to_status=ListStatus.WITHDRAWN,
            effective_date=last_day, decision=f"{decision}: retirement", source="NHS England",
            field="outcome",
        )  # fmt: skip
