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

from performers import change_requests, models, policy, repository, service, start
from performers.context import PerformersContext
from performers.types import (
    ChangeRequest,
    Lmc,
    Membership,
    Performer,
    Practice,
    asks_for_performers,
    practices_connection,
)

strawberry.enum(start.Effect, description="What a reason does to the answer.")
strawberry.enum(start.ReasonCode, description="Which test a reason is about.")


@strawberry.type(description='One reason behind a "can start" answer.')
class StartReason:
    code: start.ReasonCode = strawberry.field(description="The test.")
    effect: start.Effect = strawberry.field(description="Allows, blocks, or a note.")
    detail: str = strawberry.field(description="What was found, and the rule.")


@strawberry.type(description="Whether a GP can start at a practice on a day, and why.")
class StartAnswer:
    ods_code: str = strawberry.field(description="The practice.")
    gmc_number: str = strawberry.field(description="The GP.")
    on: date = strawberry.field(description="The day asked about.")
    can_start: bool = strawberry.field(description="True when no reason blocks.")
    reasons: list[StartReason] = strawberry.field(description="Every test, in order.")


# How far ahead "can start" may be asked: a start is planned months ahead, not years.
START_HORIZON_DAYS = 366


@strawberry.type
class Query:
    @strawberry.field(description="A practice by ODS code; null if there is none.")
    async def practice(
        self,
        info: Info[PerformersContext, None],
        ods_code: Annotated[str, strawberry.argument(description="e.g. A81001")],
    ) -> Practice | None:
        row = await policy.practice(
            info.context, practice_code(ods_code), with_performers=asks_for_performers(info)
        )
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

    @strawberry.field(
        description="Can this GP start at this practice on this day? One answer with its "
        "reasons: list status, GP Register or the registrar's three months, the designated-"
        "body exemption, conditions, and open requests with their age. Facts as held today."
    )
    async def can_start(
        self,
        info: Info[PerformersContext, None],
        ods_code: Annotated[str, strawberry.argument(description="The practice.")],
        gmc_number_: Annotated[
            str, strawberry.argument(name="gmcNumber", description="The GP: seven digits.")
        ],
        on: Annotated[
            date | None, strawberry.argument(description="The day; today when left out.")
        ] = None,
    ) -> StartAnswer | None:
        code = practice_code(ods_code)
        number = gmc_number(gmc_number_)
        today = info.context.today
        day = on or today
        if abs((day - today).days) > START_HORIZON_DAYS:
            raise BadUserInput("`on` must be within a year of today.", field="on")
        practice = await policy.can_start(info.context, code)
        if practice is None:
            return None
        performer = await info.context.performers.load(number)
        async with info.context.sessionmaker() as session:
            # A practice sees the requests made at it, never another practice's or the GP's
            # own application to the list unless it names this practice.
            requests = await repository.requests_about(
                session,
                number,
                ods_code=code,
                unattached=info.context.principal.operates(policy.DOMAIN),
            )
        result = start.answer(performer, requests, on=day, today=today)
        return StartAnswer(
            ods_code=code,
            gmc_number=number,
            on=day,
            can_start=result.can_start,
            reasons=[
                StartReason(code=r.code, effect=r.effect, detail=r.detail) for r in result.reasons
            ],
        )


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
    conditions: str | None = strawberry.field(
        default=None, description="The conditions imposed (reg 10): required with conditions."
    )
    review_on: date | None = strawberry.field(
        default=None, description="For a suspension: when it is next reviewed."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(
    description="A new entrant's application for inclusion (NPL1). The day received and the "
    "day complete are today unless an operator gives earlier ones with evidence."
)
class ApplyForInclusionInput:
    gmc_number: str = strawberry.field(description="Seven digits.")
    given_name: str = strawberry.field(description="Given name.")
    family_name: str = strawberry.field(description="Family name.")
    date_of_birth: date | None = strawberry.field(default=None, description="Date of birth.")
    gmc_registered_on: date | None = strawberry.field(
        default=None, description="First entry on the GMC medical register."
    )
    gp_register_on: date | None = strawberry.field(
        default=None, description="Entry on the GMC GP Register: required unless a registrar."
    )
    registrar: bool = strawberry.field(default=False, description="A GP registrar.")
    training_programme_start: date | None = strawberry.field(
        default=None, description="A registrar's GP programme start: required for one."
    )
    ods_code: str | None = strawberry.field(
        default=None, description="The practice the GP means to join, if known."
    )
    received_on: date | None = strawberry.field(
        default=None, description="When PCSE received it, if before today (with evidence)."
    )
    complete_on: date | None = strawberry.field(
        default=None, description="When it was complete, if not the day received (evidence)."
    )
    evidence: str | None = strawberry.field(
        default=None, description="Why a date is not today: kept in the audit trail."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(
    description="Facts from the GMC registers and the training programme. A value left out "
    "stays as it is."
)
class RecordRegistrationInput:
    gmc_number: str = strawberry.field(description="The performer.")
    gmc_registered_on: date | None = strawberry.field(
        default=None, description="First entry on the GMC medical register."
    )
    gp_register_on: date | None = strawberry.field(
        default=None, description="Entry on the GMC GP Register."
    )
    cct_date: date | None = strawberry.field(default=None, description="CCT awarded.")
    training_programme_start: date | None = strawberry.field(
        default=None, description="GP programme start (a registrar)."
    )
    registrar: bool | None = strawberry.field(
        default=None, description="Under training supervision."
    )
    designated_body: str | None = strawberry.field(
        default=None,
        description="A designated body employing the doctor (SI 2024/575); empty to clear.",
    )
    evidence: str = strawberry.field(description="Where the facts come from, e.g. GMC LRMP.")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(
    description="A change request to open. The server records the day it is received; a "
    "practice cannot date it."
)
class OpenChangeRequestInput:
    kind: models.ChangeKind = strawberry.field(description="What it asks.")
    gmc_number: str = strawberry.field(description="The performer.")
    ods_code: str | None = strawberry.field(description="The practice (joining, leaving...).")
    requested_status: models.ListStatus | None = strawberry.field(
        default=None, description="For a status change only."
    )
    role: models.Role | None = strawberry.field(
        default=None, description="For joining only: the role taken."
    )
    effective_on: date | None = strawberry.field(
        default=None,
        description="Joining: first day; leaving: last day; CCT or GP Register: date awarded "
        "or entered; retirement: last day on the list.",
    )
    submitted_on: date | None = strawberry.field(
        default=None,
        description="Leave it out: the server records today. An operator may give an earlier "
        "day with evidence; a practice may not.",
    )
    complete_on: date | None = strawberry.field(
        default=None, description="Operators only, with evidence: when it was complete."
    )
    evidence: str | None = strawberry.field(
        default=None, description="Why a date is not today: kept in the audit trail."
    )
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="The decision on an open change request.")
class DecideChangeRequestInput:
    reference: str = strawberry.field(description="The request's reference.")
    outcome: models.ChangeOutcome = strawberry.field(description="Approved, rejected, withdrawn.")
    decided_on: date = strawberry.field(description="When (not before complete, not future).")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="An operator's correction of the day an application was complete.")
