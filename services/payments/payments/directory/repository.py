"""SQL of this service's copy of the performers directory. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    select,
)

from payments.models import (
    PerformerMembership,
    PerformerStatusChange,
    PracticeDirectory,
    PracticeListSize,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


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


async def practices_of_performer(session: AsyncSession, gmc_number: str) -> list[str]:
    """The practices a performer holds or held a post at, as far as this copy knows."""
    result = await session.scalars(
        select(PerformerMembership.ods_code)
        .where(PerformerMembership.gmc_number == gmc_number)
        .distinct()
        .order_by(PerformerMembership.ods_code)
    )
    return list(result)


async def list_sizes(session: AsyncSession, codes: Sequence[str]) -> list[PracticeListSize]:
    return list(
        await session.scalars(
            select(PracticeListSize)
            .where(PracticeListSize.ods_code.in_(codes))
            .order_by(PracticeListSize.ods_code, PracticeListSize.quarter_start)
        )
    )


async def status_changes(
    session: AsyncSession, gmc_numbers: Sequence[str]
) -> list[PerformerStatusChange]:
    return list(
        await session.scalars(
            select(PerformerStatusChange)
            .where(PerformerStatusChange.gmc_number.in_(gmc_numbers))
            .order_by(PerformerStatusChange.gmc_number, PerformerStatusChange.effective_date)
        )
    )
