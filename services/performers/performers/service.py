"""The rules of the performers service that change data. Each owns its write transaction.

Every change is validated before anything is written, runs under an idempotency key, appends
to the audit trail and publishes its event through the outbox, all in one transaction: the
change, its evidence and its notification commit together or not at all.

Who may write what. Operators of this domain keep the list. A practice opens requests about
its own practice: joining for any GP on the list (the list is published, reg 3 of SI 2013/335,
so whether a GMC number is on it is no secret), every other kind only for a GP working there
now. Nothing a practice writes links it to a GP: a membership comes only from a joining request
an operator approves, so a practice cannot make itself a GP's employer and see the GP's details.
Dates that start a timer are the server's: a practice cannot back-date a request; an operator
may correct the day an application was complete, giving the evidence, in the audit trail.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pcse_kit import audit, dates, events
from pcse_kit.auth import Forbidden
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from sqlalchemy import and_, or_, select

from performers import policy, rules
from performers.models import (
    AuditEvent,
    ChangeKind,
    ChangeOutcome,
    ChangeRequest,
    ContractType,
    IdempotencyKey,
    ListStatus,
    Lmc,
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
TEXT_MAX = 300
EVIDENCE_MAX = 1000


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
        raise NotFound("No performer on the list has this GMC number.", field="gmcNumber")
    return row


async def _practice(session: AsyncSession, ods_code: str) -> Practice:
    row = await session.get(Practice, ods_code)
    if row is None:
        raise NotFound("No practice has this ODS code.", field="odsCode")
    return row


def _not_future(value: date, *, field: str) -> None:
    dates.not_future(value, today=dates.today(), field=field)


def _text(value: str, *, field: str, limit: int = TEXT_MAX) -> str:
    if not value.strip() or len(value) > limit:
        raise BadUserInput(f"`{field}` must be 1-{limit} characters.", field=field)
    if any(ord(character) < 32 and character not in "\t\n\r" for character in value):  # noqa: PLR2004 - control characters
        raise BadUserInput(f"`{field}` cannot hold control characters.", field=field)
    return value.strip()


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


async def _publish(session: AsyncSession, type_: str, key: str, payload: dict[str, Any]) -> None:
    await events.publish(session, Outbox, stream=STREAM, type=type_, key=key, payload=payload)


async def _lmcs_working(session: AsyncSession, gmc_number: str, on: date) -> list[str]:
    """The LMCs of the practices where the performer works on ``on``."""
    rows = await session.scalars(
        select(Practice.lmc_code)
        .join(Membership, Membership.ods_code == Practice.ods_code)
        .where(
            Membership.gmc_number == gmc_number,
            Membership.start_date <= on,
            or_(Membership.end_date.is_(None), Membership.end_date >= on),
        )
        .distinct()
        .order_by(Practice.lmc_code)
    )
    return list(rows)


async def _feed(
    session: AsyncSession,
    lmc_codes: list[str],
    *,
    on: date,
    kind: str,
    gmc_number: str,
    ods_code: str | None,
    detail: str,
) -> None:
    """One entry of the entrants-and-leavers feed to each LMC it concerns, keyed by the LMC so
    that an LMC's system reads its own."""
    for lmc in lmc_codes:
        await _publish(
            session,
            "lmc.list_movement",
            lmc,
            {
                "lmcCode": lmc,
                "on": on.isoformat(),
                "kind": kind,
                "gmcNumber": gmc_number,
                "odsCode": ods_code,
                "detail": detail,
            },
        )


async def _apply_status(
    session: AsyncSession,
    principal: Principal,
    performer: Performer,
    *,
    to_status: ListStatus,
    effective_date: date,
    decision: str,
    source: str,
    conditions: str | None = None,
    review_on: date | None = None,
    field: str = "toStatus",
) -> None:
    """Move ``performer`` to ``to_status`` if the regulations allow it: history, audit, events."""
    before = performer.status
    if not rules.allowed(before, to_status):
        raise BadUserInput(
            f"A performer who is {before.value} cannot become {to_status.value}.", field=field
        )
    previous = {
        "status": before.value,
        "conditions": performer.conditions,
        "suspensionReviewOn": _day(performer.suspension_review_on),
    }
    performer.status = to_status
    if to_status is ListStatus.INCLUDED_WITH_CONDITIONS:
        performer.conditions = conditions or performer.conditions
    elif to_status is not ListStatus.SUSPENDED:
        performer.conditions = None
    performer.suspension_review_on = review_on if to_status is ListStatus.SUSPENDED else None
    if to_status in rules.ON_LIST and performer.cct_date is not None:
        performer.under_training_supervision = False
    session.add(
        StatusChange(
            gmc_number=performer.gmc_number,
            from_status=before,
            to_status=to_status,
            effective_date=effective_date,
            decision=decision,
            source=source,
            recorded_by=principal.subject,
        )
    )
    change = {
        "gmcNumber": performer.gmc_number,
        "from": before.value,
        "to": to_status.value,
        "effectiveDate": effective_date.isoformat(),
        "decision": decision,
        "source": source,
        "conditions": performer.conditions,
        "suspensionReviewOn": _day(performer.suspension_review_on),
    }
    await audit.record(
        session,
        AuditEvent,
        actor=principal,
        action="record_decision",
        entity="performer",
        key=performer.gmc_number,
        before=previous,
        after=change,
    )
    await _publish(session, "performer.status_changed", performer.gmc_number, change)
    await _feed(
        session,
        await _lmcs_working(session, performer.gmc_number, effective_date),
        on=effective_date,
        kind="status_changed",
        gmc_number=performer.gmc_number,
        ods_code=None,
        detail=to_status.value,
    )


