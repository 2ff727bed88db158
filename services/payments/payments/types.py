"""GraphQL types of the payments subgraph: what PCSE has paid a practice, line by line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.identifiers import practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.types import Info

from payments import models
from payments.context import PaymentsContext

strawberry.enum(
    models.Component,
    description="What a line pays (global sum, QOF, ...) or deducts (superannuation, levies).",
)

PENCE = Decimal("0.01")


def pounds(pence: int) -> Decimal:
    """Exact pounds from integer pence: money never passes through a float."""
    return (Decimal(pence) * PENCE).quantize(PENCE)


@strawberry.type(description="One itemised line of a statement.")
class StatementLine:
    component: models.Component = strawberry.field(description="What the line pays or deducts.")
    paycode: str = strawberry.field(description="PCSE paycode of the line.")
    description: str = strawberry.field(description="The line's text on the statement.")
    amount: Decimal = strawberry.field(
        description="Pounds, exact to the penny; negative for deductions."
    )

    @strawberry.field(description="True for deductions: superannuation, levies, charges.")
    def is_deduction(self) -> bool:
        return self.component.is_deduction

    @classmethod
    def from_row(cls, row: models.StatementLine) -> StatementLine:
        return cls(
            component=row.component,
            paycode=row.paycode,
            description=row.description,
            amount=pounds(row.amount_pence),
        )


@strawberry.type(description="A practice's monthly payment statement.")
class Statement:
    id: strawberry.ID = strawberry.field(description="Statement identifier.")
    period: date = strawberry.field(description="First day of the month the statement covers.")
    payment_date: date = strawberry.field(description="The date the payment was made.")
    source_system: str = strawberry.field(description="The system that issued it.")
    statement_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.Statement) -> Statement:
        return cls(
            id=strawberry.ID(str(row.id)),
            period=row.period,
            payment_date=row.payment_date,
            source_system=row.source_system,
            statement_id=row.id,
        )

    @strawberry.field(description="Itemised lines: payments first, then deductions.")
    async def lines(self, info: Info[PaymentsContext, None]) -> list[StatementLine]:
        rows = await info.context.lines.load(self.statement_id)
        return [StatementLine.from_row(row) for row in rows]

    @strawberry.field(description="Sum of the payment lines, in pounds.")
    async def gross(self, info: Info[PaymentsContext, None]) -> Decimal:
        rows = await info.context.lines.load(self.statement_id)
        return pounds(sum(r.amount_pence for r in rows if not r.component.is_deduction))

    @strawberry.field(description="Sum of the deduction lines, in pounds (negative or zero).")
    async def deductions(self, info: Info[PaymentsContext, None]) -> Decimal:
        rows = await info.context.lines.load(self.statement_id)
        return pounds(sum(r.amount_pence for r in rows if r.component.is_deduction))

    @strawberry.field(description="What the practice received: gross plus deductions.")
    async def net(self, info: Info[PaymentsContext, None]) -> Decimal:
        rows = await info.context.lines.load(self.statement_id)
        return pounds(sum(r.amount_pence for r in rows))


@strawberry.type(description="Everything the payments service knows about one practice.")
class PracticePayments:
    ods_code: strawberry.Private[str]

    @strawberry.field(description="Monthly statements, newest first.")
    async def statements(
        self,
        info: Info[PaymentsContext, None],
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Statement]:
        page = PageRequest.parse(first, after, parsers=(date.fromisoformat,))
        rows = await info.context.statements.load((self.ods_code, page))
        return build_connection(
            rows, page, key=lambda row: (row.period.isoformat(),), node=Statement.from_row
        )


@strawberry.federation.type(keys=["odsCode"], description="A GP practice (owned by performers).")
class Practice:
    ods_code: str = strawberry.field(description="ODS practice code.")

    @classmethod
    async def resolve_reference(
        cls,
        odsCode: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Practice:
        return cls(ods_code=practice_code(odsCode))

    @strawberry.field(description="Statements, lines and deductions paid to the practice.")
    def payments(self) -> PracticePayments:
        return PracticePayments(ods_code=self.ods_code)
