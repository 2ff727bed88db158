"""Re-detecting a practice's anomalies and keeping their history."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Final

from pcse_kit import audit

from payments import events, writes
from payments.bulk import collector_paused
from payments.detection import repository
from payments.disputes import service as disputes_service
from payments.models import Anomaly, AuditEvent, LineRow
from payments.planning import notices
from payments.schedule import facts
from payments.statements import repository as statements_repository
from payments.types import pounds

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from payments.detection.rules import Detected


@dataclass(frozen=True)
class SyncResult:
    opened: int
    resolved: int
    open: int
    escalatable: int = 0
    """``dispute.escalatable`` events published (the daily refresh only)."""
    deadlines: int = 0
    """``deadline.approaching`` events published (a refresh of every practice only)."""


BATCH: Final = 500
"""Practices detected together: one read of each kind of fact for the batch. A daily refresh
reads every line of every practice (five years of them), so a batch bounds the memory, and
the time stays linear in practices; within a batch the reads are set-based, never one a
practice."""


async def sync_anomalies(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    today: date,
    fresh: Mapping[str, Sequence[LineRow]] | None = None,
    write: Callable[[Sequence[str]], Awaitable[None]] | None = None,
) -> SyncResult:
    """Re-detect the practices' anomalies in the caller's transaction and persist the change.

    A problem still detected keeps its row (and first-detected time) with fresh evidence; one
    no longer detected is resolved, not deleted; a new one opens a row.

    An import passes the run's lines as ``fresh`` (by practice, with the ids drawn for them)
    and ``write``, which writes a batch's fresh lines: each batch's lines are written, and
    then the next batch's facts and earlier lines read, while the batch is detected from
    memory, so the server stores one batch and reads the next while this process works out
    the findings, and the lines are never read back.
    """
    codes = sorted(set(codes))
    if not codes:
        return SyncResult(0, 0, 0)
    # One re-detection per practice at a time: two would both insert the same new problem.
    await repository.lock_practices(session, codes)
    now = datetime.now(UTC)
    raised: list[Anomaly] = []
    closed: list[Anomaly] = []
    still_open = 0
    # The collector is paused: each batch's line rows, expectations and findings all live
    # until the batch is written (payments.bulk says why that matters).
    with collector_paused():
        batches = [codes[first : first + BATCH] for first in range(0, len(codes), BATCH)]
        ahead: _Read | None = None
        for index, batch in enumerate(batches):
            read = ahead if ahead is not None else await _read(session, batch, fresh=fresh)
            opened, ahead = await _sync_batch(
                session, batch, read=read, today=today, now=now, raised=raised, closed=closed,
                fresh=fresh, write=write,
                following=batches[index + 1] if index + 1 < len(batches) else None,
            )  # fmt: skip
            still_open += opened
    if raised or closed:
        lmcs = await repository.lmc_codes(session, codes)
        await events.publish_many(
            session,
            [(events.ANOMALY_RAISED, row.ods_code, _event(row, lmcs)) for row in raised]
            + [(events.ANOMALY_RESOLVED, row.ods_code, _event(row, lmcs)) for row in closed],
        )
    return SyncResult(opened=len(raised), resolved=len(closed), open=still_open)


_Read = tuple[facts.Snapshot, dict[str, Anomaly]]
"""A batch's facts and lines, and its open anomalies by fingerprint (locked)."""


async def _read(
    session: AsyncSession, codes: Sequence[str], *, fresh: Mapping[str, Sequence[LineRow]] | None
) -> _Read:
    snapshot = await facts.snapshot(session, codes, fresh=fresh)
    existing = {row.fingerprint: row for row in await repository.open_anomalies(session, codes)}
    return snapshot, existing


