"""SQL statements of the records service. Nothing here commits."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Row,
    Select,
    String,
    and_,
    any_,
    bindparam,
    column,
    func,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import aliased

from records.models import (
    HarmGrade,
    HarmReview,
    HarmReviewList,
    HarmReviewSource,
    Incident,
    IncidentKind,
    IncidentMonthCount,
    IncidentStatus,
    Movement,
    MovementCount,
    MovementEvent,
    MovementStatus,
    PracticeDirectory,
    Registration,
    RegistrationEvent,
    Scan,
)
from records.timers import AGE_BUCKETS, TimerKind

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractAsyncContextManager
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

OUT = "out"
IN = "in"

AWAITING_COLLECTION: Final = (
    MovementStatus.REQUESTED,
    MovementStatus.IN_PROGRESS,
    MovementStatus.READY_FOR_COLLECTION,
)
IN_TRANSIT: Final = (MovementStatus.COLLECTED,)
# The other stages an open movement can be at: each counted on its own.
MISSING: Final = (MovementStatus.MISSING,)
LOST: Final = (MovementStatus.LOST,)
IN_STORAGE: Final = (MovementStatus.IN_CENTRAL_STORAGE,)
"""Open and in central storage: a practice should have it (the open column says so)."""
WRONG_RECORD: Final = (MovementStatus.WRONG_RECORD_DELIVERED,)


def _not_arrived() -> ColumnElement[bool]:
    return and_(Movement.delivered_at.is_(None), Movement.received_at.is_(None))


# When each timer is past due and still running; the same stops as records.types applies.
OVERDUE: Final[dict[TimerKind, Callable[[date], ColumnElement[bool]]]] = {
    TimerKind.LABEL: lambda today: and_(
        Movement.label_due_on < today,
        Movement.label_issued_on.is_(None),
        Movement.collected_at.is_(None),
    ),
    TimerKind.DELIVERY: lambda today: and_(Movement.delivery_due_on < today, _not_arrived()),
    TimerKind.GP2GP: lambda today: and_(
        Movement.gp2gp_due_on < today, Movement.gp2gp_integrated_on.is_(None)
    ),
    TimerKind.URGENT: lambda today: and_(
        Movement.urgent_due_on < today, _not_arrived(), Movement.gp2gp_integrated_on.is_(None)
    ),
    TimerKind.SEARCH: lambda today: Movement.search_due_on < today,
    TimerKind.LOST: lambda today: Movement.lost_due_on < today,
    # Only while it waits: a record that moved on without a collection has no collection due.
    TimerKind.COLLECTION: lambda today: and_(
        Movement.collection_due_on < today,
        Movement.status == MovementStatus.READY_FOR_COLLECTION,
    ),
    TimerKind.REQUEST: lambda today: and_(
        Movement.request_due_on < today, _not_arrived(), Movement.gp2gp_integrated_on.is_(None)
    ),
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


MOVEMENT_COLUMNS: Final = tuple(Movement.__table__.c)
"""Every column of a movement: a row of them reads like a :class:`Movement`, attribute for
attribute (each attribute is mapped to the column of its own name), without an ORM object."""


@functools.cache
def _movements_statement(
    directions: frozenset[str], *, by_status: bool, after: bool
) -> Select[Any]:
    """The statement of :func:`movements_of_practices` for one shape of arguments, made once.

    Every value is a parameter (the practices and statuses as one array each, ``= ANY``), so the
    same statement object serves every request of that shape: SQLAlchemy computes its cache
    key once (memoised on the object) and finds it compiled, and asyncpg reuses one prepared
    statement. An expanding ``IN`` list would rebuild the statement, its cache key and its SQL
    for each number of practices.
    """
    codes = bindparam("codes", type_=ARRAY(String))
    ends = []
    if OUT in directions:
        ends.append(
            select(
                Movement.sender_ods_code.label("practice"),
                literal(OUT).label("direction"),
                Movement.id.label("movement_id"),
                Movement.requested_at.label("requested_at"),
            ).where(Movement.sender_ods_code == any_(codes))
        )
    if IN in directions:
        ends.append(
            select(
                Movement.receiver_ods_code.label("practice"),
                literal(IN).label("direction"),
                Movement.id.label("movement_id"),
                Movement.requested_at.label("requested_at"),
            ).where(Movement.receiver_ods_code == any_(codes))
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
    if by_status:
        ranked = ranked.where(Movement.status == any_(bindparam("statuses", type_=ARRAY(String))))
    if after:
        ranked = ranked.where(
            tuple_(candidates.c.requested_at, candidates.c.movement_id)
            < tuple_(bindparam("after_at"), bindparam("after_id", type_=BigInteger))
        )
    ranked_sq = ranked.subquery()
    return (
        select(ranked_sq.c.practice, ranked_sq.c.direction, *MOVEMENT_COLUMNS)
        .join(Movement, Movement.id == ranked_sq.c.movement_id)
        .where(ranked_sq.c.rank <= bindparam("limit", type_=BigInteger))
        .order_by(ranked_sq.c.practice, ranked_sq.c.rank)
    )


async def movements_of_practices(
    session: AsyncSession | AsyncConnection,
    codes: Sequence[str],
    *,
    directions: frozenset[str],
    statuses: frozenset[MovementStatus] | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[str, str, Row[Any]]]:
    """(practice, direction, movement), newest first, up to ``limit`` per practice.

    One statement for any number of practices: each end of a movement is a candidate row, and
    a window per practice keeps the first ``limit``. A movement comes as a plain row of its
    columns (:data:`MOVEMENT_COLUMNS`): this is the practice status query's read, and building
    and tracking ORM objects cost more than the statement.
    """
    parameters: dict[str, Any] = {"codes": list(codes), "limit": limit}
    if statuses is not None:
        parameters["statuses"] = sorted(status.value for status in statuses)
    if after is not None:
        parameters["after_at"], parameters["after_id"] = after
    statement = _movements_statement(
        directions, by_status=statuses is not None, after=after is not None
    )
    result = await session.execute(statement, parameters)
    return [(row.practice, row.direction, row) for row in result]


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
    return [(incident.movement_id or 0, incident) for incident in result]


async def incidents_of_registrations(
    session: AsyncSession, ids: Sequence[int]
) -> list[tuple[int, Incident]]:
    result = await session.scalars(
        select(Incident).where(Incident.registration_id.in_(ids)).order_by(Incident.id)
    )
    found: list[tuple[int, Incident]] = []
    for incident in result:
        if incident.registration_id is not None:
            found.append((incident.registration_id, incident))
    return found


async def records_arrived(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which (practice, patient) pairs have the patient's paper record at the practice."""
    if not keys:
        return set()
    result = await session.execute(
        select(Movement.receiver_ods_code, Movement.nhs_number)
        .where(
            tuple_(Movement.receiver_ods_code, Movement.nhs_number).in_(list(keys)),
            or_(
                Movement.status.in_(
                    (MovementStatus.DELIVERED, MovementStatus.IN_STORAGE_AT_PRACTICE)
                ),
                Movement.received_at.is_not(None),
            ),
        )
        .distinct()
    )
    return {(code, number) for code, number in result if code is not None}


