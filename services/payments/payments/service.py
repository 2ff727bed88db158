"""The rules of the payments service that change data. Each owns its write transaction.

A write validates everything first (a typed error names the field or row, and nothing is
written), then in one transaction claims its idempotency key, writes, re-detects the anomalies
of the practices it touched, and appends to the audit trail: the change and its consequences
commit together or not at all.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pcse_kit import audit
from pcse_kit.auth import Forbidden
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput, Conflict, NotFound
from pcse_kit.identifiers import free_text
from sqlalchemy import func, select

from payments import facts, ingest, policy, published, repository
from payments.models import (
    AccountantConsent,
    Anomaly,
    AuditEvent,
    CertificateType,
    DeclarationState,
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    IdempotencyKey,
    LocumForm,
    LocumPensionForm,
    PaymentRun,
    PensionCertificate,
    PensionEstimate,
    PracticeDirectory,
    PublishedYear,
    QofDeclaration,
    Rate,
    RateKind,
    Statement,
    StatementLine,
    TraineePlacement,
)
from payments.rates import financial_year
from payments.schedule import APPROVED

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True)
class ConsentView:
    ods_code: str
    accountant_id: str
    granted_at: str
    granted_by: str
    revoked_at: str | None
    revoked_by: str | None

    @classmethod
    def of(cls, row: AccountantConsent) -> ConsentView:
        return cls(
            ods_code=row.ods_code,
            accountant_id=row.accountant_id,
            granted_at=row.granted_at.isoformat(),
            granted_by=row.granted_by,
            revoked_at=None if row.revoked_at is None else row.revoked_at.isoformat(),
            revoked_by=row.revoked_by,
        )


async def _active_consent(
    session: AsyncSession, ods_code: str, accountant_id: str
) -> AccountantConsent | None:
    return await session.scalar(
        select(AccountantConsent)
        .where(
            AccountantConsent.ods_code == ods_code,
            AccountantConsent.accountant_id == accountant_id,
            AccountantConsent.revoked_at.is_(None),
        )
        .with_for_update()
    )


async def grant_consent(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    accountant_id: str,
    idempotency_key: str,
) -> ConsentView:
    """Let ``accountant_id`` see ``ods_code``'s payments; granting twice changes nothing."""
    policy.manage_consent(principal, ods_code)

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await _active_consent(session, ods_code, accountant_id)
        if row is None:
            row = AccountantConsent(
                ods_code=ods_code,
                accountant_id=accountant_id,
                granted_by=principal.subject,
                granted_at=datetime.now(UTC),
            )
            session.add(row)
            await session.flush()
            await audit.record(
                session,
                AuditEvent,
                actor=principal,
                action="grant",
                entity="accountant_consent",
                key=f"{ods_code}/{accountant_id}",
                before=None,
                after=_values(row),
            )
        return _values(row)

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation="grantAccountantConsent",
        request={"odsCode": ods_code, "accountantId": accountant_id},
        write=write,
    )
    return ConsentView(**response)


async def revoke_consent(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    accountant_id: str,
    idempotency_key: str,
) -> ConsentView:
    """End ``accountant_id``'s access to ``ods_code``'s payments from the next request on."""
    policy.manage_consent(principal, ods_code)

    async def write(session: AsyncSession) -> dict[str, Any]:
        row = await _active_consent(session, ods_code, accountant_id)
        if row is None:
            raise Conflict("There is no active consent to revoke.", field="accountantId")
        before = _values(row)
        row.revoked_at = datetime.now(UTC)
        row.revoked_by = principal.subject
        await session.flush()
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="revoke",
            entity="accountant_consent",
            key=f"{ods_code}/{accountant_id}",
            before=before,
            after=_values(row),
        )
        return _values(row)

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation="revokeAccountantConsent",
        request={"odsCode": ods_code, "accountantId": accountant_id},
        write=write,
    )
    return ConsentView(**response)


def _values(row: AccountantConsent) -> dict[str, Any]:
    return asdict(ConsentView.of(row))


# --------------------------------------------------------------------------------------------
# Shared plumbing

FIRST_YEAR = 2004
"""The GMS contract, and QOF with it, began in 2004/05."""
_RUN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class Written:
    """What a mutation changed: the table and key to read it back by."""

    entity: str
    key: str


