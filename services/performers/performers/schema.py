"""The performers subgraph: root fields for the directory and the performers list."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from pcse_kit.graphql import create_schema
from pcse_kit.identifiers import gmc_number, lmc_code, practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.federation.schema_directives import Cost
from strawberry.types import Info

from performers import models, policy, repository, service
from performers.context import PerformersContext
from performers.types import (
    ChangeRequest,
    Lmc,
    Membership,
    Performer,
    Practice,
    practices_connection,
)


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

    @strawberry.field(
        description="Performers by GMC number prefix or any part of the name, among those the "
        "caller may see, in GMC number order.",
        # No index serves a match inside a name: the search reads the whole list (about
        # 42,000 performers nationally), priced as a page of 100 would be.
        directives=[Cost(weight=100)],
    )
    async def search_performers(
        self,
        info: Info[PerformersContext, None],
        text: Annotated[str, strawberry.argument(description="At least 2 characters.")],
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Performer]:
        term = search_text(text)
        page = PageRequest.parse(first, after)
        codes = await policy.searchable_practice_codes(info.context)
        async with info.context.sessionmaker() as session:
            rows = await repository.search_performers(
                session,
                term,
                codes=codes,
                after=None if page.after is None else str(page.after[0]),
                limit=page.first + 1,
            )
        return build_connection(rows, page, key=lambda r: (r.gmc_number,), node=Performer.from_row)

    @strawberry.field(
        description="Practices by ODS code prefix, any part of the name, or postcode, among "
        "those the caller may see, in code order.",
        # Reads the whole directory (about 6,500 practices nationally) for a match in a name.
        directives=[Cost(weight=20)],
    )
    async def search_practices(
        self,
        info: Info[PerformersContext, None],
        text: Annotated[str, strawberry.argument(description="At least 2 characters.")],
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Practice]:
        term = search_text(text)
        page = PageRequest.parse(first, after)
        lmc_codes, codes = policy.practice_filter(info.context.principal, None)
        async with info.context.sessionmaker() as session:
            rows = await repository.search_practices(
                session,
                term,
                lmc_codes=lmc_codes,
                codes=codes,
                after=None if page.after is None else str(page.after[0]),
                limit=page.first + 1,
            )
        return build_connection(rows, page, key=lambda r: (r.ods_code,), node=Practice.from_row)


SEARCH_MIN, SEARCH_MAX = 2, 100


def search_text(value: str) -> str:
    term = value.strip()
    if not SEARCH_MIN <= len(term) <= SEARCH_MAX:
        raise BadUserInput(f"`text` must be {SEARCH_MIN}-{SEARCH_MAX} characters.", field="text")
    return term


@strawberry.input(description="A list decision to record; replays are harmless.")
class ListDecisionInput:
    gmc_number: str = strawberry.field(description="The performer.")
    to_status: models.ListStatus = strawberry.field(description="The new status.")
    effective_date: date = strawberry.field(description="When it takes effect (not future).")
    decision: str = strawberry.field(description="The decision, e.g. 'PLDP, reg 12'.")
    source: str = strawberry.field(description="Who decided or reported it, e.g. 'NHS England'.")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A change request to open; its timers start at submittedOn.")
class OpenChangeRequestInput:
    kind: models.ChangeKind = strawberry.field(description="What it asks.")
    gmc_number: str = strawberry.field(description="The performer.")
    ods_code: str | None = strawberry.field(description="The practice (joining, leaving...).")
    requested_status: models.ListStatus | None = strawberry.field(
        description="For a status change only."
    )
    submitted_on: date = strawberry.field(description="When it was made (not future).")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="The decision on an open change request.")
class DecideChangeRequestInput:
    reference: str = strawberry.field(description="The request's reference.")
    outcome: models.ChangeOutcome = strawberry.field(description="Approved, rejected, withdrawn.")
    decided_on: date = strawberry.field(description="When (not before it was made, not future).")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A performer starting at a practice.")
class AddMembershipInput:
    gmc_number: str = strawberry.field(description="The performer.")
    ods_code: str = strawberry.field(description="The practice.")
    role: models.Role = strawberry.field(description="Partner, salaried, locum...")
    start_date: date = strawberry.field(description="First day.")
    end_date: date | None = strawberry.field(description="Last day, if known.")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="A performer leaving a practice.")
class EndMembershipInput:
    membership_id: strawberry.ID = strawberry.field(description="Membership.id.")
    end_date: date = strawberry.field(description="Last day (not before the start).")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Record a list decision, if the regulations allow it from the current "
        "status; kept in the status history and published."
    )
    async def record_list_decision(
        self, info: Info[PerformersContext, None], input: ListDecisionInput
    ) -> Performer:
        written = await service.record_decision(
            info.context.sessionmaker,
            info.context.principal,
            gmc_number=gmc_number(input.gmc_number),
            to_status=input.to_status,
            effective_date=input.effective_date,
            decision=input.decision,
            source=input.source,
            idempotency_key=input.idempotency_key,
        )
        row = await info.context.performers.load(written.key)
        assert row is not None
        return Performer.from_row(row)

    @strawberry.mutation(description="Open a change request; its 12- and 16-week timers start.")
    async def open_change_request(
        self, info: Info[PerformersContext, None], input: OpenChangeRequestInput
    ) -> ChangeRequest:
        written = await service.open_change_request(
            info.context.sessionmaker,
            info.context.principal,
            kind=input.kind,
            gmc_number=gmc_number(input.gmc_number),
            ods_code=None if input.ods_code is None else practice_code(input.ods_code),
            requested_status=input.requested_status,
            submitted_on=input.submitted_on,
            idempotency_key=input.idempotency_key,
        )
        return await _change_request(info, written.key)

    @strawberry.mutation(description="Decide an open change request; a decided one is final.")
    async def decide_change_request(
        self, info: Info[PerformersContext, None], input: DecideChangeRequestInput
    ) -> ChangeRequest:
        written = await service.decide_change_request(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            outcome=input.outcome,
            decided_on=input.decided_on,
            idempotency_key=input.idempotency_key,
        )
        return await _change_request(info, written.key)

    @strawberry.mutation(description="A performer starts at a practice; published as an event.")
    async def add_membership(
        self, info: Info[PerformersContext, None], input: AddMembershipInput
    ) -> Membership:
        written = await service.add_membership(
            info.context.sessionmaker,
            info.context.principal,
            gmc_number=gmc_number(input.gmc_number),
            ods_code=practice_code(input.ods_code),
            role=input.role,
            start_date=input.start_date,
            end_date=input.end_date,
            idempotency_key=input.idempotency_key,
        )
        return await _membership(info, int(written.key))

    @strawberry.mutation(
        description="A performer leaves a practice; published, so payments can stop "
        "superannuation for the practice."
    )
    async def end_membership(
        self, info: Info[PerformersContext, None], input: EndMembershipInput
    ) -> Membership:
        written = await service.end_membership(
            info.context.sessionmaker,
            info.context.principal,
            membership_id=membership_id(input.membership_id),
            end_date=input.end_date,
            idempotency_key=input.idempotency_key,
        )
        return await _membership(info, int(written.key))


def membership_id(value: str) -> int:
    if not value.isdigit() or len(value) > 18:  # noqa: PLR2004 - fits a bigint
        raise BadUserInput("`membershipId` is not a membership's id.", field="membershipId")
    return int(value)


async def _change_request(info: Info[PerformersContext, None], reference: str) -> ChangeRequest:
    row = await info.context.change_requests.load(reference)
    assert row is not None
    return ChangeRequest.of(row, today=info.context.today)


async def _membership(info: Info[PerformersContext, None], membership: int) -> Membership:
    async with info.context.sessionmaker() as session:
        row = await session.get(models.Membership, membership)
    assert row is not None
    return Membership.from_row(row)


schema = create_schema(query=Query, mutation=Mutation, types=[Practice, Performer, Lmc])
