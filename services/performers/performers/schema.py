"""The performers subgraph: root fields for the directory and the performers list."""

from __future__ import annotations

from typing import Annotated

import strawberry
from pcse_kit.graphql import create_schema
from pcse_kit.identifiers import gmc_number, lmc_code, practice_code
from pcse_kit.pagination import Connection
from strawberry.types import Info

from performers import policy
from performers.context import PerformersContext
from performers.types import Lmc, Performer, Practice, practices_connection


@strawberry.type
class Query:
    @strawberry.field(description="A practice by ODS code; null if there is none.")
    async def practice(
        self,
        info: Info[PerformersContext, None],
        ods_code: Annotated[str, strawberry.argument(description="e.g. A81001")],
    ) -> Practice | None:
        row = await policy.practice(info.context, practice_code(ods_code))
        return None if row is None else Practice.from_row(row)

    @strawberry.field(description="A performer by GMC number; null if there is none.")
    async def performer(
        self,
        info: Info[PerformersContext, None],
        gmc_number_: Annotated[
            str, strawberry.argument(name="gmcNumber", description="Seven digits.")
        ],
    ) -> Performer | None:
        row = await policy.performer(info.context, gmc_number(gmc_number_))
        return None if row is None else Performer.from_row(row)

    @strawberry.field(description="An LMC by code; null if there is none.")
    async def lmc(
        self,
        info: Info[PerformersContext, None],
        code: Annotated[str, strawberry.argument(description="e.g. kernow")],
    ) -> Lmc | None:
        row = await policy.lmc(info.context, lmc_code(code))
        return None if row is None else Lmc.from_row(row)

    @strawberry.field(description="The practice directory in ODS code order, optionally by LMC.")
    async def practices(
        self,
        info: Info[PerformersContext, None],
        lmc_code_: Annotated[
            str | None, strawberry.argument(name="lmcCode", description="Only this LMC's.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Practice]:
        lmc = None if lmc_code_ is None else lmc_code(lmc_code_, field="lmcCode")
        return await practices_connection(info, lmc=lmc, first=first, after=after)


schema = create_schema(query=Query, types=[Practice, Performer, Lmc])
