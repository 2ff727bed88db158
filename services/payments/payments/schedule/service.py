"""Recording a rate from a date, or a practice's contract value: every expectation after it
follows."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from pcse_kit import audit
from pcse_kit.dates import not_future
from pcse_kit.errors import BadUserInput, Conflict
from sqlalchemy import func, select

from payments import writes
from payments.detection import service as detection_service
from payments.directory import repository as directory_repository
from payments.models import (
    AuditEvent,
    ContractValue,
    Rate,
    RateKind,
)
from payments.statements import repository as statements_repository

if TYPE_CHECKING:
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


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
    decided_on: date | None = None,
    settle_by: date | None = None,
) -> writes.Written:
    """A new rate from a date (April's uprating, an LMC's new levy); earlier rows stay, so
    past expectations keep the rate that was in force. A rate decided after it takes effect (a
    pay-review uplift backdated to April) names the day it was decided, and optionally by when
    its arrears are due: months due before the decision keep the old rate as their
    expectation, and the difference is owed as arrears."""
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
    if decided_on is not None:
        not_future(decided_on, today=today, field="decidedOn")
    if settle_by is not None and (decided_on is None or settle_by < decided_on):
        raise BadUserInput(
            "`settleBy` belongs to a rate decided later, and comes after `decidedOn`.",
            field="settleBy",
        )

    async def write(session: AsyncSession) -> writes.Written:
        duplicate = await session.scalar(
            select(func.count()).select_from(Rate).where(
                Rate.kind == kind, Rate.scope == scope, Rate.effective_from == effective_from,
                Rate.band_from_pence == band_from_pence,
                Rate.decided_on.is_not_distinct_from(decided_on),
            )
        )  # fmt: skip
        if duplicate:
            raise Conflict("That rate is already recorded from that date.", field="effectiveFrom")
        row = Rate(
            kind=kind, scope=scope, effective_from=effective_from, value=value,
            band_from_pence=band_from_pence, band_to_pence=band_to_pence, source=text,
            decided_on=decided_on, settle_by=settle_by,
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
                 "value": str(value), "band": [band_from_pence, band_to_pence], "source": text,
                 "decided": str(decided_on), "settle": str(settle_by)},
        write=write,
    )  # fmt: skip


CONTRACT_TYPES = frozenset({"PMS", "APMS"})


async def record_contract_value(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    contract_type: str,
    effective_from: date,
    annual_pence: int,
    source: str,
    idempotency_key: str,
    today: date,
    decided_on: date | None = None,
) -> writes.Written:
    """A PMS agreement's baseline or an APMS contract's price from a date (payments
    operators): the practice is expected a twelfth of it each month. A variation decided
    after the date it applies from names the day it was decided: months due before then keep
    the old value, and the difference is arrears by the end of the month after the decision.
    The same date and decision again corrects it."""
    writes.operator(principal)
    if contract_type not in CONTRACT_TYPES:
        raise BadUserInput(
            "A contract value is for a PMS or an APMS contract.", field="contractType"
        )
    if not 0 <= annual_pence <= 1_000_000_000_00:  # noqa: PLR2004 - £1bn: a typo, not a contract
        raise BadUserInput("`annualValue` must be 0 or more (and under £1bn).", field="annualValue")
    if effective_from.day != 1:
        raise BadUserInput("`effectiveFrom` is the first day of a month.", field="effectiveFrom")
    text = writes.text_input(source, field="source", limit=200)
    if decided_on is not None:
        not_future(decided_on, today=today, field="decidedOn")

    async def write(session: AsyncSession) -> writes.Written:
        await writes.known_practice(session, ods_code)
        row = await session.scalar(
            select(ContractValue)
            .where(
                ContractValue.ods_code == ods_code,
                ContractValue.effective_from == effective_from,
                ContractValue.decided_on.is_not_distinct_from(decided_on),
            )
            .with_for_update()
        )
        before = None if row is None else writes.row_values(row)
        if row is None:
            row = ContractValue(
                ods_code=ods_code, effective_from=effective_from, decided_on=decided_on
            )
            session.add(row)
        row.contract_type = contract_type
        row.annual_pence = annual_pence
        row.source = text
        await session.flush()
        await audit.record(
            session, AuditEvent, actor=principal, action="record_contract_value",
            entity="contract_value", key=f"{ods_code}/{effective_from}", before=before,
            after=writes.row_values(row),
        )  # fmt: skip
        await detection_service.sync_anomalies(session, [ods_code], today=today)
        return writes.Written("contract_value", f"{ods_code}/{effective_from}")

    return await writes.idempotent(
        sessionmaker, principal, key=idempotency_key, operation="recordContractValue",
        request={"odsCode": ods_code, "type": contract_type, "from": str(effective_from),
                 "pence": annual_pence, "source": text, "decided": str(decided_on)},
        write=write,
    )  # fmt: skip
