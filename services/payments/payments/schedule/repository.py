"""SQL of the rates, deadline and timing rules, commissioners and contract values. Nothing here
commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from payments.models import CommissionerRule, ContractValue, DeadlineRule, Rate, TimingRule

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


async def rates(
    session: AsyncSession,
) -> tuple[list[Rate], list[DeadlineRule], list[TimingRule], list[CommissionerRule]]:
    rate_rows = await session.scalars(
        select(Rate).order_by(Rate.kind, Rate.scope, Rate.effective_from, Rate.band_from_pence)
    )
    rules = await session.scalars(select(DeadlineRule).order_by(DeadlineRule.kind))
    timings = await session.scalars(select(TimingRule).order_by(TimingRule.kind))
    commissioners = await session.scalars(
        select(CommissionerRule).order_by(CommissionerRule.component)
    )
    return list(rate_rows), list(rules), list(timings), list(commissioners)


async def contract_values(session: AsyncSession, codes: Sequence[str]) -> list[ContractValue]:
    return list(
        await session.scalars(
            select(ContractValue)
            .where(ContractValue.ods_code.in_(codes))
            .order_by(ContractValue.ods_code, ContractValue.effective_from)
        )
    )
