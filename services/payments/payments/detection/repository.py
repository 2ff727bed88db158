"""SQL of anomalies. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

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
    PracticeDirectory,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date, datetime

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


async def lmc_codes(session: AsyncSession, codes: Sequence[str]) -> dict[str, str | None]:
    """Each practice's LMC, as the directory copy knows it (None while unknown)."""
    result = await session.execute(
        select(PracticeDirectory.ods_code, PracticeDirectory.lmc_code).where(
            PracticeDirectory.ods_code.in_(codes)
        )
    )
    return {str(code): lmc for code, lmc in result}


class TrendRow(NamedTuple):
    """Anomalies raised or resolved in one month, of one kind, component and paymaster: in
    one LMC's area, or (``lmc_code`` None) in the whole of England."""

    lmc_code: str | None
    month: date
    kind: str
    component: str
    paymaster: str | None
    resolved: bool
    anomalies: int
    practices: int
    pence: int
    median_days: float | None
    """For anomalies resolved: the median days from first detected to resolved."""


_TRENDS = text(
    """
    WITH found AS (
        SELECT d.lmc_code, a.ods_code, a.kind, a.component, a.amount_at_stake_pence AS pence,
               a.first_detected_at, a.resolved_at,
               (SELECT r.commissioner FROM commissioner_rule r
                 WHERE r.component = a.component AND r.paycode = ''
                   AND r.effective_from <= a.covers_from
                 ORDER BY r.effective_from DESC LIMIT 1) AS paymaster
          FROM anomaly a JOIN practice_directory d USING (ods_code)
         WHERE a.first_detected_at >= :since OR a.resolved_at >= :since
    ), events AS (
        SELECT lmc_code, ods_code, kind, component, paymaster, pence, false AS resolved,
               date_trunc('month', first_detected_at AT TIME ZONE 'Europe/London')::date AS month,
               NULL::float8 AS days
          FROM found WHERE first_detected_at >= :since
        UNION ALL
        SELECT lmc_code, ods_code, kind, component, paymaster, pence, true,
               date_trunc('month', resolved_at AT TIME ZONE 'Europe/London')::date,
               extract(epoch FROM resolved_at - first_detected_at) / 86400
          FROM found WHERE resolved_at >= :since
    )
    SELECT lmc_code, month, kind, component, paymaster, resolved, count(*) AS anomalies,
           count(DISTINCT ods_code) AS practices, coalesce(sum(pence), 0) AS pence,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median_days,
           GROUPING(lmc_code) AS national
      FROM events
     WHERE month >= :first_month
     GROUP BY GROUPING SETS ((lmc_code, month, kind, component, paymaster, resolved),
                             (month, kind, component, paymaster, resolved))
    """
)


async def trend_rows(
    session: AsyncSession, *, first_month: date, since: datetime
) -> list[TrendRow]:
    """Every LMC's anomalies raised and resolved by month, kind, component and paymaster since
    ``first_month``, and England's, in one statement. The paymaster is the commissioner whose
    money the component is in the anomaly's month (``commissioner_rule``: NHS England before
    the ICBs' delegation, the ICB after)."""
    result = await session.execute(_TRENDS, {"since": since, "first_month": first_month})
    return [
        TrendRow(
            lmc_code=None if row.national else row.lmc_code,
            month=row.month,
            kind=row.kind,
            component=row.component,
            paymaster=row.paymaster,
            resolved=row.resolved,
            anomalies=row.anomalies,
            practices=row.practices,
            pence=int(row.pence),
            median_days=None if row.median_days is None else float(row.median_days),
        )
        for row in result
    ]


async def lmc_sizes(session: AsyncSession) -> dict[str, int]:
    """How many practices each LMC has, as this copy of the directory knows."""
    result = await session.execute(
        select(PracticeDirectory.lmc_code, func.count().label("practices")).group_by(
            PracticeDirectory.lmc_code
        )
    )
    return {row.lmc_code: row.practices for row in result}
