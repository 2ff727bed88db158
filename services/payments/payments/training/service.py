"""Recording a training practice's registrar placements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.errors import BadUserInput

from payments.models import (
    AuditEvent,
    TraineePlacement,
)

if TYPE_CHECKING:
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


from payments import writes
from payments.detection import service as detection_service


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
) -> writes.Written:
    """A registrar placed at a training practice: reimbursement is due monthly while it lasts."""
    writes.operator(principal)
    if ends_on < starts_on:
        raise BadUserInput("`endsOn` cannot be before `startsOn`.", field="endsOn")
    if monthly_pence <= 0:
        raise BadUserInput("`monthlyAmount` must be more than zero.", field="monthlyAmount")

    async def write(session: AsyncSession) -> writes.Written:
        await writes.known_practice(session, ods_code)
        row = TraineePlacement(
            ods_code=ods_code, gmc_number=gmc_number, starts_on=starts_on, ends_on=ends_on,
            monthly_pence=monthly_pence,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_trainee_placement",
            entity="trainee_placement", key=str(row.id), before=None, after=writes.row_values(row),
        )  # fmt: skip
        await detection_service.sync_anomalies(session, [ods_code], today=today)
        return writes.Written("trainee_placement", str(row.id))

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordTraineePlacement",
        request={"odsCode": ods_code, "gmcNumber": gmc_number, "startsOn": str(starts_on),
                 "endsOn": str(ends_on), "pence": monthly_pence},
        write=write,
    )  # fmt: skip
