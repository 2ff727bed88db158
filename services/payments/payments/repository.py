"""SQL statements of the payments service. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select, tuple_

from payments.models import AccountantConsent, Statement, StatementLine

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from sqlalchemy.ext.asyncio import AsyncSession


async def latest_statements(
    session: AsyncSession, codes: Sequence[str], *, before: date | None, limit: int
) -> list[Statement]:
    """Up to ``limit`` statements per practice, newest period first, older than ``before``.

    One statement for any number of practices: a window per practice, not a query each.
    """
    ranked = select(
        Statement.id,
        func.row_number()
        .over(partition_by=Statement.ods_code, order_by=Statement.period.desc())
        .label("rank"),
    ).where(Statement.ods_code.in_(codes))
    if before is not None:
        ranked = ranked.where(Statement.period < before)
    ranked_sq = ranked.subquery()
    result = await session.scalars(
        select(Statement)
        .join(ranked_sq, ranked_sq.c.id == Statement.id)
        .where(ranked_sq.c.rank <= limit)
        .order_by(Statement.ods_code, Statement.period.desc())
    )
    return list(result)


async def lines_of_statements(
    session: AsyncSession, statement_ids: Sequence[int]
) -> list[StatementLine]:
    result = await session.scalars(
        select(StatementLine)
        .where(StatementLine.statement_id.in_(statement_ids))
        .order_by(StatementLine.statement_id, StatementLine.id)
    )
    return list(result)


async def active_consents(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which (accountant, practice) pairs have an active consent now."""
    result = await session.execute(
        select(AccountantConsent.accountant_id, AccountantConsent.ods_code).where(
            tuple_(AccountantConsent.accountant_id, AccountantConsent.ods_code).in_(pairs),
            AccountantConsent.revoked_at.is_(None),
        )
    )
    return {(accountant, code) for accountant, code in result}


async def consents(
    session: AsyncSession, *, ods_codes: Sequence[str] | None, accountant_id: str | None
) -> list[AccountantConsent]:
    """Every grant (active or revoked), newest first, for some practices or one accountant."""
    statement = select(AccountantConsent).order_by(
        AccountantConsent.granted_at.desc(), AccountantConsent.id.desc()
    )
    if ods_codes is not None:
        statement = statement.where(AccountantConsent.ods_code.in_(ods_codes))
    if accountant_id is not None:
        statement = statement.where(AccountantConsent.accountant_id == accountant_id)
    return list(await session.scalars(statement))
