"""GraphQL of a practice's to-do list and cash-flow forecast."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from strawberry.federation.schema_directives import Cost
from strawberry.types import Info

from payments import models, policy
from payments.context import PaymentsContext
from payments.pensions import repository as pensions_repository
from payments.planning import rules
from payments.rates import add_months, month_end
from payments.types import pounds

strawberry.enum(rules.ToDoKind, description="What a to-do item is about.")

MAX_DAYS = 366
MAX_MONTHS = 12


@strawberry.type(description="Something the practice must do by a date, with its source.")
class ToDoItem:
    due_on: date = strawberry.field(description="By when.")
    kind: rules.ToDoKind = strawberry.field(description="What it is about.")
    what: str = strawberry.field(description="What is due.")
    action: str = strawberry.field(description="What to do.")
    source: str = strawberry.field(description="Where the deadline comes from.")
    overdue: bool = strawberry.field(description="Its date has passed.")
    reference: str | None = strawberry.field(
        description="The claim, GP (GMC number) or dispute it is about."
    )


@strawberry.type(description="One amount expected on a pay date.")
class ForecastLine:
    component: models.Component | None = strawberry.field(description="What it is.")
    what: str = strawberry.field(description="What it is, in words.")
    amount: Decimal | None = strawberry.field(
        description="Pounds, deductions negative; null when it cannot be known yet (a QOF "
        "balance before CQRS approves the declaration, pension year-end balancing)."
    )
    source: str = strawberry.field(description="Where the amount or date comes from.")


@strawberry.type(description="What should reach (or leave) the bank in one pay run.")
class ForecastPayDate:
    pay_on: date = strawberry.field(description="The run's date (a working day).")
    net: Decimal = strawberry.field(description="Pounds: the sum of the known amounts.")
    complete: bool = strawberry.field(
        description="Every amount is known (false: some are not known yet, see the lines)."
    )
    lines: list[ForecastLine] = strawberry.field(description="Each amount.")


@strawberry.type(description="A practice's deadlines and cash-flow forecast.")
class PlanningOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(
        description="What the practice must do from today to `days` ahead (default 90, at most "
        "366), and anything overdue, soonest first, each with its source: QOF declaration "
        "sign-off, approved claims' payment dates, pension estimates, Type 1/2 certificates "
        "(28 February), locum forms (the 7th), disputes to escalate (day 41). For the practice, "
        "payments operators and admins (it names its disputes).",
        directives=[Cost(weight=20)],
    )
    async def to_do(
        self,
        info: Info[PaymentsContext, None],
        days: Annotated[int, strawberry.argument(description="How far ahead.")] = 90,
    ) -> list[ToDoItem] | None:
        await policy.read_disputes(info.context, self.ods_code)
        if not 1 <= days <= MAX_DAYS:
            raise BadUserInput(f"`days` must be 1-{MAX_DAYS}.", field="days")
        today = info.context.today
        snapshot = await info.context.schedules.load(self.ods_code)
        facts = snapshot.facts[self.ods_code]
        disputes = await info.context.disputes.load(self.ods_code)
        days_for = [await info.context.escalation_days.load(d.raised_on) for d in disputes]
        gmc_numbers = sorted({m.gmc_number for m in facts.memberships})
        async with info.context.sessionmaker() as session:
            certificates = (
                await pensions_repository.certificates(session, gmc_numbers) if gmc_numbers else []
            )
        items = rules.to_do(
            facts,
            snapshot.book,
            certificates=certificates,
            disputes=list(zip(disputes, days_for, strict=True)),
            today=today,
            days=days,
        )
        return [
            ToDoItem(
                due_on=i.due_on,
                kind=i.kind,
                what=i.what,
                action=i.action,
                source=i.source,
                overdue=i.overdue,
                reference=i.reference,
            )
            for i in items
        ]

    @strawberry.field(
        description="A cash-flow forecast by pay date from tomorrow to the end of the `months`-th "
        "month after this one (default 3, at most 12), from the expected schedule, with the "
        "June QOF balance and the April-May pension year-end balancing.",
        directives=[Cost(weight=20)],
    )
    async def forecast(
        self,
        info: Info[PaymentsContext, None],
        months: Annotated[int, strawberry.argument(description="How many months ahead.")] = 3,
    ) -> list[ForecastPayDate] | None:
        await policy.read_practice(info.context, self.ods_code)
        if not 1 <= months <= MAX_MONTHS:
            raise BadUserInput(f"`months` must be 1-{MAX_MONTHS}.", field="months")
        today = info.context.today
        snapshot = await info.context.schedules.load(self.ods_code)
        until = month_end(add_months(today, months))
        expectations = snapshot.expected(self.ods_code, until=until, known_on=today)
        found = rules.forecast(
            expectations, snapshot.facts[self.ods_code], snapshot.book, today=today, months=months
        )
        return [
            ForecastPayDate(
                pay_on=day.pay_on,
                net=pounds(day.net_pence),
                complete=day.complete,
                lines=[
                    ForecastLine(
                        component=i.component,
                        what=i.what,
                        amount=None if i.amount_pence is None else pounds(i.amount_pence),
                        source=i.source,
                    )
                    for i in day.items
                ],
            )
            for day in found
        ]
