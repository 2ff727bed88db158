"""Recording estimates of pensionable pay, certificates and locum forms."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput
from sqlalchemy import select

from payments import writes
from payments.detection import service as detection_service
from payments.models import (
    AuditEvent,
    CertificateType,
    LocumForm,
    LocumPensionForm,
    PensionCertificate,
    PensionEstimate,
)
from payments.pensions import repository
from payments.schedule import facts

if TYPE_CHECKING:
    from decimal import Decimal

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def record_pension_estimate(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    gmc_number: str,
    ods_code: str,
    financial_year: int,
    pensionable_pay_pence: int,
    submitted_on: date,
    idempotency_key: str,
    today: date,
    declared_tier: Decimal | None = None,
) -> writes.Written:
    """A performer's estimate of pensionable pay at a practice for a year (the practice may
    record its own GPs'), with the contribution tier the practice declared on it: PCSE deducts
    at that tier, which can rightly be higher than this practice's pay alone suggests (pay in
    other posts counts). It sets the monthly deductions.

    A practice records only for a GP who works there (a post in the performers list's
    memberships), checked on every replay too: an estimate links the practice to the GP's
    pensions, so naming another practice's GP, or one who has left, is refused."""
    writes.operator_or_practice(principal, ods_code)
    writes.financial_year_input(financial_year, today=today)
    writes.submitted_on_input(principal, submitted_on, today=today)
    if pensionable_pay_pence < 0:
        raise BadUserInput("`pensionablePay` cannot be negative.", field="pensionablePay")

    async def write(session: AsyncSession) -> writes.Written:
        await writes.known_practice(session, ods_code)
        if declared_tier is not None:
            book = await facts.rate_book(session)
            tiers = {band.value for band in book.tiers(date(financial_year, 4, 1))}
            if declared_tier not in tiers:
                listed = ", ".join(f"{t.normalize():f}" for t in sorted(tiers))
                raise BadUserInput(
                    f"`declaredTier` must be a contribution tier of {financial_year}/"
                    f"{(financial_year + 1) % 100:02d} ({listed}).",
                    field="declaredTier",
                )
        row = await session.scalar(
            select(PensionEstimate)
            .where(
                PensionEstimate.gmc_number == gmc_number,
                PensionEstimate.ods_code == ods_code,
                PensionEstimate.financial_year == financial_year,
            )
            .with_for_update()
        )
        before = None if row is None else writes.row_values(row)
        if row is None:
            row = PensionEstimate(
                gmc_number=gmc_number, ods_code=ods_code, financial_year=financial_year
            )
            session.add(row)
        row.pensionable_pay_pence = pensionable_pay_pence
        row.submitted_on = submitted_on
        row.declared_tier = declared_tier
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_pension_estimate",
            entity="pension_estimate", key=f"{gmc_number}/{ods_code}/{financial_year}",
            before=before, after=writes.row_values(row),
        )  # fmt: skip
        # The tier follows the total across posts: every post's deductions may change.
        posts = await repository.estimates(session, gmc_numbers=[gmc_number])
        codes = {e.ods_code for e in posts if e.financial_year == financial_year}
        await detection_service.sync_anomalies(session, sorted(codes), today=today)
        return writes.Written("pension_estimate", str(row.id))

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordPensionEstimate",
        request={"gmcNumber": gmc_number, "odsCode": ods_code, "year": financial_year,
                 "pence": pensionable_pay_pence, "submittedOn": str(submitted_on),
                 "tier": None if declared_tier is None else str(declared_tier)},
        write=write,
        authorize=partial(
            writes.performer_works_at, principal=principal, gmc_number=gmc_number,
            ods_code=ods_code, financial_year=financial_year, today=today,
        ),
    )  # fmt: skip