def _operator(principal: Principal) -> None:
    if not principal.operates(policy.DOMAIN):
        raise Forbidden


def _operator_or_practice(principal: Principal, ods_code: str) -> None:
    if not (principal.operates(policy.DOMAIN) or principal.is_practice_of(ods_code)):
        raise Forbidden


def _year(year: int, *, today: date, field: str = "financialYear") -> int:
    if not FIRST_YEAR <= year <= financial_year(today) + 1:
        raise BadUserInput(
            f"`{field}` must be a financial year from {FIRST_YEAR} to next year, by the year "
            "it starts (2025 is 2025/26).",
            field=field,
        )
    return year


def _text(value: str, *, field: str, limit: int) -> str:
    # Free text reaches operators, admins and the audit trail: never an NHS number in it.
    return free_text(value, field=field, limit=limit)


async def _idempotent(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    key: str,
    operation: str,
    request: dict[str, Any],
    write: Callable[[AsyncSession], Awaitable[Written]],
) -> Written:
    """Run ``write`` once per key: a replay gets the first result and changes nothing."""

    async def remembered(session: AsyncSession) -> dict[str, Any]:
        return asdict(await write(session))

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=key,
        operation=operation,
        request=request,
        write=remembered,
    )
    return Written(**response)


async def _known_practice(session: AsyncSession, ods_code: str) -> None:
    if not await session.get(PracticeDirectory, ods_code):
        raise BadUserInput("No such practice in the practice directory.", field="odsCode")


def _row_values(row: Any) -> dict[str, Any]:
    """A row's columns as JSON-ready values, for the audit trail."""
    values: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        values[column.key] = value
    return values


# --------------------------------------------------------------------------------------------
# Anomalies


@dataclass(frozen=True)
class SyncResult:
    opened: int
    resolved: int
    open: int


async def sync_anomalies(session: AsyncSession, codes: Sequence[str], *, today: date) -> SyncResult:
    """Re-detect the practices' anomalies in the caller's transaction and persist the change.

    A problem still detected keeps its row (and first-detected time) with fresh evidence; one
    no longer detected is resolved, not deleted; a new one opens a row.
    """
    codes = sorted(set(codes))
    if not codes:
        return SyncResult(0, 0, 0)
    # One re-detection per practice at a time: two would both insert the same new problem.
    await repository.lock_practices(session, codes)
    snapshot = await facts.snapshot(session, codes)
    existing = {row.fingerprint: row for row in await repository.open_anomalies(session, codes)}
    now = datetime.now(UTC)
    opened = 0
    seen: set[str] = set()
    for code in codes:
        for found in snapshot.detect(code, today=today):
            if found.fingerprint in seen:
                continue
            seen.add(found.fingerprint)
            row = existing.get(found.fingerprint)
            if row is None:
                opened += 1
                row = Anomaly(
                    fingerprint=found.fingerprint,
                    ods_code=found.ods_code,
                    kind=found.kind,
                    component=found.component,
                    covers_from=found.covers_from,
                    gmc_number=found.gmc_number,
                    first_detected_at=now,
                )
                session.add(row)
            row.severity = found.severity
            row.amount_at_stake_pence = found.amount_at_stake_pence
            row.summary = found.summary[:400]
            row.evidence = found.evidence
            row.last_detected_at = now
    resolved = 0
    for fingerprint, row in existing.items():
        if fingerprint not in seen:
            row.resolved_at = now
            resolved += 1
    await session.flush()
    return SyncResult(opened=opened, resolved=resolved, open=len(seen))


async def refresh_anomalies(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_codes: Sequence[str] | None,
    today: date,
) -> SyncResult:
    """Re-detect now: due dates pass without anything arriving, so operators (or a timer)
    run this daily. Without codes, every practice with a statement."""
    _operator(principal)
    async with sessionmaker.begin() as session:
        codes = (
            list(ods_codes) if ods_codes else await repository.practices_with_statements(session)
        )
        return await sync_anomalies(session, codes, today=today)


# --------------------------------------------------------------------------------------------
# Payment runs


