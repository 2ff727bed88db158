"""SQL statements of the performers service. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select

from performers.models import Lmc, Membership, Performer, Practice

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession


async def practices_by_code(session: AsyncSession, codes: Sequence[str]) -> list[Practice]:
    result = await session.scalars(select(Practice).where(Practice.ods_code.in_(codes)))
    return list(result)


async def performers_by_gmc(session: AsyncSession, numbers: Sequence[str]) -> list[Performer]:
    result = await session.scalars(select(Performer).where(Performer.gmc_number.in_(numbers)))
    return list(result)


async def lmcs_by_code(session: AsyncSession, codes: Sequence[str]) -> list[Lmc]:
    result = await session.scalars(select(Lmc).where(Lmc.code.in_(codes)))
    return list(result)


def _current(on: date) -> ColumnElement[bool]:
    return and_(
        Membership.start_date <= on,
        or_(Membership.end_date.is_(None), Membership.end_date >= on),
    )


async def current_performers_of_practices(
    session: AsyncSession, codes: Sequence[str], *, on: date
) -> list[tuple[str, Performer]]:
    """(practice code, performer) for every membership current on ``on``."""
    result = await session.execute(
        select(Membership.ods_code, Performer)
        .join(Performer, Performer.gmc_number == Membership.gmc_number)
        .where(Membership.ods_code.in_(codes), _current(on))
        .order_by(Membership.ods_code, Performer.family_name, Performer.gmc_number)
    )
    return [(code, performer) for code, performer in result]


async def memberships_of_performers(
    session: AsyncSession, numbers: Sequence[str]
) -> list[Membership]:
    result = await session.scalars(
        select(Membership)
        .where(Membership.gmc_number.in_(numbers))
        .order_by(Membership.gmc_number, Membership.start_date, Membership.id)
    )
    return list(result)


async def practices_page(
    session: AsyncSession,
    *,
    lmc_codes: Sequence[str] | None,
    codes: Sequence[str] | None,
    after: str | None,
    limit: int,
) -> list[Practice]:
    """Practices in code order, after a code, optionally limited to LMCs or codes: a page."""
    statement = select(Practice).order_by(Practice.ods_code).limit(limit)
    if lmc_codes is not None:
        statement = statement.where(Practice.lmc_code.in_(lmc_codes))
    if codes is not None:
        statement = statement.where(Practice.ods_code.in_(codes))
    if after is not None:
        statement = statement.where(Practice.ods_code > after)
    return list(await session.scalars(statement))