async def registrations_of_practices(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    event: RegistrationEvent | None,
    after: tuple[date, int] | None,
    limit: int,
) -> list[Registration]:
    """Each practice's registrations, newest first, up to ``limit`` per practice."""
    ranked = select(
        Registration.id.label("registration_id"),
        func.row_number()
        .over(
            partition_by=Registration.ods_code,
            order_by=(Registration.effective_on.desc(), Registration.id.desc()),
        )
        .label("rank"),
    ).where(Registration.ods_code.in_(codes))
    if event is not None:
        ranked = ranked.where(Registration.event == event)
    if after is not None:
        ranked = ranked.where(tuple_(Registration.effective_on, Registration.id) < tuple_(*after))
    ranked_sq = ranked.subquery()
    result = await session.scalars(
        select(Registration)
        .join(ranked_sq, ranked_sq.c.registration_id == Registration.id)
        .where(ranked_sq.c.rank <= limit)
        .order_by(Registration.ods_code, ranked_sq.c.rank)
    )
    return list(result)


async def scan_by_id(session: AsyncSession, scan_id: str) -> Scan | None:
    return await session.get(Scan, scan_id)


async def incident_of_kind(
    session: AsyncSession, movement_id: int, kind: IncidentKind, ods_code: str | None
) -> Incident | None:
    return await session.scalar(
        select(Incident).where(
            Incident.movement_id == movement_id,
            Incident.kind == kind,
            Incident.ods_code.is_not_distinct_from(ods_code),
        )
    )


