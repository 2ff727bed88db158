"""Re-detecting a practice's anomalies and keeping their history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from payments import writes
from payments.detection import repository
from payments.models import (
    Anomaly,
)
from payments.schedule import facts
from payments.statements import repository as statements_repository

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


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
            row.covers_to = found.covers_to
            row.claim_reference = found.claim_reference
            row.direction = found.direction
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
    writes.operator(principal)
    async with sessionmaker.begin() as session:
        codes = (
            list(ods_codes)
            if ods_codes
            else await statements_repository.practices_with_statements(session)
        )
        return await sync_anomalies(session, codes, today=today)
