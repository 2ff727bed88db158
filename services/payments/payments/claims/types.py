"""GraphQL of the claims a practice records: what it claimed, approved, and whether it was paid."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry
from pcse_kit.identifiers import practice_code
from strawberry.types import Info

from payments import models
from payments.claims import service
from payments.context import PaymentsContext
from payments.statements.ingest import pounds_pence
from payments.types import PracticePaymentsRef, pounds, practice_payments

_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.type(description="A claim the practice made, as it recorded it.")
class PracticeClaim:
    id: strawberry.ID = strawberry.field(description="Its id here (to dispute it).")
    reference: str = strawberry.field(description="The practice's reference for it.")
    component: models.Component = strawberry.field(description="What it claims.")
    paycode: str | None = strawberry.field(description="The paycode it is paid under.")
    description: str = strawberry.field(description="What it is for.")
    covers_from: date = strawberry.field(description="First day of what it claims for.")
    covers_to: date = strawberry.field(description="Last day of what it claims for.")
    amount: Decimal = strawberry.field(description="Claimed, or once approved approved, pounds.")
    claimed_on: date = strawberry.field(description="When it was claimed.")
    approved_on: date | None = strawberry.field(description="When it was approved.")
    state: models.ClaimState = strawberry.field(description="Where it is.")
    due_on: date | None = strawberry.field(
        description="Once approved, when it should be paid by: the end of the following month "
        "(dispensing: the end of the month NHSBSA priced it)."
    )

    @classmethod
    def from_row(cls, row: models.PracticeClaim) -> PracticeClaim:
        return cls(
            id=strawberry.ID(str(row.id)),
            reference=row.reference,
            component=row.component,
            paycode=row.paycode,
            description=row.description,
            covers_from=row.covers_from,
            covers_to=row.covers_to,
            amount=pounds(row.amount_pence),
            claimed_on=row.claimed_on,
            approved_on=row.approved_on,
            state=row.state,
            due_on=None
            if row.approved_on is None
            else service.due_on(row.component, row.approved_on),
        )


@strawberry.input(
    description="A claim the practice made (recording its reference again corrects it)."
)
class ClaimInput:
    ods_code: str = strawberry.field(description="The practice.")
    reference: str = strawberry.field(description="The practice's own reference, 1-40 characters.")
    component: models.Component = strawberry.field(
        description="An enhanced service, premises, a locum, drugs, dispensing fees or other."
    )
    paycode: str | None = strawberry.field(
        default=None, description="The paycode it is paid under, if known: only its lines count."
    )
    description: str = strawberry.field(description="What it is for.")
    covers_from: date = strawberry.field(description="First day of what it claims for.")
    covers_to: date = strawberry.field(description="Last day of what it claims for.")
    amount: Decimal = strawberry.field(
        description="Pounds: what was claimed, or once approved the amount approved."
    )
    claimed_on: date = strawberry.field(description="When it was claimed.")
    approved_on: date | None = strawberry.field(
        default=None, description="When the commissioner approved it; required once approved."
    )
    state: models.ClaimState = strawberry.field(description="Where it is.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.type(description="A practice's claims.")
class ClaimsOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(
        description="The claims the practice recorded, oldest period first: an approved one is "
        "expected on a statement by the end of the next month, and an unpaid one is MISSING."
    )
    async def claims(self, info: Info[PaymentsContext, None]) -> list[PracticeClaim]:
        rows = await info.context.claims.load(self.ods_code)
        return [PracticeClaim.from_row(row) for row in rows]


@strawberry.type
class ClaimsMutation:
    @strawberry.mutation(
        description="Record a claim the practice made (an enhanced service, premises, a locum, "
        "drugs): the practice, an accountant it consented to, or payments operators. Approved, "
        "it is expected by the end of the following month and its lines are judged against it."
    )
    async def record_claim(
        self, info: Info[PaymentsContext, None], input: ClaimInput
    ) -> PracticePaymentsRef:
        code = practice_code(input.ods_code)
        await service.record_claim(
            info.context.sessionmaker,
            info.context.principal,
            facts=service.ClaimFacts(
                ods_code=code,
                reference=input.reference,
                component=input.component,
                paycode=None if input.paycode is None else input.paycode.strip().upper(),
                description=input.description,
                covers_from=input.covers_from,
                covers_to=input.covers_to,
                amount_pence=pounds_pence(input.amount, field="amount"),
                claimed_on=input.claimed_on,
                approved_on=input.approved_on,
                state=input.state,
            ),
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return practice_payments(code)
