"""GraphQL types of the payments subgraph: what PCSE paid a practice, what it should have
paid, what went wrong, and the evidence for a claim."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import gmc_number, lmc_code, practice_code
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from payments import anomalies as detection
from payments import disputes, export, facts, models, pensions, policy, published, repository
from payments.context import PaymentsContext
from payments.rates import add_months, financial_year, month_start, year_label
from payments.service import ConsentView, RunResult

strawberry.enum(
    models.Component,
    description="What a line pays (global sum, QOF, ...) or deducts (superannuation, levies).",
)
strawberry.enum(models.Paymaster, description="Whose money a line is: NHS England, an ICB...")
strawberry.enum(
    models.ChainStatus,
    description="Where a line is in the payment chain: authorised, entered, paid, failed, "
    "reversed.",
)
strawberry.enum(models.AnomalyKind, description="A kind of problem with a practice's payments.")
strawberry.enum(models.Severity, description="How much an anomaly matters.")
strawberry.enum(
    models.DeclarationState, description="A CQRS declaration's state, in the order it moves."
)
strawberry.enum(models.DisputeEventKind, description="A step in a dispute's timeline.")
strawberry.enum(models.CertificateType, description="Type 1 (partners) or Type 2 (salaried...).")
strawberry.enum(models.LocumForm, description="Locum Form A (per practice) or B (per month).")
strawberry.enum(models.RateKind, description="What a rate is: a contribution tier, a levy...")
strawberry.enum(
    pensions.CertificateStatus, description="Where a year's Type 1 / Type 2 certificate is."
)
strawberry.enum(
    models.Measure,
    description="A measure of the published NHS Payments to General Practice data set.",
)


@strawberry.enum(description="What a statement export is written as.")
class ExportFormat(enum.Enum):
    CSV = "csv"
    JSON = "json"


PENCE = Decimal("0.01")


def pounds(pence: int) -> Decimal:
    """Exact pounds from integer pence: money never passes through a float."""
    return (Decimal(pence) * PENCE).quantize(PENCE)


@strawberry.type(description="One fact, as a label and a value a person can read.")
class Fact:
    label: str = strawberry.field(description="What the fact is.")
    value: str = strawberry.field(description="Its value.")

    @classmethod
    def many(cls, pairs: Iterable[Sequence[object]]) -> list[Fact]:
        return [Fact(label=str(label), value=str(value)) for label, value in pairs]


@strawberry.type(description="One itemised line of a statement.")
class StatementLine:
    id: strawberry.ID = strawberry.field(description="The line, to open a dispute about it.")
    component: models.Component = strawberry.field(description="What the line pays or deducts.")
    paycode: str = strawberry.field(description="PCSE paycode of the line.")
    description: str = strawberry.field(description="The line's text on the statement.")
    amount: Decimal = strawberry.field(
        description="Pounds, exact to the penny; negative for deductions."
    )
    covers_from: date = strawberry.field(description="First day of the period the line pays for.")
    covers_to: date = strawberry.field(description="Last day of the period the line pays for.")
    paymaster: models.Paymaster = strawberry.field(description="Whose money it is.")
    source_system: str = strawberry.field(description="PCSE Online, NHAIS, ISFE, CQRS...")
    authoriser: str | None = strawberry.field(description="Who authorised the payment.")
    status: models.ChainStatus = strawberry.field(description="Its place in the payment chain.")
    authorised_on: date | None = strawberry.field(description="When it was authorised.")
    entered_on: date | None = strawberry.field(description="When PCSE entered it.")
    paid_on: date | None = strawberry.field(description="When it was paid.")
    failed_on: date | None = strawberry.field(description="When it failed.")
    reversed_on: date | None = strawberry.field(description="When a payment was reversed.")
    gmc_number: str | None = strawberry.field(description="The performer of a pension line.")
    run_id: str | None = strawberry.field(description="The payment run that brought it.")

    @strawberry.field(description="True for deductions: superannuation, levies, charges.")
    def is_deduction(self) -> bool:
        return self.component.is_deduction

    @classmethod
    def from_row(cls, row: models.LineRow) -> StatementLine:
        return cls(
            id=strawberry.ID(str(row.id)),
            component=row.component,
            paycode=row.paycode,
            description=row.description,
            amount=pounds(row.amount_pence),
            covers_from=row.covers_from,
            covers_to=row.covers_to,
            paymaster=row.paymaster,
            source_system=row.source_system,
            authoriser=row.authoriser,
            status=row.status,
            authorised_on=row.authorised_on,
            entered_on=row.entered_on,
            paid_on=row.paid_on,
            failed_on=row.failed_on,
            reversed_on=row.reversed_on,
            gmc_number=row.gmc_number,
            run_id=row.run_id,
        )


_FROM_LINES = frozenset({"lines", "gross", "deductions", "net"})
"""The fields of a statement that are worked out from its lines."""


def _asks_for_lines(selections: Sequence[Selection]) -> bool:
    """Whether a query asks for any statement's lines or totals, anywhere below this field."""
    return any(
        (isinstance(selection, SelectedField) and selection.name in _FROM_LINES)
        or _asks_for_lines(selection.selections)
        for selection in selections
    )