async def incident_for_update(session: AsyncSession, reference: str) -> Incident | None:
    return await session.scalar(
        select(Incident).where(Incident.reference == reference).with_for_update()
    )


async def add_harm_review(
    session: AsyncSession,
    *,
    ods_code: str,
    nhs_number: str,
    due_on: date,
    incident_id: int | None,
    list_id: int | None,
    movement_id: int | None,
    source: HarmReviewSource,
) -> bool:
    """One item per patient and practice: a second naming adds nothing. Whether it was new."""
    inserted = await session.execute(
        pg_insert(HarmReview)
        .values(
            ods_code=ods_code,
            nhs_number=nhs_number,
            due_on=due_on,
            incident_id=incident_id,
            list_id=list_id,
            movement_id=movement_id,
            source=source,
        )
        .on_conflict_do_nothing(constraint="uq_harm_review_patient")
        .returning(HarmReview.id)
    )
    return inserted.first() is not None


async def harm_review_list(
    session: AsyncSession, ods_code: str, list_reference: str
) -> HarmReviewList | None:
    return await session.scalar(
        select(HarmReviewList).where(
            HarmReviewList.ods_code == ods_code, HarmReviewList.list_reference == list_reference
        )
    )


async def add_listed_harm_reviews(
    session: AsyncSession, *, ods_code: str, list_id: int, nhs_numbers: Sequence[str], due_on: date
) -> int:
    """Every patient on NHS England's list onto the worklist in one statement, each linked to
    the latest movement of their record to the practice, if there is one; how many were new."""
    patients = (
        func.unnest(literal(list(nhs_numbers), ARRAY(String)))
        .table_valued(column("nhs_number", String))
        .render_derived(name="listed")
    )
    latest = (
        select(Movement.id)
        .where(
            Movement.nhs_number == patients.c.nhs_number,
            Movement.receiver_ods_code == ods_code,
        )
        .order_by(Movement.requested_at.desc(), Movement.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    result = await session.execute(
        pg_insert(HarmReview)
        .from_select(
            ["ods_code", "nhs_number", "due_on", "list_id", "movement_id", "source"],
            select(
                literal(ods_code, String),
                patients.c.nhs_number,
                literal(due_on, Date),
                literal(list_id, BigInteger),
                latest,
                literal(HarmReviewSource.NHS_ENGLAND_LIST.value, String),
            ),
        )
        .on_conflict_do_nothing(constraint="uq_harm_review_patient")
        .returning(HarmReview.id)
    )
    return len(result.all())


async def record_arrived(session: AsyncSession, ods_code: str, nhs_number: str) -> bool:
    """Whether the patient's paper record has reached the practice: delivered to it, or the
    practice has confirmed it holds it."""
    found = await session.scalar(
        select(Movement.id)
        .where(
            Movement.nhs_number == nhs_number,
            Movement.receiver_ods_code == ods_code,
            or_(
                Movement.status.in_(
                    (MovementStatus.DELIVERED, MovementStatus.IN_STORAGE_AT_PRACTICE)
                ),
                Movement.received_at.is_not(None),
            ),
        )
        .limit(1)
    )
    return found is not None


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
    statuses: frozenset[IncidentStatus] | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[str, Incident, Movement | None, Registration | None]]:
    """(practice, incident, its movement, its registration) for incidents on movements to or
    from each practice, or borne by it, newest first, up to ``limit`` per practice, in one
    statement."""
    ends = [
        select(Movement.sender_ods_code.label("practice"), Incident.id.label("incident_id"))
        .join(Incident, Incident.movement_id == Movement.id)
        .where(Movement.sender_ods_code.in_(codes)),
        select(Movement.receiver_ods_code.label("practice"), Incident.id.label("incident_id"))
        .join(Incident, Incident.movement_id == Movement.id)
        .where(Movement.receiver_ods_code.in_(codes)),
        select(Incident.ods_code.label("practice"), Incident.id.label("incident_id")).where(
            Incident.ods_code.in_(codes)
        ),
    ]
    # UNION, not UNION ALL: an incident a practice both bears and sent or received is one row.
    candidates = union(*ends).subquery()
    ranked = select(
        candidates.c.practice,
        Incident.id.label("incident_id"),
        func.row_number()
        .over(
            partition_by=candidates.c.practice,
            order_by=(Incident.reported_at.desc(), Incident.id.desc()),
        )
        .label("rank"),
    ).join(Incident, Incident.id == candidates.c.incident_id)
    if kinds is not None:
        ranked = ranked.where(Incident.kind.in_(kinds))
    if statuses is not None:
        ranked = ranked.where(Incident.status.in_(statuses))
    if after is not None:
        ranked = ranked.where(tuple_(Incident.reported_at, Incident.id) < tuple_(*after))
    ranked_sq = ranked.subquery()
    result = await session.execute(
        select(ranked_sq.c.practice, Incident, Movement, Registration)
        .join(Incident, Incident.id == ranked_sq.c.incident_id)
        .outerjoin(Movement, Movement.id == Incident.movement_id)
        .outerjoin(Registration, Registration.id == Incident.registration_id)
        .where(ranked_sq.c.rank <= limit)
        .order_by(ranked_sq.c.practice, ranked_sq.c.rank)
    )
    return [
        (code, incident, movement, registration)
        for code, incident, movement, registration in result
    ]


async def incidents_with_subjects(
    session: AsyncSession, references: Sequence[str]
) -> list[tuple[Incident, Movement | None, Registration | None]]:
    result = await session.execute(
        select(Incident, Movement, Registration)
        .outerjoin(Movement, Movement.id == Incident.movement_id)
        .outerjoin(Registration, Registration.id == Incident.registration_id)
        .where(Incident.reference.in_(references))
    )
    return [(incident, movement, registration) for incident, movement, registration in result]


def _review_items() -> Select[HarmReview, str, str, HarmReviewList]:
    return (
        select(HarmReview, Movement.movement_number, Incident.reference, HarmReviewList)
        .outerjoin(Movement, Movement.id == HarmReview.movement_id)
        .outerjoin(Incident, Incident.id == HarmReview.incident_id)
        .outerjoin(HarmReviewList, HarmReviewList.id == HarmReview.list_id)
    )


ReviewItem = tuple[HarmReview, str | None, str | None, HarmReviewList | None]
"""A worklist item with its movement number, incident reference and list, where it has them."""


async def harm_reviews_of_practices(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    outstanding_only: bool,
    after: int | None,
    limit: int,
) -> list[ReviewItem]:
    """Worklist items in worklist order (oldest first), up to ``limit`` per practice, in one
    statement."""
    ranked = select(
        HarmReview.id.label("review_id"),
        func.row_number()
        .over(partition_by=HarmReview.ods_code, order_by=HarmReview.id)
        .label("rank"),
    ).where(HarmReview.ods_code.in_(codes))
    if outstanding_only:
        ranked = ranked.where(HarmReview.harm_grade.is_(None))
    if after is not None:
        ranked = ranked.where(HarmReview.id > after)
    ranked_sq = ranked.subquery()
    result = await session.execute(
        _review_items()
        .join(ranked_sq, ranked_sq.c.review_id == HarmReview.id)
        .where(ranked_sq.c.rank <= limit)
        .order_by(HarmReview.ods_code, HarmReview.id)
    )
    return [(review, number, reference, listed) for review, number, reference, listed in result]


async def harm_review_items(session: AsyncSession, ids: Sequence[int]) -> list[ReviewItem]:
    result = await session.execute(
        _review_items().where(HarmReview.id.in_(ids)).order_by(HarmReview.id)
    )
    return [(review, number, reference, listed) for review, number, reference, listed in result]


@dataclass(frozen=True)
class HarmProgress:
    total: int = 0
    grades: tuple[int, ...] = tuple(0 for _ in HarmGrade)
    """Completed reviews by harm grade, in HarmGrade's order."""
    overdue: int = 0
    patients_informed: int = 0
    nhs_england_notified: int = 0
    minutes_spent: int = 0

    @property
    def reviewed(self) -> int:
        return sum(self.grades)

    @property
    def outstanding(self) -> int:
        return self.total - self.reviewed

    def __add__(self, other: HarmProgress) -> HarmProgress:
        return HarmProgress(
            total=self.total + other.total,
            grades=tuple(a + b for a, b in zip(self.grades, other.grades, strict=True)),
            overdue=self.overdue + other.overdue,
            patients_informed=self.patients_informed + other.patients_informed,
            nhs_england_notified=self.nhs_england_notified + other.nhs_england_notified,
            minutes_spent=self.minutes_spent + other.minutes_spent,
        )


async def harm_progress_of_practices(
    session: AsyncSession, codes: Sequence[str] | Select[str], *, today: date
) -> list[tuple[str, HarmProgress]]:
    """Each practice's harm-review progress: of the practices ``codes``, or of a subquery of
    them (``harm_progress_in_area``)."""
    result = await session.execute(
        select(
            HarmReview.ods_code,
            _count(),
            *(_count(HarmReview.harm_grade == grade) for grade in HarmGrade),
            _count(and_(HarmReview.harm_grade.is_(None), HarmReview.due_on < today)),
            _count(HarmReview.patient_informed.is_(True)),
            _count(HarmReview.nhs_england_notified.is_(True)),
            func.coalesce(func.sum(HarmReview.minutes_spent), 0),
        )
        .where(HarmReview.ods_code.in_(codes))
        .group_by(HarmReview.ods_code)
    )
    grades = len(HarmGrade)
    return [
        (
            code,
            HarmProgress(
                total=counts[0],
                grades=tuple(counts[1 : 1 + grades]),
                overdue=counts[1 + grades],
                patients_informed=counts[2 + grades],
                nhs_england_notified=counts[3 + grades],
                minutes_spent=int(counts[4 + grades]),
            ),
        )
        for code, *counts in result
    ]


async def harm_progress_in_area(
    session: AsyncSession, lmc: str, *, today: date
) -> list[tuple[str, HarmProgress]]:
    """Harm-review progress of each practice of the LMC ``lmc`` with any review."""
    return await harm_progress_of_practices(session, _area(lmc), today=today)


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
    lost: int
    in_storage: int
    wrong_record: int
    overdue: int
    ages: tuple[int, ...]


def _stage_counts(status: Any) -> list[Any]:
    """Open movements at each stage past the first two: missing, lost, in central storage,
    another patient's record delivered instead."""
    return [_count(status.in_(stage)) for stage in (MISSING, LOST, IN_STORAGE, WRONG_RECORD)]


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
            *_stage_counts(Movement.status),
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
        BacklogRow(
            practice, direction, site, open_, awaiting, transit, missing, lost, storage, wrong,
            late, tuple(ages),
        )
        for (
            practice, direction, site, open_, awaiting, transit, missing, lost, storage, wrong,
            late, *ages,
        ) in result
    ]  # fmt: skip


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


