"""GraphQL of a performer's pension position, and the writes that record it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry
from pcse_kit.identifiers import gmc_number, practice_code
from strawberry.federation.schema_directives import ListSize as ListSizeDirective
from strawberry.types import Info

from payments import models, policy
from payments.context import PaymentsContext
from payments.detection import rules as detection
from payments.directory import repository as directory_repository
from payments.pensions import repository, service
from payments.pensions import rules as pensions
from payments.rates import financial_year, year_label
from payments.schedule import facts
from payments.statements import repository as statements_repository
from payments.statements.ingest import pounds_pence
from payments.types import (
    PerformerRef,
    performer,
    pounds,
)


@strawberry.type(description="A performer's estimate at one practice for a year.")
class PensionPost:
    ods_code: str = strawberry.field(description="The practice.")
    pensionable_pay: Decimal = strawberry.field(description="Estimated pensionable pay, pounds.")
    submitted_on: date = strawberry.field(description="When the estimate was submitted.")
    declared_tier: Decimal | None = strawberry.field(
        description="The contribution % the practice declared on it: PCSE deducts at it."
    )


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
    income_month: date | None = strawberry.field(
        description="Form B: the month the practice paid the locum (income received)."
    )
    due_on: date = strawberry.field(
        description="The 7th of the month after the work (Form A) or the income month (Form B)."
    )
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


async def performer_pensions(
    info: Info[PaymentsContext, None], gmc: str, visible: list[str] | None
) -> PerformerPensions:
    today = info.context.today
    async with info.context.sessionmaker() as session:
        estimates = await repository.estimates(session, gmc_numbers=[gmc])
        certificates = await repository.certificates(session, [gmc])
        forms = await repository.locum_forms(session, [gmc])
        lines = await statements_repository.pension_lines(session, [gmc])
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
                        declared_tier=e.declared_tier,
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
                income_month=form.income_month,
                due_on=check.due_on,
                days_after_work=check.days_after_work,
                pensionable=check.pensionable,
                problems=list(check.problems),
            )
        )
    return PerformerPensions(years=rows, first_missing_year=first_missing, locum_forms=checks)


_KEY = "Unique per intended change (8-100 characters); a replay returns the first result."


@strawberry.input(description="An estimate of pensionable pay at one practice for a year.")
class PensionEstimateInput:
    gmc_number: str = strawberry.field(description="The performer.")
    ods_code: str = strawberry.field(description="The practice.")
    financial_year: int = strawberry.field(description="The year it starts.")
    pensionable_pay: Decimal = strawberry.field(description="Pounds for the year.")
    submitted_on: date = strawberry.field(
        description="When it was sent to PCSE; its deadline is judged by it. A practice may date "
        "it at most 3 days back (an earlier day is for payments operators, from PCSE's "
        "receipt)."
    )
    declared_tier: Decimal | None = strawberry.field(
        default=None,
        description="The contribution % the practice declared (a tier of the year): PCSE deducts "
        "at it. It can rightly be above what this practice's pay alone suggests, since the "
        "tier follows pay across all practitioner posts.",
    )
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
    submitted_on: date = strawberry.field(
        description="When it was sent to PCSE; its deadline is judged by it. A practice may date "
        "it at most 3 days back (an earlier day is for payments operators, from PCSE's "
        "receipt)."
    )
    bacs_reference: str = strawberry.field(description="<SD number>LOC<MMM><YYYY>.")
    pensionable_pay: Decimal = strawberry.field(description="Pounds.")
    income_month: date | None = strawberry.field(
        default=None,
        description="Form B: the first day of the month the practice paid the locum (income "
        "received, not the month worked); its deadline and BACS reference follow that month.",
    )
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.type
class PensionsMutation:
    @strawberry.mutation(
        description="Record an estimate of pensionable pay for a year at a practice (payments "
        "operators, or the practice for its own GPs): it sets the expected deductions and tier."
    )
    async def record_pension_estimate(
        self, info: Info[PaymentsContext, None], input: PensionEstimateInput
    ) -> PerformerRef:
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
            declared_tier=input.declared_tier,
        )
        return performer(gmc)

    @strawberry.mutation(
        description="Record a Type 1 or Type 2 certificate received (and processed). "
        "Operators of payments only."
    )
    async def record_pension_certificate(
        self, info: Info[PaymentsContext, None], input: PensionCertificateInput
    ) -> PerformerRef:
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
        return performer(gmc)

    @strawberry.mutation(
        description="Record a locum Form A or B (payments operators, or the practice's Locum "
        "Approver); its checks show against the 10-week rule and the 7th-of-the-month deadline."
    )
    async def record_locum_form(
        self, info: Info[PaymentsContext, None], input: LocumFormInput
    ) -> PerformerRef:
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
            income_month=input.income_month,
        )
        return performer(gmc)


@strawberry.type(description="One GP's pension, as far as one practice's posts go.")
class PracticeGpPension:
    gmc_number: str = strawberry.field(description="The GP.")
    pensions: PerformerPensions = strawberry.field(
        description="Estimates, certificates and the blocking year, for posts at this practice."
    )


@strawberry.type(description="The practice's side of its GPs' pensions.")
class PensionsOfPractice:
    ods_code: strawberry.Private[str]

    @strawberry.field(
        description="Each GP with a post or an estimate at the practice (GMC number order): "
        "estimates, the Type 1 / Type 2 certificates and the first year blocking the rest, for "
        "this practice's posts only. The practice itself, an accountant whose consent includes "
        "pensions (PAYMENTS_AND_PENSIONS), payments operators and admins; FORBIDDEN, and null, "
        "for an accountant whose consent is for payments only.",
        # A practice has a few to a few tens of GPs, each with a year's figures.
        directives=[ListSizeDirective(assumed_size=20)],  # type: ignore[call-arg]
    )
    async def pensions(self, info: Info[PaymentsContext, None]) -> list[PracticeGpPension] | None:
        await policy.read_practice_pensions(info.context, self.ods_code)
        async with info.context.sessionmaker() as session:
            numbers = sorted(
                {e.gmc_number for e in await repository.estimates(session, codes=[self.ods_code])}
                | {
                    m.gmc_number
                    for m in await directory_repository.memberships(session, codes=[self.ods_code])
                }
            )
        return [
            PracticeGpPension(
                gmc_number=number,
                pensions=await performer_pensions(info, number, [self.ods_code]),
            )
            for number in numbers
        ]
