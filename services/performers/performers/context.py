"""The per-request context of the performers subgraph, with its DataLoaders."""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING

from pcse_kit import dates
from pcse_kit.graphql import RequestContext
from pcse_kit.loaders import many_per_key, one_per_key
from strawberry.dataloader import DataLoader

from performers import repository
from performers.findings import Finding, OpenRequest, find_side_by_side, open_requests

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from performers import models
    from performers.models import Membership


class PerformersContext(RequestContext):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], principal: Principal
    ) -> None:
        super().__init__(sessionmaker, principal)
        # One "today" per request, so every field of one response agrees on what is current.
        self.today = dates.today()
        self.practices = one_per_key(
            sessionmaker, repository.practices_by_code, lambda p: p.ods_code
        )
        self.performers = one_per_key(
            sessionmaker, repository.performers_by_gmc, lambda p: p.gmc_number
        )
        self.lmcs = one_per_key(sessionmaker, repository.lmcs_by_code, lambda lmc: lmc.code)
        self.performers_of_practice = many_per_key(
            sessionmaker,
            partial(repository.current_performers_of_practices, on=self.today),
        )
        self.memberships_of_performer = many_per_key(
            sessionmaker,
            _memberships_by_performer,
        )
        self.branch_sites = many_per_key(sessionmaker, repository.branch_sites_of_practices)
        self.list_sizes = many_per_key(sessionmaker, repository.list_sizes_of_practices)
        self.history = many_per_key(sessionmaker, repository.history_of_performers)
        self.change_requests_of_performer = many_per_key(
            sessionmaker, repository.change_requests_of_performers
        )
        self.icbs_of_lmc = many_per_key(sessionmaker, repository.icbs_of_lmcs)
        self.practices_of_lmc = many_per_key(sessionmaker, repository.practice_codes_of_lmcs)
        self.change_requests = one_per_key(
            sessionmaker, repository.change_request_by_reference, lambda r: r.reference
        )
        # The practice and its performers in one statement, when a query asks for both: it
        # primes the two loaders above for the practices it read.
        self.practices_with_performers: DataLoader[str, models.Practice | None] = DataLoader(
            load_fn=self._load_practices_with_performers
        )
        # findings and findingCounts of one LMC resolve side by side: compute the area's once.
        self.findings_of_lmc: DataLoader[str, list[Finding]] = DataLoader(
            load_fn=self._load_findings_of_lmc
        )
        # An area's open requests: the late ones are findings, and changeRequestAges counts
        # them all; one statement serves both.
        self.open_requests_of_lmc: DataLoader[str, list[OpenRequest]] = DataLoader(
            load_fn=self._load_open_requests_of_lmc
        )

    async def _load_practices_with_performers(
        self, codes: list[str]
    ) -> list[models.Practice | None]:
        async with self.reader() as session:
            rows = await repository.practices_with_current_performers(session, codes, on=self.today)
        practices: dict[str, models.Practice] = {}
        performers: dict[str, list[models.Performer]] = defaultdict(list)
        for practice, performer in rows:
            practices[practice.ods_code] = practice
            if performer is not None:
                performers[practice.ods_code].append(performer)
        for code in codes:
            self.practices.prime(code, practices.get(code))
            self.performers_of_practice.prime(code, performers.get(code, []))
        return [practices.get(code) for code in codes]

    async def _load_findings_of_lmc(self, lmc_codes: list[str]) -> list[list[Finding]]:
        return [
            await find_side_by_side(
                self.reader,
                codes=repository.practices_of_area(lmc),
                on=self.today,
                requests=self.open_requests_of_lmc.load(lmc),
            )
            for lmc in lmc_codes
        ]

    async def _load_open_requests_of_lmc(self, lmc_codes: list[str]) -> list[list[OpenRequest]]:
        found = []
        for lmc in lmc_codes:
            async with self.reader() as session:
                found.append(
                    await open_requests(session, repository.practices_of_area(lmc), self.today)
                )
        return found


async def _memberships_by_performer(
    session: AsyncSession, numbers: list[str]
) -> list[tuple[str, Membership]]:
    memberships = await repository.memberships_of_performers(session, numbers)
    return [(m.gmc_number, m) for m in memberships]