class AreaPractice(NamedTuple):
    ods_code: str
    name: str


async def practices_of_lmcs(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[str, AreaPractice]]:
    """Each LMC's practices, as plain rows: 1,100 in the largest, where building an ORM
    object for each cost more than reading them."""
    result = await session.execute(
        select(PracticeDirectory.lmc_code, PracticeDirectory.ods_code, PracticeDirectory.name)
        .where(PracticeDirectory.lmc_code.in_(codes))
        .order_by(PracticeDirectory.lmc_code, PracticeDirectory.ods_code)
    )
    return [(lmc, AreaPractice(ods_code, name)) for lmc, ods_code, name in result]


async def status_counts(session: AsyncSession, lmc: str) -> list[tuple[MovementStatus, int, int]]:
    """(status, movements to the practices of the LMC ``lmc``, movements from them).

    From the counts the triggers on ``movement`` keep: a few rows per practice, where
    counting the movements themselves read every one an area ever had (170,000 for the
    largest LMC on the national data set). The area's practices as one array, so their rows
    are read from the key's index (20,000 of 120,000 for the largest); as a join the server
    read the whole table and matched each row, twice as long.
    """
    practices = func.array(_area(lmc).scalar_subquery())
    result = await session.execute(
        select(
            MovementCount.status,
            func.sum(MovementCount.count).filter(MovementCount.direction == IN),
            func.sum(MovementCount.count).filter(MovementCount.direction == OUT),
        )
        .where(MovementCount.ods_code == any_(practices))
        .group_by(MovementCount.status)
    )
    return [
        (status, int(incoming or 0), int(outgoing or 0))
        for status, incoming, outgoing in result
        if incoming or outgoing
    ]


