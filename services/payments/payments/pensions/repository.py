"""SQL of estimates, certificates and locum forms. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    func,
    select,
)

from payments.models import (
    LocumPensionForm,
    PensionCertificate,
    PensionEstimate,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


async def estimates(
    session: AsyncSession,
    *,
    codes: Sequence[str] | None = None,
    gmc_numbers: Sequence[str] | None = None,
) -> list[PensionEstimate]:
    statement = select(PensionEstimate).order_by(
        PensionEstimate.gmc_number, PensionEstimate.financial_year, PensionEstimate.ods_code
    )
    if codes is not None:
        statement = statement.where(PensionEstimate.ods_code.in_(codes))
    if gmc_numbers is not None:
        statement = statement.where(PensionEstimate.gmc_number.in_(gmc_numbers))
    return list(await session.scalars(statement))


async def pay_across_posts(
    session: AsyncSession, gmc_numbers: Sequence[str]
) -> dict[tuple[str, int], int]:
    """Each performer's estimated pensionable pay per year over all posts: it sets the tier."""
    result = await session.execute(
        select(
            PensionEstimate.gmc_number,
            PensionEstimate.financial_year,
            func.sum(PensionEstimate.pensionable_pay_pence),
        )
        .where(PensionEstimate.gmc_number.in_(gmc_numbers))
        .group_by(PensionEstimate.gmc_number, PensionEstimate.financial_year)
    )
    return {(gmc, year): int(total) for gmc, year, total in result}


async def certificates(
    session: AsyncSession, gmc_numbers: Sequence[str]
) -> list[PensionCertificate]:
    return list(
        await session.scalars(
            select(PensionCertificate)
            .where(PensionCertificate.gmc_number.in_(gmc_numbers))
            .order_by(PensionCertificate.financial_year, PensionCertificate.id)
        )
    )


async def locum_forms(session: AsyncSession, gmc_numbers: Sequence[str]) -> list[LocumPensionForm]:
    return list(
        await session.scalars(
            select(LocumPensionForm)
            .where(LocumPensionForm.gmc_number.in_(gmc_numbers))
            .order_by(LocumPensionForm.work_from, LocumPensionForm.id)
        )
    )
