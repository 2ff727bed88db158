"""The per-request context of the payments subgraph, with its DataLoaders."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from pcse_kit import dates
from pcse_kit.graphql import RequestContext
from pcse_kit.loaders import many_per_key, one_per_key
from strawberry.dataloader import DataLoader

from payments.claims import repository as claims_repository
from payments.consent import repository as consent_repository
from payments.detection import repository as detection_repository
from payments.directory import repository as directory_repository
from payments.disputes import repository as disputes_repository
from payments.pensions import repository as pensions_repository
from payments.published import repository as published_repository
from payments.qof import repository as qof_repository
from payments.schedule import facts
from payments.statements import repository as statements_repository

if TYPE_CHECKING:
    from datetime import date

    from pcse_kit.auth import Principal
    from pcse_kit.pagination import PageRequest
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from payments.models import (
        Anomaly,
        AnomalyKind,
        Dispute,
        DisputeAttachment,
        DisputeEvent,
        LineRow,
        PracticeClaim,
        PublishedTotal,
        QofDeclaration,
        StatementRow,
    )
    from payments.schedule import rules as schedule_rules

StatementsKey = tuple[str, "PageRequest", bool]
"""A practice, a page of its statements, and whether the query wants their lines."""
AnomaliesKey = tuple[str, bool, "AnomalyKind | None", "PageRequest"]


class PaymentsContext(RequestContext):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], principal: Principal
    ) -> None:
        super().__init__(sessionmaker, principal)
        self.statements: DataLoader[StatementsKey, list[StatementRow]] = DataLoader(
            load_fn=self._load_statements
        )
        self.lines = many_per_key(sessionmaker, _lines_by_statement)
        # Read per request, never cached across requests: a revocation applies at once.
        self.consented: DataLoader[tuple[str, str], bool] = DataLoader(load_fn=self._load_consented)
        self.pension_consents: DataLoader[str, list[str]] = DataLoader(
            load_fn=self._load_pension_consents
        )
        # One "today" per request, so every field of one response agrees on what is due.
        self.today = dates.today()
        self.line_by_id = one_per_key(sessionmaker, statements_repository.lines_by_id, _id)
        self.anomaly_by_id = one_per_key(sessionmaker, detection_repository.anomalies_by_id, _id)
        self.anomalies: DataLoader[AnomaliesKey, list[Anomaly]] = DataLoader(
            load_fn=self._load_anomalies
        )
        self.schedules: DataLoader[str, facts.Snapshot] = DataLoader(load_fn=self._load_schedules)
        self._expected: dict[tuple[str, date], list[schedule_rules.Expectation]] = {}
        self.declarations = many_per_key(sessionmaker, _declarations_by_practice)
        self.disputes = many_per_key(sessionmaker, _disputes_by_practice)
        self.dispute_events = many_per_key(sessionmaker, _events_by_dispute)
        self.dispute_attachments = many_per_key(sessionmaker, _attachments_by_dispute)
        # The escalation days in force, by the day a query was first raised (one row or two).
        self.escalation_days: DataLoader[date, int] = DataLoader(load_fn=self._load_days)
        self.practices_of_performer = many_per_key(sessionmaker, _practices_by_performer)
        self.published = many_per_key(sessionmaker, _published_by_practice)
        self.claims = many_per_key(sessionmaker, _claims_by_practice)

    async def _load_days(self, raised: list[date]) -> list[int]:
        async with self.sessionmaker() as session:
            rules = await disputes_repository.escalation_days(session)
        return [disputes_repository.days_in_force(rules, on) for on in raised]

    async def expected_until(self, code: str, until: date) -> list[schedule_rules.Expectation]:
        """A practice's schedule up to a day, worked out once per request: aliases of the same
        field reuse it rather than working it out again."""
        key = (code, until)
        if key not in self._expected:
            snapshot = await self.schedules.load(code)
            self._expected[key] = snapshot.expected(code, until=until, known_on=self.today)
        return self._expected[key]

    async def _load_schedules(self, codes: list[str]) -> list[facts.Snapshot]:
        """One snapshot of the facts of every practice asked about in the request."""
        async with self.reader() as session:
            snapshot = await facts.snapshot(session, codes, with_lines=False)
        return [snapshot for _ in codes]

    async def _load_anomalies(self, keys: list[AnomaliesKey]) -> list[list[Anomaly]]:
        by_filter: dict[tuple[bool, AnomalyKind | None, PageRequest], list[str]] = defaultdict(list)
        for code, open_only, kind, page in keys:
            by_filter[(open_only, kind, page)].append(code)
        found: dict[AnomaliesKey, list[Anomaly]] = defaultdict(list)
        async with self.reader() as session:
            for (open_only, kind, page), codes in by_filter.items():
                rows = await detection_repository.anomalies_page(
                    session,
                    codes,
                    open_only=open_only,
                    kind=kind,
                    after=None if page.after is None else int(page.after[0]),
                    limit=page.first + 1,
                )
                for row in rows:
                    found[(row.ods_code, open_only, kind, page)].append(row)
        return [found.get(key, []) for key in keys]

    async def _load_consented(self, pairs: list[tuple[str, str]]) -> list[bool]:
        async with self.reader() as session:
            active = await consent_repository.active_consents(session, pairs)
        return [pair in active for pair in pairs]

    async def _load_pension_consents(self, accountants: list[str]) -> list[list[str]]:
        """Practices whose active consent to the accountant includes pensions."""
        async with self.sessionmaker() as session:
            return [
                await consent_repository.consented_practices(session, accountant, pensions=True)
                for accountant in accountants
            ]

    async def _load_statements(self, keys: list[StatementsKey]) -> list[list[StatementRow]]:
        """One statement per distinct page request, however many practices ask for it.

        When the query wants the lines (for the lines or the totals), the same statement
        brings the lines of the statements shown: one round trip a request instead of two.
        """
        by_page: dict[tuple[PageRequest, bool], list[str]] = defaultdict(list)
        for code, page, with_lines in keys:
            by_page[(page, with_lines)].append(code)
        found: dict[tuple[str, PageRequest, bool], list[StatementRow]] = defaultdict(list)
        lines: dict[int, list[LineRow]] = {}
        async with self.rows() as session:
            for (page, with_lines), codes in by_page.items():
                before: date | None = None if page.after is None else page.after[0]
                if not with_lines:
                    for row in await statements_repository.latest_statements(
                        session, codes, before=before, limit=page.first + 1
                    ):
                        found[(row.ods_code, page, False)].append(row)
                    continue
                pairs = await statements_repository.latest_statements_with_lines(
                    session, codes, before=before, limit=page.first + 1, shown=page.first
                )
                for statement, line in pairs:
                    page_rows = found[(statement.ods_code, page, True)]
                    if not page_rows or page_rows[-1].id != statement.id:
                        page_rows.append(statement)
                        if len(page_rows) <= page.first:
                            lines[statement.id] = []
                    if line is not None:
                        lines[statement.id].append(line)
        self.lines.prime_many(lines)
        return [found.get(key, []) for key in keys]


async def _lines_by_statement(
    session: AsyncSession, statement_ids: list[int]
) -> list[tuple[int, LineRow]]:
    lines = await statements_repository.lines_of_statements(session, statement_ids)
    return [(line.statement_id, line) for line in lines]


def _id(row: LineRow | Anomaly) -> int:
    return row.id


async def _declarations_by_practice(
    session: AsyncSession, codes: list[str]
) -> list[tuple[str, QofDeclaration]]:
    return [(row.ods_code, row) for row in await qof_repository.declarations(session, codes)]


async def _disputes_by_practice(
    session: AsyncSession, codes: list[str]
) -> list[tuple[str, Dispute]]:
    return [
        (row.ods_code, row)
        for row in await disputes_repository.disputes_of_practices(session, codes)
    ]


async def _events_by_dispute(
    session: AsyncSession, ids: list[int]
) -> list[tuple[int, DisputeEvent]]:
    return [(row.dispute_id, row) for row in await disputes_repository.dispute_events(session, ids)]


async def _attachments_by_dispute(
    session: AsyncSession, ids: list[int]
) -> list[tuple[int, DisputeAttachment]]:
    return [(row.dispute_id, row) for row in await disputes_repository.attachments(session, ids)]


async def _published_by_practice(
    session: AsyncSession, codes: list[str]
) -> list[tuple[str, PublishedTotal]]:
    return [
        (row.ods_code, row) for row in await published_repository.published_totals(session, codes)
    ]


async def _claims_by_practice(
    session: AsyncSession, codes: list[str]
) -> list[tuple[str, PracticeClaim]]:
    return [(row.ods_code, row) for row in await claims_repository.claims(session, codes)]


async def _practices_by_performer(
    session: AsyncSession, numbers: list[str]
) -> list[tuple[str, str]]:
    """Practices a performer holds or held a post at, as far as payments knows."""
    pairs = {
        (m.gmc_number, m.ods_code)
        for m in await directory_repository.memberships(session, gmc_numbers=numbers)
    }
    pairs |= {
        (e.gmc_number, e.ods_code)
        for e in await pensions_repository.estimates(session, gmc_numbers=numbers)
    }
    return sorted(pairs)
