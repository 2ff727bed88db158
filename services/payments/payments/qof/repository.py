"""SQL of QOF declarations. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    select,
)

from payments.models import (
    QofDeclaration,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


async def declarations(session: AsyncSession, codes: Sequence[str]) -> list[QofDeclaration]:
    return list(
        await session.scalars(
            select(QofDeclaration)
            .where(QofDeclaration.ods_code.in_(codes))
            .order_by(QofDeclaration.ods_code, QofDeclaration.financial_year.desc())
        )
    )
