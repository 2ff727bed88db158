"""GraphQL of compensation claims."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry
from pcse_kit.auth import Forbidden
from pcse_kit.identifiers import practice_code
from sqlalchemy import select
from strawberry.types import Info

from payments import models, policy
from payments.compensation import service
from payments.context import PaymentsContext
from payments.statements.ingest import pounds_pence
from payments.types import pounds

strawberry.enum(models.CompensationState, description="Where a compensation claim is.")
strawberry.enum(models.LossKind, description="What a loss is.")


@strawberry.type(description="One loss, with its source.")
class Loss:
    kind: models.LossKind = strawberry.field(description="What it is.")
    description: str = strawberry.field(description="How it is worked out.")
    principal: Decimal = strawberry.field(description="Pounds the practice went without.")
    days: int = strawberry.field(description="For how many days.")
    amount: Decimal = strawberry.field(description="Pounds claimed for it.")
    source: str = strawberry.field(description="The evidence held here it rests on.")


@strawberry.type(description="A claim for the losses late or missing money caused a practice.")
class CompensationClaim:
    reference: str = strawberry.field(description="Our reference, e.g. CMP-1A2B3C4D5E.")
    ods_code: str = strawberry.field(description="The practice.")
    state: models.CompensationState = strawberry.field(description="Where it is.")
    annual_rate_percent: Decimal | None = strawberry.field(
        description="The yearly rate the practice's money cost it (null for a claim assembled "
        "from other services' facts, priced at the practice's own costings)."
    )
    rate_basis: str | None = strawberry.field(
        description="The practice's evidence for the rate (null as the rate is)."
    )
    as_of: date = strawberry.field(description="The day the losses were worked out to.")
    claimed: Decimal = strawberry.field(description="Pounds claimed: the sum of the losses.")
    submitted_on: date | None = strawberry.field(description="When it was sent.")
    offered: Decimal | None = strawberry.field(description="Pounds offered, once offered.")
    offered_on: date | None = strawberry.field(description="When the offer was made.")
    decided_on: date | None = strawberry.field(
        description="When it was accepted, rejected or withdrawn."
    )
    note: str | None = strawberry.field(description="The last note on it.")
    opened_at: datetime = strawberry.field(description="When it was assembled.")
    losses: list[Loss] = strawberry.field(description="Each loss, with its source.")


async def _claims(
    info: Info[PaymentsContext, None], *, ods_code: str | None = None, reference: str | None = None
) -> list[CompensationClaim]:
    query = select(models.CompensationClaim)
    if ods_code is not None:
        query = query.where(models.CompensationClaim.ods_code == ods_code)
    if reference is not None:
        query = query.where(models.CompensationClaim.reference == reference)
    async with info.context.sessionmaker() as session:
        rows = list(await session.scalars(query.order_by(models.CompensationClaim.id.desc())))
        items = list(
            await session.scalars(
                select(models.CompensationItem)
                .where(models.CompensationItem.claim_id.in_([r.id for r in rows]))
                .order_by(models.CompensationItem.id)
            )
        )
    by_claim: dict[int, list[Loss]] = {}
    for item in items:
        by_claim.setdefault(item.claim_id, []).append(
            Loss(
                kind=item.kind,
                description=item.description,
                principal=pounds(item.principal_pence),
                days=item.days,
                amount=pounds(item.amount_pence),
                source=item.source,
            )
        )
    return [
        CompensationClaim(
            reference=r.reference,
            ods_code=r.ods_code,
            state=r.state,
            annual_rate_percent=r.annual_rate,
            rate_basis=r.rate_basis,
            as_of=r.as_of,
            claimed=pounds(r.claimed_pence),
            submitted_on=r.submitted_on,
            offered=None if r.offered_pence is None else pounds(r.offered_pence),
            offered_on=r.offered_on,
            decided_on=r.decided_on,
            note=r.note,
            opened_at=r.opened_at,
            losses=by_claim.get(r.id, []),
        )
        for r in rows
    ]


@strawberry.type(description="A practice's compensation claims.")
class CompensationOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(
        description="The practice's compensation claims, newest first, each with its losses: "
        "for the practice, payments operators and admins (FORBIDDEN, and null, otherwise)."
    )
    async def compensation_claims(
        self, info: Info[PaymentsContext, None]
    ) -> list[CompensationClaim] | None:
        await policy.read_disputes(info.context, self.ods_code)
        return await _claims(info, ods_code=self.ods_code)


_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.input(description="What a compensation claim is assembled from.")
class OpenCompensationClaimInput:
    ods_code: str = strawberry.field(description="The practice.")
    dispute_reference: str | None = strawberry.field(
        default=None,
        description="Only this dispute's anomaly; every late or missing payment if left out.",
    )
    annual_rate_percent: Decimal = strawberry.field(
        description="The yearly rate the practice's money cost it (its overdraft rate), e.g. 7.9."
    )
    rate_basis: str = strawberry.field(
        description="The evidence for the rate, e.g. the bank's overdraft letter."
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A compensation claim's next step.")
class CompensationStepInput:
    reference: str = strawberry.field(description="The claim.")
    state: models.CompensationState = strawberry.field(
        description="SUBMITTED, OFFERED, ACCEPTED, REJECTED or WITHDRAWN."
    )
    on: date = strawberry.field(description="When it happened.")
    offered_amount: Decimal | None = strawberry.field(
        default=None, description="Pounds offered: for an offer only."
    )
    note: str | None = strawberry.field(default=None, description="What was said.")
    idempotency_key: str = strawberry.field(description=_KEY)


async def _one(info: Info[PaymentsContext, None], reference: str) -> CompensationClaim:
    found = await _claims(info, reference=reference)
    if not found:  # pragma: no cover - just written in a committed transaction
        raise Forbidden
    return found[0]


@strawberry.type
class CompensationMutation:
    @strawberry.mutation(
        description="Assemble a compensation claim from the evidence held here: interest on "
        "money owed to the practice paid late or still missing, at the practice's own rate "
        "(the practice itself, payments operators, admins)."
    )
    async def open_compensation_claim(
        self, info: Info[PaymentsContext, None], input: OpenCompensationClaimInput
    ) -> CompensationClaim:
        written = await service.open_claim(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            dispute_reference=input.dispute_reference,
            annual_rate=input.annual_rate_percent,
            rate_basis=input.rate_basis,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _one(info, written.key)

    @strawberry.mutation(
        description="Record a compensation claim's next step: submitted, an offer with its "
        "amount, accepted, rejected (a new offer may follow) or withdrawn."
    )
    async def record_compensation_step(
        self, info: Info[PaymentsContext, None], input: CompensationStepInput
    ) -> CompensationClaim:
        written = await service.record_step(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            state=input.state,
            on=input.on,
            offered_pence=None
            if input.offered_amount is None
            else pounds_pence(input.offered_amount, field="offeredAmount"),
            note=input.note,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _one(info, written.key)
