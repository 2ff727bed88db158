"""SQL of the claims practices record. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from payments.models import PracticeClaim

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


async def claims(session: AsyncSession, codes: Sequence[str]) -> list[PracticeClaim]:
    return list(
        await session.scalars(
            select(PracticeClaim)
            .where(PracticeClaim.ods_code.in_(codes))
            .order_by(PracticeClaim.ods_code, PracticeClaim.covers_from, PracticeClaim.id)
        )
    )
