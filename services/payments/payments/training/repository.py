"""SQL of trainee placements. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    select,
)

from payments.models import TraineePay, TraineePlacement

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


async def placements(session: AsyncSession, codes: Sequence[str]) -> list[TraineePlacement]:
    return list(
        await session.scalars(
            select(TraineePlacement)
            .where(TraineePlacement.ods_code.in_(codes))
            .order_by(TraineePlacement.starts_on, TraineePlacement.id)
        )
    )


async def pay_changes(session: AsyncSession, placement_ids: Sequence[int]) -> list[TraineePay]:
    return list(
        await session.scalars(
            select(TraineePay)
            .where(TraineePay.placement_id.in_(placement_ids))
            .order_by(TraineePay.placement_id, TraineePay.applies_from, TraineePay.id)
        )
    )