@strawberry.type(
    description="A practice's monthly payment statement. Totals count paid lines, less "
    "reversals; authorised, entered and failed lines are listed but not counted."
)
class Statement:
    id: strawberry.ID = strawberry.field(description="Statement identifier.")
    period: date = strawberry.field(description="First day of the month the statement covers.")
    payment_date: date = strawberry.field(description="The date the payment was made.")
    source_system: str = strawberry.field(description="The system that issued it.")
    statement_id: strawberry.Private[int]
    totals: strawberry.Private[export.Totals | None] = None
    """Worked out once for gross, deductions and net alike."""

    @classmethod
    def from_row(cls, row: models.StatementRow) -> Statement:
        return cls(
            id=strawberry.ID(str(row.id)),
            period=row.period,
            payment_date=row.payment_date,
            source_system=row.source_system,
            statement_id=row.id,
        )

    async def _totals(self, info: Info[PaymentsContext, None]) -> export.Totals:
        lines = await info.context.lines.load(self.statement_id)
        if self.totals is None:
            self.totals = export.totals(lines)
        return self.totals

    @strawberry.field(description="Itemised lines, in the order they were issued.")
    async def lines(self, info: Info[PaymentsContext, None]) -> list[StatementLine]:
        rows = await info.context.lines.load(self.statement_id)
        return [StatementLine.from_row(row) for row in rows]

    @strawberry.field(description="Sum of the payment lines, in pounds.")
    async def gross(self, info: Info[PaymentsContext, None]) -> Decimal:
        return pounds((await self._totals(info)).gross_pence)

    @strawberry.field(description="Sum of the deductions (negative), in pounds.")
    async def deductions(self, info: Info[PaymentsContext, None]) -> Decimal:
        return pounds((await self._totals(info)).deductions_pence)

    @strawberry.field(description="What the practice received: gross plus deductions.")
    async def net(self, info: Info[PaymentsContext, None]) -> Decimal:
        return pounds((await self._totals(info)).net_pence)


@strawberry.type(description="One amount the practice should receive or have deducted.")
class Expectation:
    component: models.Component = strawberry.field(description="What it pays or deducts.")
    paycode: str = strawberry.field(description="The paycode it should come under.")
    covers_from: date = strawberry.field(description="First day of the period it is for.")
    covers_to: date = strawberry.field(description="Last day of the period it is for.")
    due_on: date = strawberry.field(description="When it is due by.")
    amount: Decimal = strawberry.field(description="Pounds; negative for a deduction.")
    gmc_number: str | None = strawberry.field(description="The performer, for pensions.")
    declaration_state: models.DeclarationState | None = strawberry.field(
        description="For QOF achievement: the declaration's CQRS state."
    )
    derivation: list[Fact] = strawberry.field(
        description="How it was worked out, step by step, from which facts and rates."
    )
    due: bool = strawberry.field(description="True once the due date has passed.")