def _area(lmc: str) -> Select[str]:
    """The practices of the LMC ``lmc``, as a subquery: an area's statements name the LMC,
    not its practices (a list of 1,100 values for the largest made rendering and planning
    a statement cost more than running it)."""
    return select(PracticeDirectory.ods_code).where(PracticeDirectory.lmc_code == lmc)


@dataclass(frozen=True)
class OpenSummary:
    open: int = 0
    awaiting_collection: int = 0
    in_transit: int = 0
    missing: int = 0
    lost: int = 0
    in_storage: int = 0
    wrong_record: int = 0
    overdue: int = 0
    by_timer: tuple[int, ...] = tuple(0 for _ in TimerKind)
    ages: tuple[int, ...] = tuple(0 for _ in AGE_BUCKETS)


PracticeOpen = tuple[int, int, int, int]
"""One practice's open movements in and out: (open, awaiting collection, in transit, overdue)."""


@dataclass(frozen=True)
class OpenInArea:
    summary: OpenSummary
    """Each movement once: one between two of the area's practices counts with its sender."""
    by_practice: dict[str, PracticeOpen]
    """In and out of each practice with any: one within the area counts at both ends."""


def _bound_age_buckets(requested_at: Any) -> list[Any]:
    """``_age_buckets`` with each bound a parameter, ``age_{i}_to`` and ``age_{i}_from``."""
    counts = []
    for i, bucket in enumerate(AGE_BUCKETS):
        condition = requested_at <= bindparam(f"age_{i}_to", type_=requested_at.type)
        if bucket.max_days is not None:
            younger = requested_at > bindparam(f"age_{i}_from", type_=requested_at.type)
            condition = and_(condition, younger)
        counts.append(_count(condition))
    return counts


