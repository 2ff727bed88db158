"""Gathers what the schedule and detection need for a set of practices, in a few queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from payments.claims import repository as claims_repository
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
    from collections.abc import Mapping, Sequence
    from datetime import date

    from sqlalchemy.ext.asyncio import AsyncSession

    from payments.models import LineRow, LineTreatment


async def rate_book(session: AsyncSession) -> RateBook:
    rates, deadlines, timings, commissioners = await repository.rates(session)
    return RateBook(rates, deadlines, timings, commissioners)


@dataclass(frozen=True)
class Snapshot:
    """The practices' facts and lines, and the rates, as read in one session."""

    book: RateBook
    facts: dict[str, schedule.PracticeFacts]
    lines: dict[str, list[LineRow]]
    treatments: Mapping[str, LineTreatment]
    """Each paycode's treatment (regular, arrears, year-end balancing)."""

    def expected(
        self, code: str, *, until: date, known_on: date | None = None
    ) -> list[schedule.Expectation]:
        return schedule.expected(self.facts[code], self.book, until=until, known_on=known_on)

    def notes(self, code: str, *, until: date, known_on: date | None = None) -> list[schedule.Note]:
        return schedule.notes(self.facts[code], self.book, until=until, known_on=known_on)

    def detect(self, code: str, *, today: date) -> list[detection.Detected]:
        return detection.detect(
            ods_code=code,
            expectations=self.expected(code, until=today, known_on=today),
            lines=self.lines[code],
            facts=self.facts[code],
            book=self.book,
            treatments=self.treatments,
            today=today,
        )


def _in_id_order(read: list[LineRow], fresh: Sequence[LineRow]) -> list[LineRow]:
    """The lines read and the fresh ones, in line order as a read of both would give them.
    The fresh ids were drawn after the lines read were written (the practices are locked
    first), so this is nearly always the one concatenation; sorted otherwise."""
    merged = [*read, *fresh]
    if read and read[-1].id > fresh[0].id:
        merged.sort(key=attrgetter("id"))
    return merged


def _by_practice(rows: Sequence[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        found[row.ods_code].append(row)
    return found


async def snapshot(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    with_lines: bool = True,
    fresh: Mapping[str, Sequence[LineRow]] | None = None,
) -> Snapshot:
    """Everything the schedule of ``codes`` is derived from. Without ``with_lines`` only the
    lines the schedule itself reads (QOF aspiration, the out-of-hours and levy presentation,
    the core paycodes) are fetched, not every line for detection.

    ``fresh``: lines of these practices not yet in the database (a run being imported, with
    the ids drawn for them), taken with the lines read as if they had been read too."""
    codes = sorted(set(codes))
    book = await rate_book(session)
    treatments = {p.code: p.treatment for p in await statements_repository.paycodes(session)}
    directory = {row.ods_code: row for row in await directory_repository.directory(session, codes)}
    starts = await statements_repository.schedule_starts(session, codes)
    estimate_rows = await pensions_repository.estimates(session, codes=codes)
    performers = sorted({e.gmc_number for e in estimate_rows})
    memberships = await directory_repository.memberships(session, codes=codes)
    pay = await pensions_repository.pay_across_posts(session, performers)
    changes = await directory_repository.status_changes(
        session, sorted({m.gmc_number for m in memberships} | set(performers))
    )
    changes_of: dict[str, list[Any]] = defaultdict(list)
    for change in changes:
        changes_of[change.gmc_number].append(change)
    lines: dict[str, list[LineRow]] = defaultdict(list)
    if with_lines:
        lines.update(await statements_repository.lines_of_practices(session, codes))
        if fresh is not None:
            for code in codes:
                added = fresh.get(code)
                if code in lines and added:
                    lines[code] = _in_id_order(lines[code], added)
    else:
        for code, line in await statements_repository.schedule_lines_of_practices(session, codes):
            lines[code].append(line)
    declarations = _by_practice(await qof_repository.declarations(session, codes))
    placements = _by_practice(await training_repository.placements(session, codes))
    estimates = _by_practice(estimate_rows)
    members = _by_practice(memberships)
    sizes = _by_practice(await directory_repository.list_sizes(session, codes))
    values = _by_practice(await repository.contract_values(session, codes))
    claims = _by_practice(await claims_repository.claims(session, codes))
    pay_changes: dict[int, list[Any]] = defaultdict(list)
    placement_ids = [p.id for rows in placements.values() for p in rows]
    for pay_change in await training_repository.pay_changes(session, placement_ids):
        pay_changes[pay_change.placement_id].append(pay_change)
    facts = {
        code: schedule.PracticeFacts(
            ods_code=code,
            directory=directory.get(code),
            schedule_start=starts.get(code),
            list_sizes=sizes[code],
            contract_values=values[code],
            declarations=declarations[code],
            placements=placements[code],
            estimates=estimates[code],
            pay_across_posts=pay,
            memberships=members[code],
            claims=claims[code],
            status_changes=[
                change
                for m in {m.gmc_number for m in members[code]}
                | {e.gmc_number for e in estimates[code]}
                for change in changes_of[m]
            ],
            lines=schedule.summarise(lines[code]),
            trainee_pay={p.id: pay_changes[p.id] for p in placements[code]},
        )
        for code in codes
    }
    return Snapshot(
        book=book,
        facts=facts,
        lines={code: lines[code] if with_lines else [] for code in codes},
        treatments=treatments,
    )
