"""Recording QOF declarations as CQRS shows them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput
from sqlalchemy import select

from payments.models import (
    AuditEvent,
    DeclarationState,
    QofDeclaration,
)
from payments.schedule.rules import APPROVED

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


from payments import writes
from payments.detection import service as detection_service


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
) -> writes.Written:
    """Record a QOF declaration as CQRS shows it; once approved, achievement falls due."""
    writes.operator(principal)
    writes.financial_year_input(financial_year, today=today)
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

    async def write(session: AsyncSession) -> writes.Written:
        await writes.known_practice(session, ods_code)
        row = await session.scalar(
            select(QofDeclaration)
            .where(
                QofDeclaration.ods_code == ods_code,
                QofDeclaration.financial_year == financial_year,
            )
            .with_for_update()
        )
        before = None if row is None else writes.row_values(row)
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
            after=writes.row_values(row),
        )  # fmt: skip
        await detection_service.sync_anomalies(session, [ods_code], today=today)
        return writes.Written("qof_declaration", str(row.id))

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordQofDeclaration",
        request={"odsCode": ods_code, "year": financial_year, "pence": achievement_pence,
                 "state": state.value, "declaredOn": str(declared_on),
                 "approvedOn": str(approved_on)},
        write=write,
    )  # fmt: skip
