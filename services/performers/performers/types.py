"""GraphQL types of the performers subgraph: it owns Practice, Performer and Lmc."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from pcse_kit.identifiers import gmc_number, lmc_code, practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.types import Info

from performers import models, policy, repository
from performers.context import PerformersContext

strawberry.enum(
    models.ContractType, description="The contract a practice holds with the commissioner."
)
strawberry.enum(
    models.ListStatus,
    description="A performer's state on the National Performers List (SI 2013/335).",
)
strawberry.enum(models.Role, description="A performer's role at a practice.")


@strawberry.federation.type(
    keys=["odsCode"], description="A GP practice, keyed by its ODS code (e.g. A81001)."
)
class Practice:
    ods_code: str = strawberry.field(description="ODS practice code: a letter and five digits.")
    name: str = strawberry.field(description="The practice's name.")
    postcode: str = strawberry.field(description="Postcode of the main site.")
    icb_code: str = strawberry.field(description="Integrated care board code (e.g. QT6).")
    sub_icb_code: str = strawberry.field(description="Sub-ICB location, the former CCG code.")
    contract_type: models.ContractType = strawberry.field(description="GMS, PMS or APMS.")
    list_size: int = strawberry.field(description="Registered patients (raw list size).")
    lmc_code: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: models.Practice) -> Practice:
        return cls(
            ods_code=row.ods_code,
            name=row.name,
            postcode=row.postcode,
            icb_code=row.icb_code,
            sub_icb_code=row.sub_icb_code,
            contract_type=row.contract_type,
            list_size=row.list_size,
            lmc_code=row.lmc_code,
        )

    @classmethod
    async def resolve_reference(
        cls,
        info: Info[PerformersContext, None],
        odsCode: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Practice | None:
        row = await policy.practice(info.context, practice_code(odsCode))
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="The Local Medical Committee whose area the practice is in.")
    async def lmc(self, info: Info[PerformersContext, None]) -> Lmc | None:
        row = await info.context.lmcs.load(self.lmc_code)
        return None if row is None else Lmc.from_row(row)

    @strawberry.field(description="Performers working at the practice today, by family name.")
    async def performers(self, info: Info[PerformersContext, None]) -> list[Performer]:
        rows = await info.context.performers_of_practice.load(self.ods_code)
        return [Performer.from_row(row) for row in rows]


@strawberry.federation.type(
    keys=["gmcNumber"], description="A GP, keyed by the GMC number PCSE uses for performers."
)
class Performer:
    gmc_number: str = strawberry.field(description="GMC reference number: seven digits.")
    given_name: str = strawberry.field(description="Given name.")
    family_name: str = strawberry.field(description="Family name.")
    status: models.ListStatus = strawberry.field(
        description="Current National Performers List state."
    )

    @classmethod
    def from_row(cls, row: models.Performer) -> Performer:
        return cls(
            gmc_number=row.gmc_number,
            given_name=row.given_name,
            family_name=row.family_name,
            status=row.status,
        )

    @classmethod
    async def resolve_reference(
        cls,
        info: Info[PerformersContext, None],
        gmcNumber: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Performer | None:
        row = await policy.performer(info.context, gmc_number(gmcNumber))
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="Full name, as shown on the performers list.")
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @strawberry.field(
        description="Where the performer works or has worked, oldest first; for a practice or "
        "an LMC, only at the practices it may see."
    )
    async def memberships(self, info: Info[PerformersContext, None]) -> list[Membership]:
        rows = await info.context.memberships_of_performer.load(self.gmc_number)
        visible = {
            p.ods_code
            for p in await policy.visible_practices(info.context, [r.ods_code for r in rows])
        }
        return [Membership.from_row(row) for row in rows if row.ods_code in visible]


@strawberry.type(description="A performer's engagement at a practice.")
class Membership:
    role: models.Role = strawberry.field(
        description="Partner, salaried, locum, registrar or retainer."
    )
    start_date: date = strawberry.field(description="First day at the practice.")
    end_date: date | None = strawberry.field(description="Last day; null while current.")
    ods_code: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: models.Membership) -> Membership:
        return cls(
            role=row.role, start_date=row.start_date, end_date=row.end_date, ods_code=row.ods_code
        )

    @strawberry.field(description="The practice.")
    async def practice(self, info: Info[PerformersContext, None]) -> Practice | None:
        row = await info.context.practices.load(self.ods_code)
        return None if row is None else Practice.from_row(row)


@strawberry.federation.type(
    keys=["code"], description="A Local Medical Committee, keyed by a stable slug."
)
class Lmc:
    code: str = strawberry.field(
        description="Stable slug, e.g. kernow; LMCs have no national code."
    )
    name: str = strawberry.field(description="BMA-recognised name, e.g. Kernow LMC.")

    @classmethod
    def from_row(cls, row: models.Lmc) -> Lmc:
        return cls(code=row.code, name=row.name)

    @classmethod
    async def resolve_reference(cls, info: Info[PerformersContext, None], code: str) -> Lmc | None:
        row = await info.context.lmcs.load(lmc_code(code))
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="Practices in the LMC's area, in ODS code order.")
    async def practices(
        self,
        info: Info[PerformersContext, None],
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Practice]:
        return await practices_connection(info, lmc=self.code, first=first, after=after)


async def practices_connection(
    info: Info[PerformersContext, None], *, lmc: str | None, first: int | None, after: str | None
) -> Connection[Practice]:
    """A page of the practices the caller may see, optionally of one LMC."""
    page = PageRequest.parse(first, after)
    lmc_codes, codes = policy.practice_filter(info.context.principal, lmc)
    async with info.context.sessionmaker() as session:
        rows = await repository.practices_page(
            session,
            lmc_codes=lmc_codes,
            codes=codes,
            after=None if page.after is None else str(page.after[0]),
            limit=page.first + 1,
        )
    return build_connection(rows, page, key=lambda row: (row.ods_code,), node=Practice.from_row)