async def record_decision(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    gmc_number: str,
    to_status: ListStatus,
    effective_date: date,
    decision: str,
    source: str,
    conditions: str | None = None,
    review_on: date | None = None,
    idempotency_key: str,
) -> Written:
    """Apply a list decision, if the regulations allow the change from the current status."""
    _operator(principal)
    _not_future(effective_date, field="effectiveDate")
    decision = _text(decision, field="decision")
    source = _text(source, field="source")
    if conditions is not None:
        conditions = _text(conditions, field="conditions", limit=EVIDENCE_MAX)
    if to_status is ListStatus.INCLUDED_WITH_CONDITIONS and conditions is None:
        raise BadUserInput("Conditions imposed (reg 10) must be given.", field="conditions")
    if review_on is not None and to_status is not ListStatus.SUSPENDED:
        raise BadUserInput("A review date is for a suspension only.", field="reviewOn")

    async def write(session: AsyncSession) -> Written:
        performer = await _performer(session, gmc_number)
        await _apply_status(
            session,
            principal,
            performer,
            to_status=to_status,
            effective_date=effective_date,
            decision=decision,
            source=source,
            conditions=conditions,
            review_on=review_on,
        )
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
            "conditions": conditions,
            "reviewOn": _day(review_on),
        },
        write=write,
    )


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
) -> tuple[date, date, str | None]:
    """The server's dates for a new request: today, unless an operator gives earlier ones
    with evidence (a paper application received last week, say). A practice gives none."""
    operator = principal.operates(policy.DOMAIN)
    for value, name in ((received_on, "submittedOn"), (complete_on, "completeOn")):
        if value is None:
            continue
        _not_future(value, field=name)
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
        evidence = _text(evidence, field="evidence", limit=EVIDENCE_MAX)
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
    _operator(principal)
    today = dates.today()
    received, complete, evidence = _received_and_complete(
        principal, received_on=received_on, complete_on=complete_on, evidence=evidence, today=today
    )
    given = _text(entrant.given_name, field="givenName", limit=100)
    family = _text(entrant.family_name, field="familyName", limit=100)
    for value, name in (
        (entrant.date_of_birth, "dateOfBirth"),
        (entrant.gmc_registered_on, "gmcRegisteredOn"),
        (entrant.gp_register_on, "gpRegisterOn"),
    ):
        if value is not None:
            _not_future(value, field=name)
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
            await _practice(session, entrant.ods_code)
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
            await _publish(
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
            await _apply_status(
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
            after={**after, **_registration(performer), "evidence": evidence},
        )
        await _publish(session, "change_request.opened", request.reference, after)
        return Written("change_request", request.reference)

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="applyForInclusion",
        request={
            **{
                k: v.isoformat() if hasattr(v, "isoformat") else v
                for k, v in asdict(entrant).items()
            },
            "receivedOn": _day(received_on),
            "completeOn": _day(complete_on),
            "evidence": evidence,
        },
        write=write,
    )


def _reference() -> str:
    return f"CR-{uuid.uuid4().hex[:10].upper()}"


def _registration(performer: Performer) -> dict[str, Any]:
    return {
        "gmcNumber": performer.gmc_number,
        "gmcRegisteredOn": _day(performer.gmc_registered_on),
        "gpRegisterOn": _day(performer.gp_register_on),
        "cctDate": _day(performer.cct_date),
        "registrar": performer.under_training_supervision,
        "trainingProgrammeStart": _day(performer.training_programme_start),
        "designatedBody": performer.designated_body,
    }


