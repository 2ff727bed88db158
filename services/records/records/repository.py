"""SQL statements of the records service. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, literal, select, tuple_, union_all

from records.models import Movement

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from records.models import MovementStatus

OUT = "out"
IN = "in"


async def movements_of_practices(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    directions: frozenset[str],
    statuses: frozenset[MovementStatus] | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[str, str, Movement]]:
    """(practice, direction, movement), newest first, up to ``limit`` per practice.

    One statement for any number of practices: each end of a movement is a candidate row, and
    a window per practice keeps the first ``limit``.
    """
    ends = []
    if OUT in directions:
        ends.append(
            select(
                Movement.sender_ods_code.label("practice"),
                literal(OUT).label("direction"),
                Movement.id.label("movement_id"),
                Movement.requested_at.label("requested_at"),
            ).where(Movement.sender_ods_code.in_(codes))
        )
    if IN in directions:
        ends.append(
            select(
                Movement.receiver_ods_code.label("practice"),
                literal(IN).label("direction"),
                Movement.id.label("movement_id"),
                Movement.requested_at.label("requested_at"),
            ).where(Movement.receiver_ods_code.in_(codes))
        )
    candidates = union_all(*ends).subquery()
    ranked = select(
        candidates,
        func.row_number()
        .over(
            partition_by=candidates.c.practice,
            order_by=(candidates.c.requested_at.desc(), candidates.c.movement_id.desc()),
        )
        .label("rank"),
    ).join(Movement, Movement.id == candidates.c.movement_id)
    if statuses is not None:
        ranked = ranked.where(Movement.status.in_(statuses))
    if after is not None:
        ranked = ranked.where(
            tuple_(candidates.c.requested_at, candidates.c.movement_id) < tuple_(*after)
        )
    ranked_sq = ranked.subquery()
    result = await session.execute(
        select(ranked_sq.c.practice, ranked_sq.c.direction, Movement)
        .join(Movement, Movement.id == ranked_sq.c.movement_id)
        .where(ranked_sq.c.rank <= limit)
        .order_by(ranked_sq.c.practice, ranked_sq.c.rank)
    )
    return [(practice, direction, movement) for practice, direction, movement in result]
