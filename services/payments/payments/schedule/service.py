"""Recording a rate from a date: every expectation after it follows."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.errors import BadUserInput, Conflict
from sqlalchemy import func, select

from payments.directory import repository as directory_repository
from payments.models import (
    AuditEvent,
    Rate,
    RateKind,
)
from payments.statements import repository as statements_repository

if TYPE_CHECKING:
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


from payments import writes
from payments.detection import service as detection_service


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
) -> writes.Written:
    """A new rate from a date (April's uprating, an LMC's new levy); earlier rows stay, so
    past expectations keep the rate that was in force."""
    writes.operator(principal)
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
    text = writes.text_input(source, field="source", limit=200)

    async def write(session: AsyncSession) -> writes.Written:
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
            key=str(row.id), before=None, after=writes.row_values(row),
        )  # fmt: skip
        codes = (
            await directory_repository.practices_of_lmc(session, scope)
            if levy
            else await statements_repository.practices_with_statements(session)
        )
        await detection_service.sync_anomalies(session, codes, today=today)
        return writes.Written("rate", str(row.id))

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordRate",
        request={"kind": kind.value, "scope": scope, "from": str(effective_from),
                 "value": str(value), "band": [band_from_pence, band_to_pence], "source": text},
        write=write,
    )  # fmt: skip
