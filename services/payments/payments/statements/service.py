"""Importing a payment run: validated whole, then written in one transaction by COPY."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from itertools import chain, groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Final

from pcse_kit import audit
from pcse_kit.auth import Forbidden, Role
from pcse_kit.errors import BadUserInput, Conflict

from payments import events, policy, writes
from payments.bulk import collector_paused
from payments.detection import repository as detection_repository
from payments.detection import service as detection_service
from payments.models import (
    AuditEvent,
    IdempotencyKey,
    LineRow,
    PaymentRun,
)
from payments.statements import ingest, repository

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

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
    session: AsyncSession,
    *,
    run_id: str,
    parsed: ingest.ParsedRun,
    imported_by: str,
    detect_on: date | None = None,
    publish: bool = True,
) -> tuple[PaymentRun, bool]:
    """Write a validated run in the caller's transaction: statements, then the lines by COPY.

    With ``publish``, each statement the run brings lines to is published. With
    ``detect_on``, the run's practices are detected again as of that day in the same pass:
    the lines are written a batch of practices at a time (in practice code order, each
    practice's in the file's order), and each batch is detected from the lines in memory
    while the server stores them (:func:`payments.detection.service.sync_anomalies`), so
    they are never read back.

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
    if publish:
        await publish_statements(session, run_id=run_id, parsed=parsed, ids=ids)
    if detect_on is None:
        # A generator, not a list: each row is built while the server still stores the ones
        # already sent, so the Python work overlaps the server's.
        records = (line.record(ids[(line.ods_code, line.period)], run_id) for line in parsed.lines)
        with collector_paused():
            await repository.copy_lines(session, records, ingest.LINE_COLUMNS)
        return run, False
    # The practices are locked before the ids are drawn, as every import of them does: any
    # line of theirs already written then has a smaller id than these, so the lines read
    # for detection and these, in id order, are what reading them all back would give.
    await detection_repository.lock_practices(session, run.practice_codes)
    with collector_paused():
        fresh = await _fresh_lines(session, parsed, ids=ids, run_id=run_id)

        async def write(codes: Sequence[str]) -> None:
            await repository.copy_lines(
                session, chain.from_iterable(fresh[code] for code in codes), LINE_ROW_COLUMNS
            )

        await detection_service.sync_anomalies(
            session, run.practice_codes, today=detect_on, fresh=fresh, write=write
        )
        # Freed while the collector is still paused: once it runs again, its first pass walks
        # every object made since it stopped that is still alive, and these are most of them.
        fresh.clear()
    return run, False


LINE_ROW_COLUMNS: Final = ("id", *ingest.LINE_COLUMNS)
"""The columns of :class:`LineRow`, in its order: a line row is its COPY record."""


async def _fresh_lines(
    session: AsyncSession,
    parsed: ingest.ParsedRun,
    *,
    ids: dict[tuple[str, date], int],
    run_id: str,
) -> _FreshLines:
    """Each practice's lines of the run as the rows they will be, ids drawn in the order they
    are written: practice code order, each practice's in the file's order."""
    # Sorted by practice, stable: each practice's lines keep the file's order.
    lines = sorted(parsed.lines, key=itemgetter(0))
    line_ids = await repository.new_line_ids(session, len(lines))
    by_practice = {code: list(group) for code, group in groupby(lines, key=itemgetter(0))}
    return _FreshLines(by_practice, line_ids, statements=ids, run_id=run_id)


class _FreshLines(Mapping[str, list[LineRow]]):
    """A run's line rows by practice, each practice's made when it is first asked for: the
    import asks for a batch's while the server stores the batch before (see
    :func:`payments.detection.service.sync_anomalies`), not all before the first is written.
    """

    def __init__(
        self,
        by_practice: dict[str, list[ingest.ParsedLine]],
        line_ids: list[int],
        *,
        statements: dict[tuple[str, date], int],
        run_id: str,
    ) -> None:
        self._lines = by_practice
        self._ids = line_ids
        self._statements = statements
        self._run_id = run_id
        # Where each practice's ids start: practices in code order, as they are written.
        self._first: dict[str, int] = {}
        at = 0
        for code, practice_lines in by_practice.items():
            self._first[code] = at
            at += len(practice_lines)
        self._made: dict[str, list[LineRow]] = {}

    def __getitem__(self, code: str) -> list[LineRow]:
        rows = self._made.get(code)
        if rows is None:
            rows = self._made[code] = self._make(code)
        return rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def clear(self) -> None:
        self._made.clear()
        self._lines.clear()

    def _make(self, code: str) -> list[LineRow]:
        lines = self._lines[code]
        first = self._first[code]
        statements, run_id = self._statements, self._run_id
        new = tuple.__new__
        rows: list[LineRow] = []
        append = rows.append
        # Unpacked, not read field by field: a run is hundreds of thousands of lines.
        for line_id, (
            _, period, component, paycode, description, amount, covers_from, covers_to,
            paymaster, source_system, authoriser, status, (authorised, entered, paid, failed,
            reversed_on), gmc_number, remittance,
        ) in zip(self._ids[first : first + len(lines)], lines, strict=True):  # fmt: skip
            append(
                new(
                    LineRow,
                    (
                        line_id, statements[(code, period)], component, paycode, description,
                        amount, covers_from, covers_to, paymaster, source_system, authoriser,
                        status, authorised, entered, paid, failed, reversed_on, gmc_number,
                        run_id, remittance,
                    ),
                )
            )  # fmt: skip
        return rows


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
    # The collector is paused from the parse to the commit, not once for each step: between
    # steps it would walk the parsed run's hundreds of thousands of lines again and again
    # (payments.bulk). Everything the import made is freed when ``_import_run`` returns,
    # before the collector runs again.
    with collector_paused():
        return await _import_run(
            sessionmaker, principal, run_id=run_id, csv_text=csv_text,
            idempotency_key=idempotency_key, today=today, detect=detect,
        )  # fmt: skip


async def _import_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    run_id: str,
    csv_text: str,
    idempotency_key: str | None,
    today: date,
    detect: bool,
) -> RunResult:
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
            session, run_id=run_id, parsed=parsed, imported_by=principal.subject,
            detect_on=today if detect else None,
        )  # fmt: skip
        result = RunResult.of(run, replayed=replayed)
        if not replayed:
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


async def publish_statements(
    session: AsyncSession,
    *,
    run_id: str,
    parsed: ingest.ParsedRun,
    ids: dict[tuple[str, date], int],
) -> None:
    """Each statement of a run about to be written, published, in practice and period order:
    one that first appears as published; one that already had lines from an earlier run as
    changed (a supplementary run, a correction). Called before the run's lines are written,
    so the lines a statement has now are its earlier ones."""
    added = Counter((line.ods_code, line.period) for line in parsed.lines)
    earlier = await repository.line_counts(session, [ids[key] for key in added])
    published = []
    for code, period in sorted(added):
        statement_id = ids[(code, period)]
        before = earlier.get(statement_id, 0)
        published.append(
            (
                events.STATEMENT_CHANGED if before else events.STATEMENT_PUBLISHED,
                code,
                {
                    "odsCode": code,
                    "period": period.isoformat(),
                    "statementId": str(statement_id),
                    "runId": run_id,
                    "linesAdded": added[(code, period)],
                    "linesBefore": before,
                },
            )
        )
    await events.publish_many(session, published)