async def record_pension_certificate(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    gmc_number: str,
    financial_year: int,
    certificate_type: CertificateType,
    ods_code: str | None,
    submitted_on: date,
    processed_on: date | None,
    idempotency_key: str,
    today: date,
) -> writes.Written:
    """A Type 1 (per contract, so naming the practice) or Type 2 certificate received."""
    writes.operator(principal)
    writes.financial_year_input(financial_year, today=today)
    if (certificate_type is CertificateType.TYPE_1) != (ods_code is not None):
        raise BadUserInput(
            "A Type 1 certificate names its practice (contract); a Type 2 covers every post.",
            field="odsCode",
        )
    not_future(submitted_on, today=today, field="submittedOn")
    if processed_on is not None:
        not_future(processed_on, today=today, field="processedOn")
        if processed_on < submitted_on:
            raise BadUserInput("`processedOn` cannot be before `submittedOn`.", field="processedOn")

    async def write(session: AsyncSession) -> writes.Written:
        row = await session.scalar(
            select(PensionCertificate)
            .where(
                PensionCertificate.gmc_number == gmc_number,
                PensionCertificate.financial_year == financial_year,
                PensionCertificate.certificate_type == certificate_type,
                PensionCertificate.ods_code == (ods_code or ""),
            )
            .with_for_update()
        )
        before = None if row is None else writes.row_values(row)
        if row is None:
            row = PensionCertificate(
                gmc_number=gmc_number, financial_year=financial_year,
                certificate_type=certificate_type, ods_code=ods_code or "",
            )  # fmt: skip
            session.add(row)
        row.submitted_on = submitted_on
        row.processed_on = processed_on
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_pension_certificate",
            entity="pension_certificate", key=f"{gmc_number}/{financial_year}", before=before,
            after=writes.row_values(row),
        )  # fmt: skip
        return writes.Written("pension_certificate", str(row.id))

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordPensionCertificate",
        request={"gmcNumber": gmc_number, "year": financial_year,
                 "type": certificate_type.value, "odsCode": ods_code,
                 "submittedOn": str(submitted_on), "processedOn": str(processed_on)},
        write=write,
    )  # fmt: skip


async def record_locum_form(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    gmc_number: str,
    ods_code: str,
    form: LocumForm,
    work_from: date,
    work_to: date,
    submitted_on: date,
    bacs_reference: str,
    pensionable_pence: int,
    idempotency_key: str,
    today: date,
    income_month: date | None = None,
) -> writes.Written:
    """A locum's Form A or B (the practice's Locum Approver may record its own). Kept even
    when PCSE Online would reject it: the checks say why, which is the point. A Form B is for
    the calendar month the practice paid the locum (income received), not the month worked."""
    writes.operator_or_practice(principal, ods_code)
    if work_to < work_from:
        raise BadUserInput("`workTo` cannot be before `workFrom`.", field="workTo")
    writes.submitted_on_input(principal, submitted_on, today=today)
    if pensionable_pence < 0:
        raise BadUserInput("`pensionablePay` cannot be negative.", field="pensionablePay")
    reference = writes.text_input(bacs_reference, field="bacsReference", limit=40)
    if income_month is not None:
        if income_month.day != 1:
            raise BadUserInput("`incomeMonth` is the first day of a month.", field="incomeMonth")
        if income_month < work_from.replace(day=1):
            raise BadUserInput(
                "`incomeMonth` cannot be before the work (income is received for work done).",
                field="incomeMonth",
            )
        not_future(income_month, today=today, field="incomeMonth")

    async def write(session: AsyncSession) -> writes.Written:
        await writes.known_practice(session, ods_code)
        row = LocumPensionForm(
            gmc_number=gmc_number, ods_code=ods_code, form=form, work_from=work_from,
            work_to=work_to, submitted_on=submitted_on, bacs_reference=reference,
            pensionable_pence=pensionable_pence, income_month=income_month,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_locum_form",
            entity="locum_pension_form", key=str(row.id), before=None, after=writes.row_values(row),
        )  # fmt: skip
        return writes.Written("locum_pension_form", str(row.id))

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordLocumForm",
        request={"gmcNumber": gmc_number, "odsCode": ods_code, "form": form.value,
                 "workFrom": str(work_from), "workTo": str(work_to),
                 "submittedOn": str(submitted_on), "bacs": reference,
                 "pence": pensionable_pence, "incomeMonth": str(income_month)},
        write=write,
    )  # fmt: skip