@dataclass(frozen=True, kw_only=True)
class Registration:
    """Facts from the GMC's registers and the training programme; None leaves one as it is."""

    gmc_registered_on: date | None = None
    gp_register_on: date | None = None
    cct_date: date | None = None
    training_programme_start: date | None = None
    registrar: bool | None = None
    designated_body: str | None = None
    """A designated body employing the doctor (SI 2024/575); an empty string clears it."""


async def record_registration(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    gmc_number: str,
    registration: Registration,
    evidence: str,
    idempotency_key: str,
) -> Written:
    """Record GMC register and GP Register entries, a CCT, a training programme start or a
    designated body; each kept in the audit trail with its evidence, and published."""
    _operator(principal)
    evidence = _text(evidence, field="evidence", limit=EVIDENCE_MAX)
    for value, name in (
        (registration.gmc_registered_on, "gmcRegisteredOn"),
        (registration.gp_register_on, "gpRegisterOn"),
        (registration.cct_date, "cctDate"),
    ):
        if value is not None:
            _not_future(value, field=name)
    body = registration.designated_body
    if body is not None and body != "":
        body = _text(body, field="designatedBody", limit=200)

    async def write(session: AsyncSession) -> Written:
        performer = await _performer(session, gmc_number)
        before = _registration(performer)
        await _set_registration(performer, registration, body)
        after = _registration(performer)
        if after == before:
            raise BadUserInput("Nothing to change: every value given is already recorded.")
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="record_registration",
            entity="performer",
            key=gmc_number,
            before=before,
            after={**after, "evidence": evidence},
        )
        await _publish(session, "performer.registration_recorded", gmc_number, after)
        return Written("performer", gmc_number)

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="recordRegistration",
        request={
            "gmcNumber": gmc_number,
            **{
                k: v.isoformat() if hasattr(v, "isoformat") else v
                for k, v in asdict(registration).items()
            },
            "evidence": evidence,
        },
        write=write,
    )


