"""SQL of anomalies. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    case,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from payments.models import (
    Anomaly,
    AnomalyKind,
    Direction,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


async def open_anomalies(session: AsyncSession, codes: Sequence[str]) -> list[Anomaly]:
    return list(
        await session.scalars(
            select(Anomaly)
            .where(Anomaly.ods_code.in_(codes), Anomaly.resolved_at.is_(None))
            .with_for_update()
        )
    )


async def anomalies_page(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    open_only: bool,
    kind: AnomalyKind | None,
    after: int | None,
    limit: int,
) -> list[Anomaly]:
    """Newest first by id; a window per practice, so any number of practices is one query."""
    ranked = select(
        Anomaly.id,
        func.row_number()
        .over(partition_by=Anomaly.ods_code, order_by=Anomaly.id.desc())
        .label("rank"),
    ).where(Anomaly.ods_code.in_(codes))
    if open_only:
        ranked = ranked.where(Anomaly.resolved_at.is_(None))
    if kind is not None:
        ranked = ranked.where(Anomaly.kind == kind)
    if after is not None:
        ranked = ranked.where(Anomaly.id < after)
    ranked_sq = ranked.subquery()
    return list(
        await session.scalars(
            select(Anomaly)
            .join(ranked_sq, ranked_sq.c.id == Anomaly.id)
            .where(ranked_sq.c.rank <= limit)
            .order_by(Anomaly.ods_code, Anomaly.id.desc())
        )
    )


async def anomalies_by_id(session: AsyncSession, ids: Sequence[int]) -> list[Anomaly]:
    return list(await session.scalars(select(Anomaly).where(Anomaly.id.in_(ids))))


async def anomaly_summary(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[AnomalyKind, int, int, int, list[str]]]:
    """Open anomalies by kind: (kind, count, amount at stake, of it owed to the practices, the
    practices affected)."""
    owed = case((Anomaly.direction == Direction.OWED_TO_PRACTICE, Anomaly.amount_at_stake_pence))
    result = await session.execute(
        select(
            Anomaly.kind,
            func.count(),
            func.coalesce(func.sum(Anomaly.amount_at_stake_pence), 0),
            func.coalesce(func.sum(owed), 0),
            func.array_agg(aggregate_order_by(Anomaly.ods_code.distinct(), Anomaly.ods_code)),
        )
        .where(Anomaly.ods_code.in_(codes), Anomaly.resolved_at.is_(None))
        .group_by(Anomaly.kind)
    )
    return [
        (kind, count, int(amount), int(owed_amount), list(practices))
        for kind, count, amount, owed_amount, practices in result
    ]


_LOCK_PRACTICES = text(
    "SELECT count(pg_advisory_xact_lock(hashtext('payments:' || code)))"
    " FROM (SELECT code FROM unnest(CAST(:codes AS text[])) AS code ORDER BY code OFFSET 0)"
    " AS wanted"
)
"""Each practice's lock in one statement: the rows reach the function in code order (the
sorted subquery, fenced by OFFSET 0 so it is not flattened into the aggregate), as any other
transaction locking practices takes them, so two never wait on each other in a circle."""


async def lock_practices(session: AsyncSession, codes: Sequence[str]) -> None:
    """Transaction-scoped locks on the practices, always taken in code order (no deadlock);
    one round trip however many practices."""
    await session.execute(_LOCK_PRACTICES, {"codes": sorted(set(codes))})
