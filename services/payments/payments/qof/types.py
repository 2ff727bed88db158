"""GraphQL of QOF declarations."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry
from pcse_kit.identifiers import practice_code
from strawberry.types import Info

from payments import models
from payments.context import PaymentsContext
from payments.qof import service
from payments.rates import year_label
from payments.statements.ingest import pounds_pence
from payments.types import (
    PracticePaymentsRef,
    pounds,
    practice_payments,
)


@strawberry.type(description="A QOF declaration as CQRS shows it.")
class QofDeclaration:
    financial_year: int = strawberry.field(description="The year it starts (2020 is 2020/21).")
    label: str = strawberry.field(description="e.g. 2020/21.")
    achievement: Decimal = strawberry.field(description="Declared achievement, pounds.")
    state: models.DeclarationState = strawberry.field(description="Its CQRS state.")
    declared_on: date | None = strawberry.field(description="When the practice declared it.")
    approved_on: date | None = strawberry.field(description="When the commissioner approved it.")
    appealed_on: date | None = strawberry.field(description="When the practice appealed it.")
    retired_achievement: Decimal | None = strawberry.field(
        description="The part earned on indicators retired from the next year, pounds."
    )
    aspiration_paid: Decimal | None = strawberry.field(
        description="The aspiration paid for the year as CQRS shows it, pounds (the balance "
        "due is the achievement less the aspiration paid)."
    )


_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.input(description="A QOF declaration as CQRS shows it.")
class QofDeclarationInput:
    ods_code: str = strawberry.field(description="The practice.")
    financial_year: int = strawberry.field(description="The year it starts (2020 is 2020/21).")
    achievement: Decimal = strawberry.field(description="Declared achievement, pounds.")
    state: models.DeclarationState = strawberry.field(description="Its CQRS state.")
    declared_on: date | None = strawberry.field(default=None, description="When declared.")
    approved_on: date | None = strawberry.field(
        default=None, description="When approved; required once approved or paid."
    )
    appealed_on: date | None = strawberry.field(
        default=None, description="When appealed; required for an appealed declaration."
    )
    retired_achievement: Decimal | None = strawberry.field(
        default=None,
        description="The part of the achievement earned on indicators retired from the next "
        "year (as CQRS shows per indicator), pounds: next year's aspiration leaves it out.",
    )
    aspiration_paid: Decimal | None = strawberry.field(
        default=None,
        description="The aspiration paid for the year as CQRS shows it, pounds; needed only "
        "when the statements held here do not cover the whole year.",
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.type(description="A practice's QOF declarations.")
class QofOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(description="QOF declarations by year, newest first, with their CQRS state.")
    async def qof_declarations(self, info: Info[PaymentsContext, None]) -> list[QofDeclaration]:
        rows = await info.context.declarations.load(self.ods_code)
        return [
            QofDeclaration(
                financial_year=r.financial_year,
                label=year_label(r.financial_year),
                achievement=pounds(r.achievement_pence),
                state=r.state,
                declared_on=r.declared_on,
                approved_on=r.approved_on,
                appealed_on=r.appealed_on,
                retired_achievement=None if r.retired_pence is None else pounds(r.retired_pence),
                aspiration_paid=None
                if r.aspiration_paid_pence is None
                else pounds(r.aspiration_paid_pence),
            )
            for r in rows
        ]


@strawberry.type
class QofMutation:
    @strawberry.mutation(
        description="Record a QOF declaration as CQRS shows it (the practice, an accountant it "
        "consented to, or payments operators): approved, its balance (achievement less the "
        "aspiration paid) falls due by the end of June and next year's aspiration follows; "
        "awaiting sign-off past the deadline, or the commissioner too long, it is stuck."
    )
    async def record_qof_declaration(
        self, info: Info[PaymentsContext, None], input: QofDeclarationInput
    ) -> PracticePaymentsRef:
        code = practice_code(input.ods_code)
        retired, paid = input.retired_achievement, input.aspiration_paid
        await service.record_qof_declaration(
            info.context.sessionmaker,
            info.context.principal,
            facts=service.DeclarationFacts(
                ods_code=code,
                financial_year=input.financial_year,
                achievement_pence=pounds_pence(input.achievement, field="achievement"),
                state=input.state,
                declared_on=input.declared_on,
                approved_on=input.approved_on,
                appealed_on=input.appealed_on,
                retired_pence=None
                if retired is None
                else pounds_pence(retired, field="retiredAchievement"),
                aspiration_paid_pence=None
                if paid is None
                else pounds_pence(paid, field="aspirationPaid"),
            ),
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return practice_payments(code)