async def _set_registration(
    performer: Performer, registration: Registration, body: str | None
) -> None:
    for name in ("gmc_registered_on", "gp_register_on", "cct_date", "training_programme_start"):
        value = getattr(registration, name)
        if value is not None:
            setattr(performer, name, value)
    if registration.registrar is not None:
        performer.under_training_supervision = registration.registrar
    if body is not None:
        performer.designated_body = body or None


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
        _not_future(request.effective_on, field="effectiveOn")


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
            await _practice(session, ods_code)
        if not operator and request.kind is not ChangeKind.JOINING:
            # About a GP who works here now, and no one else: anything else is refused the
            # same way whether the GMC number exists or not.
            assert ods_code is not None
            if not await _works_at(session, request.gmc_number, ods_code, received):
                raise Forbidden
        await _performer(session, request.gmc_number)
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
        await _publish(session, "change_request.opened", row.reference, after)
        return Written("change_request", row.reference)

    return await _idempotent(
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
    _operator(principal)
    _not_future(complete_on, field="completeOn")
    evidence = _text(evidence, field="evidence", limit=EVIDENCE_MAX)

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
        await _publish(session, "change_request.corrected", reference, after)
        return Written("change_request", reference)

    return await _idempotent(
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
    _operator(principal)
    _not_future(decided_on, field="decidedOn")

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
        await _publish(session, "change_request.decided", reference, after)
        weeks = rules.weeks_beyond_goodwill(request.kind, request.complete_on, decided_on)
        goodwill = rules.goodwill_from(request.kind, request.complete_on)
        if outcome is ChangeOutcome.APPROVED and goodwill is not None and decided_on > goodwill:
            practice = (
                None if request.ods_code is None else await session.get(Practice, request.ods_code)
            )
            await _publish(
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


async def _take_effect(session: AsyncSession, principal: Principal, request: ChangeRequest) -> None:
    """What an approval does, by kind: every effect in the history and published."""
    performer = await _performer(session, request.gmc_number)
    decided_on = request.decided_on
    assert decided_on is not None
    decision = f"request {request.reference} approved"
    kind = request.kind
    if kind is ChangeKind.INCLUSION:
        await _apply_status(
            session, principal, performer, to_status=ListStatus.INCLUDED,
            effective_date=decided_on, decision=decision, source="NHS England", field="outcome",
        )  # fmt: skip
    elif kind is ChangeKind.STATUS_CHANGE:
        assert request.requested_status is not None
        await _apply_status(
            session, principal, performer, to_status=request.requested_status,
            effective_date=decided_on, decision=decision, source="NHS England", field="outcome",
        )  # fmt: skip
    elif kind is ChangeKind.JOINING:
        assert request.ods_code is not None
        assert request.role is not None
        assert request.effective_on is not None
        await _start_membership(
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
        ended = await _end_current(
            session, principal, request.gmc_number, request.effective_on, ods_code=request.ods_code
        )
        if not ended:
            raise Conflict(
                "The performer has no membership at that practice to end.", field="reference"
            )
    elif kind in {ChangeKind.CCT, ChangeKind.GP_REGISTER}:
        assert request.effective_on is not None
        before = _registration(performer)
        if kind is ChangeKind.CCT:
            performer.cct_date = request.effective_on
            performer.under_training_supervision = False
        else:
            performer.gp_register_on = request.effective_on
        after = _registration(performer)
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
        await _publish(session, "performer.registration_recorded", performer.gmc_number, after)
    elif kind is ChangeKind.RETIREMENT:
        last_day = request.effective_on or decided_on
        await _end_current(session, principal, request.gmc_number, last_day, ods_code=None)
        await _apply_status(
            session, principal, performer, to_status=ListStatus.WITHDRAWN,
            effective_date=last_day, decision=f"{decision}: retirement", source="NHS England",
            field="outcome",
        )  # fmt: skip


async def _end_current(
    session: AsyncSession,
    principal: Principal,
    gmc_number: str,
    last_day: date,
    *,
    ods_code: str | None,
) -> int:
    """End the performer's open memberships (at one practice, or everywhere) on ``last_day``."""
    conditions = [Membership.gmc_number == gmc_number, Membership.end_date.is_(None)]
    if ods_code is not None:
        conditions.append(Membership.ods_code == ods_code)
    rows = list(
        await session.scalars(select(Membership).where(and_(*conditions)).with_for_update())
    )
    for membership in rows:
        if last_day < membership.start_date:
            raise BadUserInput("The last day is before the performer started.", field="effectiveOn")
        await _finish_membership(session, principal, membership, last_day)
    return len(rows)


async def _start_membership(
    session: AsyncSession,
    principal: Principal,
    *,
    gmc_number: str,
    ods_code: str,
    role: MembershipRole,
    start_date: date,
    end_date: date | None,
) -> Membership:
    practice = await _practice(session, ods_code)
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
    await _publish(session, "membership.started", gmc_number, after)
    await _feed(
        session, [practice.lmc_code], on=start_date, kind="joined", gmc_number=gmc_number,
        ods_code=ods_code, detail=role.value,
    )  # fmt: skip
    if end_date is not None:
        await _publish(session, "membership.ended", gmc_number, after)
        await _feed(
            session, [practice.lmc_code], on=end_date, kind="left", gmc_number=gmc_number,
            ods_code=ods_code, detail=role.value,
        )  # fmt: skip
    return membership


async def _finish_membership(
    session: AsyncSession, principal: Principal, membership: Membership, end_date: date
) -> None:
    before = membership_values(membership)
    membership.end_date = end_date
    after = membership_values(membership)
    await audit.record(
        session,
        AuditEvent,
        actor=principal,
        action="end_membership",
        entity="membership",
        key=str(membership.id),
        before=before,
        after=after,
    )
    await _publish(session, "membership.ended", membership.gmc_number, after)
    practice = await _practice(session, membership.ods_code)
    await _feed(
        session, [practice.lmc_code], on=end_date, kind="left", gmc_number=membership.gmc_number,
        ods_code=membership.ods_code, detail=membership.role.value,
    )  # fmt: skip


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
    """An operator records a performer at a practice. A practice cannot: it opens a joining
    request, and the approval creates the membership. The refusal comes before any lookup, so
    it says nothing of whether the GMC number exists."""
    _operator(principal)
    if end_date is not None and end_date < start_date:
        raise BadUserInput("`endDate` cannot be before `startDate`.", field="endDate")

    async def write(session: AsyncSession) -> Written:
        await _performer(session, gmc_number)
        membership = await _start_membership(
            session,
            principal,
            gmc_number=gmc_number,
            ods_code=ods_code,
            role=role,
            start_date=start_date,
            end_date=end_date,
        )
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
            "endDate": _day(end_date),
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
        await _finish_membership(session, principal, membership, end_date)
        return Written("membership", str(membership_id))

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="endMembership",
        request={"membershipId": membership_id, "endDate": end_date.isoformat()},
        write=write,
    )


async def record_public_list_check(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    gmc_number: str,
    entries: int,
    checked_on: date,
    idempotency_key: str,
) -> Written:
    """What the published performers list showed under a GMC number on a day: no entry (not
    visible), one, or more (the same number entered twice)."""
    _operator(principal)
    _not_future(checked_on, field="checkedOn")
    if not 0 <= entries <= 99:  # noqa: PLR2004 - a sane bound on a count of list entries
        raise BadUserInput("`entries` must be 0-99.", field="entries")

    async def write(session: AsyncSession) -> Written:
        performer = await _performer(session, gmc_number)
        before = _visibility(performer)
        performer.public_list_visible = entries > 0
        performer.public_list_entries = entries
        performer.public_list_checked_on = checked_on
        after = _visibility(performer)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="record_public_list_check",
            entity="performer",
            key=gmc_number,
            before=before,
            after=after,
        )
        await _publish(session, "performer.public_list_checked", gmc_number, after)
        return Written("performer", gmc_number)

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="recordPublicListCheck",
        request={"gmcNumber": gmc_number, "entries": entries, "checkedOn": checked_on.isoformat()},
        write=write,
    )


def _visibility(performer: Performer) -> dict[str, Any]:
    return {
        "gmcNumber": performer.gmc_number,
        "status": performer.status.value,
        "visible": performer.public_list_visible,
        "entries": performer.public_list_entries,
        "checkedOn": _day(performer.public_list_checked_on),
    }


@dataclass(frozen=True, kw_only=True)
class PracticeDetails:
    """What the ODS file does not carry; None leaves a value as it is."""

    contract_type: ContractType | None = None
    dispensing: bool | None = None
    training_practice: bool | None = None
    out_of_hours_opt_out: bool | None = None
    lmc_code: str | None = None


async def set_practice_details(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    details: PracticeDetails,
    idempotency_key: str,
) -> Written:
    """An operator records a practice's contract, dispensing, training and out-of-hours facts,
    or its LMC; published for payments."""
    _operator(principal)

    async def write(session: AsyncSession) -> Written:
        practice = await session.get(Practice, ods_code, with_for_update=True)
        if practice is None:
            raise NotFound("No practice has this ODS code.", field="odsCode")
        if details.lmc_code is not None and await session.get(Lmc, details.lmc_code) is None:
            raise NotFound("No LMC has this code.", field="lmcCode")
        before = practice_payload(practice)
        for name, value in asdict(details).items():
            if value is not None:
                setattr(practice, name, value)
        after = practice_payload(practice)
        if after == before:
            return Written("practice", ods_code)
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="set_practice_details",
            entity="practice",
            key=ods_code,
            before=before,
            after=after,
        )
        await _publish(session, "practice.upserted", ods_code, after)
        return Written("practice", ods_code)

    return await _idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="setPracticeDetails",
        request={
            "odsCode": ods_code,
            **{k: str(v) if v is not None else None for k, v in asdict(details).items()},
        },
        write=write,
    )