@strawberry.type(description="A problem with a practice's payments, with its evidence.")
class Anomaly:
    id: strawberry.ID = strawberry.field(description="The anomaly, to open a dispute about it.")
    kind: models.AnomalyKind = strawberry.field(description="What is wrong.")
    severity: models.Severity = strawberry.field(description="How much it matters.")
    component: models.Component = strawberry.field(description="The component concerned.")
    covers_from: date = strawberry.field(description="The period concerned (its first day).")
    gmc_number: str | None = strawberry.field(description="The performer, for pension problems.")
    amount_at_stake: Decimal = strawberry.field(description="Pounds at stake (never negative).")
    summary: str = strawberry.field(description="The problem in a sentence.")
    facts: list[Fact] = strawberry.field(description="The facts that show it.")
    derivation: list[Fact] = strawberry.field(
        description="How the expected amount was derived, where one was expected."
    )
    first_detected_at: datetime = strawberry.field(description="When it was first detected.")
    last_detected_at: datetime = strawberry.field(description="When it was last confirmed.")
    resolved_at: datetime | None = strawberry.field(
        description="When it stopped being detected (paid, corrected); null while open."
    )
    line_ids: strawberry.Private[list[int]]

    @classmethod
    def from_row(cls, row: models.Anomaly) -> Anomaly:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            severity=row.severity,
            component=row.component,
            covers_from=row.covers_from,
            gmc_number=row.gmc_number,
            amount_at_stake=pounds(row.amount_at_stake_pence),
            summary=row.summary,
            facts=Fact.many(row.evidence.get("facts", [])),
            derivation=Fact.many(row.evidence.get("derivation", [])),
            first_detected_at=row.first_detected_at,
            last_detected_at=row.last_detected_at,
            resolved_at=row.resolved_at,
            line_ids=[int(i) for i in row.evidence.get("lineIds", [])],
        )

    @strawberry.field(description="True until it is resolved.")
    def open(self) -> bool:
        return self.resolved_at is None

    @strawberry.field(description="The statement lines that are the evidence.")
    async def lines(self, info: Info[PaymentsContext, None]) -> list[StatementLine]:
        rows = await info.context.line_by_id.load_many(self.line_ids)
        return [StatementLine.from_row(row) for row in rows if row is not None]


@strawberry.type(description="A step in a dispute's timeline, with its evidence.")
class DisputeEvent:
    kind: models.DisputeEventKind = strawberry.field(description="What happened.")
    occurred_on: date = strawberry.field(description="When it happened.")
    note: str = strawberry.field(description="What was sent, received or said.")
    evidence: list[Fact] = strawberry.field(description="Receipts, CAS numbers, attachments.")
    recorded_at: datetime = strawberry.field(description="When it was recorded here.")
    recorded_by: str = strawberry.field(description="Who recorded it (the token's subject).")


@strawberry.type(description="A practice's query about a line or an anomaly.")
class Dispute:
    reference: str = strawberry.field(description="Our reference, e.g. PAY-1A2B3C4D5E.")
    ods_code: str = strawberry.field(description="The practice.")
    subject: str = strawberry.field(description="What is disputed.")
    opened_at: datetime = strawberry.field(description="When it was opened.")
    opened_by: str = strawberry.field(description="Who opened it.")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved.")
    outcome: str | None = strawberry.field(description="How it was resolved.")
    row: strawberry.Private[models.Dispute]

    @classmethod
    def from_row(cls, row: models.Dispute) -> Dispute:
        return cls(
            reference=row.reference,
            ods_code=row.ods_code,
            subject=row.subject,
            opened_at=row.opened_at,
            opened_by=row.opened_by,
            resolved_at=row.resolved_at,
            outcome=row.outcome,
            row=row,
        )

    @strawberry.field(description="Days since it was opened (to its resolution, once resolved).")
    def age_days(self, info: Info[PaymentsContext, None]) -> int:
        return disputes.age_days(self.row, today=info.context.today)

    @strawberry.field(
        description="Open for more than 40 days: the LMC may escalate it to PCSE and NHS England."
    )
    def escalatable(self, info: Info[PaymentsContext, None]) -> bool:
        return disputes.escalatable(self.row, today=info.context.today)

    @strawberry.field(description="Every step, oldest first: append-only.")
    async def timeline(self, info: Info[PaymentsContext, None]) -> list[DisputeEvent]:
        rows = await info.context.dispute_events.load(self.row.id)
        return [
            DisputeEvent(
                kind=r.kind,
                occurred_on=r.occurred_on,
                note=r.note,
                evidence=Fact.many(r.evidence),
                recorded_at=r.recorded_at,
                recorded_by=r.recorded_by,
            )
            for r in rows
        ]

    @strawberry.field(description="The disputed line, if a line is disputed.")
    async def line(self, info: Info[PaymentsContext, None]) -> StatementLine | None:
        if self.row.line_id is None:
            return None
        row = await info.context.line_by_id.load(self.row.line_id)
        return None if row is None else StatementLine.from_row(row)

    @strawberry.field(description="The disputed anomaly, if an anomaly is disputed.")
    async def anomaly(self, info: Info[PaymentsContext, None]) -> Anomaly | None:
        if self.row.anomaly_id is None:
            return None
        row = await info.context.anomaly_by_id.load(self.row.anomaly_id)
        return None if row is None else Anomaly.from_row(row)

    @strawberry.field(
        description="A late-payment notice the practice can send, citing the evidence and the "
        "timeline."
    )
    async def late_payment_notice(self, info: Info[PaymentsContext, None]) -> str:
        line = (
            None
            if self.row.line_id is None
            else await info.context.line_by_id.load(self.row.line_id)
        )
        anomaly = (
            None
            if self.row.anomaly_id is None
            else await info.context.anomaly_by_id.load(self.row.anomaly_id)
        )
        events = await info.context.dispute_events.load(self.row.id)
        return disputes.late_payment_notice(
            self.row, line=line, anomaly=anomaly, events=events, today=info.context.today
        )


