"""A practice's compensation claims: assembled from the evidence held here, then through
submission to an offer, accepted or rejected; every step audited."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from pcse_kit import audit
from pcse_kit.auth import Forbidden
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from sqlalchemy import or_, select

from payments import policy, writes
from payments.compensation import rules
from payments.models import (
    Anomaly,
    AnomalyKind,
    AuditEvent,
    CompensationClaim,
    CompensationFact,
    CompensationItem,
    CompensationState,
    CostingKind,
    Dispute,
    LossKind,
    PracticeCosting,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAX_RATE: Final = Decimal(100)


def _new_reference() -> str:
    return f"CMP-{uuid.uuid4().hex[:10].upper()}"


def rate_input(rate: Decimal) -> Decimal:
    if not rate.is_finite() or not 0 < rate <= MAX_RATE or rate != rate.quantize(Decimal("0.001")):
        raise BadUserInput(
            "`annualRatePercent` must be more than 0 and at most 100, to three decimals.",
            field="annualRatePercent",
        )
    return rate


async def open_claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    dispute_reference: str | None,
    annual_rate: Decimal,
    rate_basis: str,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """Assemble a claim for the interest late and missing money cost the practice: from one
    dispute's anomaly, or every late or missing payment owed to the practice."""
    writes.operator_or_practice(principal, ods_code)
    rate = rate_input(annual_rate)
    basis = writes.text_input(rate_basis, field="rateBasis", limit=300)

    async def write(session: AsyncSession) -> writes.Written:
        dispute = None
        query = select(Anomaly).where(Anomaly.ods_code == ods_code)
        if dispute_reference is not None:
            dispute = await session.scalar(
                select(Dispute).where(Dispute.reference == dispute_reference)
            )
            if dispute is None or dispute.ods_code != ods_code:
                raise BadUserInput("No such dispute for this practice.", field="disputeReference")
            if dispute.anomaly_id is None:
                raise BadUserInput(
                    "This dispute names no anomaly: interest is worked out from a late or "
                    "missing payment found here.",
                    field="disputeReference",
                )
            query = query.where(Anomaly.id == dispute.anomaly_id)
        else:
            query = query.where(
                or_(
                    Anomaly.kind == AnomalyKind.LATE,
                    (Anomaly.kind == AnomalyKind.MISSING) & Anomaly.resolved_at.is_(None),
                )
            )
        anomalies = list(await session.scalars(query.order_by(Anomaly.id)))
        losses = rules.interest_losses(anomalies, annual_rate=rate, as_of=today)
        if not losses:
            raise BadUserInput(
                "Nothing owed to the practice was paid late or is missing: no interest to claim.",
                field="disputeReference" if dispute_reference is not None else "odsCode",
            )
        claim = CompensationClaim(
            reference=_new_reference(), ods_code=ods_code,
            dispute_id=None if dispute is None else dispute.id, state=CompensationState.DRAFT,
            annual_rate=rate, rate_basis=basis, as_of=today,
            claimed_pence=sum(loss.amount_pence for loss in losses),
            opened_by=principal.subject,
        )  # fmt: skip
        session.add(claim)
        await session.flush()
        session.add_all(
            CompensationItem(
                claim_id=claim.id, kind=LossKind.INTEREST, description=loss.description[:400],
                principal_pence=loss.principal_pence, days=loss.days,
                amount_pence=loss.amount_pence, source=loss.source, anomaly_id=loss.anomaly_id,
            )
            for loss in losses
        )  # fmt: skip
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="open_compensation_claim",
            entity="compensation_claim", key=claim.reference, before=None,
            after=writes.row_values(claim),
        )  # fmt: skip
        return writes.Written("compensation_claim", claim.reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="openCompensationClaim",
        request={"odsCode": ods_code, "dispute": dispute_reference, "rate": str(rate),
                 "basis": basis},
        write=write,
    )  # fmt: skip


