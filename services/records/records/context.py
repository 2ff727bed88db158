"""The per-request context of the records subgraph, with its DataLoaders."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pcse_kit.graphql import RequestContext
from strawberry.dataloader import DataLoader

from records import repository

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from pcse_kit.pagination import PageRequest
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from records.models import Movement, MovementStatus


@dataclass(frozen=True)
class MovementQuery:
    """The arguments of one ``recordMovements`` selection, shared by every practice asking."""

    directions: frozenset[str]
    statuses: frozenset[MovementStatus] | None
    page: PageRequest


MovementsKey = tuple[str, MovementQuery]


class RecordsContext(RequestContext):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], principal: Principal
    ) -> None:
        super().__init__(sessionmaker, principal)
        # One "now" per request, so every age in one response is measured from the same instant.
        self.now = datetime.now(UTC)
        self.movements: DataLoader[MovementsKey, list[tuple[str, Movement]]] = DataLoader(
            load_fn=self._load_movements
        )

    async def _load_movements(self, keys: list[MovementsKey]) -> list[list[tuple[str, Movement]]]:
        by_query: dict[MovementQuery, list[str]] = defaultdict(list)
        for code, query in keys:
            by_query[query].append(code)
        found: dict[MovementsKey, list[tuple[str, Movement]]] = defaultdict(list)
        async with self.sessionmaker() as session:
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
                    found[(practice, query)].append((direction, movement))
        return [found.get(key, []) for key in keys]
