"""Importing a year of the published NHS Payments to General Practice data set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.errors import Conflict

from payments import writes
from payments.models import (
    AuditEvent,
    PublishedYear,
)
from payments.published import repository
from payments.published import rules as published

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


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
    writes.operator(principal)
    writes.financial_year_input(financial_year, today=today)
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