@dataclass(frozen=True)
class RunResult:
    run_id: str
    line_count: int
    statement_count: int
    total_pence: int
    practice_codes: list[str]
    imported_at: str
    imported_by: str
    replayed: bool = False

    @classmethod
    def of(cls, run: PaymentRun, *, replayed: bool = False) -> RunResult:
        return cls(
            run_id=run.run_id,
            line_count=run.line_count,
            statement_count=run.statement_count,
            total_pence=run.total_pence,
            practice_codes=list(run.practice_codes),
            imported_at=run.imported_at.isoformat(),
            imported_by=run.imported_by,
            replayed=replayed,
        )


def run_id(value: str) -> str:
    if not _RUN_ID.fullmatch(value):
        raise BadUserInput("`runId` must be 1-64 letters, digits or . _ : -", field="runId")
    return value


async def parse_run(
    sessionmaker: async_sessionmaker[AsyncSession], csv_text: str
) -> ingest.ParsedRun:
    """Validate a whole run against the paycodes and the directory, before any write."""
    async with sessionmaker() as session:
        paycodes = {
            p.code: (p.component, p.description) for p in await repository.paycodes(session)
        }
        known = await repository.all_practice_codes(session)
    return ingest.parse(csv_text, paycodes=paycodes, known_practices=known)


async def load_run(
    session: AsyncSession, *, run_id: str, parsed: ingest.ParsedRun, imported_by: str
) -> tuple[PaymentRun, bool]:
    """Write a validated run in the caller's transaction: statements, then the lines by COPY.

    Returns the run and whether it was already there (then nothing is written).
    """
    existing = await repository.claim_run(session, run_id)
    if existing is not None:
        if existing.digest != parsed.digest:
            raise Conflict(
                "A different file was already imported under this run id.", field="runId"
            )
        return existing, True
    statements = parsed.statements
    ids = await repository.ensure_statements(session, statements)
    run = PaymentRun(
        run_id=run_id,
        imported_by=imported_by,
        imported_at=datetime.now(UTC),
        line_count=len(parsed.lines),
        statement_count=len(statements),
        total_pence=parsed.total_pence,
        practice_codes=sorted({code for code, _ in statements}),
        digest=parsed.digest,
    )
    session.add(run)
    await session.flush()
    # A generator, not a list: each row is built while the server still stores the ones
    # already sent, so the Python work overlaps the server's.
    records = (line.record(ids[(line.ods_code, line.period)], run_id) for line in parsed.lines)
    await repository.copy_lines(session, records, ingest.LINE_COLUMNS)
    return run, False


async def import_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    run_id: str,
    csv_text: str,
    idempotency_key: str | None,
    today: date,
    detect: bool = True,
) -> RunResult:
    """Import a payment run, all or nothing; importing its id again returns the first result."""
    _operator(principal)
    parsed = await parse_run(sessionmaker, csv_text)
    async with sessionmaker.begin() as session:
        if idempotency_key is not None:
            replay = await audit.claim(
                session,
                IdempotencyKey,
                actor=principal,
                key=idempotency_key,
                operation="importPaymentRun",
                request={"runId": run_id, "digest": parsed.digest},
            )
            if replay is not None:
                return RunResult(**{**replay, "replayed": True})
        run, replayed = await load_run(
            session, run_id=run_id, parsed=parsed, imported_by=principal.subject
        )
        result = RunResult.of(run, replayed=replayed)
        if not replayed:
            if detect:
                await sync_anomalies(session, run.practice_codes, today=today)
            after = asdict(result)
            after.pop("replayed")
            await audit.record(
                session, AuditEvent, actor=principal, action="import_run", entity="payment_run",
                key=run_id, before=None, after=after,
            )  # fmt: skip
        if idempotency_key is not None:
            await audit.remember(
                session, IdempotencyKey, actor=principal, key=idempotency_key,
                response={k: v for k, v in asdict(result).items() if k != "replayed"},
            )  # fmt: skip
    return result


# --------------------------------------------------------------------------------------------
# What the schedule is derived from