@functools.cache
def _open_in_area_statement() -> Any:
    """The statement of ``open_in_area``, built once: building it (two dozen counts, a
    union, a CTE) cost more of the service's time than reading its rows. The LMC, the part
    of its practices, the day and the age bands' bounds are its parameters."""
    lmc: Any = bindparam("lmc", type_=String)
    part: Any = bindparam("part", type_=Integer)
    today: Any = bindparam("today", type_=Date)
    # The practices of this part: each row is counted by its practice, so the parts' rows
    # never overlap and their wholes add up to the area's.
    practices = _area(lmc).where(
        func.hashtext(PracticeDirectory.ods_code).op("&")(literal(PARTS - 1)) == part
    )
    columns: tuple[Any, ...] = (
        Movement.status.label("status"),
        *(OVERDUE[kind](today).label(f"late_{kind.value}") for kind in TimerKind),
        Movement.requested_at.label("requested_at"),
    )
    # A join, not a correlated subquery: that would keep the statement from running in
    # parallel workers.
    sender = aliased(PracticeDirectory)
    ends = union_all(
        select(Movement.sender_ods_code.label("practice"), true().label("once"), *columns).where(
            Movement.is_open, Movement.sender_ods_code.in_(practices)
        ),
        select(
            Movement.receiver_ods_code.label("practice"),
            sender.ods_code.is_(None).label("once"),
            *columns,
        )
        .outerjoin(
            sender, and_(sender.ods_code == Movement.sender_ods_code, sender.lmc_code == lmc)
        )
        .where(Movement.is_open, Movement.receiver_ods_code.in_(practices)),
    ).subquery()
    e = ends.c
    names = ["open", "awaiting", "transit", "late", "missing", "lost", "storage", "wrong"]
    names += [f"late_{kind.value}" for kind in TimerKind]
    names += [f"age_{i}" for i in range(len(AGE_BUCKETS))]
    grouped = (
        select(
            e.practice,
            e.once,
            _count().label("open"),
            _count(e.status.in_(AWAITING_COLLECTION)).label("awaiting"),
            _count(e.status.in_(IN_TRANSIT)).label("transit"),
            # Overdue on any timer, from each timer's column worked out once per movement.
            _count(or_(*(e[f"late_{kind.value}"] for kind in TimerKind))).label("late"),
            *(c.label(n) for c, n in zip(_stage_counts(e.status), names[4:8], strict=True)),
            *(_count(e[f"late_{kind.value}"]).label(f"late_{kind.value}") for kind in TimerKind),
            *(c.label(f"age_{i}") for i, c in enumerate(_bound_age_buckets(e.requested_at))),
        )
        .group_by(e.practice, e.once)
        .cte("grouped")
    )
    g = grouped.c

    def total(name: str, condition: ColumnElement[bool] | None = None) -> Any:
        summed = func.sum(g[name])
        return func.coalesce(summed if condition is None else summed.filter(condition), 0).cast(
            BigInteger
        )

    nothing = literal(None, BigInteger)
    per_practice = select(
        g.practice, *(total(n) for n in names[:4]), *(nothing for _ in names[4:])
    ).group_by(g.practice)
    whole = select(literal(None, String), *(total(n, g.once) for n in names))
    return union_all(per_practice, whole)