@strawberry.type(description="A QOF declaration as CQRS shows it.")
class QofDeclaration:
    financial_year: int = strawberry.field(description="The year it starts (2020 is 2020/21).")
    label: str = strawberry.field(description="e.g. 2020/21.")
    achievement: Decimal = strawberry.field(description="Declared achievement, pounds.")
    state: models.DeclarationState = strawberry.field(description="Its CQRS state.")
    declared_on: date | None = strawberry.field(description="When the practice declared it.")
    approved_on: date | None = strawberry.field(description="When the commissioner approved it.")


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


@strawberry.type(description="A statement written out for an accountant's tools.")
class StatementExport:
    ods_code: str = strawberry.field(description="The practice.")
    period: date = strawberry.field(description="The statement's month.")
    format: ExportFormat = strawberry.field(description="CSV or JSON.")
    filename: str = strawberry.field(description="A file name to save it under.")
    content_type: str = strawberry.field(description="Its MIME type.")
    content: str = strawberry.field(
        description="The file: CSV in the payment run format, or JSON with totals."
    )
    gross: Decimal = strawberry.field(description="The same gross as the statement's.")
    deductions: Decimal = strawberry.field(description="The same deductions as the statement's.")
    net: Decimal = strawberry.field(description="The same net as the statement's.")


