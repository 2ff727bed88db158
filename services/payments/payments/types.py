"""GraphQL types of the payments subgraph: what PCSE has paid a practice, line by line."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.identifiers import practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.types import Info

from payments import models, policy
from payments.context import PaymentsContext
from payments.service import ConsentView

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
        info: Info[PaymentsContext, None],
        odsCode: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Practice:
        # A caller not entitled to this practice's payments gets nothing for it, not even an
        # empty shell: the representation fails with FORBIDDEN.
        code = practice_code(odsCode)
        await policy.read_practice(info.context, code)
        return cls(ods_code=code)

    @strawberry.field(
        description="Statements, lines and deductions paid to the practice. Null, with a "
        "FORBIDDEN error, for a caller who may not see them."
    )
    async def payments(self, info: Info[PaymentsContext, None]) -> PracticePayments | None:
        await policy.read_practice(info.context, self.ods_code)
        return PracticePayments(ods_code=self.ods_code)


@strawberry.type(description="An accountant's access to one practice's payments.")
class AccountantConsent:
    ods_code: str = strawberry.field(description="The practice that consented.")
    accountant_id: str = strawberry.field(description="The accountant it consented to.")
    granted_at: datetime = strawberry.field(description="When it was granted.")
    granted_by: str = strawberry.field(description="Who granted it (the token's subject).")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")
    revoked_by: str | None = strawberry.field(description="Who revoked it.")

    @strawberry.field(description="True until it is revoked.")
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def of(cls, view: ConsentView) -> AccountantConsent:
        return cls(
            ods_code=view.ods_code,
            accountant_id=view.accountant_id,
            granted_at=datetime.fromisoformat(view.granted_at),
            granted_by=view.granted_by,
            revoked_at=None if view.revoked_at is None else datetime.fromisoformat(view.revoked_at),
            revoked_by=view.revoked_by,
        )
