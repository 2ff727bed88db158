"""SQL of this service's copy of the performers directory. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    select,
)

from payments.models import (
    PerformerMembership,
    PracticeDirectory,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


# The statements of the request path are built once, not per call: building a select and
# its cache key cost more than running it. Lists go in as expanding parameters.


async def directory(session: AsyncSession, codes: Sequence[str]) -> list[PracticeDirectory]:
    return list(
        await session.scalars(
            select(PracticeDirectory).where(PracticeDirectory.ods_code.in_(codes))
        )
    )


async def known_practices(session: AsyncSession, codes: Iterable[str]) -> set[str]:
    result = await session.scalars(
        select(PracticeDirectory.ods_code).where(PracticeDirectory.ods_code.in_(list(codes)))
    )
    return set(result)


async def practices_of_lmc(session: AsyncSession, lmc_code: str) -> list[str]:
    result = await session.scalars(
        select(PracticeDirectory.ods_code)
        .where(PracticeDirectory.lmc_code == lmc_code)
        .order_by(PracticeDirectory.ods_code)
    )
    return list(result)


async def memberships(
    session: AsyncSession,
    *,
    codes: Sequence[str] | None = None,
    gmc_numbers: Sequence[str] | None = None,
) -> list[PerformerMembership]:
    statement = select(PerformerMembership).order_by(
        PerformerMembership.gmc_number, PerformerMembership.start_date
    )
    if codes is not None:
        statement = statement.where(PerformerMembership.ods_code.in_(codes))
    if gmc_numbers is not None:
        statement = statement.where(PerformerMembership.gmc_number.in_(gmc_numbers))
    return list(await session.scalars(statement))