async def record_qof_declaration(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    financial_year: int,
    achievement_pence: int,
    state: DeclarationState,
    declared_on: date | None,
    approved_on: date | None,
    idempotency_key: str,
    today: date,
) -> Written:
    """Record a QOF declaration as CQRS shows it; once approved, achievement falls due."""
    _operator(principal)
    _year(financial_year, today=today)
    if achievement_pence < 0:
        raise BadUserInput("`achievement` cannot be negative.", field="achievement")
    if (state in APPROVED) != (approved_on is not None):
        raise BadUserInput(
            "`approvedOn` is required once approved (approved or paid), and only then.",
            field="approvedOn",
        )
    for value, name in ((declared_on, "declaredOn"), (approved_on, "approvedOn")):
        if value is not None:
            not_future(value, today=today, field=name)
    if declared_on and approved_on and approved_on < declared_on:
        raise BadUserInput("`approvedOn` cannot be before `declaredOn`.", field="approvedOn")

    async def write(session: AsyncSession) -> Written:
        await _known_practice(session, ods_code)
        row = await session.scalar(
            select(QofDeclaration)
            .where(
                QofDeclaration.ods_code == ods_code,
                QofDeclaration.financial_year == financial_year,
            )
            .with_for_update()
        )
        before = None if row is None else _row_values(row)
        if row is None:
            row = QofDeclaration(ods_code=ods_code, financial_year=financial_year)
            session.add(row)
        row.achievement_pence = achievement_pence
        row.state = state
        row.declared_on = declared_on
        row.approved_on = approved_on
        row.updated_at = datetime.now(UTC)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_qof_declaration",
            entity="qof_declaration", key=f"{ods_code}/{financial_year}", before=before,
            after=_row_values(row),
        )  # fmt: skip
        await sync_anomalies(session, [ods_code], today=today)
        return Written("qof_declaration", str(row.id))

    return await _idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordQofDeclaration",
        request={"odsCode": ods_code, "year": financial_year, "pence": achievement_pence,
                 "state": state.value, "declaredOn": str(declared_on),
                 "approvedOn": str(approved_on)},
        write=write,
    )  # fmt: skip


async def record_trainee_placement(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    gmc_number: str,
    starts_on: date,
    ends_on: date,
    monthly_pence: int,
    idempotency_key: str,
    today: date,
) -> Written:
    """A registrar placed at a training practice: reimbursement is due monthly while it lasts."""
    _operator(principal)
    if ends_on < starts_on:
        raise BadUserInput("`endsOn` cannot be before `startsOn`.", field="endsOn")
    if monthly_pence <= 0:
        raise BadUserInput("`monthlyAmount` must be more than zero.", field="monthlyAmount")

    async def write(session: AsyncSession) -> Written:
        await _known_practice(session, ods_code)
        row = TraineePlacement(
            ods_code=ods_code, gmc_number=gmc_number, starts_on=starts_on, ends_on=ends_on,
            monthly_pence=monthly_pence,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_trainee_placement",
            entity="trainee_placement", key=str(row.id), before=None, after=_row_values(row),
        )  # fmt: skip
        await sync_anomalies(session, [ods_code], today=today)
        return Written("trainee_placement", str(row.id))

    return await _idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordTraineePlacement",
        request={"odsCode": ods_code, "gmcNumber": gmc_number, "startsOn": str(starts_on),
                 "endsOn": str(ends_on), "pence": monthly_pence},
        write=write,
    )  # fmt: skip


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
) -> Written:
    """A performer's estimate of pensionable pay at a practice for a year (the practice may
    record its own GPs'); it sets the monthly deductions and, with the other posts, the tier."""
    _operator_or_practice(principal, ods_code)
    _year(financial_year, today=today)
    not_future(submitted_on, today=today, field="submittedOn")
    if pensionable_pay_pence < 0:
        raise BadUserInput("`pensionablePay` cannot be negative.", field="pensionablePay")

    async def write(session: AsyncSession) -> Written:
        await _known_practice(session, ods_code)
        row = await session.scalar(
            select(PensionEstimate)
            .where(
                PensionEstimate.gmc_number == gmc_number,
                PensionEstimate.ods_code == ods_code,
                PensionEstimate.financial_year == financial_year,
            )
            .with_for_update()
        )
        before = None if row is None else _row_values(row)
        if row is None:
            row = PensionEstimate(
                gmc_number=gmc_number, ods_code=ods_code, financial_year=financial_year
            )
            session.add(row)
        row.pensionable_pay_pence = pensionable_pay_pence
        row.submitted_on = submitted_on
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_pension_estimate",
            entity="pension_estimate", key=f"{gmc_number}/{ods_code}/{financial_year}",
            before=before, after=_row_values(row),
        )  # fmt: skip
        # The tier follows the total across posts: every post's deductions may change.
        posts = await repository.estimates(session, gmc_numbers=[gmc_number])
        codes = {e.ods_code for e in posts if e.financial_year == financial_year}
        await sync_anomalies(session, sorted(codes), today=today)
        return Written("pension_estimate", str(row.id))

    return await _idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordPensionEstimate",
        request={"gmcNumber": gmc_number, "odsCode": ods_code, "year": financial_year,
                 "pence": pensionable_pay_pence, "submittedOn": str(submitted_on)},
        write=write,
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
) -> Written:
    """A Type 1 (per contract, so naming the practice) or Type 2 certificate received."""
    _operator(principal)
    _year(financial_year, today=today)
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

    async def write(session: AsyncSession) -> Written:
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
        before = None if row is None else _row_values(row)
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
            after=_row_values(row),
        )  # fmt: skip
        return Written("pension_certificate", str(row.id))

    return await _idempotent(
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
) -> Written:
    """A locum's Form A or B (the practice's Locum Approver may record its own). Kept even
    when PCSE Online would reject it: the checks say why, which is the point."""
    _operator_or_practice(principal, ods_code)
    if work_to < work_from:
        raise BadUserInput("`workTo` cannot be before `workFrom`.", field="workTo")
    not_future(submitted_on, today=today, field="submittedOn")
    if pensionable_pence < 0:
        raise BadUserInput("`pensionablePay` cannot be negative.", field="pensionablePay")
    reference = _text(bacs_reference, field="bacsReference", limit=40)

    async def write(session: AsyncSession) -> Written:
        await _known_practice(session, ods_code)
        row = LocumPensionForm(
            gmc_number=gmc_number, ods_code=ods_code, form=form, work_from=work_from,
            work_to=work_to, submitted_on=submitted_on, bacs_reference=reference,
            pensionable_pence=pensionable_pence,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_locum_form",
            entity="locum_pension_form", key=str(row.id), before=None, after=_row_values(row),
        )  # fmt: skip
        return Written("locum_pension_form", str(row.id))

    return await _idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordLocumForm",
        request={"gmcNumber": gmc_number, "odsCode": ods_code, "form": form.value,
                 "workFrom": str(work_from), "workTo": str(work_to),
                 "submittedOn": str(submitted_on), "bacs": reference,
                 "pence": pensionable_pence},
        write=write,
    )  # fmt: skip


