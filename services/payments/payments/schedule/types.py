"""GraphQL of the expected schedule and the rates it is worked out from."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from strawberry.types import Info

from payments import models
from payments.context import PaymentsContext
from payments.rates import add_months, month_start
from payments.schedule import repository, service
from payments.statements.ingest import pounds_pence
from payments.types import Fact, pounds


@strawberry.type(description="One amount the practice should receive or have deducted.")
class Expectation:
    component: models.Component = strawberry.field(description="What it pays or deducts.")
    paycode: str = strawberry.field(description="The paycode it should come under.")
    covers_from: date = strawberry.field(description="First day of the period it is for.")
    covers_to: date = strawberry.field(description="Last day of the period it is for.")
    due_on: date = strawberry.field(description="When it is due by.")
    amount: Decimal = strawberry.field(description="Pounds; negative for a deduction.")
    gmc_number: str | None = strawberry.field(description="The performer, for pensions.")
    declaration_state: models.DeclarationState | None = strawberry.field(
        description="For QOF achievement: the declaration's CQRS state."
    )
    derivation: list[Fact] = strawberry.field(
        description="How it was worked out, step by step, from which facts and rates."
    )
    due: bool = strawberry.field(description="True once the due date has passed.")


def _window(from_: date | None, to: date | None, today: date) -> tuple[date, date]:
    start = month_start(from_) if from_ else add_months(today, -12)
    end = to or add_months(today, 3)
    if end < start:
        raise BadUserInput("`to` cannot be before `from`.", field="to")
    if (end.year - start.year) * 12 + end.month - start.month > 120:  # noqa: PLR2004 - 10 years
        raise BadUserInput("At most ten years at a time.", field="to")
    return start, end


@strawberry.type(description="A rate with the date it took effect.")
class Rate:
    kind: models.RateKind = strawberry.field(description="What it is.")
    scope: str = strawberry.field(description="'' for national; the LMC's code for a levy.")
    effective_from: date = strawberry.field(description="In force from this day.")
    band_from: Decimal = strawberry.field(description="A tier's lower bound, pounds a year.")
    band_to: Decimal | None = strawberry.field(description="A tier's upper bound, pounds.")
    value: Decimal = strawberry.field(description="% or pence per patient a year, by kind.")
    source: str = strawberry.field(description="Where the figure comes from.")


_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.input(description="A rate from a date.")
class RateInput:
    kind: models.RateKind = strawberry.field(description="What it is.")
    scope: str = strawberry.field(default="", description="The LMC's code, for a levy.")
    effective_from: date = strawberry.field(description="In force from this day.")
    value: Decimal = strawberry.field(description="% or pence per patient a year, by kind.")
    band_from: Decimal = strawberry.field(
        default=Decimal(0), description="A tier's lower bound, pounds a year."
    )
    band_to: Decimal | None = strawberry.field(default=None, description="Its upper bound.")
    source: str = strawberry.field(description="Where the figure comes from.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.type(description="A practice's expected schedule.")
class ScheduleOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(
        description="The expected schedule between two dates (default: the last 12 months and "
        "the next 3), each with its derivation. Monthly amounts start with the first statement."
    )
    async def expected(
        self,
        info: Info[PaymentsContext, None],
        from_: Annotated[
            date | None, strawberry.argument(name="from", description="From this month.")
        ] = None,
        to: Annotated[date | None, strawberry.argument(description="Up to this day.")] = None,
    ) -> list[Expectation]:
        today = info.context.today
        start, end = _window(from_, to, today)
        snapshot = await info.context.schedules.load(self.ods_code)
        return [
            Expectation(
                component=e.component,
                paycode=e.paycode,
                covers_from=e.covers_from,
                covers_to=e.covers_to,
                due_on=e.due_on,
                amount=pounds(e.amount_pence),
                gmc_number=e.gmc_number,
                declaration_state=e.declaration_state,
                derivation=Fact.many(e.derivation),
                due=e.due_on < today,
            )
            for e in snapshot.expected(self.ods_code, until=end)
            if e.due_on >= start
        ]


@strawberry.type
class ScheduleQuery:
    @strawberry.field(
        description="Rates with their effective dates (contribution tiers, employer rate, admin "
        "levy, LMC levies, global sum, QOF aspiration share), optionally those in force on a day."
    )
    async def payment_rates(
        self,
        info: Info[PaymentsContext, None],
        on: Annotated[date | None, strawberry.argument(description="In force on this day.")] = None,
    ) -> list[Rate]:
        async with info.context.sessionmaker() as session:
            rows, _ = await repository.rates(session)
        if on is not None:
            latest: dict[tuple[models.RateKind, str], date] = {}
            for r in rows:
                if r.effective_from <= on:
                    latest[(r.kind, r.scope)] = max(
                        latest.get((r.kind, r.scope), r.effective_from), r.effective_from
                    )
            rows = [r for r in rows if latest.get((r.kind, r.scope)) == r.effective_from]
        return [
            Rate(
                kind=r.kind,
                scope=r.scope,
                effective_from=r.effective_from,
                band_from=pounds(r.band_from_pence),
                band_to=None if r.band_to_pence is None else pounds(r.band_to_pence),
                value=r.value,
                source=r.source,
            )
            for r in rows
        ]


@strawberry.type
class ScheduleMutation:
    @strawberry.mutation(
        description="Record a rate from a date (April's uprating, an LMC's new levy); earlier "
        "rates stay in force for earlier periods. Operators of payments only."
    )
    async def record_rate(self, info: Info[PaymentsContext, None], input: RateInput) -> Rate:
        band_to = None if input.band_to is None else pounds_pence(input.band_to, field="bandTo")
        await service.record_rate(
            info.context.sessionmaker,
            info.context.principal,
            kind=input.kind,
            scope=input.scope,
            effective_from=input.effective_from,
            value=input.value,
            band_from_pence=pounds_pence(input.band_from, field="bandFrom"),
            band_to_pence=band_to,
            source=input.source,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return Rate(
            kind=input.kind,
            scope=input.scope,
            effective_from=input.effective_from,
            band_from=input.band_from,
            band_to=input.band_to,
            value=input.value,
            source=input.source.strip(),
        )
