"""The payments subgraph: payments on Practice, Lmc and Performer, practicePayments for
accountants, reference data, and the mutations that record runs, schedules and disputes."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from pcse_kit.auth import Forbidden, Role
from pcse_kit.errors import BadUserInput
from pcse_kit.graphql import create_schema
from pcse_kit.identifiers import gmc_number, practice_code
from strawberry.types import Info

from payments import models, policy, repository, service
from payments.context import PaymentsContext
from payments.ingest import pounds_pence
from payments.service import ConsentView
from payments.settings import MAX_RUN_CHARACTERS
from payments.types import (
    AccountantConsent,
    Dispute,
    Lmc,
    Paycode,
    PaymentRunResult,
    Performer,
    Practice,
    PracticePayments,
    PublishedImport,
    Rate,
    pounds,
)

_ACCOUNTANT_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,200}")


def accountant_id(value: str) -> str:
    if not _ACCOUNTANT_ID.fullmatch(value):
        raise BadUserInput(
            "`accountantId` must be 1-200 letters, digits or . _ @ : -", field="accountantId"
        )
    return value


@strawberry.type
class Query:
    @strawberry.field(
        description="One practice's payments, for its own staff and for accountants it "
        "consented to; FORBIDDEN for anyone else, whether or not the practice exists."
    )
    async def practice_payments(
        self,
        info: Info[PaymentsContext, None],
        ods_code: Annotated[str, strawberry.argument(description="e.g. A81001")],
    ) -> PracticePayments:
        code = practice_code(ods_code)
        await policy.read_practice(info.context, code)
        return PracticePayments(ods_code=code)

    @strawberry.field(
        description="Consents granted and revoked, newest first: a practice sees its own, an "
        "accountant those given to it."
    )
    async def accountant_consents(
        self,
        info: Info[PaymentsContext, None],
        ods_code: Annotated[
            str | None, strawberry.argument(description="Only this practice's.")
        ] = None,
    ) -> list[AccountantConsent]:
        principal = info.context.principal
        codes = None if ods_code is None else [practice_code(ods_code)]
        accountant = None
        if principal.role is Role.PRACTICE:
            if codes is not None and not principal.is_practice_of(codes[0]):
                raise Forbidden
            codes = codes or sorted(principal.scope)
        elif principal.role is Role.ACCOUNTANT:
            accountant = principal.subject
        elif not principal.operates(policy.DOMAIN):
            raise Forbidden
        async with info.context.sessionmaker() as session:
            rows = await repository.consents(session, ods_codes=codes, accountant_id=accountant)
        return [AccountantConsent.of(ConsentView.of(row)) for row in rows]

    @strawberry.field(description="PCSE paycodes and the component each pays, by code.")
    async def paycodes(self, info: Info[PaymentsContext, None]) -> list[Paycode]:
        async with info.context.sessionmaker() as session:
            rows = await repository.paycodes(session)
        return [
            Paycode(code=r.code, component=r.component, description=r.description) for r in rows
        ]

    @strawberry.field(
        description="Rates with their effective dates (contribution tiers, employer rate, admin "
        "levy, LMC levies, global sum, QOF aspiration share), optionally those in force on a day."
    )
    async def payment_rates(
        self,
        info: Info[PaymentsContext, None],
        on: Annotated[date | None, strawberry.argument(description="In force on this day.")] = None,
    ) -> list[Rate]:
        async with info.context.sessionmaker() as session:
            rows, _ = await repository.rates(session)
        if on is not None:
            latest: dict[tuple[models.RateKind, str], date] = {}
            for r in rows:
                if r.effective_from <= on:
                    latest[(r.kind, r.scope)] = max(
                        latest.get((r.kind, r.scope), r.effective_from), r.effective_from
                    )
            rows = [r for r in rows if latest.get((r.kind, r.scope)) == r.effective_from]
        return [
            Rate(
                kind=r.kind,
                scope=r.scope,
                effective_from=r.effective_from,
                band_from=pounds(r.band_from_pence),
                band_to=None if r.band_to_pence is None else pounds(r.band_to_pence),
                value=r.value,
                source=r.source,
            )
            for r in rows
        ]


@strawberry.input(description="Which accountant, for which practice; replays are harmless.")
class ConsentInput:
    ods_code: str = strawberry.field(description="The practice (one of the caller's).")
    accountant_id: str = strawberry.field(description="The accountant's identifier.")
    idempotency_key: str = strawberry.field(
        description="Unique per intended change (8-100 characters); a replay returns the "
        "first result and changes nothing."
    )


_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.input(description="A payment run to import.")
class ImportRunInput:
    run_id: str = strawberry.field(description="The run's own id: importing it again is a no-op.")
    csv: str = strawberry.field(description="The run, in the payment run CSV format.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Optional: the run id already makes a replay harmless."
    )


@strawberry.input(description="A year of the published data set to import.")
class ImportPublishedInput:
    financial_year: int = strawberry.field(description="The year it covers (2023 is 2023/24).")
    csv: str = strawberry.field(description="The data set's CSV, as published.")


@strawberry.input(description="A QOF declaration as CQRS shows it.")
class QofDeclarationInput:
    ods_code: str = strawberry.field(description="The practice.")
    financial_year: int = strawberry.field(description="The year it starts (2020 is 2020/21).")
    achievement: Decimal = strawberry.field(description="Declared achievement, pounds.")
    state: models.DeclarationState = strawberry.field(description="Its CQRS state.")
    declared_on: date | None = strawberry.field(default=None, description="When declared.")
    approved_on: date | None = strawberry.field(
        default=None, description="When approved; required once approved or paid."
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A GP registrar's placement at a training practice.")
class TraineePlacementInput:
    ods_code: str = strawberry.field(description="The training practice.")
    gmc_number: str = strawberry.field(description="The registrar.")
    starts_on: date = strawberry.field(description="First day.")
    ends_on: date = strawberry.field(description="Last day.")
    monthly_amount: Decimal = strawberry.field(description="Reimbursement a month, pounds.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="An estimate of pensionable pay at one practice for a year.")
class PensionEstimateInput:
    gmc_number: str = strawberry.field(description="The performer.")
    ods_code: str = strawberry.field(description="The practice.")
    financial_year: int = strawberry.field(description="The year it starts.")
    pensionable_pay: Decimal = strawberry.field(description="Pounds for the year.")
    submitted_on: date = strawberry.field(description="When it was submitted.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A Type 1 or Type 2 certificate received.")
class PensionCertificateInput:
    gmc_number: str = strawberry.field(description="The performer.")
    financial_year: int = strawberry.field(description="The year it certifies.")
    certificate_type: models.CertificateType = strawberry.field(description="Type 1 or 2.")
    ods_code: str | None = strawberry.field(
        default=None, description="The contract, for a Type 1 only."
    )
    submitted_on: date = strawberry.field(description="When PCSE received it.")
    processed_on: date | None = strawberry.field(default=None, description="When processed.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A locum Form A or B.")
class LocumFormInput:
    gmc_number: str = strawberry.field(description="The locum.")
    ods_code: str = strawberry.field(description="The practice.")
    form: models.LocumForm = strawberry.field(description="A or B.")
    work_from: date = strawberry.field(description="First day of the work.")
    work_to: date = strawberry.field(description="Last day of the work.")
    submitted_on: date = strawberry.field(description="When it was submitted.")
    bacs_reference: str = strawberry.field(description="<SD number>LOC<MMM><YYYY>.")
    pensionable_pay: Decimal = strawberry.field(description="Pounds.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A rate from a date.")
class RateInput:
    kind: models.RateKind = strawberry.field(description="What it is.")
    scope: str = strawberry.field(default="", description="The LMC's code, for a levy.")
    effective_from: date = strawberry.field(description="In force from this day.")
    value: Decimal = strawberry.field(description="% or pence per patient a year, by kind.")
    band_from: Decimal = strawberry.field(
        default=Decimal(0), description="A tier's lower bound, pounds a year."
    )
    band_to: Decimal | None = strawberry.field(default=None, description="Its upper bound.")
    source: str = strawberry.field(description="Where the figure comes from.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="What a dispute is about: one line or one anomaly.")
class OpenDisputeInput:
    ods_code: str = strawberry.field(description="The practice.")
    line_id: strawberry.ID | None = strawberry.field(default=None, description="A line's id.")
    anomaly_id: strawberry.ID | None = strawberry.field(
        default=None, description="An anomaly's id."
    )
    subject: str = strawberry.field(description="What is disputed, in a sentence.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="One label and value of evidence.")
class FactInput:
    label: str = strawberry.field(description="e.g. CAS number.")
    value: str = strawberry.field(description="e.g. CAS-1234567.")


@strawberry.input(description="A step in a dispute's timeline.")
class DisputeEventInput:
    reference: str = strawberry.field(description="The dispute.")
    kind: models.DisputeEventKind = strawberry.field(description="Sent, receipt, response...")
    occurred_on: date = strawberry.field(description="When it happened.")
    note: str = strawberry.field(description="What happened.")
    evidence: list[FactInput] = strawberry.field(
        default_factory=list, description="What was sent, receipts, CAS numbers."
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A dispute's outcome.")
class ResolveDisputeInput:
    reference: str = strawberry.field(description="The dispute.")
    outcome: str = strawberry.field(description="Paid, corrected, withdrawn...")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.type(description="What a re-detection changed.")
class AnomalyRefresh:
    opened: int = strawberry.field(description="Anomalies newly detected.")
    resolved: int = strawberry.field(description="Anomalies no longer detected.")
    open: int = strawberry.field(description="Anomalies open now.")


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Let an accountant see the practice's payments. Recorded in the audit trail."
    )
    async def grant_accountant_consent(
        self, info: Info[PaymentsContext, None], input: ConsentInput
    ) -> AccountantConsent:
        view = await service.grant_consent(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            accountant_id=accountant_id(input.accountant_id),
            idempotency_key=input.idempotency_key,
        )
        return AccountantConsent.of(view)

    @strawberry.mutation(
        description="End an accountant's access from the next request on. Recorded in the "
        "audit trail."
    )
    async def revoke_accountant_consent(
        self, info: Info[PaymentsContext, None], input: ConsentInput
    ) -> AccountantConsent:
        view = await service.revoke_consent(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            accountant_id=accountant_id(input.accountant_id),
            idempotency_key=input.idempotency_key,
        )
        return AccountantConsent.of(view)

    @strawberry.mutation(
        description="Import a payment run given as CSV text in the documented line format (at "
        "most 2 MB here; larger runs through `python -m payments import-run`). All or nothing: "
        "a bad row refuses the whole file with a row-by-row report in extensions.rows. The run "
        "id makes a replay a no-op that returns the first result. Operators of payments only."
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

    @strawberry.mutation(
        description="Record a QOF declaration as CQRS shows it; approved, its achievement falls "
        "due by the end of June and next year's aspiration follows. Operators of payments only."
    )
    async def record_qof_declaration(
        self, info: Info[PaymentsContext, None], input: QofDeclarationInput
    ) -> PracticePayments:
        code = practice_code(input.ods_code)
        await service.record_qof_declaration(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=code,
            financial_year=input.financial_year,
            achievement_pence=pounds_pence(input.achievement, field="achievement"),
            state=input.state,
            declared_on=input.declared_on,
            approved_on=input.approved_on,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return PracticePayments(ods_code=code)

    @strawberry.mutation(
        description="Record a GP registrar's placement: reimbursement is expected monthly "
        "while it lasts. Operators of payments only."
    )
    async def record_trainee_placement(
        self, info: Info[PaymentsContext, None], input: TraineePlacementInput
    ) -> PracticePayments:
        code = practice_code(input.ods_code)
        await service.record_trainee_placement(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=code,
            gmc_number=gmc_number(input.gmc_number),
            starts_on=input.starts_on,
            ends_on=input.ends_on,
            monthly_pence=pounds_pence(input.monthly_amount, field="monthlyAmount"),
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return PracticePayments(ods_code=code)

    @strawberry.mutation(
        description="Record an estimate of pensionable pay for a year at a practice (payments "
        "operators, or the practice for its own GPs): it sets the expected deductions and tier."
    )
    async def record_pension_estimate(
        self, info: Info[PaymentsContext, None], input: PensionEstimateInput
    ) -> Performer:
        gmc = gmc_number(input.gmc_number)
        await service.record_pension_estimate(
            info.context.sessionmaker,
            info.context.principal,
            gmc_number=gmc,
            ods_code=practice_code(input.ods_code),
            financial_year=input.financial_year,
            pensionable_pay_pence=pounds_pence(input.pensionable_pay, field="pensionablePay"),
            submitted_on=input.submitted_on,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return Performer(gmc_number=gmc)

    @strawberry.mutation(
        description="Record a Type 1 or Type 2 certificate received (and processed). "
        "Operators of payments only."
    )
    async def record_pension_certificate(
        self, info: Info[PaymentsContext, None], input: PensionCertificateInput
    ) -> Performer:
        gmc = gmc_number(input.gmc_number)
        await service.record_pension_certificate(
            info.context.sessionmaker,
            info.context.principal,
            gmc_number=gmc,
            financial_year=input.financial_year,
            certificate_type=input.certificate_type,
            ods_code=None if input.ods_code is None else practice_code(input.ods_code),
            submitted_on=input.submitted_on,
            processed_on=input.processed_on,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return Performer(gmc_number=gmc)

    @strawberry.mutation(
        description="Record a locum Form A or B (payments operators, or the practice's Locum "
        "Approver); its checks show against the 10-week rule and the 7th-of-the-month deadline."
    )
    async def record_locum_form(
        self, info: Info[PaymentsContext, None], input: LocumFormInput
    ) -> Performer:
        gmc = gmc_number(input.gmc_number)
        await service.record_locum_form(
            info.context.sessionmaker,
            info.context.principal,
            gmc_number=gmc,
            ods_code=practice_code(input.ods_code),
            form=input.form,
            work_from=input.work_from,
            work_to=input.work_to,
            submitted_on=input.submitted_on,
            bacs_reference=input.bacs_reference,
            pensionable_pence=pounds_pence(input.pensionable_pay, field="pensionablePay"),
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return Performer(gmc_number=gmc)

    @strawberry.mutation(
        description="Record a rate from a date (April's uprating, an LMC's new levy); earlier "
        "rates stay in force for earlier periods. Operators of payments only."
    )
    async def record_rate(self, info: Info[PaymentsContext, None], input: RateInput) -> Rate:
        band_to = None if input.band_to is None else pounds_pence(input.band_to, field="bandTo")
        await service.record_rate(
            info.context.sessionmaker,
            info.context.principal,
            kind=input.kind,
            scope=input.scope,
            effective_from=input.effective_from,
            value=input.value,
            band_from_pence=pounds_pence(input.band_from, field="bandFrom"),
            band_to_pence=band_to,
            source=input.source,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return Rate(
            kind=input.kind,
            scope=input.scope,
            effective_from=input.effective_from,
            band_from=input.band_from,
            band_to=input.band_to,
            value=input.value,
            source=input.source.strip(),
        )

    @strawberry.mutation(
        description="Detect anomalies again as of today (due dates pass with nothing arriving): "
        "some practices, or all with statements. Operators of payments only."
    )
    async def refresh_anomalies(
        self,
        info: Info[PaymentsContext, None],
        ods_codes: Annotated[
            list[str] | None,
            strawberry.argument(name="odsCodes", description="Only these (up to 1,000)."),
        ] = None,
    ) -> AnomalyRefresh:
        codes = (
            None if ods_codes is None else [practice_code(c, field="odsCodes") for c in ods_codes]
        )
        if codes is not None and len(codes) > 1000:  # noqa: PLR2004 - one request's worth
            raise BadUserInput("At most 1,000 practices at a time.", field="odsCodes")
        result = await service.refresh_anomalies(
            info.context.sessionmaker,
            info.context.principal,
            ods_codes=codes,
            today=info.context.today,
        )
        return AnomalyRefresh(opened=result.opened, resolved=result.resolved, open=result.open)

    @strawberry.mutation(
        description="Open a dispute about a line or an anomaly of the practice's (the practice "
        "itself, payments operators, admins); it gets a reference and a timeline."
    )
    async def open_dispute(
        self, info: Info[PaymentsContext, None], input: OpenDisputeInput
    ) -> Dispute:
        written = await service.open_dispute(
            info.context.sessionmaker,
            info.context.principal,
            ods_code=practice_code(input.ods_code),
            line_id=_id(input.line_id, field="lineId"),
            anomaly_id=_id(input.anomaly_id, field="anomalyId"),
            subject=input.subject,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)

    @strawberry.mutation(
        description="Add a step to a dispute's timeline: what was sent, a receipt, a reply, an "
        "escalation, with evidence."
    )
    async def add_dispute_event(
        self, info: Info[PaymentsContext, None], input: DisputeEventInput
    ) -> Dispute:
        written = await service.add_dispute_event(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            kind=input.kind,
            occurred_on=input.occurred_on,
            note=input.note,
            evidence=[(e.label, e.value) for e in input.evidence],
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)

    @strawberry.mutation(description="Resolve a dispute with its outcome; it stays on record.")
    async def resolve_dispute(
        self, info: Info[PaymentsContext, None], input: ResolveDisputeInput
    ) -> Dispute:
        written = await service.resolve_dispute(
            info.context.sessionmaker,
            info.context.principal,
            reference=input.reference,
            outcome=input.outcome,
            idempotency_key=input.idempotency_key,
            today=info.context.today,
        )
        return await _dispute(info, written.key)


def _id(value: strawberry.ID | None, *, field: str) -> int | None:
    if value is None:
        return None
    if not str(value).isdigit() or len(str(value)) > 18:  # noqa: PLR2004 - fits a bigint
        raise BadUserInput(f"`{field}` is not an id this service gave.", field=field)
    return int(value)


async def _dispute(info: Info[PaymentsContext, None], reference: str) -> Dispute:
    async with info.context.sessionmaker() as session:
        row = await repository.dispute_by_reference(session, reference)
    if row is None:  # pragma: no cover - just written in a committed transaction
        raise Forbidden
    return Dispute.from_row(row)


schema = create_schema(query=Query, mutation=Mutation, types=[Practice, Lmc, Performer])