async def record_step(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    state: CompensationState,
    on: date,
    offered_pence: int | None,
    note: str | None,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """The claim moves on: submitted, an offer (with its amount), accepted, rejected, withdrawn."""
    not_future(on, today=today, field="on")
    if state is CompensationState.DRAFT:
        raise BadUserInput("A claim starts as a draft; it does not go back.", field="state")
    if (state is CompensationState.OFFERED) != (offered_pence is not None):
        raise BadUserInput(
            "An offer, and only an offer, carries the amount offered.", field="offeredAmount"
        )
    if offered_pence is not None and offered_pence < 0:
        raise BadUserInput("`offeredAmount` cannot be negative.", field="offeredAmount")
    text = None if note is None else writes.text_input(note, field="note", limit=2000)

    async def write(session: AsyncSession) -> writes.Written:
        claim = await session.scalar(
            select(CompensationClaim)
            .where(CompensationClaim.reference == reference)
            .with_for_update()
        )
        operator = principal.operates(policy.DOMAIN)
        if claim is None and operator:
            raise NotFound("No compensation claim has this reference.", field="reference")
        if claim is None or not (operator or principal.is_practice_of(claim.ods_code)):
            raise Forbidden
        if state not in rules.NEXT_STATES[claim.state]:
            raise Conflict(
                f"A claim that is {claim.state.value} cannot become {state.value}.", field="state"
            )
        last = max(
            d for d in (claim.as_of, claim.submitted_on, claim.offered_on, claim.decided_on) if d
        )
        if on < last:
            raise BadUserInput(
                f"`on` cannot be before the claim's last step ({last.isoformat()}).", field="on"
            )
        before = writes.row_values(claim)
        claim.state = state
        if state is CompensationState.SUBMITTED:
            claim.submitted_on = on
        elif state is CompensationState.OFFERED:
            claim.offered_on, claim.offered_pence, claim.decided_on = on, offered_pence, None
        else:
            claim.decided_on = on
        claim.note = text or claim.note
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_compensation_step",
            entity="compensation_claim", key=reference, before=before,
            after=writes.row_values(claim),
        )  # fmt: skip
        return writes.Written("compensation_claim", reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordCompensationStep",
        request={"reference": reference, "state": state.value, "on": str(on),
                 "offered": offered_pence, "note": text},
        write=write,
    )  # fmt: skip


MAX_COSTING_PENCE: Final = 5_000_00
"""£5,000 an hour or a session: far above any real figure; more is a typing slip."""
COSTINGS_FROM: Final = date(2015, 9, 1)
"""PCSE began on 1 Sep 2015: no loss it caused is older."""
COSTING_AHEAD_DAYS: Final = 366


async def set_costing(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    kind: CostingKind,
    amount_pence: int,
    effective_from: date,
    basis: str,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """The practice's own figure (an hour of staff time, a GP session) from a day until its
    next one: the basis of its claim, which it must be able to evidence. A figure for a day
    already set replaces it (audited with what it replaced)."""
    writes.operator_or_practice(principal, ods_code)
    if not 0 < amount_pence <= MAX_COSTING_PENCE:
        raise BadUserInput("`amount` must be more than £0 and at most £5,000.", field="amount")
    if not COSTINGS_FROM <= effective_from <= today + timedelta(days=COSTING_AHEAD_DAYS):
        raise BadUserInput(
            "`effectiveFrom` must be from 1 Sep 2015 (when PCSE began) to a year ahead.",
            field="effectiveFrom",
        )
    text = writes.text_input(basis, field="basis", limit=300)

    async def write(session: AsyncSession) -> writes.Written:
        held = await session.get(
            PracticeCosting, (ods_code, kind, effective_from), with_for_update=True
        )
        before = None if held is None else writes.row_values(held)
        if held is None:
            held = PracticeCosting(
                ods_code=ods_code, kind=kind, effective_from=effective_from,
                amount_pence=amount_pence, basis=text, recorded_by=principal.subject,
            )  # fmt: skip
            session.add(held)
        else:
            held.amount_pence, held.basis = amount_pence, text
            held.recorded_by = principal.subject
        await session.flush()
        key = f"{ods_code}:{kind.value}:{effective_from.isoformat()}"
        await audit.record(
            session, AuditEvent, actor=principal, action="set_compensation_costing",
            entity="practice_costing", key=key, before=before, after=writes.row_values(held),
        )  # fmt: skip
        return writes.Written("practice_costing", key)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="setCompensationCosting",
        request={"odsCode": ods_code, "kind": kind.value, "amount": amount_pence,
                 "effectiveFrom": str(effective_from), "basis": text},
        write=write,
    )  # fmt: skip


