"""GraphQL of the published data set beside a practice's statements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from strawberry.types import Info

from payments import models
from payments.context import PaymentsContext
from payments.published import repository, service
from payments.published import rules as published
from payments.rates import year_label
from payments.settings import MAX_RUN_CHARACTERS
from payments.types import pounds


@strawberry.type(
    description="A published annual total of the NHS Payments to General Practice data set "
    "against what this practice's statements moved that year (both cash basis)."
)
class PublishedComparison:
    financial_year: int = strawberry.field(description="The year it starts (2023 is 2023/24).")
    label: str = strawberry.field(description="e.g. 2023/24.")
    measure: models.Measure = strawberry.field(description="The data set's measure.")
    heading: str = strawberry.field(description="The data set's heading(s) for it that year.")
    published: Decimal = strawberry.field(description="As published, pounds.")
    from_statements: Decimal = strawberry.field(
        description="Paid (less reversals) on this practice's statement lines in the year, "
        "pounds, in the data set's sign (deductions positive)."
    )

    @strawberry.field(description="Statements less published: what the two disagree by.")
    def difference(self) -> Decimal:
        return self.from_statements - self.published


@strawberry.type(description="What importing a year of the published data set did.")
class PublishedImport:
    financial_year: int = strawberry.field(description="The year.")
    practice_count: int = strawberry.field(description="Practices in the file.")
    figures: int = strawberry.field(description="Figures imported (0 for a replay).")
    replayed: bool = strawberry.field(description="True when the year was already imported.")


@strawberry.input(description="A year of the published data set to import.")
class ImportPublishedInput:
    financial_year: int = strawberry.field(description="The year it covers (2023 is 2023/24).")
    csv: str = strawberry.field(description="The data set's CSV, as published.")


@strawberry.type(description="A practice's published totals.")
class PublishedOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(
        description="The published data set's annual totals for the practice beside what its "
        "statements moved in the same years, newest year first."
    )
    async def published_totals(
        self,
        info: Info[PaymentsContext, None],
        financial_year: Annotated[
            int | None,
            strawberry.argument(name="financialYear", description="Only this year."),
        ] = None,
    ) -> list[PublishedComparison]:
        rows = [
            r
            for r in await info.context.published.load(self.ods_code)
            if financial_year is None or r.financial_year == financial_year
        ]
        found = []
        async with info.context.sessionmaker() as session:
            for year in sorted({r.financial_year for r in rows}, reverse=True):
                cash = await repository.cash_by_component(
                    session, [self.ods_code], start=date(year, 4, 1), end=date(year + 1, 3, 31)
                )
                ours = published.from_statements({c: p for _, c, p in cash})
                found += [
                    PublishedComparison(
                        financial_year=year,
                        label=year_label(year),
                        measure=r.measure,
                        heading=r.heading,
                        published=pounds(r.amount_pence),
                        from_statements=pounds(ours[r.measure]),
                    )
                    for r in rows
                    if r.financial_year == year
                ]
        return found


@strawberry.type
class PublishedMutation:
    @strawberry.mutation(
        description="Import one financial year of the public NHS Payments to General Practice "
        "data set (its CSV as published; the columns it reads are documented), all or nothing; "
        "the same file again is a no-op. Operators of payments only."
    )
    async def import_published_totals(
        self, info: Info[PaymentsContext, None], input: ImportPublishedInput
    ) -> PublishedImport:
        if len(input.csv) > MAX_RUN_CHARACTERS:
            raise BadUserInput("The file is too large for a request; use the CLI.", field="csv")
        result = await service.import_published(
            info.context.sessionmaker,
            info.context.principal,
            financial_year=input.financial_year,
            csv_text=input.csv,
            today=info.context.today,
        )
        return PublishedImport(
            financial_year=result.financial_year,
            practice_count=result.practice_count,
            figures=result.figures,
            replayed=result.replayed,
        )
