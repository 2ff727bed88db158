"""The per-request context of the records subgraph, with its DataLoaders."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from pcse_kit import dates
from pcse_kit.graphql import RequestContext
from pcse_kit.loaders import many_per_key, one_per_key
from strawberry.dataloader import DataLoader

from records import repository, timers
from records.detection import registration_rules
from records.settings import timer_targets

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable

    from pcse_kit.auth import Principal
    from pcse_kit.pagination import PageRequest
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from records.models import (
        Incident,
        IncidentKind,
        IncidentStatus,
        Movement,
        MovementStatus,
        Registration,
        RegistrationEvent,
    )
    from records.registrations import Rules


@dataclass(frozen=True)
class MovementQuery:
    """The arguments of one ``recordMovements`` selection, shared by every practice asking."""

    directions: frozenset[str]
    statuses: frozenset[MovementStatus] | None
    page: PageRequest


@dataclass(frozen=True)
class IncidentQuery:
    kinds: frozenset[IncidentKind] | None
    page: PageRequest
    statuses: frozenset[IncidentStatus] | None = None


@dataclass(frozen=True)
class RegistrationQuery:
    event: RegistrationEvent | None
    page: PageRequest


@dataclass(frozen=True)
class HarmReviewQuery:
    outstanding_only: bool
    page: PageRequest


MovementsKey = tuple[str, MovementQuery]


class RecordsContext(RequestContext):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        principal: Principal,
        targets: timers.Targets | None = None,
        rules: Rules | None = None,
    ) -> None:
        super().__init__(sessionmaker, principal)
        self.targets = targets or timer_targets()
        self.rules = rules or registration_rules()
        # One "now" per request, so every age in one response is measured from the same instant.
        self.now = datetime.now(UTC)
        self.today = dates.local_date(self.now)
        self.movements: DataLoader[MovementsKey, list[tuple[str, Movement]]] = DataLoader(
            load_fn=self._load_movements
        )
        self.movement_by_number = one_per_key(
            sessionmaker, repository.movements_by_number, lambda m: m.movement_number
        )
        self.history = many_per_key(sessionmaker, repository.history_of_movements)
        self.incidents_of_movement = many_per_key(sessionmaker, repository.incidents_of_movements)
        self.incidents_of_registration = many_per_key(
            sessionmaker, repository.incidents_of_registrations
        )
        self.record_arrived: DataLoader[tuple[str, str], bool] = DataLoader(
            load_fn=self._records_arrived
        )
        self.registrations: DataLoader[tuple[str, RegistrationQuery], list[Registration]] = (
            DataLoader(load_fn=partial(self._per_query, fetch=_registrations))
        )
        self.backlogs = many_per_key(
            sessionmaker, partial(_backlogs_by_practice, now=self.now, today=self.today)
        )
        self.harm_progress = one_per_key(
            sessionmaker,
            partial(repository.harm_progress_of_practices, today=self.today),
            lambda row: row[0],
        )
        self.practices_of_lmc = many_per_key(sessionmaker, repository.practices_of_lmcs)
        self.incidents: DataLoader[tuple[str, IncidentQuery], list[IncidentRow]] = DataLoader(
            load_fn=partial(self._per_query, fetch=_incidents)
        )
        self.harm_reviews: DataLoader[tuple[str, HarmReviewQuery], list[repository.ReviewItem]] = (
            DataLoader(load_fn=partial(self._per_query, fetch=_harm_reviews))
        )

    async def _load_movements(self, keys: list[MovementsKey]) -> list[list[tuple[str, Movement]]]:
        by_query: dict[MovementQuery, list[str]] = defaultdict(list)
        for code, query in keys:
            by_query[query].append(code)
        found: dict[MovementsKey, list[tuple[str, Movement]]] = defaultdict(list)
        async with self.rows() as session:
            for query, codes in by_query.items():
                after = query.page.after
                rows = await repository.movements_of_practices(
                    session,
                    codes,
                    directions=query.directions,
                    statuses=query.statuses,
                    after=None if after is None else (after[0], after[1]),
                    limit=query.page.first + 1,
                )
                for practice, direction, movement in rows:
                    # A row of the movement's columns reads as a Movement attribute for
                    # attribute, and the resolvers only read (repository.MOVEMENT_COLUMNS).
                    found[(practice, query)].append((direction, cast("Movement", movement)))
        return [found.get(key, []) for key in keys]

    async def _records_arrived(self, keys: list[tuple[str, str]]) -> list[bool]:
        async with self.reader() as session:
            arrived = await repository.records_arrived(session, keys)
        return [key in arrived for key in keys]

    async def _per_query(
        self,
        keys: list[tuple[str, Hashable]],
        *,
        fetch: Callable[[AsyncSession, list[str], Any], Awaitable[list[tuple[str, Any]]]],
    ) -> list[list[Any]]:
        """One statement per distinct set of arguments, for every practice asking with them."""
        by_query: dict[Hashable, list[str]] = defaultdict(list)
        for code, query in keys:
            by_query[query].append(code)
        found: dict[tuple[str, Hashable], list[Any]] = defaultdict(list)
        async with self.reader() as session:
            for query, codes in by_query.items():
                for code, value in await fetch(session, codes, query):
                    found[(code, query)].append(value)
        return [found.get(key, []) for key in keys]


async def _backlogs_by_practice(
    session: AsyncSession, codes: list[str], *, now: datetime, today: Any
) -> list[tuple[str, repository.BacklogRow]]:
    rows = await repository.backlogs(session, codes, now=now, today=today)
    return [(row.practice, row) for row in rows]


IncidentRow = tuple["Incident", "Movement | None", "Registration | None"]


async def _incidents(
    session: AsyncSession, codes: list[str], query: IncidentQuery
) -> list[tuple[str, IncidentRow]]:
    after = query.page.after
    rows = await repository.incidents_of_practices(
        session,
        codes,
        kinds=query.kinds,
        statuses=query.statuses,
        after=None if after is None else (after[0], after[1]),
        limit=query.page.first + 1,
    )
    return [
        (code, (incident, movement, registration))
        for code, incident, movement, registration in rows
    ]


async def _harm_reviews(
    session: AsyncSession, codes: list[str], query: HarmReviewQuery
) -> list[tuple[str, repository.ReviewItem]]:
    after = query.page.after
    rows = await repository.harm_reviews_of_practices(
        session,
        codes,
        outstanding_only=query.outstanding_only,
        after=None if after is None else int(after[0]),
        limit=query.page.first + 1,
    )
    return [(item[0].ods_code, item) for item in rows]


async def _registrations(
    session: AsyncSession, codes: list[str], query: RegistrationQuery
) -> list[tuple[str, Registration]]:
    after = query.page.after
    rows = await repository.registrations_of_practices(
        session,
        codes,
        event=query.event,
        after=None if after is None else (after[0], after[1]),
        limit=query.page.first + 1,
    )
    return [(row.ods_code, row) for row in rows]