def practice_payload(practice: Practice) -> dict[str, Any]:
    """``practice.upserted``: the whole practice, so the latest event is its current state.
    An unknown contract type or flag is null, never a guess."""
    return {
        "odsCode": practice.ods_code,
        "name": practice.name,
        "lmcCode": practice.lmc_code,
        "icbCode": practice.icb_code,
        "subIcbCode": practice.sub_icb_code,
        "status": practice.status.value,
        "listSize": practice.list_size,
        "address": practice.address,
        "postcode": practice.postcode,
        "openedOn": _day(practice.opened_on),
        "closedOn": _day(practice.closed_on),
        "successorCode": practice.successor_code,
        "contractType": None if practice.contract_type is None else practice.contract_type.value,
        "dispensing": practice.dispensing,
        "trainingPractice": practice.training_practice,
        "outOfHoursOptOut": practice.out_of_hours_opt_out,
    }


def request_values(request: ChangeRequest) -> dict[str, Any]:
    return {
        "reference": request.reference,
        "kind": request.kind.value,
        "gmcNumber": request.gmc_number,
        "odsCode": request.ods_code,
        "requestedStatus": None
        if request.requested_status is None
        else request.requested_status.value,
        "role": None if request.role is None else request.role.value,
        "effectiveOn": _day(request.effective_on),
        "submittedOn": request.submitted_on.isoformat(),
        "completeOn": request.complete_on.isoformat(),
        "decisionDueBy": rules.decision_due_by(request.kind, request.complete_on).isoformat(),
        "decidedOn": _day(request.decided_on),
        "outcome": None if request.outcome is None else request.outcome.value,
    }


def membership_values(membership: Membership) -> dict[str, Any]:
    return {
        "membershipId": membership.id,
        "gmcNumber": membership.gmc_number,
        "odsCode": membership.ods_code,
        "role": membership.role.value,
        "startDate": membership.start_date.isoformat(),
        "endDate": _day(membership.end_date),
    }