async def _sync_batch(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    read: _Read,
    today: date,
    now: datetime,
    raised: list[Anomaly],
    closed: list[Anomaly],
    fresh: Mapping[str, Sequence[LineRow]] | None = None,
    write: Callable[[Sequence[str]], Awaitable[None]] | None = None,
    following: Sequence[str] | None = None,
) -> tuple[int, _Read | None]:
    """One batch of practices detected and its anomalies written: how many are open, and,
    when writing, the ``following`` batch's reads, made once this batch's lines are in."""
    snapshot, existing = read
    ahead = None
    if write is None:
        seen = _record(
            session,
            (found for code in codes for found in snapshot.detect(code, today=today)),
            existing=existing, now=now, raised=raised,
        )  # fmt: skip
    else:

        async def write_then_read_ahead() -> _Read | None:
            await write(codes)
            # The next batch's practices are not this one's: what is read for them is the same
            # before or after this batch's findings are written.
            return None if following is None else await _read(session, following, fresh=fresh)

        # The batch's lines go in, then the next batch's facts are read, on the session's
        # connection while the findings are worked out here. The session is not touched here
        # until both have finished: the findings are kept, and recorded after.
        writing = asyncio.ensure_future(write_then_read_ahead())
        try:
            detected: list[Detected] = []
            for first in range(0, len(codes), _YIELD_EVERY):
                for code in codes[first : first + _YIELD_EVERY]:
                    detected.extend(snapshot.detect(code, today=today))
                # Lets the write send what the server has room for.
                await asyncio.sleep(0)
            if fresh is not None:
                # The next batch's fresh lines asked for now, while the server still stores
                # this batch's: an import makes each practice's when first asked for.
                for code in following or ():
                    fresh.get(code)
        except BaseException:
            writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)
            raise
        ahead = await writing
        seen = _record(session, detected, existing=existing, now=now, raised=raised)
    for fingerprint, row in existing.items():
        if fingerprint not in seen:
            row.resolved_at = now
            closed.append(row)
    await session.flush()
    return len(seen), ahead


_YIELD_EVERY: Final = 10
"""Practices detected between two turns of the event loop while a batch's lines are written."""


def _record(
    session: AsyncSession,
    detected: Iterable[Detected],
    *,
    existing: dict[str, Anomaly],
    now: datetime,
    raised: list[Anomaly],
) -> set[str]:
    """Each problem found opened or refreshed (added to the session, not flushed); the
    fingerprints found."""
    seen: set[str] = set()
    for found in detected:
        if found.fingerprint in seen:
            continue
        seen.add(found.fingerprint)
        row = existing.get(found.fingerprint)
        if row is None:
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
            raised.append(row)
        row.severity = found.severity
        row.covers_to = found.covers_to
        row.claim_reference = found.claim_reference
        row.direction = found.direction
        row.amount_at_stake_pence = found.amount_at_stake_pence
        row.summary = found.summary[:400]
        row.evidence = found.evidence
        row.last_detected_at = now
    return seen


def _event(row: Anomaly, lmcs: dict[str, str | None]) -> dict[str, object]:
    """What a subscriber needs to decide to look: the practice, its LMC, the kind and the money,
    never a GP's number or a patient (the API has the evidence, for whoever may see it)."""
    return {
        "anomalyId": str(row.id),
        "odsCode": row.ods_code,
        "lmcCode": lmcs.get(row.ods_code),
        "kind": row.kind.name,
        "component": row.component.name,
        "coversFrom": row.covers_from.isoformat(),
        "coversTo": None if row.covers_to is None else row.covers_to.isoformat(),
        "direction": row.direction.name,
        "amountAtStake": str(pounds(row.amount_at_stake_pence)),
        "firstDetectedAt": row.first_detected_at.isoformat(),
        "resolvedAt": None if row.resolved_at is None else row.resolved_at.isoformat(),
    }


async def refresh_anomalies(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_codes: Sequence[str] | None,
    today: date,
) -> SyncResult:
    """Re-detect now: due dates pass without anything arriving, so operators (or a timer)
    run this daily. Without codes, every practice with a statement."""
    writes.operator(principal)
    async with sessionmaker.begin() as session:
        codes = (
            sorted(set(ods_codes))
            if ods_codes
            else await statements_repository.practices_with_statements(session)
        )
        result = await sync_anomalies(session, codes, today=today)
        # The daily refresh is also when days pass for disputes and deadlines: publish what
        # came due (or was missed by a run that did not happen), once each.
        escalatable = await disputes_service.publish_escalatable(
            session, today=today, ods_codes=codes if ods_codes else None
        )
        deadlines = 0 if ods_codes else await notices.publish_deadlines(session, today=today)
        result = replace(result, escalatable=escalatable, deadlines=deadlines)
        # A refresh opens and resolves anomalies that practices and LMCs act on: who ran it,
        # when, over which practices and with what effect, in the trail with the change.
        await audit.record(
            session, AuditEvent, actor=principal, action="refresh_anomalies", entity="anomaly",
            key="the practices named" if ods_codes else "every practice with a statement",
            before=None,
            after={"odsCodes": codes if ods_codes else None, "asOf": today.isoformat(),
                   "practices": len(codes), **asdict(result)},
        )  # fmt: skip
        return result
