"""GraphQL types of the performers subgraph: it owns Practice, Performer and Lmc."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from pcse_kit.identifiers import gmc_number, lmc_code, practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.federation.schema_directives import Cost
from strawberry.federation.schema_directives import ListSize as ListSizeDirective
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from performers import findings, models, policy, repository, rules
from performers.context import PerformersContext

# By its own name too: in Lmc, `findings` is also a field's resolver.
from performers.findings import FindingKind

if TYPE_CHECKING:
    from sqlalchemy import Select

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
    ListSizeDirective(assumed_size=50),  # type: ignore[call-arg]
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
    role: models.Role | None = strawberry.field(description="For joining: the role taken.")
    effective_on: date | None = strawberry.field(
        description="Joining: first day; leaving: last day; CCT or GP Register: the date "
        "awarded or entered; retirement: last day on the list."
    )
    submitted_on: date = strawberry.field(
        description="The day the service received it, as the server recorded it."
    )
    complete_on: date = strawberry.field(
        description="The day the application was complete: the timers run from it. The day "
        "received unless an operator corrected it with evidence."
    )
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
            role=row.role,
            effective_on=row.effective_on,
            submitted_on=row.submitted_on,
            complete_on=row.complete_on,
            decided_on=row.decided_on,
            outcome=row.outcome,
            today=today,
        )

    @strawberry.field(description="True until it is decided.")
    def open(self) -> bool:
        return self.outcome is None

    @strawberry.field(
        description="The decision is due by this day: 12 weeks for an application for "
        "inclusion (NHS England), the service's own target for every other kind."
    )
    def decision_due_by(self) -> date:
        return rules.decision_due_by(self.kind, self.complete_on)

    @strawberry.field(description="Where the target comes from.")
    def target_source(self) -> str:
        return rules.target_of(self.kind).source

    @strawberry.field(
        description="For an application for inclusion, 16 weeks from complete: beyond it, "
        "through no fault of the GP, NHS England may pay goodwill compensation at its "
        "discretion. Null for every other kind."
    )
    def goodwill_from(self) -> date | None:
        return rules.goodwill_from(self.kind, self.complete_on)

    @strawberry.field(description="Days from complete to decision, or to today while open.")
    def age_days(self) -> int:
        return ((self.decided_on or self.today) - self.complete_on).days

    @strawberry.field(description="Decided after, or still open past, its due date.")
    def overdue(self) -> bool:
        return (self.decided_on or self.today) > rules.decision_due_by(self.kind, self.complete_on)

    @strawberry.field(
        description="An application for inclusion decided after, or still open past, 16 "
        "weeks: it may be eligible for goodwill compensation (never a promise)."
    )
    def may_be_eligible_for_goodwill_compensation(self) -> bool:
        start = rules.goodwill_from(self.kind, self.complete_on)
        return start is not None and (self.decided_on or self.today) > start

    @strawberry.field(description="Whole weeks beyond 16, for an application for inclusion.")
    def weeks_beyond_sixteen(self) -> int:
        return rules.weeks_beyond_goodwill(
            self.kind, self.complete_on, self.decided_on or self.today
        )


@strawberry.type(description="Registered and weighted patients of a practice in one quarter.")
class ListSize:
    quarter_start: date = strawberry.field(description="First day of the quarter.")
    registered_patients: int = strawberry.field(description="Registered (raw) list size.")
    weighted_patients: str = strawberry.field(
        description="Weighted (Carr-Hill) list size, a decimal string to two places."
    )
    source: str = strawberry.field(description="The file or publication it came from.")


def asks_for_performers(info: Info[PerformersContext, None]) -> bool:
    """Whether the practice this field resolves is asked for its ``performers``, directly or
    in a fragment: then they are read with the practice, in one statement."""

    def among(selections: list[Selection]) -> bool:
        return any(
            selection.name == "performers"
            if isinstance(selection, SelectedField)
            else among(selection.selections)
            for selection in selections
        )

    return any(among(field.selections) for field in info.selected_fields)


@strawberry.federation.type(
    keys=["odsCode"], description="A GP practice, keyed by its ODS code (e.g. A81001)."
)
class Practice:
    ods_code: str = strawberry.field(description="ODS practice code: a letter and five digits.")
    name: str = strawberry.field(description="The practice's name.")
    postcode: str = strawberry.field(description="Postcode of the main site.")
    icb_code: str = strawberry.field(description="Integrated care board code (e.g. QT6).")
    sub_icb_code: str = strawberry.field(description="Sub-ICB location, the former CCG code.")
    contract_type: models.ContractType | None = strawberry.field(
        description="GMS, PMS or APMS; null until recorded (the ODS file does not carry it)."
    )
    list_size: int = strawberry.field(description="Registered patients (raw list size).")
    address: str = strawberry.field(description="Address of the main site.")
    status: models.PracticeStatus = strawberry.field(description="ODS status.")
    opened_on: date | None = strawberry.field(description="When the code became active.")
    closed_on: date | None = strawberry.field(description="When it closed, if it has.")
    region_code: str | None = strawberry.field(description="NHS England region, e.g. Y58.")
    successor_code: str | None = strawberry.field(
        description="The practice this one merged into, if it has."
    )
    dispensing: bool | None = strawberry.field(
        description="A dispensing practice; null if unknown."
    )
    training_practice: bool | None = strawberry.field(
        description="Approved to train GP registrars; null if unknown."
    )
    out_of_hours_opt_out: bool | None = strawberry.field(
        description="Opted out of out-of-hours care (its global sum is reduced); null if unknown."
    )
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
            region_code=row.region_code,
            successor_code=row.successor_code,
            dispensing=row.dispensing,
            training_practice=row.training_practice,
            out_of_hours_opt_out=row.out_of_hours_opt_out,
            lmc_code=row.lmc_code,
        )

    @classmethod
    async def resolve_reference(
        cls,
        info: Info[PerformersContext, None],
        odsCode: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Practice | None:
        row = await policy.practice(
            info.context, practice_code(odsCode), with_performers=asks_for_performers(info)
        )
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="The Local Medical Committee whose area the practice is in.")
    async def lmc(self, info: Info[PerformersContext, None]) -> Lmc | None:
        row = await info.context.lmcs.load(self.lmc_code)
        return None if row is None else Lmc.from_row(row)

    @strawberry.field(description="Performers working at the practice today, by family name.")
    async def performers(self, info: Info[PerformersContext, None]) -> list[Performer]:
        rows = await info.context.performers_of_practice.load(self.ods_code)
        return [Performer.from_row(row) for row in rows]

    @strawberry.field(description="List sizes by quarter, newest first.")
    async def list_sizes(self, info: Info[PerformersContext, None]) -> list[ListSize]:
        rows = await info.context.list_sizes.load(self.ods_code)
        return [
            ListSize(
                quarter_start=r.quarter_start,
                registered_patients=r.registered_patients,
                weighted_patients=f"{r.weighted_patients:.2f}",
                source=r.source,
            )
            for r in rows
        ]

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
        description="Certificate of Completion of Training, if the GP has one. Not the test "
        "of a GP: many on the GP Register have none (qualified before 2005, CEGPR, EEA)."
    )
    under_training_supervision: bool = strawberry.field(
        description="Listed as under training supervision (a registrar, until CCT)."
    )
    gmc_registered_on: date | None = strawberry.field(
        description="First entry on the GMC's register of medical practitioners."
    )
    gp_register_on: date | None = strawberry.field(
        description="Entry on the GMC's GP Register, required of a GP who is not a registrar "
        "(SI 2013/335 reg 26(2)(b))."
    )
    training_programme_start: date | None = strawberry.field(
        description="A registrar's start on the GP programme; the three months run from it."
    )
    conditions: str | None = strawberry.field(
        description="Conditions imposed on inclusion (reg 10), if any."
    )
    suspension_review_on: date | None = strawberry.field(
        description="When a suspension (reg 12) is next reviewed."
    )
    designated_body: str | None = strawberry.field(
        description="A designated body employing the doctor: since 27 May 2024 (SI 2024/575) "
        "such a doctor may work in primary care without being on the list."
    )
    public_list_visible: bool | None = strawberry.field(
        description="Whether the published list showed the performer at the last check."
    )
    public_list_entries: int | None = strawberry.field(
        description="Entries under this GMC number on the published list at the last check."
    )
    public_list_checked_on: date | None = strawberry.field(
        description="When the published list was last checked."
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
            gmc_registered_on=row.gmc_registered_on,
            gp_register_on=row.gp_register_on,
            training_programme_start=row.training_programme_start,
            conditions=row.conditions,
            suspension_review_on=row.suspension_review_on,
            designated_body=row.designated_body,
            public_list_visible=row.public_list_visible,
            public_list_entries=row.public_list_entries,
            public_list_checked_on=row.public_list_checked_on,
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
        codes = _area_query(info, self.code)
        async with info.context.reader() as session:
            counts = await repository.performer_counts(session, codes, on=info.context.today)
        return [StatusCount(status=status, count=count) for status, count in counts]

    @strawberry.field(
        description="Open change requests in the area, counted by age.",
        directives=[Cost(weight=AREA_COST)],
    )
    async def change_request_ages(self, info: Info[PerformersContext, None]) -> ChangeRequestAges:
        policy.lmc_summary(info.context.principal, self.code)
        today = info.context.today
        # The same rows the area's late-request findings are read from.
        requests = await info.context.open_requests_of_lmc.load(self.code)
        beyond = overdue = 0
        for request in requests:
            goodwill = rules.goodwill_from(request.kind, request.complete_on)
            if goodwill is not None and today > goodwill:
                beyond += 1
            elif today > rules.decision_due_by(request.kind, request.complete_on):
                overdue += 1
        return ChangeRequestAges(
            open=len(requests),
            within_target=len(requests) - overdue - beyond,
            overdue=overdue,
            beyond_sixteen_weeks=beyond,
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
        async with info.context.reader() as session:
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
        async with info.context.reader() as session:
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


@strawberry.type(
    description="Open change requests by age against each kind's target, and applications "
    "for inclusion past 16 weeks."
)
class ChangeRequestAges:
    open: int = strawberry.field(description="All open requests.")
    within_target: int = strawberry.field(description="Not yet past their due date.")
    overdue: int = strawberry.field(
        description="Past their due date (for an application, 12 weeks), not past 16 weeks."
    )
    beyond_sixteen_weeks: int = strawberry.field(
        description="Applications for inclusion open past 16 weeks: they may be eligible for "
        "goodwill compensation, at NHS England's discretion."
    )


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


def _area_query(info: Info[PerformersContext, None], code: str) -> Select[str]:
    """The LMC's practices as a subquery, once the caller is shown to be entitled to its
    summary: for a figure over the whole area, in one statement naming the LMC."""
    policy.lmc_summary(info.context.principal, code)
    return repository.practices_of_area(code)


async def _area_findings(info: Info[PerformersContext, None], code: str) -> list[findings.Finding]:
    policy.lmc_summary(info.context.principal, code)
    return await info.context.findings_of_lmc.load(code)


async def practices_connection(
    info: Info[PerformersContext, None], *, lmc: str | None, first: int | None, after: str | None
) -> Connection[Practice]:
    """A page of the practices the caller may see, optionally of one LMC."""
    page = PageRequest.parse(first, after)
    lmc_codes, codes = policy.practice_filter(info.context.principal, lmc)
    async with info.context.reader() as session:
        rows = await repository.practices_page(
            session,
            lmc_codes=lmc_codes,
            codes=codes,
            after=None if page.after is None else str(page.after[0]),
            limit=page.first + 1,
        )
    return build_connection(rows, page, key=lambda row: (row.ods_code,), node=Practice.from_row)
