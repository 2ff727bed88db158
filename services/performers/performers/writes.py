"""What every write of the performers service shares: the transaction under an idempotency
key, the audit trail, the outbox and the LMC feed, and the payloads of the events.

Every change is validated before anything is written, runs under an idempotency key, appends
to the audit trail and publishes its event through the outbox, all in one transaction: the
change, its evidence and its notification commit together or not at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pcse_kit import audit, dates, events
from pcse_kit.auth import Forbidden
from pcse_kit.errors import BadUserInput, NotFound
from pcse_kit.identifiers import free_text
from sqlalchemy import or_, select

from performers import policy, rules
from performers.models import (
    ChangeRequest,
    IdempotencyKey,
    Membership,
    Outbox,
    Performer,
    Practice,
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


def operator_only(principal: Principal) -> None:
    if not principal.operates(policy.DOMAIN):
        raise Forbidden


async def idempotent(
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


async def locked_performer(session: AsyncSession, gmc_number: str) -> Performer:
    row = await session.get(Performer, gmc_number, with_for_update=True)
    if row is None:
        raise NotFound("No performer on the list has this GMC number.", field="gmcNumber")
    return row


async def existing_practice(session: AsyncSession, ods_code: str) -> Practice:
    row = await session.get(Practice, ods_code)
    if row is None:
        raise NotFound("No practice has this ODS code.", field="odsCode")
    return row


def not_future(value: date, *, field: str) -> None:
    dates.not_future(value, today=dates.today(), field=field)


def clean_text(value: str, *, field: str, limit: int = TEXT_MAX) -> str:
    if not value.strip() or len(value) > limit:
        raise BadUserInput(f"`{field}` must be 1-{limit} characters.", field=field)
    if any(ord(character) < 32 and character not in "\t\n\r" for character in value):  # noqa: PLR2004 - control characters
        raise BadUserInput(f"`{field}` cannot hold control characters.", field=field)
    # Free text reaches operators, admins and the audit trail: never an NHS number in it.
    return free_text(value, field=field, limit=limit)


def iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


async def publish(session: AsyncSession, type_: str, key: str, payload: dict[str, Any]) -> None:
    await events.publish(session, Outbox, stream=STREAM, type=type_, key=key, payload=payload)


async def lmcs_working(session: AsyncSession, gmc_number: str, on: date) -> list[str]:
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


async def feed(
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
        await publish(
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


def registration_values(performer: Performer) -> dict[str, Any]:
    return {
        "gmcNumber": performer.gmc_number,
        "gmcRegisteredOn": iso(performer.gmc_registered_on),
        "gpRegisterOn": iso(performer.gp_register_on),
        "cctDate": iso(performer.cct_date),
        "registrar": performer.under_training_supervision,
        "trainingProgrammeStart": iso(performer.training_programme_start),
        "designatedBody": performer.designated_body,
    }


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
        "openedOn": iso(practice.opened_on),
        "closedOn": iso(practice.closed_on),
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
        "effectiveOn": iso(request.effective_on),
        "submittedOn": request.submitted_on.isoformat(),
        "completeOn": request.complete_on.isoformat(),
        "decisionDueBy": rules.decision_due_by(request.kind, request.complete_on).isoformat(),
        "decidedOn": iso(request.decided_on),
        "outcome": None if request.outcome is None else request.outcome.value,
    }


def membership_values(membership: Membership) -> dict[str, Any]:
    return {
        "membershipId": membership.id,
        "gmcNumber": membership.gmc_number,
        "odsCode": membership.ods_code,
        "role": membership.role.value,
        "startDate": membership.start_date.isoformat(),
        "endDate": iso(membership.end_date),
    }
