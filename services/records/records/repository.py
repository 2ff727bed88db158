"""SQL statements of the records service. Nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from records.models import (
    HarmOutcome,
    HarmReview,
    Incident,
    IncidentKind,
    Movement,
    MovementCount,
    MovementEvent,
    MovementStatus,
    PracticeDirectory,
    Scan,
)
from records.timers import AGE_BUCKETS, TimerKind

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date, datetime

    from sqlalchemy.ext.asyncio import AsyncSession

OUT = "out"
IN = "in"

AWAITING_COLLECTION: Final = (
    MovementStatus.REQUESTED,
    MovementStatus.IN_PROGRESS,
    MovementStatus.READY_FOR_COLLECTION,
)
IN_TRANSIT: Final = (MovementStatus.COLLECTED,)

# When each timer is past due and still running; the same stops as records.types applies.
OVERDUE: Final[dict[TimerKind, Callable[[date], ColumnElement[bool]]]] = {
    TimerKind.LABEL: lambda today: and_(
        Movement.label_due_on < today,
        Movement.label_issued_on.is_(None),
        Movement.collected_at.is_(None),
    ),
    TimerKind.DELIVERY: lambda today: and_(
        Movement.delivery_due_on < today, Movement.delivered_at.is_(None)
    ),
    TimerKind.GP2GP: lambda today: and_(
        Movement.gp2gp_due_on < today, Movement.gp2gp_integrated_on.is_(None)
    ),
    TimerKind.URGENT: lambda today: and_(
        Movement.urgent_due_on < today,
        Movement.delivered_at.is_(None),
        Movement.gp2gp_integrated_on.is_(None),
    ),
    TimerKind.SEARCH: lambda today: Movement.search_due_on < today,
    TimerKind.LOST: lambda today: Movement.lost_due_on < today,
}


def overdue(today: date) -> ColumnElement[bool]:
    """An open movement with any timer past due."""
    return and_(Movement.is_open, or_(*(clause(today) for clause in OVERDUE.values())))


def _count(condition: ColumnElement[bool] | None = None) -> Any:
    counted = func.count()
    return counted if condition is None else counted.filter(condition)


def _age_buckets(now: datetime, requested_at: Any = Movement.requested_at) -> list[Any]:
    """One count per age bucket; an age is whole days since the request, as ``ageDays``."""
    counts = []
    for bucket in AGE_BUCKETS:
        condition = requested_at <= now - timedelta(days=bucket.min_days)
        if bucket.max_days is not None:
            younger = requested_at > now - timedelta(days=bucket.max_days + 1)
            condition = and_(condition, younger)
        counts.append(_count(condition))
    return counts


# --------------------------------------------------------------------------------------------
# Movements


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


async def movements_by_number(session: AsyncSession, numbers: Sequence[str]) -> list[Movement]:
    result = await session.scalars(select(Movement).where(Movement.movement_number.in_(numbers)))
    return list(result)


async def movement_for_update(session: AsyncSession, number: str) -> Movement | None:
    """The movement, locked until the transaction ends: concurrent writes to it queue up."""
    return await session.scalar(
        select(Movement).where(Movement.movement_number == number).with_for_update()
    )


async def history_of_movements(
    session: AsyncSession, ids: Sequence[int]
) -> list[tuple[int, MovementEvent]]:
    result = await session.scalars(
        select(MovementEvent)
        .where(MovementEvent.movement_id.in_(ids))
        .order_by(MovementEvent.movement_id, MovementEvent.id)
    )
    return [(event.movement_id, event) for event in result]


async def incidents_of_movements(
    session: AsyncSession, ids: Sequence[int]
) -> list[tuple[int, Incident]]:
    result = await session.scalars(
        select(Incident).where(Incident.movement_id.in_(ids)).order_by(Incident.id)
    )
    return [(incident.movement_id, incident) for incident in result]


async def scan_by_id(session: AsyncSession, scan_id: str) -> Scan | None:
    return await session.get(Scan, scan_id)


async def incident_of_kind(
    session: AsyncSession, movement_id: int, kind: IncidentKind
) -> Incident | None:
    return await session.scalar(
        select(Incident).where(Incident.movement_id == movement_id, Incident.kind == kind)
    )


async def harm_review_of_patient(
    session: AsyncSession, ods_code: str, nhs_number: str
) -> HarmReview | None:
    return await session.scalar(
        select(HarmReview).where(
            HarmReview.ods_code == ods_code, HarmReview.nhs_number == nhs_number
        )
    )


async def harm_review_for_update(session: AsyncSession, review_id: int) -> HarmReview | None:
    return await session.get(HarmReview, review_id, with_for_update=True)


async def incidents_by_reference(
    session: AsyncSession, references: Sequence[str]
) -> list[Incident]:
    return list(await session.scalars(select(Incident).where(Incident.reference.in_(references))))


async def harm_reviews_by_id(session: AsyncSession, ids: Sequence[int]) -> list[HarmReview]:
    return list(await session.scalars(select(HarmReview).where(HarmReview.id.in_(ids))))


async def movements_by_id(session: AsyncSession, ids: Sequence[int]) -> list[Movement]:
    return list(await session.scalars(select(Movement).where(Movement.id.in_(ids))))


# --------------------------------------------------------------------------------------------
# A practice's incidents and harm reviews


async def incidents_of_practices(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    kinds: frozenset[IncidentKind] | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[str, Incident, str]]:
    """(practice, incident, movement number) on movements to or from each practice, newest
    first, up to ``limit`` per practice, in one statement."""
    ends = [
        select(Movement.sender_ods_code.label("practice"), Movement.id.label("movement_id")).where(
            Movement.sender_ods_code.in_(codes)
        ),
        select(
            Movement.receiver_ods_code.label("practice"), Movement.id.label("movement_id")
        ).where(Movement.receiver_ods_code.in_(codes)),
    ]
    candidates = union_all(*ends).subquery()
    ranked = select(
        candidates.c.practice,
        Incident.id.label("incident_id"),
        func.row_number()
        .over(
            partition_by=candidates.c.practice,
            order_by=(Incident.reported_at.desc(), Incident.id.desc()),
        )
        .label("rank"),
    ).join(Incident, Incident.movement_id == candidates.c.movement_id)
    if kinds is not None:
        ranked = ranked.where(Incident.kind.in_(kinds))
    if after is not None:
        ranked = ranked.where(tuple_(Incident.reported_at, Incident.id) < tuple_(*after))
    ranked_sq = ranked.subquery()
    result = await session.execute(
        select(ranked_sq.c.practice, Incident, Movement.movement_number)
        .join(Incident, Incident.id == ranked_sq.c.incident_id)
        .join(Movement, Movement.id == Incident.movement_id)
        .where(ranked_sq.c.rank <= limit)
        .order_by(ranked_sq.c.practice, ranked_sq.c.rank)
    )
    return [(practice, incident, number) for practice, incident, number in result]


async def harm_reviews_of_practices(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    outstanding_only: bool,
    after: int | None,
    limit: int,
) -> list[tuple[HarmReview, str, str]]:
    """(review, movement number, incident reference) in worklist order (oldest item first),
    up to ``limit`` per practice, in one statement."""
    ranked = select(
        HarmReview.id.label("review_id"),
        func.row_number()
        .over(partition_by=HarmReview.ods_code, order_by=HarmReview.id)
        .label("rank"),
    ).where(HarmReview.ods_code.in_(codes))
    if outstanding_only:
        ranked = ranked.where(HarmReview.outcome.is_(None))
    if after is not None:
        ranked = ranked.where(HarmReview.id > after)
    ranked_sq = ranked.subquery()
    result = await session.execute(
        select(HarmReview, Movement.movement_number, Incident.reference)
        .join(ranked_sq, ranked_sq.c.review_id == HarmReview.id)
        .join(Movement, Movement.id == HarmReview.movement_id)
        .join(Incident, Incident.id == HarmReview.incident_id)
        .where(ranked_sq.c.rank <= limit)
        .order_by(HarmReview.ods_code, HarmReview.id)
    )
    return [(review, number, reference) for review, number, reference in result]


async def harm_review_items(
    session: AsyncSession, ids: Sequence[int]
) -> list[tuple[HarmReview, str, str]]:
    """(review, movement number, incident reference) for each id."""
    result = await session.execute(
        select(HarmReview, Movement.movement_number, Incident.reference)
        .join(Movement, Movement.id == HarmReview.movement_id)
        .join(Incident, Incident.id == HarmReview.incident_id)
        .where(HarmReview.id.in_(ids))
        .order_by(HarmReview.id)
    )
    return [(review, number, reference) for review, number, reference in result]


@dataclass(frozen=True)
class HarmProgress:
    total: int = 0
    no_harm: int = 0
    harm: int = 0
    needs_follow_up: int = 0

    @property
    def reviewed(self) -> int:
        return self.no_harm + self.harm + self.needs_follow_up

    @property
    def outstanding(self) -> int:
        return self.total - self.reviewed


async def harm_progress_of_practices(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[str, HarmProgress]]:
    result = await session.execute(
        select(
            HarmReview.ods_code,
            _count(),
            _count(HarmReview.outcome == HarmOutcome.NO_HARM),
            _count(HarmReview.outcome == HarmOutcome.HARM),
            _count(HarmReview.outcome == HarmOutcome.NEEDS_FOLLOW_UP),
        )
        .where(HarmReview.ods_code.in_(codes))
        .group_by(HarmReview.ods_code)
    )
    return [(code, HarmProgress(*counts)) for code, *counts in result]


# --------------------------------------------------------------------------------------------
# Backlogs


@dataclass(frozen=True)
class BacklogRow:
    """Open movements of one practice, one direction and one site (None: the main site)."""

    practice: str
    direction: str
    site_code: str | None
    open: int
    awaiting_collection: int
    in_transit: int
    missing: int
    overdue: int
    ages: tuple[int, ...]


def _open_end(direction: str, codes: Sequence[str], now: datetime, today: date) -> Any:
    practice, site = (
        (Movement.sender_ods_code, Movement.sender_site_code)
        if direction == OUT
        else (Movement.receiver_ods_code, Movement.receiver_site_code)
    )
    return (
        select(
            practice.label("practice"),
            literal(direction).label("direction"),
            site.label("site_code"),
            _count(),
            _count(Movement.status.in_(AWAITING_COLLECTION)),
            _count(Movement.status.in_(IN_TRANSIT)),
            _count(Movement.status == MovementStatus.MISSING),
            _count(overdue(today)),
            *_age_buckets(now),
        )
        .where(practice.in_(codes), Movement.is_open)
        .group_by(practice, site)
    )


async def backlogs(
    session: AsyncSession, codes: Sequence[str], *, now: datetime, today: date
) -> list[BacklogRow]:
    """Open movements in and out of each practice, by site: one statement for any number."""
    statement = union_all(
        _open_end(IN, codes, now, today), _open_end(OUT, codes, now, today)
    ).subquery()
    result = await session.execute(select(statement))
    return [
        BacklogRow(practice, direction, site, open_, awaiting, transit, missing, late, tuple(ages))
        for practice, direction, site, open_, awaiting, transit, missing, late, *ages in result
    ]


# --------------------------------------------------------------------------------------------
# The practice directory and LMC aggregates


async def upsert_practice(
    session: AsyncSession, *, ods_code: str, lmc_code: str, name: str
) -> None:
    statement = pg_insert(PracticeDirectory).values(ods_code=ods_code, lmc_code=lmc_code, name=name)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[PracticeDirectory.ods_code],
            set_={"lmc_code": lmc_code, "name": name, "updated_at": func.now()},
        )
    )


async def practices_of_lmcs(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[str, PracticeDirectory]]:
    result = await session.scalars(
        select(PracticeDirectory)
        .where(PracticeDirectory.lmc_code.in_(codes))
        .order_by(PracticeDirectory.lmc_code, PracticeDirectory.ods_code)
    )
    return [(row.lmc_code, row) for row in result]


async def status_counts(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[MovementStatus, int, int]]:
    """(status, movements to the practices ``codes``, movements from them).

    From the counts the triggers on ``movement`` keep: a few rows per practice, where
    counting the movements themselves read every one an area ever had (170,000 for the
    largest LMC on the national data set).
    """
    if not codes:
        return []
    result = await session.execute(
        select(
            MovementCount.status,
            func.sum(MovementCount.count).filter(MovementCount.direction == IN),
            func.sum(MovementCount.count).filter(MovementCount.direction == OUT),
        )
        .where(MovementCount.ods_code.in_(codes))
        .group_by(MovementCount.status)
    )
    return [
        (status, int(incoming or 0), int(outgoing or 0))
        for status, incoming, outgoing in result
        if incoming or outgoing
    ]


@dataclass(frozen=True)
class OpenSummary:
    open: int = 0
    awaiting_collection: int = 0
    in_transit: int = 0
    missing: int = 0
    overdue: int = 0
    by_timer: tuple[int, ...] = tuple(0 for _ in TimerKind)
    ages: tuple[int, ...] = tuple(0 for _ in AGE_BUCKETS)


async def open_summary(
    session: AsyncSession, codes: Sequence[str], *, now: datetime, today: date
) -> OpenSummary:
    """Open movements to or from the practices ``codes``, each once: stages, overdue by
    timer (a movement can be overdue on several), and ages.

    Two halves, each an index-only scan of one end's covering index: movements sent by the
    area, then those it receives from outside it (a movement within the area is counted
    with its sender).
    """
    if not codes:
        return OpenSummary()
    columns: tuple[Any, ...] = (
        Movement.status.label("status"),
        overdue(today).label("late"),
        *(OVERDUE[kind](today).label(f"late_{kind.value}") for kind in TimerKind),
        Movement.requested_at.label("requested_at"),
    )
    from_outside = or_(Movement.sender_ods_code.is_(None), Movement.sender_ods_code.not_in(codes))
    ends = union_all(
        select(*columns).where(Movement.is_open, Movement.sender_ods_code.in_(codes)),
        select(*columns).where(
            Movement.is_open, Movement.receiver_ods_code.in_(codes), from_outside
        ),
    ).subquery()
    c = ends.c
    row = (
        await session.execute(
            select(
                _count(),
                _count(c.status.in_(AWAITING_COLLECTION)),
                _count(c.status.in_(IN_TRANSIT)),
                _count(c.status == MovementStatus.MISSING),
                _count(c.late),
                *(_count(c[f"late_{kind.value}"]) for kind in TimerKind),
                *_age_buckets(now, c.requested_at),
            )
        )
    ).one()
    timers = len(TimerKind)
    return OpenSummary(
        open=row[0],
        awaiting_collection=row[1],
        in_transit=row[2],
        missing=row[3],
        overdue=row[4],
        by_timer=tuple(row[5 : 5 + timers]),
        ages=tuple(row[5 + timers :]),
    )


async def incident_counts(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[str | None, IncidentKind, int]]:
    """Incidents borne by the practices ``codes``, by practice and kind."""
    if not codes:
        return []
    result = await session.execute(
        select(Incident.ods_code, Incident.kind, _count())
        .where(Incident.ods_code.in_(codes))
        .group_by(Incident.ods_code, Incident.kind)
    )
    return [(code, kind, count) for code, kind, count in result]


async def open_by_practice(
    session: AsyncSession, codes: Sequence[str], *, today: date
) -> dict[str, tuple[int, int, int, int]]:
    """Per practice: (open, awaiting collection, in transit, overdue), in and out together."""
    if not codes:
        return {}
    ends = [
        select(practice.label("practice"), Movement.status, overdue(today).label("late")).where(
            practice.in_(codes), Movement.is_open
        )
        for practice in (Movement.sender_ods_code, Movement.receiver_ods_code)
    ]
    candidates = union_all(*ends).subquery()
    c = candidates.c
    result = await session.execute(
        select(
            c.practice,
            _count(),
            _count(c.status.in_(AWAITING_COLLECTION)),
            _count(c.status.in_(IN_TRANSIT)),
            _count(c.late),
        ).group_by(c.practice)
    )
    return {practice: (o, a, t, late) for practice, o, a, t, late in result}
