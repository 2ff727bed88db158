"""GraphQL types of the performers subgraph: it owns Practice, Performer and Lmc."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from pcse_kit.identifiers import gmc_number, lmc_code, practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.federation.schema_directives import Cost, ListSize
from strawberry.types import Info

from performers import findings, models, policy, repository, rules
from performers.context import PerformersContext

# By its own name too: in Lmc, `findings` is also a field's resolver.
from performers.findings import FindingKind

strawberry.enum(
    models.ContractType, description="The contract a practice holds with the commissioner."
)
strawberry.enum(
    models.ListStatus,
    description="A performer's state on the National Performers List (SI 2013/335).",
)
strawberry.enum(models.Role, description="A performer's role at a practice.")
strawberry.enum(
    models.PracticeStatus,
    description="ODS status: active, dormant (code kept, not reused), closed or proposed.",
)
strawberry.enum(
    models.ChangeKind, description="What a change request asks: joining, leaving, a status..."
)
strawberry.enum(models.ChangeOutcome, description="How a change request was decided.")
strawberry.enum(findings.FindingKind, description="A kind of problem on the performers list.")
strawberry.enum(findings.Severity, description="How much a finding matters.")


# What the gateway's cost estimate charges for a field that works over a whole LMC area
# (about 65 practices on average) rather than one row: 20 where a keyed field costs 1.
AREA_COST = 20
# An area's findings are worked out over every practice of it, and number tens, not ten.
AREA_FINDINGS_COST = [
    Cost(weight=AREA_COST),
    # Strawberry types the other arguments as required, yet leaves them out of the SDL unset,
    # which is what composition wants here (None would print null, which it refuses).
    ListSize(assumed_size=50),  # type: ignore[call-arg]
]


@strawberry.type(description="One fact behind a finding.")
class Evidence:
    label: str = strawberry.field(description="What the fact is.")
    value: str = strawberry.field(description="Its value.")


@strawberry.type(description="A problem on the performers list, with the evidence for it.")
class Finding:
    kind: findings.FindingKind = strawberry.field(description="What is wrong.")
    severity: findings.Severity = strawberry.field(description="How much it matters.")
    gmc_number: str = strawberry.field(description="The performer concerned.")
    ods_code: str | None = strawberry.field(description="The practice concerned, if one is.")
    since: date | None = strawberry.field(description="When the problem began, where known.")
    evidence: list[Evidence] = strawberry.field(description="The facts that show it.")

    @classmethod
    def of(cls, finding: findings.Finding) -> Finding:
        return cls(
            kind=finding.kind,
            severity=finding.severity,
            gmc_number=finding.gmc_number,
            ods_code=finding.ods_code,
            since=finding.since,
            evidence=[Evidence(label=k, value=v) for k, v in finding.evidence.items()],
        )


@strawberry.type(description="A branch surgery of a practice.")
class BranchSite:
    site_code: str = strawberry.field(description="Nine-character ODS site code.")
    name: str = strawberry.field(description="The site's name.")
    postcode: str = strawberry.field(description="The site's postcode.")


@strawberry.type(description="One change of a performer's list status, as recorded.")
class StatusChange:
    from_status: models.ListStatus | None = strawberry.field(description="Before; null at first.")
    to_status: models.ListStatus = strawberry.field(description="After.")
    effective_date: date = strawberry.field(description="When it took effect.")
    decision: str = strawberry.field(description="The decision, e.g. the panel and regulation.")
    source: str = strawberry.field(description="Who decided or reported it.")
    recorded_at: datetime = strawberry.field(description="When it was recorded here.")
    recorded_by: str = strawberry.field(description="Who recorded it (the token's subject).")


@strawberry.type(description="A request to change the performers list, with its timers.")
class ChangeRequest:
    reference: str = strawberry.field(description="Our reference, e.g. CR-1A2B3C4D5E.")
    kind: models.ChangeKind = strawberry.field(description="What it asks.")
    gmc_number: str = strawberry.field(description="The performer it concerns.")
    ods_code: str | None = strawberry.field(description="The practice it concerns, if any.")
    requested_status: models.ListStatus | None = strawberry.field(
        description="The status asked for, for a status change."
    )
    submitted_on: date = strawberry.field(description="When it was made.")
    decided_on: date | None = strawberry.field(description="When it was decided.")
    outcome: models.ChangeOutcome | None = strawberry.field(description="Null while open.")
    today: strawberry.Private[date]

    @classmethod
    def of(cls, row: models.ChangeRequest, *, today: date) -> ChangeRequest:
        return cls(
            reference=row.reference,
            kind=row.kind,
            gmc_number=row.gmc_number,
            ods_code=row.ods_code,
            requested_status=row.requested_status,
            submitted_on=row.submitted_on,
            decided_on=row.decided_on,
            outcome=row.outcome,
            today=today,
        )

    @strawberry.field(description="True until it is decided.")
    def open(self) -> bool:
        return self.outcome is None

    @strawberry.field(description="NHS England's 12 weeks from submission.")
    def expected_decision_by(self) -> date:
        return rules.expected_decision_by(self.submitted_on)

    @strawberry.field(description="16 weeks from submission: goodwill compensation beyond it.")
    def compensable_from(self) -> date:
        return rules.compensable_from(self.submitted_on)

    @strawberry.field(description="Days from submission to decision, or to today while open.")
    def age_days(self) -> int:
        return ((self.decided_on or self.today) - self.submitted_on).days

    @strawberry.field(description="Decided after, or still open past, the 12-week date.")
    def overdue(self) -> bool:
        return (self.decided_on or self.today) > rules.expected_decision_by(self.submitted_on)

    @strawberry.field(description="Decided after, or still open past, the 16-week threshold.")
    def compensable(self) -> bool:
        return (self.decided_on or self.today) > rules.compensable_from(self.submitted_on)


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
    address: str = strawberry.field(description="Address of the main site.")
    status: models.PracticeStatus = strawberry.field(description="ODS status.")
    opened_on: date | None = strawberry.field(description="When the code became active.")
    closed_on: date | None = strawberry.field(description="When it closed, if it has.")
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
            address=row.address,
            status=row.status,
            opened_on=row.opened_on,
            closed_on=row.closed_on,
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

    @strawberry.field(description="Branch surgeries, by site code.")
    async def branch_sites(self, info: Info[PerformersContext, None]) -> list[BranchSite]:
        rows = await info.context.branch_sites.load(self.ods_code)
        return [BranchSite(site_code=r.site_code, name=r.name, postcode=r.postcode) for r in rows]

    @strawberry.field(
        description="Problems on the list at this practice and with the performers working "
        "there, most severe kinds first."
    )
    async def findings(self, info: Info[PerformersContext, None]) -> list[Finding]:
        async with info.context.sessionmaker() as session:
            found = await findings.find(session, codes=[self.ods_code], on=info.context.today)
        return [Finding.of(f) for f in found]


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
    cct_date: date | None = strawberry.field(
        description="Certificate of Completion of Training; null for a registrar."
    )
    under_training_supervision: bool = strawberry.field(
        description="Listed as under training supervision (a registrar, until CCT)."
    )

    @classmethod
    def from_row(cls, row: models.Performer) -> Performer:
        return cls(
            gmc_number=row.gmc_number,
            given_name=row.given_name,
            family_name=row.family_name,
            status=row.status,
            cct_date=row.cct_date,
            under_training_supervision=row.under_training_supervision,
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

    @strawberry.field(description="Every change of list status, oldest first: append-only.")
    async def status_history(self, info: Info[PerformersContext, None]) -> list[StatusChange]:
        rows = await info.context.history.load(self.gmc_number)
        return [
            StatusChange(
                from_status=r.from_status,
                to_status=r.to_status,
                effective_date=r.effective_date,
                decision=r.decision,
                source=r.source,
                recorded_at=r.recorded_at,
                recorded_by=r.recorded_by,
            )
            for r in rows
        ]

    @strawberry.field(description="Change requests about the performer, newest first.")
    async def change_requests(self, info: Info[PerformersContext, None]) -> list[ChangeRequest]:
        rows = await info.context.change_requests_of_performer.load(self.gmc_number)
        return [ChangeRequest.of(r, today=info.context.today) for r in rows]


@strawberry.type(description="A performer's engagement at a practice.")
class Membership:
    id: strawberry.ID = strawberry.field(description="Identifies the membership, to end it.")
    role: models.Role = strawberry.field(
        description="Partner, salaried, locum, registrar or retainer."
    )
    start_date: date = strawberry.field(description="First day at the practice.")
    end_date: date | None = strawberry.field(description="Last day; null while current.")
    ods_code: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: models.Membership) -> Membership:
        return cls(
            id=strawberry.ID(str(row.id)),
            role=row.role,
            start_date=row.start_date,
            end_date=row.end_date,
            ods_code=row.ods_code,
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
        row = await policy.lmc(info.context, lmc_code(code))
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="Practices in the LMC's area, in ODS code order.")
    async def practices(
        self,
        info: Info[PerformersContext, None],
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Practice]:
        return await practices_connection(info, lmc=self.code, first=first, after=after)

    @strawberry.field(description="ICBs the LMC covers (many LMCs span several).")
    async def icb_codes(self, info: Info[PerformersContext, None]) -> list[str]:
        return await info.context.icbs_of_lmc.load(self.code)

    @strawberry.field(
        description="Performers working in the area today, each counted once, by list status.",
        directives=[Cost(weight=AREA_COST)],
    )
    async def performer_counts(self, info: Info[PerformersContext, None]) -> list[StatusCount]:
        codes = await _area(info, self.code)
        async with info.context.sessionmaker() as session:
            counts = await repository.performer_counts(session, codes, on=info.context.today)
        return [StatusCount(status=status, count=count) for status, count in counts]

    @strawberry.field(
        description="Open change requests in the area, counted by age.",
        directives=[Cost(weight=AREA_COST)],
    )
    async def change_request_ages(self, info: Info[PerformersContext, None]) -> ChangeRequestAges:
        codes = await _area(info, self.code)
        today = info.context.today
        async with info.context.sessionmaker() as session:
            dates = await repository.open_change_request_dates(session, codes, on=today)
        compensable = sum(today > rules.compensable_from(d) for d in dates)
        overdue = sum(today > rules.expected_decision_by(d) for d in dates) - compensable
        return ChangeRequestAges(
            open=len(dates),
            within_twelve_weeks=len(dates) - overdue - compensable,
            overdue=overdue,
            compensable=compensable,
        )

    @strawberry.field(description="Open change requests in the area, longest waiting first.")
    async def open_change_requests(
        self,
        info: Info[PerformersContext, None],
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[ChangeRequest]:
        codes = await _area(info, self.code)
        page = PageRequest.parse(first, after, parsers=(date.fromisoformat, int))
        today = info.context.today
        async with info.context.sessionmaker() as session:
            rows = await repository.open_change_requests(
                session,
                codes,
                on=today,
                after=None if page.after is None else (page.after[0], page.after[1]),
                limit=page.first + 1,
            )
        return build_connection(
            rows,
            page,
            key=lambda r: (r.submitted_on.isoformat(), r.id),
            node=lambda r: ChangeRequest.of(r, today=today),
        )

    @strawberry.field(
        description="Problems on the list in the area, optionally of one kind.",
        directives=AREA_FINDINGS_COST,
    )
    async def findings(
        self,
        info: Info[PerformersContext, None],
        kind: Annotated[
            FindingKind | None, strawberry.argument(description="Only this kind.")
        ] = None,
    ) -> list[Finding]:
        found = await _area_findings(info, self.code)
        return [Finding.of(f) for f in found if kind is None or f.kind == kind]

    @strawberry.field(
        description="How many findings of each kind the area has.",
        directives=[Cost(weight=AREA_COST)],
    )
    async def finding_counts(self, info: Info[PerformersContext, None]) -> list[FindingCount]:
        found = await _area_findings(info, self.code)
        return [
            FindingCount(kind=kind, count=sum(f.kind == kind for f in found))
            for kind in findings.FindingKind
        ]

    @strawberry.field(
        description="Joiners, leavers and list decisions in the area since a date, oldest "
        "first: the new-entrant data LMCs have asked for."
    )
    async def entrants_and_leavers(
        self,
        info: Info[PerformersContext, None],
        since: Annotated[date, strawberry.argument(description="From this date on.")],
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[ListMovement]:
        codes = await _area(info, self.code)
        page = PageRequest.parse(first, after, parsers=(date.fromisoformat, int))
        async with info.context.sessionmaker() as session:
            rows = await repository.entrants_and_leavers(
                session,
                codes,
                since=since,
                until=info.context.today,
                after=None if page.after is None else (page.after[0], page.after[1]),
                limit=page.first + 1,
            )
        return build_connection(
            rows,
            page,
            key=lambda r: (r.on.isoformat(), r.sequence),
            node=lambda r: ListMovement(
                on=r.on, kind=r.kind, gmc_number=r.gmc_number, ods_code=r.ods_code, detail=r.detail
            ),
        )


@strawberry.type(description="How many performers are in one list status.")
class StatusCount:
    status: models.ListStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="How many performers.")


@strawberry.type(description="How many findings of one kind.")
class FindingCount:
    kind: findings.FindingKind = strawberry.field(description="The kind.")
    count: int = strawberry.field(description="How many.")


@strawberry.type(description="Open change requests by age against the 12- and 16-week marks.")
class ChangeRequestAges:
    open: int = strawberry.field(description="All open requests.")
    within_twelve_weeks: int = strawberry.field(description="Not yet past 12 weeks.")
    overdue: int = strawberry.field(description="Past 12 weeks, not yet 16.")
    compensable: int = strawberry.field(description="Past 16 weeks: compensation is due.")


@strawberry.type(description="A joiner, leaver or list decision in an LMC's area.")
class ListMovement:
    on: date = strawberry.field(description="When it happened.")
    kind: str = strawberry.field(description="joined, left or status_changed.")
    gmc_number: str = strawberry.field(description="The performer.")
    ods_code: str | None = strawberry.field(description="The practice, for joining and leaving.")
    detail: str = strawberry.field(description="The role, or the new list status.")

    @strawberry.field(description="The performer.")
    async def performer(self, info: Info[PerformersContext, None]) -> Performer | None:
        row = await info.context.performers.load(self.gmc_number)
        return None if row is None else Performer.from_row(row)


async def _area(info: Info[PerformersContext, None], code: str) -> list[str]:
    """The LMC's practice codes, once the caller is shown to be entitled to its summary."""
    policy.lmc_summary(info.context.principal, code)
    return await info.context.practices_of_lmc.load(code)


async def _area_findings(info: Info[PerformersContext, None], code: str) -> list[findings.Finding]:
    policy.lmc_summary(info.context.principal, code)
    return await info.context.findings_of_lmc.load(code)


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
