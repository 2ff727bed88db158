"""GraphQL of statements, their lines and payment runs."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.errors import BadUserInput
from pcse_kit.pagination import Connection, PageRequest, build_connection
from strawberry.federation.schema_directives import Cost
from strawberry.federation.schema_directives import ListSize as ListSizeDirective
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from payments import models
from payments.context import PaymentsContext
from payments.rates import month_start
from payments.settings import MAX_RUN_CHARACTERS
from payments.statements import chart, export, exports, repository, service
from payments.statements.ledger import LedgerFormat
from payments.statements.service import RunResult
from payments.types import pounds

EXPORT_COST = 20
"""What the gateway's cost estimate charges for an export's totals, worked out over every line
of every practice in the range, where a keyed field costs 1."""
CHART_SIZE = len(models.Component)
"""A chart holds one account for each component."""


@strawberry.enum(description="What a statement export is written as.")
class ExportFormat(enum.Enum):
    CSV = "csv"
    JSON = "json"


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
    remittance_ref: str | None = strawberry.field(
        description="The remittance (bank credit) it was paid in, where the run named one."
    )

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
            remittance_ref=row.remittance_ref,
        )


_FROM_LINES = frozenset({"lines", "gross", "deductions", "net"})


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

    @strawberry.field(
        description="The statement's lines grouped into bank credits, by payment date and (where "
        "the run names one) remittance reference, earliest first: what to reconcile against the "
        "bank statement. A reversal is taken back on its own date."
    )
    async def remittances(self, info: Info[PaymentsContext, None]) -> list[Remittance]:
        lines = await info.context.lines.load(self.statement_id)
        return [
            Remittance(
                paid_on=group.paid_on,
                reference=group.reference,
                amount=pounds(group.net_pence),
                line_ids=[strawberry.ID(str(line.id)) for line in group.lines],
                rows=list(group.lines),
            )
            for group in export.remittances(lines)
        ]


strawberry.enum(
    LedgerFormat,
    description="A ledger export's layout: XERO (Xero bank statement CSV), QUICKBOOKS3 and "
    "QUICKBOOKS4 (QuickBooks Online's 3- and 4-column bank uploads), SAGE (Sage Accounting bank "
    "CSV), JOURNAL (a double-entry journal with nominal codes).",
)


@strawberry.type(description="What one practice's part of a ledger export holds.")
class ExportedPractice:
    ods_code: str = strawberry.field(description="The practice.")
    movements: int = strawberry.field(
        description="Money movements in the range: lines paid, and payments taken back."
    )
    money_in: Decimal = strawberry.field(description="Pounds that reached the bank.")
    money_out: Decimal = strawberry.field(
        description="Pounds taken (deductions, reversals), negative."
    )
    net: Decimal = strawberry.field(description="Money in plus money out: the file's total.")
    download_path: str = strawberry.field(
        description="This practice's file alone: GET it from the gateway with the same token."
    )


@strawberry.type(
    description="A ledger export, cash basis: only money that moved (paid lines on their "
    "payment date; a reversal negative on the day it was taken back), by the day it moved."
)
class LedgerExport:
    format: LedgerFormat = strawberry.field(description="The file's layout.")
    from_: date = strawberry.field(name="from", description="First day included.")
    to: date = strawberry.field(description="Last day included.")
    filename: str = strawberry.field(description="A file name to save it under.")
    content_type: str = strawberry.field(
        description="text/csv for one practice; application/zip (a CSV per practice) for more."
    )
    download_path: str = strawberry.field(
        description="GET it from the gateway (same host, same bearer token); it streams."
    )
    practices: list[ExportedPractice] = strawberry.field(
        description="Each practice in it, in code order.",
        # Strawberry types the other arguments as required, yet leaves them out of the SDL
        # unset, which is what composition wants.
        directives=[ListSizeDirective(assumed_size=50)],  # type: ignore[call-arg]
    )
    net: Decimal = strawberry.field(description="The total of every practice's movements.")


@strawberry.type(description="The nominal account a component is booked to in a journal export.")
class NominalCode:
    component: models.Component = strawberry.field(description="The component.")
    code: str = strawberry.field(description="The nominal code.")
    name: str = strawberry.field(description="The account's name.")
    own: bool = strawberry.field(
        description="True when the caller set it; false for the default chart's."
    )


@strawberry.input(description="Book one component to another nominal account.")
class NominalCodeInput:
    component: models.Component = strawberry.field(description="The component.")
    code: str = strawberry.field(
        description="The nominal code: 1-20 letters, digits or . / -, as the ledger spells it."
    )
    name: str = strawberry.field(description="The account's name, 1-200 characters.")
    idempotency_key: str = strawberry.field(
        description="Unique per intended change (8-100 characters); a replay returns the first "
        "result and changes nothing."
    )


async def _nominal_codes(info: Info[PaymentsContext, None]) -> list[NominalCode]:
    owner = info.context.principal.subject
    async with info.context.sessionmaker() as session:
        found = await repository.ledger_chart_rows(session, owner)
    return [
        NominalCode(component=component, code=code, name=name, own=who == owner)
        for component, (who, code, name) in sorted(found.items(), key=lambda item: item[1][1])
    ]


@strawberry.type(description="One bank credit: the lines paid (or taken back) together.")
class Remittance:
    paid_on: date = strawberry.field(description="When the money moved.")
    reference: str | None = strawberry.field(description="The run's remittance reference.")
    amount: Decimal = strawberry.field(description="The credit, pounds: what reached the bank.")
    line_ids: list[strawberry.ID] = strawberry.field(description="The lines in it.")
    rows: strawberry.Private[list[models.LineRow]]

    @strawberry.field(description="The lines in it.")
    def lines(self) -> list[StatementLine]:
        return [StatementLine.from_row(row) for row in self.rows]


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


@strawberry.type(description="A PCSE paycode and the component it pays.")
class Paycode:
    code: str = strawberry.field(description="The paycode.")
    component: models.Component = strawberry.field(description="What it pays or deducts.")
    description: str = strawberry.field(description="Its usual text.")
    sign: models.PaycodeSign = strawberry.field(
        description="The signs its lines can carry (an adjustment or a refund can go either way)."
    )
    treatment: models.LineTreatment = strawberry.field(
        description="How its lines are read: regular, arrears, or pension year-end balancing."
    )


@strawberry.input(description="A payment run to import.")
class ImportRunInput:
    run_id: str = strawberry.field(description="The run's own id: importing it again is a no-op.")
    csv: str = strawberry.field(description="The run, in the payment run CSV format.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Optional: the run id already makes a replay harmless."
    )


@strawberry.type(description="A practice's statements.")
class StatementsOfPractice:
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


@strawberry.type
class StatementsQuery:
    @strawberry.field(
        description="The chart of accounts the caller's journal exports book to: the default "
        "chart with the caller's own codes over it, by code. Anyone signed in may read it "
        "(the default is reference data); only accountants and practices keep their own.",
        directives=[ListSizeDirective(assumed_size=CHART_SIZE)],  # type: ignore[call-arg]
    )
    async def nominal_codes(self, info: Info[PaymentsContext, None]) -> list[NominalCode]:
        return await _nominal_codes(info)

    @strawberry.field(
        description="Validate a ledger export and answer its totals (worked out apart from the "
        "file) and where to download it. A practice exports its own payments; an accountant, "
        "without odsCode, every practice whose consent it holds; operators one practice. A bad "
        "range (from after to, longer than 1096 days, not a date) is BAD_USER_INPUT naming it.",
        # Sums every line of every practice in the range: far more than a keyed field.
        directives=[Cost(weight=EXPORT_COST)],
    )
    async def payments_export(
        self,
        info: Info[PaymentsContext, None],
        format: Annotated[LedgerFormat, strawberry.argument(description="The layout.")],
        from_: Annotated[
            date, strawberry.argument(name="from", description="First day (money moved on).")
        ],
        to: Annotated[date, strawberry.argument(description="Last day, included.")],
        ods_code: Annotated[
            str | None, strawberry.argument(description="One practice only.")
        ] = None,
    ) -> LedgerExport:
        request = await exports.prepare(
            info.context.sessionmaker,
            info.context.principal,
            fmt=format,
            start=from_,
            end=to,
            ods_code=ods_code,
        )
        found = await exports.totals(info.context.sessionmaker, request)
        practices = [
            ExportedPractice(
                ods_code=code,
                movements=count,
                money_in=pounds(money_in),
                money_out=pounds(money_out),
                net=pounds(money_in + money_out),
                download_path=path,
            )
            for (code, (count, money_in, money_out)), path in zip(
                found.items(), exports.practice_paths(request), strict=True
            )
        ]
        return LedgerExport(
            format=request.fmt,
            from_=request.start,
            to=request.end,
            filename=request.filename,
            content_type=request.content_type,
            download_path=request.path,
            practices=practices,
            net=pounds(sum(i + o for i, o in ((p[1], p[2]) for p in found.values()))),
        )

    @strawberry.field(description="PCSE paycodes and the component each pays, by code.")
    async def paycodes(self, info: Info[PaymentsContext, None]) -> list[Paycode]:
        async with info.context.sessionmaker() as session:
            rows = await repository.paycodes(session)
        return [
            Paycode(
                code=r.code,
                component=r.component,
                description=r.description,
                sign=r.sign,
                treatment=r.treatment,
            )
            for r in rows
        ]


@strawberry.type
class StatementsMutation:
    @strawberry.mutation(
        description="Book a component to the caller's own nominal account in its journal "
        "exports from now on (accountants and practices; each keeps its own chart). Recorded in "
        "the audit trail; the idempotency key makes a replay harmless.",
        directives=[ListSizeDirective(assumed_size=CHART_SIZE)],  # type: ignore[call-arg]
    )
    async def set_nominal_code(
        self, info: Info[PaymentsContext, None], input: NominalCodeInput
    ) -> list[NominalCode]:
        await chart.set_nominal_code(
            info.context.sessionmaker,
            info.context.principal,
            component=input.component,
            code=chart.nominal_code(input.code),
            name=chart.account_name(input.name),
            idempotency_key=input.idempotency_key,
        )
        return await _nominal_codes(info)

    @strawberry.mutation(
        description="Import a payment run given as CSV text in the documented line format (at "
        "most 2 MB here; larger runs through `python -m payments import-run`). All or nothing: "
        "a bad row refuses the whole file with a row-by-row report in extensions.rows. The run "
        "id makes a replay a no-op that returns the first result. Payments operators import "
        "PCSE's runs; a practice (or an accountant it consented to) imports its own statements, "
        "one practice a file, kept under the practice's code (`A81001:<runId>`)."
    )
    async def import_payment_run(
        self, info: Info[PaymentsContext, None], input: ImportRunInput
    ) -> PaymentRunResult:
        if len(input.csv) > MAX_RUN_CHARACTERS:
            raise BadUserInput("The run is too large for a request; use the CLI.", field="csv")
        result = await service.import_run(
            info.context.sessionmaker,
            info.context.principal,
            run_id=service.run_id(input.run_id),
            csv_text=input.csv,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return PaymentRunResult.of(result)
