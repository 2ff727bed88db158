"""SQL of accountants' consents. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    select,
    tuple_,
)

from payments.models import (
    AccountantConsent,
    ConsentScope,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


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


async def consented_practices(
    session: AsyncSession, accountant_id: str, *, pensions: bool = False
) -> list[str]:
    """The practices whose active consent lets the accountant see their payments (and, with
    ``pensions``, their side of its GPs' pensions), by code."""
    statement = select(AccountantConsent.ods_code).where(
        AccountantConsent.accountant_id == accountant_id,
        AccountantConsent.revoked_at.is_(None),
    )
    if pensions:
        statement = statement.where(AccountantConsent.scope == ConsentScope.PAYMENTS_AND_PENSIONS)
    return sorted(await session.scalars(statement))
