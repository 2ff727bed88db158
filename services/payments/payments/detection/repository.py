"""SQL of anomalies. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import (
    case,
    func,
    literal,
    select,
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


class KindSummary(NamedTuple):
    """An area's open anomalies of one kind, and how many practices each figure comes from."""

    kind: AnomalyKind
    anomalies: int
    amount_pence: int
    owed_pence: int
    practices: list[str]
    practices_owed: int
    practices_repayable: int


async def anomaly_summary(session: AsyncSession, codes: Sequence[str]) -> list[KindSummary]:
    """Open anomalies by kind, in one statement: the count, the amount at stake and the part
    owed to the practices, the practices affected, and how many practices each direction's
    amount comes from (so a figure from few practices can be withheld)."""
    is_owed = Anomaly.direction == Direction.OWED_TO_PRACTICE
    owed = case((is_owed, Anomaly.amount_at_stake_pence))
    result = await session.execute(
        select(
            Anomaly.kind,
            func.count(),
            func.coalesce(func.sum(Anomaly.amount_at_stake_pence), 0),
            func.coalesce(func.sum(owed), 0),
            func.array_agg(aggregate_order_by(Anomaly.ods_code.distinct(), Anomaly.ods_code)),
            func.count(case((is_owed, Anomaly.ods_code)).distinct()),
            func.count(case((~is_owed, Anomaly.ods_code)).distinct()),
        )
        .where(Anomaly.ods_code.in_(codes), Anomaly.resolved_at.is_(None))
        .group_by(Anomaly.kind)
    )
    return [
        KindSummary(
            kind, count, int(amount), int(owed_amount), list(practices), owed_at, repayable_at
        )
        for kind, count, amount, owed_amount, practices, owed_at, repayable_at in result
    ]


async def lock_practices(session: AsyncSession, codes: Sequence[str]) -> None:
    """Transaction-scoped locks on the practices, always taken in code order (no deadlock)."""
    for code in sorted(codes):
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(literal(f"payments:{code}"))))
        )