def in_force(
    costings: Sequence[PracticeCosting], kind: CostingKind
) -> Callable[[date], int | None]:
    """The practice's figure of ``kind`` in force on a day (the latest from on or before it)."""
    rows = sorted((c for c in costings if c.kind is kind), key=lambda c: c.effective_from)

    def on(day: date) -> int | None:
        found = [c.amount_pence for c in rows if c.effective_from <= day]
        return found[-1] if found else None

    return on


async def unclaimed_facts(session: AsyncSession, ods_code: str) -> list[CompensationFact]:
    """The practice's facts not already in a claim (one withdrawn frees its facts again)."""
    claimed = (
        select(CompensationItem.fact_id)
        .join(CompensationClaim, CompensationClaim.id == CompensationItem.claim_id)
        .where(
            CompensationItem.fact_id.is_not(None),
            CompensationClaim.state != CompensationState.WITHDRAWN,
        )
    )
    return list(
        await session.scalars(
            select(CompensationFact)
            .where(CompensationFact.ods_code == ods_code, CompensationFact.id.not_in(claimed))
            .order_by(CompensationFact.on, CompensationFact.id)
        )
    )


async def open_facts_claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    sessions_a_week: int | None,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """Assemble a claim from the facts the other services published about the practice and not
    yet claimed: staff time on harm reviews, and (given how many sessions a week the GP was to
    work) sessions lost while an application for inclusion waited beyond 16 weeks; each priced
    at the practice's own figure in force on the fact's day."""
    writes.operator_or_practice(principal, ods_code)
    if sessions_a_week is not None and not 1 <= sessions_a_week <= rules.MAX_SESSIONS_A_WEEK:
        raise BadUserInput("`sessionsAWeek` must be 1-10.", field="sessionsAWeek")

    async def write(session: AsyncSession) -> writes.Written:
        facts = await unclaimed_facts(session, ods_code)
        costings = list(
            await session.scalars(
                select(PracticeCosting).where(PracticeCosting.ods_code == ods_code)
            )
        )
        losses = rules.fact_losses(
            facts,
            hourly_pence=in_force(costings, CostingKind.STAFF_HOUR),
            session_pence=in_force(costings, CostingKind.GP_SESSION),
            sessions_a_week=sessions_a_week,
        )
        if not losses:
            raise BadUserInput(
                "No harm review time or inclusion delay published for this practice that is "
                "not already claimed"
                + ("" if sessions_a_week else " (an inclusion delay needs `sessionsAWeek`)")
                + ".",
                field="odsCode",
            )
        unpriced = next((loss for loss in losses if loss.amount_pence is None), None)
        if unpriced is not None:
            what = "hourly staff cost" if unpriced.kind is LossKind.STAFF_TIME else "session value"
            day = next(f.on for f in facts if f.id == unpriced.fact_id)
            raise BadUserInput(
                f"Record the practice's {what} in force on {day.isoformat()} "
                "(setCompensationCosting) first.",
                field="odsCode",
            )
        claim = CompensationClaim(
            reference=_new_reference(), ods_code=ods_code, dispute_id=None,
            state=CompensationState.DRAFT, annual_rate=None, rate_basis=None, as_of=today,
            claimed_pence=sum(loss.amount_pence or 0 for loss in losses),
            opened_by=principal.subject,
        )  # fmt: skip
        session.add(claim)
        await session.flush()
        session.add_all(
            CompensationItem(
                claim_id=claim.id, kind=loss.kind, description=loss.description,
                principal_pence=loss.amount_pence or 0, days=0,
                amount_pence=loss.amount_pence or 0, source=loss.source, anomaly_id=None,
                fact_id=loss.fact_id,
            )
            for loss in losses
        )  # fmt: skip
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="open_compensation_claim_from_facts",
            entity="compensation_claim", key=claim.reference, before=None,
            after={**writes.row_values(claim), "facts": [loss.fact_id for loss in losses]},
        )  # fmt: skip
        return writes.Written("compensation_claim", claim.reference)

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="openCompensationClaimFromFacts",
        request={"odsCode": ods_code, "sessionsAWeek": sessions_a_week},
        write=write,
    )  # fmt: skip
