"""SQL of the published data set and the cash it is compared with. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from payments.models import (
    ChainStatus,
    Component,
    PublishedTotal,
    PublishedYear,
    Statement,
    StatementLine,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from sqlalchemy.ext.asyncio import AsyncSession


async def claim_published_year(session: AsyncSession, year: int) -> PublishedYear | None:
    """The year already imported, if any; concurrent imports of one year queue here."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(literal(f"published:{year}"))))
    )
    return await session.get(PublishedYear, year)


async def copy_published(session: AsyncSession, records: Sequence[tuple[object, ...]]) -> None:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has its driver's
        raise RuntimeError("no asyncpg connection under the session")
    await driver.copy_records_to_table(
        PublishedTotal.__tablename__,
        records=records,
        columns=["financial_year", "ods_code", "measure", "amount_pence", "heading"],
    )


async def published_totals(session: AsyncSession, codes: Sequence[str]) -> list[PublishedTotal]:
    return list(
        await session.scalars(
            select(PublishedTotal)
            .where(PublishedTotal.ods_code.in_(codes))
            .order_by(PublishedTotal.financial_year.desc(), PublishedTotal.measure)
        )
    )


async def cash_by_component(
    session: AsyncSession, codes: Sequence[str], *, start: date, end: date
) -> list[tuple[str, Component, int]]:
    """What each practice's lines moved between two days, by component: a payment on the day
    it was paid, a reversal on the day it was reversed (the data set is cash basis)."""
    paid = and_(StatementLine.status == ChainStatus.PAID, StatementLine.paid_on.between(start, end))
    reversed_ = and_(
        StatementLine.status == ChainStatus.REVERSED,
        StatementLine.reversed_on.between(start, end),
    )
    effect = func.sum(
        case(
            (paid, StatementLine.amount_pence),
            (reversed_, -StatementLine.amount_pence),
            else_=0,
        )
    )
    result = await session.execute(
        select(Statement.ods_code, StatementLine.component, effect)
        .join(Statement, Statement.id == StatementLine.statement_id)
        .where(Statement.ods_code.in_(codes), or_(paid, reversed_))
        .group_by(Statement.ods_code, StatementLine.component)
    )
    return [(code, component, int(total)) for code, component, total in result]