def _window(from_: date | None, to: date | None, today: date) -> tuple[date, date]:
    start = month_start(from_) if from_ else add_months(today, -12)
    end = to or add_months(today, 3)
    if end < start:
        raise BadUserInput("`to` cannot be before `from`.", field="to")
    if (end.year - start.year) * 12 + end.month - start.month > 120:  # noqa: PLR2004 - 10 years
        raise BadUserInput("At most ten years at a time.", field="to")
    return start, end


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
        with_lines = _asks_for_lines(info.selected_fields)
        rows = await info.context.statements.load((self.ods_code, page, with_lines))
        return build_connection(
            rows, page, key=lambda row: (row.period.isoformat(),), node=Statement.from_row
        )

    @strawberry.field(
        description="The expected schedule between two dates (default: the last 12 months and "
        "the next 3), each with its derivation. Monthly amounts start with the first statement."
    )
    async def expected(
        self,
        info: Info[PaymentsContext, None],
        from_: Annotated[
            date | None, strawberry.argument(name="from", description="From this month.")
        ] = None,
        to: Annotated[date | None, strawberry.argument(description="Up to this day.")] = None,
    ) -> list[Expectation]:
        today = info.context.today
        start, end = _window(from_, to, today)
        snapshot = await info.context.schedules.load(self.ods_code)
        return [
            Expectation(
                component=e.component,
                paycode=e.paycode,
                covers_from=e.covers_from,
                covers_to=e.covers_to,
                due_on=e.due_on,
                amount=pounds(e.amount_pence),
                gmc_number=e.gmc_number,
                declaration_state=e.declaration_state,
                derivation=Fact.many(e.derivation),
                due=e.due_on < today,
            )
            for e in snapshot.expected(self.ods_code, until=end)
            if e.due_on >= start
        ]

    @strawberry.field(description="Anomalies, newest first: open ones only unless asked.")
    async def anomalies(
        self,
        info: Info[PaymentsContext, None],
        open_only: Annotated[
            bool, strawberry.argument(name="openOnly", description="Only unresolved ones.")
        ] = True,
        kind: Annotated[
            models.AnomalyKind | None, strawberry.argument(description="Only this kind.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size, 1-100.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Anomaly]:
        page = PageRequest.parse(first, after, parsers=(int,))
        rows = await info.context.anomalies.load((self.ods_code, open_only, kind, page))
        return build_connection(rows, page, key=lambda row: (row.id,), node=Anomaly.from_row)

    @strawberry.field(description="QOF declarations by year, newest first, with their CQRS state.")
    async def qof_declarations(self, info: Info[PaymentsContext, None]) -> list[QofDeclaration]:
        rows = await info.context.declarations.load(self.ods_code)
        return [
            QofDeclaration(
                financial_year=r.financial_year,
                label=year_label(r.financial_year),
                achievement=pounds(r.achievement_pence),
                state=r.state,
                declared_on=r.declared_on,
                approved_on=r.approved_on,
            )
            for r in rows
        ]

    @strawberry.field(
        description="The practice's disputes, newest first. Not for accountants: FORBIDDEN, "
        "and null, for anyone but the practice, payments operators and admins."
    )
    async def disputes(
        self,
        info: Info[PaymentsContext, None],
        open_only: Annotated[
            bool, strawberry.argument(name="openOnly", description="Only unresolved ones.")
        ] = False,
    ) -> list[Dispute] | None:
        await policy.read_disputes(info.context, self.ods_code)
        rows = await info.context.disputes.load(self.ods_code)
        return [Dispute.from_row(r) for r in rows if not open_only or r.resolved_at is None]

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

    @strawberry.field(
        description="One month's statement as a file, whose totals equal the statement's to the "
        "penny; null when there is no statement for that month."
    )
    async def statement_export(
        self,
        info: Info[PaymentsContext, None],
        period: Annotated[date, strawberry.argument(description="Any day of the month.")],
        format: Annotated[ExportFormat, strawberry.argument(description="CSV or JSON.")],
    ) -> StatementExport | None:
        async with info.context.sessionmaker() as session:
            statement = await repository.statement_for(session, self.ods_code, month_start(period))
        if statement is None:
            return None
        lines = await info.context.lines.load(statement.id)
        total = export.totals(lines)
        month = statement.period.strftime("%Y-%m")
        if format is ExportFormat.CSV:
            content, content_type = export.to_csv(statement, lines), "text/csv"
        else:
            content, content_type = export.to_json(statement, lines), "application/json"
        return StatementExport(
            ods_code=self.ods_code,
            period=statement.period,
            format=format,
            filename=f"statement-{self.ods_code}-{month}.{format.value}",
            content_type=content_type,
            content=content,
            gross=pounds(total.gross_pence),
            deductions=pounds(total.deductions_pence),
            net=pounds(total.net_pence),
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
        description="Statements, lines and deductions paid to the practice, the expected "
        "schedule, anomalies and disputes. Null, with a FORBIDDEN error, for a caller who may not "
        "see them."
    )
    async def payments(self, info: Info[PaymentsContext, None]) -> PracticePayments | None:
        await policy.read_practice(info.context, self.ods_code)
        return PracticePayments(ods_code=self.ods_code)


@strawberry.type(description="Open anomalies of one kind across an LMC's practices.")
class AnomalyKindSummary:
    kind: models.AnomalyKind = strawberry.field(description="The kind.")
    count: int = strawberry.field(description="How many are open.")
    amount_at_stake: Decimal = strawberry.field(description="Pounds at stake, all together.")
    practices_affected: int = strawberry.field(description="How many practices have one.")
    practice_codes: list[str] = strawberry.field(description="Which practices, by ODS code.")


@strawberry.type(description="An open dispute in an LMC's area, by age (no correspondence).")
class DisputeAge:
    reference: str = strawberry.field(description="The dispute's reference.")
    ods_code: str = strawberry.field(description="The practice.")
    age_days: int = strawberry.field(description="Days open.")
    escalatable: bool = strawberry.field(description="Open for more than 40 days.")


@strawberry.type(description="An LMC's view of payment problems across its practices.")
class LmcPaymentsSummary:
    practices: int = strawberry.field(description="Practices in the area.")
    anomalies: list[AnomalyKindSummary] = strawberry.field(
        description="Open anomalies by kind: every kind, zero where there are none."
    )
    open_disputes: list[DisputeAge] = strawberry.field(
        description="Open disputes, oldest first, with their ages."
    )

    @strawberry.field(description="Open disputes past 40 days: the LMC may escalate them.")
    def escalatable_disputes(self) -> int:
        return sum(d.escalatable for d in self.open_disputes)


@strawberry.federation.type(keys=["code"], description="A Local Medical Committee (performers).")
class Lmc:
    code: str = strawberry.field(description="Stable slug, e.g. kernow.")

    @classmethod
    def resolve_reference(cls, code: str) -> Lmc:
        # Nothing is revealed by the key itself; the summary checks the caller.
        return cls(code=lmc_code(code))

    @strawberry.field(
        description="Payment anomalies by kind with counts, amounts and practices affected, and "
        "the ages of open disputes: for the LMC itself, payments operators and admins; "
        "FORBIDDEN, and null, for anyone else."
    )
    async def payments_summary(
        self, info: Info[PaymentsContext, None]
    ) -> LmcPaymentsSummary | None:
        policy.lmc_summary(info.context.principal, self.code)
        today = info.context.today
        async with info.context.sessionmaker() as session:
            codes = await repository.practices_of_lmc(session, self.code)
            counts = {
                k: (c, a, p) for k, c, a, p in await repository.anomaly_summary(session, codes)
            }
            open_disputes = [
                d for d in await repository.disputes_of_practices(session, codes)
                if d.resolved_at is None
            ]  # fmt: skip
        return LmcPaymentsSummary(
            practices=len(codes),
            anomalies=[
                AnomalyKindSummary(
                    kind=kind,
                    count=counts[kind][0] if kind in counts else 0,
                    amount_at_stake=pounds(counts[kind][1] if kind in counts else 0),
                    practices_affected=len(counts[kind][2]) if kind in counts else 0,
                    practice_codes=counts[kind][2] if kind in counts else [],
                )
                for kind in models.AnomalyKind
            ],
            open_disputes=sorted(
                (
                    DisputeAge(
                        reference=d.reference,
                        ods_code=d.ods_code,
                        age_days=disputes.age_days(d, today=today),
                        escalatable=disputes.escalatable(d, today=today),
                    )
                    for d in open_disputes
                ),
                key=lambda d: (-d.age_days, d.reference),
            ),
        )


@strawberry.type(description="A performer's estimate at one practice for a year.")
class PensionPost:
    ods_code: str = strawberry.field(description="The practice.")
    pensionable_pay: Decimal = strawberry.field(description="Estimated pensionable pay, pounds.")
    submitted_on: date = strawberry.field(description="When the estimate was submitted.")


@strawberry.type(description="A performer's pension position for one financial year.")
class PensionYear:
    financial_year: int = strawberry.field(description="The year it starts (2025 is 2025/26).")
    label: str = strawberry.field(description="e.g. 2025/26.")
    posts: list[PensionPost] = strawberry.field(description="Estimates, by practice.")
    pensionable_pay: Decimal | None = strawberry.field(
        description="Estimated pay in the posts the caller may see; null without estimates. "
        "The tier follows pay across every post."
    )
    tier_rate: Decimal | None = strawberry.field(description="Employee contribution %, by tier.")
    estimate_due_on: date | None = strawberry.field(description="The estimate's deadline.")
    estimate_late: bool = strawberry.field(description="An estimate came after its deadline.")
    expected_deductions: Decimal = strawberry.field(
        description="Employee contributions due so far this year, pounds (negative)."
    )
    taken_deductions: Decimal = strawberry.field(
        description="Employee contributions deducted so far this year, pounds (negative)."
    )
    certificate_status: pensions.CertificateStatus | None = strawberry.field(
        description="The year's Type 1 / Type 2 certificate; null for a year not yet ended."
    )
    certificate_types: list[models.CertificateType] = strawberry.field(
        description="The types received."
    )
    certificate_due_on: date | None = strawberry.field(
        description="28 February, a year in arrears (by the rule in force)."
    )
    blocked_by: int | None = strawberry.field(
        description="An earlier year whose missing certificate holds this year's records up."
    )


@strawberry.type(description="A locum Form A or B, with what PCSE Online's rules make of it.")
class LocumFormCheck:
    ods_code: str = strawberry.field(description="The practice.")
    form: models.LocumForm = strawberry.field(description="A or B.")
    work_from: date = strawberry.field(description="First day of the work.")
    work_to: date = strawberry.field(description="Last day of the work.")
    submitted_on: date = strawberry.field(description="When it was submitted.")
    bacs_reference: str = strawberry.field(description="As given.")
    pensionable_pay: Decimal = strawberry.field(description="Pounds.")
    due_on: date = strawberry.field(description="The 7th of the following month.")
    days_after_work: int = strawberry.field(description="Days from the work to submission.")
    pensionable: bool = strawberry.field(description="Within the 10-week rule.")
    problems: list[str] = strawberry.field(description="Each rule it breaks; empty if none.")


@strawberry.type(description="A performer's pension contributions, certificates and forms.")
class PerformerPensions:
    years: list[PensionYear] = strawberry.field(description="Oldest first.")
    first_missing_year: int | None = strawberry.field(
        description="The first year with a certificate overdue: it blocks every later year's "
        "Annual Benefit Statement."
    )
    locum_forms: list[LocumFormCheck] = strawberry.field(description="Oldest first.")


@strawberry.federation.type(keys=["gmcNumber"], description="A GP (owned by performers).")
class Performer:
    gmc_number: str = strawberry.field(description="GMC reference number: seven digits.")

    @classmethod
    def resolve_reference(
        cls,
        gmcNumber: str,  # noqa: N803 - federation passes the key in its GraphQL spelling
    ) -> Performer:
        return cls(gmc_number=gmc_number(gmcNumber))

    @strawberry.field(
        description="Estimates, tier, deductions expected and taken, certificates and locum "
        "forms. A practice sees only its own posts; payments operators and admins everything; "
        "FORBIDDEN, and null, for anyone else (LMCs and accountants included)."
    )
    async def pensions(self, info: Info[PaymentsContext, None]) -> PerformerPensions | None:
        visible = await policy.pension_practices(info.context, self.gmc_number)
        return await _pensions(info, self.gmc_number, visible)


async def _pensions(
    info: Info[PaymentsContext, None], gmc: str, visible: list[str] | None
) -> PerformerPensions:
    today = info.context.today
    async with info.context.sessionmaker() as session:
        estimates = await repository.estimates(session, gmc_numbers=[gmc])
        certificates = await repository.certificates(session, [gmc])
        forms = await repository.locum_forms(session, [gmc])
        lines = await repository.pension_lines(session, [gmc])
        book = await facts.rate_book(session)

    def shown(code: str) -> bool:
        return visible is None or code in visible

    codes = sorted({e.ods_code for e in estimates if shown(e.ods_code)})
    snapshot = await info.context.schedules.load_many(codes) if codes else []
    expected: dict[int, int] = {}
    for code in codes:
        for e in snapshot[0].expected(code, until=today):
            if (
                e.gmc_number == gmc
                and e.component is models.Component.EMPLOYEE_SUPERANNUATION
                and e.due_on < today
            ):
                year = financial_year(e.covers_from)
                expected[year] = expected.get(year, 0) + e.amount_pence
    taken: dict[int, int] = {}
    for code, line in lines:
        if shown(code) and line.component is models.Component.EMPLOYEE_SUPERANNUATION:
            year = financial_year(line.covers_from)
            taken[year] = taken.get(year, 0) + detection.effect(line)
    years = sorted({e.financial_year for e in estimates} | {c.financial_year for c in certificates})
    done = pensions.completed_years(years, today=today)
    certificate_years = {
        c.year: c for c in pensions.certificate_years(done, certificates, book, today=today)
    }
    rows = []
    for year in sorted(set(years) | set(certificate_years)):
        posts = [e for e in estimates if e.financial_year == year and shown(e.ods_code)]
        total = sum(e.pensionable_pay_pence for e in estimates if e.financial_year == year)
        # The tier follows pay across every post; the caller sees only its own posts' pay.
        tier = book.tier(total, date(year, 4, 1)) if posts else None
        estimate_due = book.deadline(models.DeadlineKind.PENSION_ESTIMATE, year)
        cert = certificate_years.get(year)
        rows.append(
            PensionYear(
                financial_year=year,
                label=year_label(year),
                posts=[
                    PensionPost(
                        ods_code=e.ods_code,
                        pensionable_pay=pounds(e.pensionable_pay_pence),
                        submitted_on=e.submitted_on,
                    )
                    for e in posts
                ],
                pensionable_pay=pounds(sum(e.pensionable_pay_pence for e in posts))
                if posts
                else None,
                tier_rate=None if tier is None else tier.value,
                estimate_due_on=estimate_due,
                estimate_late=any(
                    estimate_due is not None and e.submitted_on > estimate_due for e in posts
                ),
                expected_deductions=pounds(expected.get(year, 0)),
                taken_deductions=pounds(taken.get(year, 0)),
                certificate_status=None if cert is None else cert.status,
                certificate_types=[] if cert is None else list(cert.types),
                certificate_due_on=None if cert is None else cert.due_on,
                blocked_by=None if cert is None else cert.blocked_by,
            )
        )
    first_missing = next(
        (
            c.year
            for c in certificate_years.values()
            if c.status is pensions.CertificateStatus.OVERDUE
        ),
        None,
    )
    checks = []
    for form in forms:
        if not shown(form.ods_code):
            continue
        check = pensions.check_locum_form(form)
        checks.append(
            LocumFormCheck(
                ods_code=form.ods_code,
                form=form.form,
                work_from=form.work_from,
                work_to=form.work_to,
                submitted_on=form.submitted_on,
                bacs_reference=form.bacs_reference,
                pensionable_pay=pounds(form.pensionable_pence),
                due_on=check.due_on,
                days_after_work=check.days_after_work,
                pensionable=check.pensionable,
                problems=list(check.problems),
            )
        )
    return PerformerPensions(years=rows, first_missing_year=first_missing, locum_forms=checks)


@strawberry.type(description="What importing a payment run did.")
class PaymentRunResult:
    run_id: str = strawberry.field(description="The run's id.")
    line_count: int = strawberry.field(description="Lines imported.")
    statement_count: int = strawberry.field(description="Statements the lines went on.")
    total: Decimal = strawberry.field(description="Sum of the lines' amounts, pounds.")
    practice_codes: list[str] = strawberry.field(description="The practices in the run.")
    imported_at: datetime = strawberry.field(description="When it was first imported.")
    imported_by: str = strawberry.field(description="Who imported it.")
    replayed: bool = strawberry.field(
        description="True when this run id was already imported: nothing changed."
    )

    @classmethod
    def of(cls, result: RunResult) -> PaymentRunResult:
        return cls(
            run_id=result.run_id,
            line_count=result.line_count,
            statement_count=result.statement_count,
            total=pounds(result.total_pence),
            practice_codes=result.practice_codes,
            imported_at=datetime.fromisoformat(result.imported_at),
            imported_by=result.imported_by,
            replayed=result.replayed,
        )


@strawberry.type(description="What importing a year of the published data set did.")
class PublishedImport:
    financial_year: int = strawberry.field(description="The year.")
    practice_count: int = strawberry.field(description="Practices in the file.")
    figures: int = strawberry.field(description="Figures imported (0 for a replay).")
    replayed: bool = strawberry.field(description="True when the year was already imported.")


@strawberry.type(description="A PCSE paycode and the component it pays.")
class Paycode:
    code: str = strawberry.field(description="The paycode.")
    component: models.Component = strawberry.field(description="What it pays or deducts.")
    description: str = strawberry.field(description="Its usual text.")


@strawberry.type(description="A rate with the date it took effect.")
class Rate:
    kind: models.RateKind = strawberry.field(description="What it is.")
    scope: str = strawberry.field(description="'' for national; the LMC's code for a levy.")
    effective_from: date = strawberry.field(description="In force from this day.")
    band_from: Decimal = strawberry.field(description="A tier's lower bound, pounds a year.")
    band_to: Decimal | None = strawberry.field(description="A tier's upper bound, pounds.")
    value: Decimal = strawberry.field(description="% or pence per patient a year, by kind.")
    source: str = strawberry.field(description="Where the figure comes from.")


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