PARTS: Final = 2
"""Statements the area's open movements are counted in, each over its share of the area's
practices on a connection of its own: the server runs them on as many cores as it has. A
power of two (a practice's part is the low bits of the hash of its code)."""

_SERIAL: Final = text("SET LOCAL max_parallel_workers_per_gather = 0")


async def open_in_area(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    lmc: str,
    *,
    now: datetime,
    today: date,
) -> OpenInArea:
    """Open movements to or from the practices of the LMC ``lmc``: the area's stages, overdue
    by timer (a movement can be overdue on several) and ages, each movement once, and each
    practice's in and out, from one pass over them.

    The area is read from the directory in the statement (a join on the LMC code), not sent
    as a list of its practices: 1,100 values for the largest LMC made planning cost more than
    the scan. Each end is a nested loop over the area's practices into that end's covering
    index of open movements (an index-only scan); a movement received from outside the area
    is marked to be counted once. Grouped by practice and that mark first, then folded into
    each practice's four figures and the area's whole in the same statement, so a few
    thousand rows never leave the server.

    The pass is split by practice into :data:`PARTS` statements run at the same time, each
    on its own pooled connection (and so in its own transaction), their wholes added up.
    Each runs serially: PostgreSQL's parallel workers would split the work as well, but each
    is a new process that cost about 20 ms of CPU to start, more than its share of the scan,
    and the plan cache would give up on them after five runs on a connection anyway (its
    generic plan is costed for an area of average size).
    """
    bounds: dict[str, Any] = {"lmc": lmc, "today": today}
    for i, bucket in enumerate(AGE_BUCKETS):
        bounds[f"age_{i}_to"] = now - timedelta(days=bucket.min_days)
        if bucket.max_days is not None:
            bounds[f"age_{i}_from"] = now - timedelta(days=bucket.max_days + 1)

    async def count(part: int) -> list[tuple[Any, ...]]:
        async with sessions() as session:
            await session.execute(_SERIAL)
            result = await session.execute(_open_in_area_statement(), {**bounds, "part": part})
            return [tuple(row) for row in result]

    wholes: list[Sequence[int]] = []
    by_practice: dict[str, PracticeOpen] = {}
    for rows in await asyncio.gather(*(count(part) for part in range(PARTS))):
        for practice, *figures in rows:
            if practice is None:
                wholes.append(figures)
            else:
                open_, awaiting, transit, late, *_ = figures
                by_practice[practice] = (open_, awaiting, transit, late)
    return OpenInArea(summary=_summary(wholes), by_practice=by_practice)