async def record_rate(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    kind: RateKind,
    scope: str,
    effective_from: date,
    value: Decimal,
    band_from_pence: int,
    band_to_pence: int | None,
    source: str,
    idempotency_key: str,
    today: date,
) -> Written:
    """A new rate from a date (April's uprating, an LMC's new levy); earlier rows stay, so
    past expectations keep the rate that was in force."""
    _operator(principal)
    levy = kind in {RateKind.LMC_STATUTORY, RateKind.LMC_VOLUNTARY}
    if levy != bool(scope):
        raise BadUserInput("An LMC levy names its LMC; national rates do not.", field="scope")
    exponent = value.as_tuple().exponent
    if value < 0 or value >= Decimal(1_000_000) or (isinstance(exponent, int) and exponent < -4):  # noqa: PLR2004 - the column's scale
        raise BadUserInput("`value` must be 0 or more, with at most four decimals.", field="value")
    if kind is not RateKind.EMPLOYEE_TIER and (band_from_pence or band_to_pence is not None):
        raise BadUserInput("Only contribution tiers have pay bands.", field="bandFrom")
    if band_from_pence < 0 or (band_to_pence is not None and band_to_pence < band_from_pence):
        raise BadUserInput("The band must run upwards from 0 or more.", field="bandTo")
    text = _text(source, field="source", limit=200)

    async def write(session: AsyncSession) -> Written:
        duplicate = await session.scalar(
            select(func.count()).select_from(Rate).where(
                Rate.kind == kind, Rate.scope == scope, Rate.effective_from == effective_from,
                Rate.band_from_pence == band_from_pence,
            )
        )  # fmt: skip
        if duplicate:
            raise Conflict("That rate is already recorded from that date.", field="effectiveFrom")
        row = Rate(
            kind=kind, scope=scope, effective_from=effective_from, value=value,
            band_from_pence=band_from_pence, band_to_pence=band_to_pence, source=text,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_rate", entity="rate",
            key=str(row.id), before=None, after=_row_values(row),
        )  # fmt: skip
        codes = (
            await repository.practices_of_lmc(session, scope)
            if levy
            else await repository.practices_with_statements(session)
        )
        await sync_anomalies(session, codes, today=today)
        return Written("rate", str(row.id))

    return await _idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordRate",
        request={"kind": kind.value, "scope": scope, "from": str(effective_from),
                 "value": str(value), "band": [band_from_pence, band_to_pence], "source": text},
        write=write,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Disputes


