"""GraphQL of the expected schedule and the rates it is worked out from."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import practice_code
from strawberry.types import Info

from payments import models
from payments.context import PaymentsContext
from payments.rates import RateBook, RateValue, add_months, financial_year, month_start
from payments.schedule import repository, service
from payments.schedule.rules import Basis, NoteKind
from payments.statements.ingest import pounds_pence
from payments.types import SCHEDULE_COST, Fact, PracticePaymentsRef, pounds, practice_payments


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
    basis: Basis = strawberry.field(description="A month's payment, a year's balance, a claim.")
    interim_amount: Decimal | None = strawberry.field(
        description="What was due before a later decision (the old rate before a backdated "
        "uplift, a provisional aspiration), right until `settleBy`; null if nothing was."
    )
    settle_by: date | None = strawberry.field(
        description="By when the difference from `interimAmount` is due (arrears, a true-up)."
    )
    claim_reference: str | None = strawberry.field(description="The practice's claim it pays.")
    commissioner: models.Paymaster | None = strawberry.field(
        description="Whose money it is: the ICB for delegated primary medical services since 1 "
        "July 2022 (NHS England before), NHS England for trainee pay, the local authority for "
        "public health; PCSE is the paying agent."
    )
    approximate: bool = strawberry.field(
        description="True when it rests on a stand-in fact (no weighted list yet): a missing "
        "payment is found, but the amount is not judged."
    )


@strawberry.type(
    description="Something the practice should know about its schedule that is not a problem: "
    "a declared tier above the pay known here, a suspended GP's contributions, a fact missing."
)
class PaymentNote:
    kind: NoteKind = strawberry.field(description="What it is about.")
    component: models.Component = strawberry.field(description="The component concerned.")
    covers_from: date = strawberry.field(description="The month concerned.")
    gmc_number: str | None = strawberry.field(description="The performer, if about one.")
    summary: str = strawberry.field(description="The note, and what to do about it.")
    facts: list[Fact] = strawberry.field(description="The facts and sources behind it.")


WINDOW_MONTHS = 120
"""The longest window `expected` lists at a time: ten years."""


def horizon(today: date) -> date:
    """The last day `expected` reaches: the end of the next financial year. The schedule is
    worked out month by month from the practice's first statement up to `to`, so `to` is what
    sets the work, and nothing after the next year-end is known well enough to expect."""
    next_year_starts = financial_year(today) + 1
    return date(next_year_starts + 1, 3, 31)


def window(from_: date | None, to: date | None, today: date) -> tuple[date, date]:
    """The months asked for, checked before anything is read or worked out."""
    last = horizon(today)
    if from_ is not None and from_ > last:
        raise BadUserInput(
            f"`from` can be at most the end of the next financial year ({last.isoformat()}).",
            field="from",
        )
    if to is not None and to > last:
        raise BadUserInput(
            f"`to` can be at most the end of the next financial year ({last.isoformat()}).",
            field="to",
        )
    start = month_start(from_) if from_ else add_months(today, -12)
    end = to or add_months(today, 3)
    if end < start:
        raise BadUserInput("`to` cannot be before `from`.", field="to")
    if (end.year - start.year) * 12 + end.month - start.month > WINDOW_MONTHS:
        raise BadUserInput("At most ten years at a time.", field="to")
    return start, end


@strawberry.type(description="A rate with the date it took effect.")
class Rate:
    kind: models.RateKind = strawberry.field(description="What it is.")
    scope: str = strawberry.field(description="'' for national; the LMC's code for a levy.")
    effective_from: date = strawberry.field(description="In force from this day.")
    band_from: Decimal = strawberry.field(description="A tier's lower bound, pounds a year.")
    band_to: Decimal | None = strawberry.field(description="A tier's upper bound, pounds.")
    value: Decimal = strawberry.field(
        description="% (tiers, employer, levy, aspiration share, out-of-hours), pence per "
        "patient a year (global sum, LMC levies) or pence (a QOF point, a trainer's grant a "
        "year), by kind."
    )
    source: str = strawberry.field(description="Where the figure comes from.")
    decided_on: date | None = strawberry.field(
        description="When a rate backdated to `effectiveFrom` was decided; null if known before."
    )
    settle_by: date | None = strawberry.field(
        description="By when the arrears of a backdated rate are due."
    )


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
    decided_on: date | None = strawberry.field(
        default=None,
        description="For a rate decided after it takes effect (a pay-review uplift backdated to "
        "April): the day it was decided. Months due before it keep the old rate, and the "
        "difference is owed as arrears.",
    )
    settle_by: date | None = strawberry.field(
        default=None,
        description="By when the arrears are due (default: the end of the month after the "
        "decision).",
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A PMS baseline or an APMS contract price from a date.")
class ContractValueInput:
    ods_code: str = strawberry.field(description="The practice.")
    contract_type: str = strawberry.field(description="PMS or APMS.")
    effective_from: date = strawberry.field(description="The first day of a month.")
    annual_value: Decimal = strawberry.field(description="Pounds a year; paid in twelfths.")
    decided_on: date | None = strawberry.field(
        default=None,
        description="For a variation decided after the date it applies from (the pay-review "
        "uplift reaching a PMS contract): when it was decided. Months due before then keep the "
        "old value; the difference is arrears by the end of the following month.",
    )
    source: str = strawberry.field(description="Where the figure comes from (the contract).")
    idempotency_key: str = strawberry.field(description=_KEY)


def rate_of(r: models.Rate | RateValue) -> Rate:
    return Rate(
        kind=r.kind,
        scope=r.scope,
        effective_from=r.effective_from,
        band_from=pounds(r.band_from_pence),
        band_to=None if r.band_to_pence is None else pounds(r.band_to_pence),
        value=r.value,
        source=r.source,
        decided_on=r.decided_on,
        settle_by=r.settle_by,
    )


@strawberry.type(description="A practice's expected schedule.")
class ScheduleOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(
        description="The expected schedule between two dates (default: the last 12 months and "
        "the next 3; at most ten years, and up to the end of the next financial year), each "
        "with its derivation. Monthly amounts start with the first statement.",
        directives=SCHEDULE_COST,
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
        start, end = window(from_, to, today)
        built = await info.context.expected_until(self.ods_code, end)
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
                basis=e.basis,
                interim_amount=None if e.interim_pence is None else pounds(e.interim_pence),
                settle_by=e.settle_by,
                claim_reference=e.claim_reference,
                commissioner=e.commissioner,
                approximate=e.approximate,
            )
            for e in built
            if e.due_on >= start
        ]

    @strawberry.field(
        description="Notes about the schedule up to today that are not problems, each with "
        "its facts and what to do: a tier declared above the pay known here (the tier follows "
        "pay across all posts), contributions for a suspended GP (which can rightly go on), a "
        "fact missing that an expectation needs."
    )
    async def notes(self, info: Info[PaymentsContext, None]) -> list[PaymentNote]:
        today = info.context.today
        snapshot = await info.context.schedules.load(self.ods_code)
        return [
            PaymentNote(
                kind=n.kind,
                component=n.component,
                covers_from=n.covers_from,
                gmc_number=n.gmc_number,
                summary=n.summary,
                facts=Fact.many(n.facts),
            )
            for n in snapshot.notes(self.ods_code, until=today, known_on=today)
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
            rows, deadlines, *_ = await repository.rates(session)
        if on is None:
            return [rate_of(r) for r in rows]
        # In force on the day, as decided by then: before a backdated uplift was decided the
        # old rate was the one in force.
        book = RateBook(rows, deadlines)
        return [
            rate_of(value)
            for kind, scope in book.scopes()
            for value in book.in_force(kind, scope, on, known_on=on)
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
            decided_on=input.decided_on,
            settle_by=input.settle_by,
        )
        return Rate(
            kind=input.kind,
            scope=input.scope,
            effective_from=input.effective_from,
            band_from=input.band_from,
            band_to=input.band_to,
            value=input.value,
            source=input.source.strip(),
            decided_on=input.decided_on,
            settle_by=input.settle_by,
        )

    @strawberry.mutation(
        description="Record a PMS practice's baseline or an APMS practice's contract price "
        "from a date: a twelfth is expected each month. Operators of payments only."
    )
    async def record_contract_value(
        self, info: Info[PaymentsContext, None], input: ContractValueInput
    ) -> PracticePaymentsRef:
        code = practice_code(input.ods_code)
        await service.record_contract_value(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=code,
            contract_type=input.contract_type.strip().upper(),
            effective_from=input.effective_from,
            annual_pence=pounds_pence(input.annual_value, field="annualValue"),
            source=input.source,
            decided_on=input.decided_on,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return practice_payments(code)