class CorrectChangeRequestDatesInput:
    reference: str = strawberry.field(description="The request's reference.")
    complete_on: date = strawberry.field(description="When it was complete (not future).")
    evidence: str = strawberry.field(description="The evidence: kept in the audit trail.")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="What the published performers list showed under a GMC number.")
class PublicListCheckInput:
    gmc_number: str = strawberry.field(description="The performer.")
    entries: int = strawberry.field(
        description="Entries shown under the number: 0 (not visible), 1, or more (twice)."
    )
    checked_on: date = strawberry.field(description="When it was checked (not future).")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(
    description="A practice's facts the ODS file does not carry; a value left out stays."
)
class PracticeDetailsInput:
    ods_code: str = strawberry.field(description="The practice.")
    contract_type: models.ContractType | None = strawberry.field(
        default=None, description="GMS, PMS or APMS."
    )
    dispensing: bool | None = strawberry.field(default=None, description="Dispensing practice.")
    training_practice: bool | None = strawberry.field(
        default=None, description="Approved to train GP registrars."
    )
    out_of_hours_opt_out: bool | None = strawberry.field(
        default=None, description="Opted out of out-of-hours care."
    )
    lmc_code: str | None = strawberry.field(default=None, description="Its LMC.")
    idempotency_key: str = strawberry.field(description="Unique per intended change.")


