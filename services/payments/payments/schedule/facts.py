"""Gathers what the schedule and detection need for a set of practices, in a few queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from payments.detection import rules as detection
from payments.directory import repository as directory_repository
from payments.pensions import repository as pensions_repository
from payments.qof import repository as qof_repository
from payments.rates import RateBook
from payments.schedule import repository
from payments.schedule import rules as schedule
from payments.statements import repository as statements_repository
from payments.training import repository as training_repository

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from sqlalchemy.ext.asyncio import AsyncSession

    from payments.models import LineRow


async def rate_book(session: AsyncSession) -> RateBook:
    rates, deadlines = await repository.rates(session)
    return RateBook(rates, deadlines)


@dataclass(frozen=True)
class Snapshot:
    """The practices' facts and lines, and the rates, as read in one session."""

    book: RateBook
    facts: dict[str, schedule.PracticeFacts]
    lines: dict[str, list[LineRow]]

    def expected(self, code: str, *, until: date) -> list[schedule.Expectation]:
        return schedule.expected(self.facts[code], self.book, until=until)

    def detect(self, code: str, *, today: date) -> list[detection.Detected]:
        return detection.detect(
            ods_code=code,
            expectations=self.expected(code, until=today),
            lines=self.lines[code],
            memberships=self.facts[code].memberships,
            book=self.book,
            today=today,
        )


async def snapshot(
    session: AsyncSession, codes: Sequence[str], *, with_lines: bool = True
) -> Snapshot:
    codes = sorted(set(codes))
    book = await rate_book(session)
    directory = {row.ods_code: row for row in await directory_repository.directory(session, codes)}
    starts = await statements_repository.schedule_starts(session, codes)
    declarations = defaultdict(list)
    for declaration in await qof_repository.declarations(session, codes):
        declarations[declaration.ods_code].append(declaration)
    placements = defaultdict(list)
    for placement in await training_repository.placements(session, codes):
        placements[placement.ods_code].append(placement)
    estimates = defaultdict(list)
    estimate_rows = await pensions_repository.estimates(session, codes=codes)
    for estimate in estimate_rows:
        estimates[estimate.ods_code].append(estimate)
    pay = await pensions_repository.pay_across_posts(
        session, sorted({e.gmc_number for e in estimate_rows})
    )
    memberships = defaultdict(list)
    for membership in await directory_repository.memberships(session, codes=codes):
        memberships[membership.ods_code].append(membership)
    lines: dict[str, list[LineRow]] = defaultdict(list)
    if with_lines:
        for code, line in await statements_repository.lines_of_practices(session, codes):
            lines[code].append(line)
    facts = {
        code: schedule.PracticeFacts(
            ods_code=code,
            list_size=directory[code].list_size if code in directory else None,
            lmc_code=directory[code].lmc_code if code in directory else None,
            schedule_start=starts.get(code),
            declarations=declarations[code],
            placements=placements[code],
            estimates=estimates[code],
            pay_across_posts=pay,
            memberships=memberships[code],
        )
        for code in codes
    }
    return Snapshot(book=book, facts=facts, lines={code: lines[code] for code in codes})
