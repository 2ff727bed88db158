"""GraphQL of trainee placements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry
from pcse_kit.identifiers import gmc_number, practice_code
from strawberry.types import Info

from payments.context import PaymentsContext
from payments.statements.ingest import pounds_pence
from payments.training import service
from payments.types import (
    PracticePaymentsRef,
    practice_payments,
)

_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.input(description="A change to a placement's reimbursement a month.")
class TraineePayInput:
    applies_from: date = strawberry.field(description="The day it applies from.")
    decided_on: date | None = strawberry.field(
        default=None,
        description="When it was decided, if after it applies (a pay award backdated to April): "
        "months due before then keep the old amount, and the difference is arrears.",
    )
    monthly_amount: Decimal = strawberry.field(description="Reimbursement a month, pounds.")


@strawberry.input(description="A GP registrar's placement at a training practice.")
class TraineePlacementInput:
    ods_code: str = strawberry.field(description="The training practice.")
    gmc_number: str = strawberry.field(description="The registrar.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day.")
    monthly_amount: Decimal = strawberry.field(description="Reimbursement a month, pounds.")
    pay_changes: list[TraineePayInput] = strawberry.field(
        default_factory=list,
        description="Changes to the reimbursement (revised set-up forms), each from a day and "
        "with the day it was decided; recorded whole, replacing any before.",
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.type
class TrainingMutation:
    @strawberry.mutation(
        description="Record a GP registrar's placement (the training practice, an accountant it "
        "consented to, or payments operators): reimbursement is expected monthly while it "
        "lasts, pro rata for part months, with the trainer's grant. The same registrar from "
        "the same day again corrects it."
    )
    async def record_trainee_placement(
        self, info: Info[PaymentsContext, None], input: TraineePlacementInput
    ) -> PracticePaymentsRef:
        code = practice_code(input.ods_code)
        await service.record_trainee_placement(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=code,
            gmc_number=gmc_number(input.gmc_number),
            starts_on=input.starts_on,
            ends_on=input.ends_on,
            monthly_pence=pounds_pence(input.monthly_amount, field="monthlyAmount"),
            pay_changes=[
                service.PayChange(
                    applies_from=change.applies_from,
                    decided_on=change.decided_on,
                    monthly_pence=pounds_pence(change.monthly_amount, field="payChanges"),
                )
                for change in input.pay_changes
            ],
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return practice_payments(code)