def _summary(wholes: Sequence[Sequence[int]]) -> OpenSummary:
    """The area's whole from each part's: every figure a count, so the sum of the parts'."""
    (open_, awaiting, transit, late, missing, lost, storage, wrong, *more) = (
        sum(figures) for figures in zip(*wholes, strict=True)
    )
    timers = len(TimerKind)
    return OpenSummary(
        open=open_,
        awaiting_collection=awaiting,
        in_transit=transit,
        missing=missing,
        lost=lost,
        in_storage=storage,
        wrong_record=wrong,
        overdue=late,
        by_timer=tuple(more[:timers]),
        ages=tuple(more[timers:]),
    )


async def incident_counts(
    session: AsyncSession, lmc: str
) -> list[tuple[str | None, IncidentKind, int]]:
    """Incidents borne by the practices of the LMC ``lmc``, by practice and kind."""
    result = await session.execute(
        select(Incident.ods_code, Incident.kind, _count())
        .where(Incident.ods_code.in_(_area(lmc)))
        .group_by(Incident.ods_code, Incident.kind)
    )
    return [(code, kind, count) for code, kind, count in result]


# --------------------------------------------------------------------------------------------
# Trends


async def incident_months(
    session: AsyncSession, codes: Sequence[str], *, since: date
) -> dict[tuple[date, str], int]:
    """Incidents the practices ``codes`` bore, by (month, kind), from ``since``: read from the
    counts the triggers on ``incident`` keep."""
    if not codes:
        return {}
    result = await session.execute(
        select(
            IncidentMonthCount.month, IncidentMonthCount.kind, func.sum(IncidentMonthCount.count)
        )
        .where(IncidentMonthCount.ods_code.in_(codes), IncidentMonthCount.month >= since)
        .group_by(IncidentMonthCount.month, IncidentMonthCount.kind)
    )
    return {(month, kind.value): int(count) for month, kind, count in result}


async def england_incident_months(
    session: AsyncSession, *, since: date
) -> tuple[dict[tuple[str, date, str], int], dict[str, int]]:
    """Every LMC's incidents by (LMC, month, kind) from ``since``, and its practices, in one
    statement."""
    counts = (
        select(
            PracticeDirectory.lmc_code.label("lmc"),
            IncidentMonthCount.month.label("month"),
            IncidentMonthCount.kind.label("kind"),
            func.sum(IncidentMonthCount.count).label("n"),
        )
        .join(PracticeDirectory, PracticeDirectory.ods_code == IncidentMonthCount.ods_code)
        .where(IncidentMonthCount.month >= since)
        .group_by(PracticeDirectory.lmc_code, IncidentMonthCount.month, IncidentMonthCount.kind)
    )
    sizes = select(
        PracticeDirectory.lmc_code.label("lmc"),
        literal(None, Date).label("month"),
        literal(None, String).label("kind"),
        func.count().label("n"),
    ).group_by(PracticeDirectory.lmc_code)
    result: Any = await session.execute(union_all(counts, sizes))
    found: dict[tuple[str, date, str], int] = {}
    practices: dict[str, int] = {}
    for lmc, month, kind, n in result:
        if month is None:
            practices[lmc] = int(n)
        else:
            found[(lmc, month, str(kind))] = int(n)
    return found, practices
