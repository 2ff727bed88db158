"""SQL of disputes and their timelines. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    select,
)

from payments.models import (
    Dispute,
    DisputeEvent,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


async def disputes_of_practices(session: AsyncSession, codes: Sequence[str]) -> list[Dispute]:
    return list(
        await session.scalars(
            select(Dispute)
            .where(Dispute.ods_code.in_(codes))
            .order_by(Dispute.ods_code, Dispute.opened_at.desc(), Dispute.id.desc())
        )
    )


async def dispute_by_reference(session: AsyncSession, reference: str) -> Dispute | None:
    return await session.scalar(select(Dispute).where(Dispute.reference == reference))


async def dispute_events(session: AsyncSession, dispute_ids: Sequence[int]) -> list[DisputeEvent]:
    return list(
        await session.scalars(
            select(DisputeEvent)
            .where(DisputeEvent.dispute_id.in_(dispute_ids))
            .order_by(DisputeEvent.dispute_id, DisputeEvent.id)
        )
    )
