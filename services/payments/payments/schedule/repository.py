"""SQL of the rates and deadline rules. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    select,
)

from payments.models import (
    DeadlineRule,
    Rate,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


# The statements of the request path are built once, not per call: building a select and
# its cache key cost more than running it. Lists go in as expanding parameters.


async def rates(session: AsyncSession) -> tuple[list[Rate], list[DeadlineRule]]:
    rate_rows = await session.scalars(
        select(Rate).order_by(Rate.kind, Rate.scope, Rate.effective_from, Rate.band_from_pence)
    )
    rules = await session.scalars(select(DeadlineRule).order_by(DeadlineRule.kind))
    return list(rate_rows), list(rules)
