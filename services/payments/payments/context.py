"""The per-request context of the payments subgraph, with its DataLoaders."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from pcse_kit.graphql import RequestContext
from pcse_kit.loaders import many_per_key
from strawberry.dataloader import DataLoader

from payments import repository

if TYPE_CHECKING:
    from datetime import date

    from pcse_kit.auth import Principal
    from pcse_kit.pagination import PageRequest
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from payments.models import Statement, StatementLine

StatementsKey = tuple[str, "PageRequest"]


class PaymentsContext(RequestContext):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], principal: Principal
    ) -> None:
        super().__init__(sessionmaker, principal)
        self.statements: DataLoader[StatementsKey, list[Statement]] = DataLoader(
            load_fn=self._load_statements
        )
        self.lines = many_per_key(sessionmaker, _lines_by_statement)
        # Read per request, never cached across requests: a revocation applies at once.
        self.consented: DataLoader[tuple[str, str], bool] = DataLoader(load_fn=self._load_consented)

    async def _load_consented(self, pairs: list[tuple[str, str]]) -> list[bool]:
        async with self.sessionmaker() as session:
            active = await repository.active_consents(session, pairs)
        return [pair in active for pair in pairs]

    async def _load_statements(self, keys: list[StatementsKey]) -> list[list[Statement]]:
        """One query per distinct page request, however many practices ask for it."""
        by_page: dict[PageRequest, list[str]] = defaultdict(list)
        for code, page in keys:
            by_page[page].append(code)
        found: dict[StatementsKey, list[Statement]] = defaultdict(list)
        async with self.sessionmaker() as session:
            for page, codes in by_page.items():
                before: date | None = None if page.after is None else page.after[0]
                rows = await repository.latest_statements(
                    session, codes, before=before, limit=page.first + 1
                )
                for row in rows:
                    found[(row.ods_code, page)].append(row)
        return [found.get(key, []) for key in keys]


async def _lines_by_statement(
    session: AsyncSession, statement_ids: list[int]
) -> list[tuple[int, StatementLine]]:
    lines = await repository.lines_of_statements(session, statement_ids)
    return [(line.statement_id, line) for line in lines]