def _new_reference() -> str:
    return f"PAY-{uuid.uuid4().hex[:10].upper()}"


async def open_dispute(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    line_id: int | None,
    anomaly_id: int | None,
    subject: str,
    idempotency_key: str,
    today: date,
) -> Written:
    """A practice queries a line or an anomaly; the query gets a reference and a timeline."""
    _operator_or_practice(principal, ods_code)
    if (line_id is None) == (anomaly_id is None):
        raise BadUserInput("Name either a line or an anomaly.", field="lineId")
    text = _text(subject, field="subject", limit=300)

    async def write(session: AsyncSession) -> Written:
        evidence: list[list[str]] = []
        if line_id is not None:
            found = await session.execute(
                select(StatementLine, Statement.ods_code)
                .join(Statement, Statement.id == StatementLine.statement_id)
                .where(StatementLine.id == line_id)
            )
            pair = found.first()
            # Another practice's line reads exactly like one that does not exist.
            if pair is None or pair[1] != ods_code:
                raise BadUserInput("No such line on this practice's statements.", field="lineId")
            line = pair[0]
            evidence = [
                ["Line", f"{line.id}: {line.paycode} {line.description}"],
                ["Amount", f"{line.amount_pence / 100:.2f}"],
                ["Covers", f"{line.covers_from} to {line.covers_to}"],
                ["Status", line.status.value],
            ]
        if anomaly_id is not None:
            anomaly = await session.get(Anomaly, anomaly_id)
            if anomaly is None or anomaly.ods_code != ods_code:
                raise BadUserInput("No such anomaly for this practice.", field="anomalyId")
            evidence = [["Anomaly", f"{anomaly.id}: {anomaly.summary}"], *anomaly.evidence["facts"]]
        dispute = Dispute(
            reference=_new_reference(), ods_code=ods_code, line_id=line_id,
            anomaly_id=anomaly_id, subject=text, opened_by=principal.subject,
            opened_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(dispute)
        await session.flush()
        session.add(
            DisputeEvent(
                dispute_id=dispute.id, kind=DisputeEventKind.OPENED, occurred_on=today,
                note=text, evidence=evidence, recorded_by=principal.subject,
            )
        )  # fmt: skip
        await audit.record(
            session, AuditEvent, actor=principal, action="open_dispute", entity="dispute",
            key=dispute.reference, before=None, after=_row_values(dispute),
        )  # fmt: skip
        return Written("dispute", dispute.reference)

    return await _idempotent(
        sessionmaker, principal, key=idempotency_key, operation="openDispute",
        request={"odsCode": ods_code, "lineId": line_id, "anomalyId": anomaly_id,
                 "subject": text},
        write=write,
    )  # fmt: skip


async def _dispute_for(session: AsyncSession, principal: Principal, reference: str) -> Dispute:
    dispute = await session.scalar(
        select(Dispute).where(Dispute.reference == reference).with_for_update()
    )
    operator = principal.operates(policy.DOMAIN)
    if dispute is None and operator:
        raise NotFound("No dispute has this reference.", field="reference")
    if dispute is None or not (operator or principal.is_practice_of(dispute.ods_code)):
        raise Forbidden
    return dispute


async def add_dispute_event(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    kind: DisputeEventKind,
    occurred_on: date,
    note: str,
    evidence: list[tuple[str, str]],
    idempotency_key: str,
    today: date,
) -> Written:
    """Add a step to a dispute's timeline: what was sent, a receipt, a reply, an escalation."""
    if kind in {DisputeEventKind.OPENED, DisputeEventKind.RESOLVED}:
        raise BadUserInput("Open and resolve a dispute with their own mutations.", field="kind")
    not_future(occurred_on, today=today, field="occurredOn")
    text = _text(note, field="note", limit=2000)
    pairs = [
        [_text(label, field="evidence", limit=100), _text(value, field="evidence", limit=500)]
        for label, value in evidence
    ]
    if len(pairs) > 20:  # noqa: PLR2004 - a timeline step, not an archive
        raise BadUserInput("At most 20 pieces of evidence per step.", field="evidence")

    async def write(session: AsyncSession) -> Written:
        dispute = await _dispute_for(session, principal, reference)
        if dispute.resolved_at is not None:
            raise Conflict("This dispute is resolved.", field="reference")
        if occurred_on < dispute.opened_at.date():
            raise BadUserInput(
                "A step cannot come before the dispute was opened.", field="occurredOn"
            )
        event = DisputeEvent(
            dispute_id=dispute.id, kind=kind, occurred_on=occurred_on, note=text,
            evidence=pairs, recorded_by=principal.subject,
        )  # fmt: skip
        session.add(event)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="add_dispute_event",
            entity="dispute", key=reference, before=None, after=_row_values(event),
        )  # fmt: skip
        return Written("dispute", reference)

    return await _idempotent(
        sessionmaker, principal, key=idempotency_key, operation="addDisputeEvent",
        request={"reference": reference, "kind": kind.value, "on": str(occurred_on),
                 "note": text, "evidence": pairs},
        write=write,
    )  # fmt: skip