@strawberry.input(description="An operator records a performer at a practice.")
class AddMembershipInput:
    gmc_number: str = strawberry.field(description="The performer.")
    ods_code: str = strawberry.field(description="The practice.")
    role: models.Role = strawberry.field(description="Partner, salaried, locum...")
    start_date: date = strawberry.field(description="First day.")
    end_date: date | None = strawberry.field(default=None, description="Last day, if known.")
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
            conditions=input.conditions,
            review_on=input.review_on,
            idempotency_key=input.idempotency_key,
        )
        return await _performer(info, written.key)

    @strawberry.mutation(
        description="Operators: a new entrant's application for inclusion (NPL1). The "
        "performer is pending; the 12 and 16 weeks run from the day it was complete."
    )
    async def apply_for_inclusion(
        self, info: Info[PerformersContext, None], input: ApplyForInclusionInput
    ) -> ChangeRequest:
        written = await change_requests.apply_for_inclusion(
            info.context.sessionmaker,
            info.context.principal,
            entrant=change_requests.NewEntrant(
                gmc_number=gmc_number(input.gmc_number),
                given_name=input.given_name,
                family_name=input.family_name,
                date_of_birth=input.date_of_birth,
                gmc_registered_on=input.gmc_registered_on,
                gp_register_on=input.gp_register_on,
                registrar=input.registrar,
                training_programme_start=input.training_programme_start,
                ods_code=None if input.ods_code is None else practice_code(input.ods_code),
            ),
            received_on=input.received_on,
            complete_on=input.complete_on,
            evidence=input.evidence,
            idempotency_key=input.idempotency_key,
        )
        return await _change_request(info, written.key)

    @strawberry.mutation(
        description="Operators: record GMC register and GP Register entries, a CCT, a "
        "training programme start or a designated body; audited and published."
    )
    async def record_registration(
        self, info: Info[PerformersContext, None], input: RecordRegistrationInput
    ) -> Performer:
        written = await service.record_registration(
            info.context.sessionmaker,
            info.context.principal,
            gmc_number=gmc_number(input.gmc_number),
            registration=service.Registration(
                gmc_registered_on=input.gmc_registered_on,
                gp_register_on=input.gp_register_on,
                cct_date=input.cct_date,
                training_programme_start=input.training_programme_start,
                registrar=input.registrar,
                designated_body=input.designated_body,
            ),
            evidence=input.evidence,
            idempotency_key=input.idempotency_key,
        )
        return await _performer(info, written.key)

    @strawberry.mutation(
        description="Open a change request, dated by the server. A practice opens joining "
        "for its own practice, and other kinds for a GP working there now."
    )
    async def open_change_request(
        self, info: Info[PerformersContext, None], input: OpenChangeRequestInput
    ) -> ChangeRequest:
        written = await change_requests.open_change_request(
            info.context.sessionmaker,
            info.context.principal,
            request=change_requests.RequestInput(
                kind=input.kind,
                gmc_number=gmc_number(input.gmc_number),
                ods_code=None if input.ods_code is None else practice_code(input.ods_code),
                requested_status=input.requested_status,
                role=input.role,
                effective_on=input.effective_on,
                submitted_on=input.submitted_on,
                complete_on=input.complete_on,
                evidence=input.evidence,
            ),
            idempotency_key=input.idempotency_key,
        )
        return await _change_request(info, written.key)

    @strawberry.mutation(
        description="Operators: correct the day an application was complete, with evidence."
    )
    async def correct_change_request_dates(
        self, info: Info[PerformersContext, None], input: CorrectChangeRequestDatesInput
    ) -> ChangeRequest:
        written = await change_requests.correct_request_dates(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            complete_on=input.complete_on,
            evidence=input.evidence,
            idempotency_key=input.idempotency_key,
        )
        return await _change_request(info, written.key)

    @strawberry.mutation(
        description="Operators: what the published list showed under a GMC number; an "
        "included GP it does not show is a finding (entitled but not visible)."
    )
    async def record_public_list_check(
        self, info: Info[PerformersContext, None], input: PublicListCheckInput
    ) -> Performer:
        written = await service.record_public_list_check(
            info.context.sessionmaker,
            info.context.principal,
            gmc_number=gmc_number(input.gmc_number),
            entries=input.entries,
            checked_on=input.checked_on,
            idempotency_key=input.idempotency_key,
        )
        return await _performer(info, written.key)

    @strawberry.mutation(
        description="Operators: a practice's contract type, dispensing, training and "
        "out-of-hours facts, or its LMC; published as practice.upserted."
    )
    async def set_practice_details(
        self, info: Info[PerformersContext, None], input: PracticeDetailsInput
    ) -> Practice:
        written = await service.set_practice_details(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            details=service.PracticeDetails(
                contract_type=input.contract_type,
                dispensing=input.dispensing,
                training_practice=input.training_practice,
                out_of_hours_opt_out=input.out_of_hours_opt_out,
                lmc_code=None
                if input.lmc_code is None
                else lmc_code(input.lmc_code, field="lmcCode"),
            ),
            idempotency_key=input.idempotency_key,
        )
        async with info.context.sessionmaker() as session:
            row = await session.get(models.Practice, written.key)
        assert row is not None
        return Practice.from_row(row)

    @strawberry.mutation(
        description="Decide an open change request; an approval takes effect (membership, "
        "status, CCT or GP Register) in the same transaction. A decided one is final."
    )
    async def decide_change_request(
        self, info: Info[PerformersContext, None], input: DecideChangeRequestInput
    ) -> ChangeRequest:
        written = await change_requests.decide_change_request(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            outcome=input.outcome,
            decided_on=input.decided_on,
            idempotency_key=input.idempotency_key,
        )
        return await _change_request(info, written.key)

    @strawberry.mutation(
        description="Operators: a performer starts at a practice; published. A practice opens "
        "a joining request instead, which creates the membership when approved."
    )
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


async def _performer(info: Info[PerformersContext, None], gmc: str) -> Performer:
    async with info.context.sessionmaker() as session:
        row = await session.get(models.Performer, gmc)
    assert row is not None
    return Performer.from_row(row)


async def _membership(info: Info[PerformersContext, None], membership: int) -> Membership:
    async with info.context.sessionmaker() as session:
        row = await session.get(models.Membership, membership)
    assert row is not None
    return Membership.from_row(row)


schema = create_schema(query=Query, mutation=Mutation, types=[Practice, Performer, Lmc])
