"""GraphQL of compensation claims."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry
from pcse_kit.auth import Forbidden
from pcse_kit.identifiers import practice_code
from sqlalchemy import select
from strawberry.federation.schema_directives import ListSize
from strawberry.types import Info

from payments import models, policy
from payments.compensation import rules, service
from payments.context import PaymentsContext
from payments.statements.ingest import pounds_pence
from payments.types import pounds

strawberry.enum(models.CompensationState, description="Where a compensation claim is.")
strawberry.enum(models.LossKind, description="What a loss is.")
strawberry.enum(
    models.FactKind, description="What another service published that a claim rests on."
)
strawberry.enum(models.CostingKind, description="A figure the practice sets for its own losses.")


@strawberry.type(description="One loss, with its source.")
class Loss:
    kind: models.LossKind = strawberry.field(description="What it is.")
    description: str = strawberry.field(description="How it is worked out.")
    principal: Decimal = strawberry.field(
        description="Pounds the practice went without: for interest the late sum; for staff "
        "time and sessions lost the loss itself."
    )
    days: int = strawberry.field(description="For how many days (interest; 0 otherwise).")
    amount: Decimal = strawberry.field(description="Pounds claimed for it.")
    source: str = strawberry.field(
        description="The evidence it rests on: an anomaly here, or another service's event "
        "(stream, event type, and the review id or change request's reference)."
    )
    source_stream: str | None = strawberry.field(
        default=None, description="The stream the fact came from (`records`, `performers`)."
    )
    source_event_type: str | None = strawberry.field(
        default=None, description="The event type that carried it."
    )
    source_key: str | None = strawberry.field(
        default=None, description="The harm review's id or the change request's reference."
    )


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
        fact_ids = [i.fact_id for i in items if i.fact_id is not None]
        facts = {
            f.id: f
            for f in await session.scalars(
                select(models.CompensationFact).where(models.CompensationFact.id.in_(fact_ids))
            )
        }
    by_claim: dict[int, list[Loss]] = {}
    for item in items:
        fact = None if item.fact_id is None else facts.get(item.fact_id)
        by_claim.setdefault(item.claim_id, []).append(
            Loss(
                kind=item.kind,
                description=item.description,
                principal=pounds(item.principal_pence),
                days=item.days,
                amount=pounds(item.amount_pence),
                source=item.source,
                source_stream=None if fact is None else fact.stream,
                source_event_type=None if fact is None else fact.event_type,
                source_key=None if fact is None else fact.source_key,
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


MAX_FACTS = 500


@strawberry.type(description="A fact another service published that a claim may rest on.")
class CompensationFact:
    kind: models.FactKind = strawberry.field(description="What it is.")
    source_stream: str = strawberry.field(description="The stream (`records`, `performers`).")
    source_event_type: str = strawberry.field(description="The event type that carried it.")
    source_key: str = strawberry.field(
        description="The harm review's id or the change request's reference."
    )
    on: date = strawberry.field(
        description="The day it is priced at: the review's day (else when it was recorded), or "
        "the day the 16 weeks passed."
    )
    minutes_spent: int | None = strawberry.field(
        description="Staff time on the review in all (the latest event's), for a harm review."
    )
    completed: bool | None = strawberry.field(description="The review is completed.")
    weeks_beyond_sixteen: int | None = strawberry.field(
        description="Whole weeks the application waited beyond 16, for an inclusion delay."
    )
    days_beyond_sixteen_weeks: int | None = strawberry.field(
        description="Days it waited beyond 16 weeks."
    )
    staff_time_amount: Decimal | None = strawberry.field(
        description="Pounds: the minutes at the practice's hourly staff cost in force on the "
        "day (half up to the penny); null without one, or for an inclusion delay (priced when "
        "claimed, with the sessions a week). The practice's claim, never an amount due."
    )
    claim_reference: str | None = strawberry.field(
        description="The claim it is in (not withdrawn), or null while unclaimed."
    )

    @classmethod
    def of(
        cls, row: models.CompensationFact, claim: str | None, hourly: int | None
    ) -> CompensationFact:
        minutes = row.minutes_spent
        return cls(
            kind=row.kind,
            source_stream=row.stream,
            source_event_type=row.event_type,
            source_key=row.source_key,
            on=row.on,
            minutes_spent=minutes,
            completed=row.completed,
            weeks_beyond_sixteen=row.weeks_beyond,
            days_beyond_sixteen_weeks=row.days_beyond,
            staff_time_amount=None
            if hourly is None or minutes is None
            else pounds(rules.staff_time_pence(minutes, hourly_pence=hourly)),
            claim_reference=claim,
        )


@strawberry.type(description="A figure the practice sets for its own losses, from a day.")
class PracticeCosting:
    kind: models.CostingKind = strawberry.field(description="What it prices.")
    amount: Decimal = strawberry.field(description="Pounds an hour, or a session.")
    effective_from: date = strawberry.field(description="From this day until the next.")
    basis: str = strawberry.field(description="The practice's evidence for it.")

    @classmethod
    def of(cls, row: models.PracticeCosting) -> PracticeCosting:
        return cls(
            kind=row.kind,
            amount=pounds(row.amount_pence),
            effective_from=row.effective_from,
            basis=row.basis,
        )


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

    @strawberry.field(
        description="What the other services published about the practice that a claim may "
        "rest on (staff time on harm reviews from the records service; applications for "
        "inclusion decided beyond 16 weeks from the performers service), each with its source "
        "and the claim it is in: for the practice, payments operators and admins.",
        directives=[
            ListSize(assumed_size=50, require_one_slicing_argument=False)  # type: ignore[call-arg]
        ],
    )
    async def compensation_facts(
        self, info: Info[PaymentsContext, None]
    ) -> list[CompensationFact] | None:
        await policy.read_disputes(info.context, self.ods_code)
        async with info.context.sessionmaker() as session:
            rows = list(
                await session.scalars(
                    select(models.CompensationFact)
                    .where(models.CompensationFact.ods_code == self.ods_code)
                    .order_by(models.CompensationFact.on, models.CompensationFact.id)
                    .limit(MAX_FACTS)
                )
            )
            costings = list(
                await session.scalars(
                    select(models.PracticeCosting).where(
                        models.PracticeCosting.ods_code == self.ods_code
                    )
                )
            )
            found = await session.execute(
                select(models.CompensationItem.fact_id, models.CompensationClaim.reference)
                .join(
                    models.CompensationClaim,
                    models.CompensationClaim.id == models.CompensationItem.claim_id,
                )
                .where(
                    models.CompensationItem.fact_id.in_([r.id for r in rows]),
                    models.CompensationClaim.state != models.CompensationState.WITHDRAWN,
                )
            )
            claimed = {fact: ref for fact, ref in found.all()}  # noqa: C416 - rows to mypy
        hourly = service.in_force(costings, models.CostingKind.STAFF_HOUR)
        return [CompensationFact.of(r, claimed.get(r.id), hourly(r.on)) for r in rows]

    @strawberry.field(
        description="The practice's own costings (an hour of staff time, a GP session), each "
        "from its day until the next: for the practice, payments operators and admins."
    )
    async def compensation_costings(
        self, info: Info[PaymentsContext, None]
    ) -> list[PracticeCosting] | None:
        await policy.read_disputes(info.context, self.ods_code)
        async with info.context.sessionmaker() as session:
            rows = await session.scalars(
                select(models.PracticeCosting)
                .where(models.PracticeCosting.ods_code == self.ods_code)
                .order_by(models.PracticeCosting.kind, models.PracticeCosting.effective_from)
            )
            return [PracticeCosting.of(r) for r in rows]


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


@strawberry.input(description="A figure the practice sets for its own losses.")
class CompensationCostingInput:
    ods_code: str = strawberry.field(description="The practice.")
    kind: models.CostingKind = strawberry.field(
        description="STAFF_HOUR (an hour of the staff time spent on harm reviews) or "
        "GP_SESSION (one GP session, a half day, lost)."
    )
    amount: Decimal = strawberry.field(description="Pounds (more than 0, at most 5,000).")
    effective_from: date = strawberry.field(
        description="From this day until the practice's next figure of the kind."
    )
    basis: str = strawberry.field(
        description="The practice's evidence, e.g. the payroll cost of a band 4 administrator."
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A claim assembled from the facts the other services published.")
class FactsCompensationClaimInput:
    ods_code: str = strawberry.field(description="The practice.")
    sessions_a_week: int | None = strawberry.field(
        default=None,
        description="Sessions a week the GP whose application was delayed was to work (1-10): "
        "needed to claim sessions lost; without it only staff time is claimed.",
    )
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
        description="Set the practice's own figure for a kind of loss from a day (the practice "
        "itself, payments operators, admins). It is the practice's claim, with its evidence: no "
        "rate for staff time or for GP sessions lost to performers-list delays is published."
    )
    async def set_compensation_costing(
        self, info: Info[PaymentsContext, None], input: CompensationCostingInput
    ) -> PracticeCosting:
        ods_code = practice_code(input.ods_code)
        await service.set_costing(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=ods_code,
            kind=input.kind,
            amount_pence=pounds_pence(input.amount, field="amount"),
            effective_from=input.effective_from,
            basis=input.basis,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        async with info.context.sessionmaker() as session:
            row = await session.get(
                models.PracticeCosting, (ods_code, input.kind, input.effective_from)
            )
        if row is None:  # pragma: no cover - just written in a committed transaction
            raise Forbidden
        return PracticeCosting.of(row)

    @strawberry.mutation(
        description="Assemble a compensation claim from the facts the other services published "
        "about the practice and not yet claimed: staff time on harm reviews (records) and GP "
        "sessions lost while an application for inclusion waited beyond 16 weeks (performers), "
        "each priced at the practice's own costing in force on its day, each with its source "
        "(the practice itself, payments operators, admins)."
    )
    async def open_compensation_claim_from_facts(
        self, info: Info[PaymentsContext, None], input: FactsCompensationClaimInput
    ) -> CompensationClaim:
        written = await service.open_facts_claim(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            sessions_a_week=input.sessions_a_week,
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
