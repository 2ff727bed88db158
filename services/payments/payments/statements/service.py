"""Importing a payment run: validated whole, then written in one transaction by COPY."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.auth import Forbidden, Role
from pcse_kit.errors import BadUserInput, Conflict

from payments import events, policy, writes
from payments.bulk import collector_paused
from payments.detection import service as detection_service
from payments.models import (
    AuditEvent,
    IdempotencyKey,
    PaymentRun,
)
from payments.statements import ingest, repository

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_RUN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


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
        paycodes = {p.code: p for p in await repository.paycodes(session)}
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
    with collector_paused():
        await repository.copy_lines(session, records, ingest.LINE_COLUMNS)
    return run, False


OWN_RUN_ID = 57
"""A practice's own run id, with its ODS code and a colon before it, fits the 64 of a run id."""


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
    """Import a payment run, all or nothing; importing its id again returns the first result.

    Payments operators import PCSE's runs. A practice (or an accountant it consented to)
    imports its own statements: one practice a file, the run id kept under the practice's
    code (``A81001:2025-06``) so no other caller's runs are seen or touched.
    """
    operator = principal.operates(policy.DOMAIN)
    if not operator and principal.role not in {Role.PRACTICE, Role.ACCOUNTANT}:
        raise Forbidden
    if not operator:
        # Whose statements these are is settled before the file is checked, so a caller who
        # may not enter them learns nothing from the validation report.
        codes = ingest.practice_codes(csv_text)
        if len(codes) != 1:
            raise BadUserInput(
                f"A practice's own run covers one practice; this one covers {len(codes)}.",
                field="csv",
            )
        if len(run_id) > OWN_RUN_ID:
            raise BadUserInput(
                f"`runId` of a practice's own run is at most {OWN_RUN_ID} characters.",
                field="runId",
            )
        async with sessionmaker() as session:
            await writes.practice_or_consented(session, principal, codes)
        run_id = f"{codes[0]}:{run_id}"
    parsed = await parse_run(sessionmaker, csv_text)
    codes = sorted({line.ods_code for line in parsed.lines})
    async with sessionmaker.begin() as session:
        await writes.practice_or_consented(session, principal, codes)
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
            await publish_statements(session, run_id)
            if detect:
                await detection_service.sync_anomalies(session, run.practice_codes, today=today)
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


async def publish_statements(session: AsyncSession, run_id: str) -> None:
    """A statement that first appears is published; one that had lines from an earlier run
    changed after it was first published (a supplementary run, a correction)."""
    await events.publish_many(
        session,
        [
            (
                events.STATEMENT_CHANGED if earlier else events.STATEMENT_PUBLISHED,
                code,
                {
                    "odsCode": code,
                    "period": period.isoformat(),
                    "statementId": str(statement_id),
                    "runId": run_id,
                    "linesAdded": added,
                    "linesBefore": earlier,
                },
            )
            for code, period, statement_id, added, earlier in await repository.statements_of_run(
                session, run_id
            )
        ],
    )