async def resolve_dispute(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    reference: str,
    outcome: str,
    idempotency_key: str,
    today: date,
) -> Written:
    """Close a dispute with its outcome (paid, corrected, withdrawn...); it stays on record."""
    text = _text(outcome, field="outcome", limit=300)

    async def write(session: AsyncSession) -> Written:
        dispute = await _dispute_for(session, principal, reference)
        if dispute.resolved_at is not None:
            raise Conflict("This dispute is already resolved.", field="reference")
        before = _row_values(dispute)
        dispute.resolved_at = datetime.now(UTC)
        dispute.outcome = text
        session.add(
            DisputeEvent(
                dispute_id=dispute.id, kind=DisputeEventKind.RESOLVED, occurred_on=today,
                note=text, evidence=[], recorded_by=principal.subject,
            )
        )  # fmt: skip
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="resolve_dispute", entity="dispute",
            key=reference, before=before, after=_row_values(dispute),
        )  # fmt: skip
        return Written("dispute", reference)

    return await _idempotent(
        sessionmaker, principal, key=idempotency_key, operation="resolveDispute",
        request={"reference": reference, "outcome": text},
        write=write,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The published data set


@dataclass(frozen=True)
class PublishedResult:
    financial_year: int
    practice_count: int
    figures: int
    replayed: bool


async def import_published(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    financial_year: int,
    csv_text: str,
    today: date,
) -> PublishedResult:
    """Import one year of the published data set, all or nothing; the same file again is a
    no-op, a different one for a year already imported a CONFLICT."""
    _operator(principal)
    _year(financial_year, today=today)
    parsed = published.parse(csv_text)
    async with sessionmaker.begin() as session:
        existing = await repository.claim_published_year(session, financial_year)
        if existing is not None:
            if existing.digest != parsed.digest:
                raise Conflict(
                    "A different file was already imported for this year.", field="financialYear"
                )
            return PublishedResult(financial_year, existing.practice_count, 0, replayed=True)
        session.add(
            PublishedYear(
                financial_year=financial_year, imported_by=principal.subject,
                practice_count=parsed.practices, digest=parsed.digest,
                imported_at=datetime.now(UTC),
            )
        )  # fmt: skip
        await session.flush()
        await repository.copy_published(
            session,
            [(financial_year, code, m.value, pence, h[:200]) for code, m, pence, h in parsed.rows],
        )
        await audit.record(
            session, AuditEvent, actor=principal, action="import_published",
            entity="published_year", key=str(financial_year), before=None,
            after={"practices": parsed.practices, "figures": len(parsed.rows),
                   "digest": parsed.digest},
        )  # fmt: skip
    return PublishedResult(financial_year, parsed.practices, len(parsed.rows), replayed=False)
