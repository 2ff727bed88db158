"""Writes to the list itself: decisions, registrations, memberships, the published list, and
the practice facts the ODS file lacks. Each owns its write transaction (see ``writes``).

Who may write what. Operators of this domain keep the list. A practice writes only through its
requests (``change_requests``) and by ending a membership at its own practice. Nothing a
practice writes links it to a GP: a membership comes only from a joining request an operator
approves, so a practice cannot make itself a GP's employer and see the GP's details.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pcse_kit import audit
from pcse_kit.auth import Forbidden
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from sqlalchemy import and_, select

from performers import policy, rules
from performers.models import (
    AuditEvent,
    ContractType,
    ListStatus,
    Lmc,
    Membership,
    Performer,
    Practice,
    StatusChange,
)
from performers.models import (
    Role as MembershipRole,
)
from performers.writes import (
    EVIDENCE_MAX,
    Written,
    clean_text,
    existing_practice,
    feed,
    idempotent,
    iso,
    lmcs_working,
    locked_performer,
    membership_values,
    not_future,
    operator_only,
    practice_payload,
    publish,
    registration_values,
)

if TYPE_CHECKING:
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def apply_status(
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
        "suspensionReviewOn": iso(performer.suspension_review_on),
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
        "suspensionReviewOn": iso(performer.suspension_review_on),
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
    await publish(session, "performer.status_changed", performer.gmc_number, change)
    await feed(
        session,
        await lmcs_working(session, performer.gmc_number, effective_date),
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
    operator_only(principal)
    not_future(effective_date, field="effectiveDate")
    decision = clean_text(decision, field="decision")
    source = clean_text(source, field="source")
    if conditions is not None:
        conditions = clean_text(conditions, field="conditions", limit=EVIDENCE_MAX)
    if to_status is ListStatus.INCLUDED_WITH_CONDITIONS and conditions is None:
        raise BadUserInput("Conditions imposed (reg 10) must be given.", field="conditions")
    if review_on is not None and to_status is not ListStatus.SUSPENDED:
        raise BadUserInput("A review date is for a suspension only.", field="reviewOn")

    async def write(session: AsyncSession) -> Written:
        performer = await locked_performer(session, gmc_number)
        await apply_status(
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

    return await idempotent(
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
            "reviewOn": iso(review_on),
        },
        write=write,
    )


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
    operator_only(principal)
    evidence = clean_text(evidence, field="evidence", limit=EVIDENCE_MAX)
    for value, name in (
        (registration.gmc_registered_on, "gmcRegisteredOn"),
        (registration.gp_register_on, "gpRegisterOn"),
        (registration.cct_date, "cctDate"),
    ):
        if value is not None:
            not_future(value, field=name)
    body = registration.designated_body
    if body is not None and body != "":
        body = clean_text(body, field="designatedBody", limit=200)

    async def write(session: AsyncSession) -> Written:
        performer = await locked_performer(session, gmc_number)
        before = registration_values(performer)
        await _set_registration(performer, registration, body)
        after = registration_values(performer)
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
        await publish(session, "performer.registration_recorded", gmc_number, after)
        return Written("performer", gmc_number)

    return await idempotent(
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


async def end_current(
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


async def start_membership(
    session: AsyncSession,
    principal: Principal,
    *,
    gmc_number: str,
    ods_code: str,
    role: MembershipRole,
    start_date: date,
    end_date: date | None,
) -> Membership:
    practice = await existing_practice(session, ods_code)
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
    await publish(session, "membership.started", gmc_number, after)
    await feed(
        session, [practice.lmc_code], on=start_date, kind="joined", gmc_number=gmc_number,
        ods_code=ods_code, detail=role.value,
    )  # fmt: skip
    if end_date is not None:
        await publish(session, "membership.ended", gmc_number, after)
        await feed(
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
    await publish(session, "membership.ended", membership.gmc_number, after)
    practice = await existing_practice(session, membership.ods_code)
    await feed(
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
    operator_only(principal)
    if end_date is not None and end_date < start_date:
        raise BadUserInput("`endDate` cannot be before `startDate`.", field="endDate")

    async def write(session: AsyncSession) -> Written:
        await locked_performer(session, gmc_number)
        membership = await start_membership(
            session,
            principal,
            gmc_number=gmc_number,
            ods_code=ods_code,
            role=role,
            start_date=start_date,
            end_date=end_date,
        )
        return Written("membership", str(membership.id))

    return await idempotent(
        sessionmaker,
        principal,
        key=idempotency_key,
        operation="addMembership",
        request={
            "gmcNumber": gmc_number,
            "odsCode": ods_code,
            "role": role.value,
            "startDate": start_date.isoformat(),
            "endDate": iso(end_date),
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

    return await idempotent(
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
    operator_only(principal)
    not_future(checked_on, field="checkedOn")
    if not 0 <= entries <= 99:  # noqa: PLR2004 - a sane bound on a count of list entries
        raise BadUserInput("`entries` must be 0-99.", field="entries")

    async def write(session: AsyncSession) -> Written:
        performer = await locked_performer(session, gmc_number)
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
        await publish(session, "performer.public_list_checked", gmc_number, after)
        return Written("performer", gmc_number)

    return await idempotent(
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
        "checkedOn": iso(performer.public_list_checked_on),
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
    operator_only(principal)

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
        await publish(session, "practice.upserted", ods_code, after)
        return Written("practice", ods_code)

    return await idempotent(
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
