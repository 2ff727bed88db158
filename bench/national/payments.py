"""The nation into the payments service's database.

Each month's statements are built from the service's own expected schedule (``payments.
schedule``), so that a clean practice reconciles to the penny, with rent, an enhanced service
and drugs beside them. In a share of practices (``FAULT_SHARE``) one thing goes wrong, of one
of the eight kinds the service detects; the service's own detection then finds them, and some
become disputes. Practices are made in worker processes, a chunk at a time, each with a
generator of its own, so the data do not depend on how the work was split.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from payments.models import (
    Component,
    DeadlineKind,
    DeadlineRule,
    DeclarationState,
    PensionEstimate,
    PerformerMembership,
    QofDeclaration,
    Rate,
    RateKind,
    TraineePlacement,
)
from payments.rates import RateBook, add_months, financial_year, month_end, percent_of
from payments.schedule import rules as schedule

from bench.national import continue_ids, pool_of, practice_rng

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from bench.national import MembershipSpec, Nation

FAULT_SHARE = {"national": 0.05, "small": 0.5}
FAULTS = (
    "missing", "late", "duplicate", "incorrect_amount", "pension_gap", "pension_catch_up",
    "wrong_tier", "leaver_superannuation",
)  # fmt: skip
CHUNK = 40
"""Practices per task: about 60,000 lines at national size."""
PENSIONABLE = {"partner": 95_000_00, "salaried": 62_000_00, "retainer": 30_000_00}
GLOBAL_SUM = {2019: 9_278, 2020: 9_378, 2021: 9_678, 2022: 10_278, 2023: 10_478, 2024: 11_207,
              2025: 11_780, 2026: 12_150}  # fmt: skip
"""Illustrative pence per patient a year, by financial year."""
SOURCE = "Synthetic national data set"
LINE_COLUMNS = [
    "statement_id", "component", "paycode", "description", "amount_pence", "covers_from",
    "covers_to", "paymaster", "source_system", "authoriser", "status", "authorised_on",
    "entered_on", "paid_on", "failed_on", "reversed_on", "gmc_number", "run_id",
]  # fmt: skip
UNSCHEDULED = (
    (Component.PREMISES, "PREMRENT", 150_000, 600_000, "icb"),
    (Component.PREMISES, "PREMRATES", 20_000, 120_000, "icb"),
    (Component.ENHANCED_SERVICE, "ESCHILD", 50_000, 300_000, "nhs_england"),
    (Component.ENHANCED_SERVICE, "ESLDHC", 5_000, 60_000, "nhs_england"),
    (Component.ENHANCED_SERVICE, "ESSHING", 5_000, 80_000, "nhs_england"),
    (Component.PCN, "PCNPART", 30_000, 150_000, "icb"),
    (Component.PCN, "PCNARRS", 100_000, 900_000, "icb"),
    (Component.DRUGS, "DRUGS", 20_000, 900_000, "nhs_england"),
)
"""Lines with no expected schedule, every month: (component, paycode, pence from, to, payer)."""
DISPENSING = (
    (Component.DISPENSING_FEES, "DISPFEE", 200_000, 1_500_000),
    (Component.DISPENSING_FEES, "PRESFEE", 10_000, 90_000),
    (Component.PRESCRIPTION_CHARGE_INCOME, "PRESCHG", -400_000, -20_000),
)
FLU_MONTHS = frozenset({10, 11, 12, 1, 2, 3})
DESCRIPTIONS = {
    "PREMRENT": "Premises: notional rent", "PREMRATES": "Premises: business rates",
    "ESCHILD": "Enhanced service: childhood immunisations",
    "ESLDHC": "Enhanced service: learning disability health checks",
    "ESSHING": "Enhanced service: shingles", "ESFLU": "Enhanced service: seasonal influenza",
    "PCNPART": "PCN participation", "PCNARRS": "PCN additional roles reimbursement",
    "DRUGS": "Reimbursement of drugs", "DISPFEE": "Dispensing fees",
    "PRESFEE": "Prescribing fees", "PRESCHG": "Prescription charge income",
    "TRGRANT": "Training grant", "LOCSICK": "Locum allowance: sickness",
}  # fmt: skip


@dataclass(frozen=True)
class Window:
    seed: int
    as_of: date
    first: date
    last: date
    """The first and last statement periods."""

    @property
    def months(self) -> list[date]:
        found, month = [], self.first
        while month <= self.last:
            found.append(month)
            month = add_months(month, 1)
        return found

    def run_id(self, period: date) -> str:
        return f"national-{period:%Y-%m}"


def window(nation: Nation) -> Window:
    last = add_months(nation.as_of.replace(day=1), -1)
    return Window(nation.seed, nation.as_of, add_months(last, -(nation.size.months - 1)), last)


@dataclass(frozen=True)
class PracticeTask:
    index: int
    ods_code: str
    list_size: int
    lmc_code: str
    memberships: tuple[MembershipSpec, ...]


@dataclass
class Chunk:
    """What the workers make of a chunk of practices, ready for COPY."""

    declarations: list[tuple[Any, ...]] = field(default_factory=list)
    placements: list[tuple[Any, ...]] = field(default_factory=list)
    estimates: list[tuple[Any, ...]] = field(default_factory=list)
    statements: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[tuple[Any, ...]] = field(default_factory=list)
    faults: list[tuple[str, str]] = field(default_factory=list)
    """(practice, kind) of each fault planted."""
    months: dict[date, tuple[int, int]] = field(default_factory=dict)
    """Lines and pence per statement period."""


RateRow = tuple[str, str, date, int, int | None, str, str]
DeadlineRow = tuple[str, int, int, int, int, str]


@cache
def _book(rates: tuple[RateRow, ...], deadlines: tuple[DeadlineRow, ...]) -> RateBook:
    return RateBook(
        [
            Rate(kind=RateKind(k), scope=s, effective_from=f, band_from_pence=lo,
                 band_to_pence=hi, value=Decimal(v), source=src)
            for k, s, f, lo, hi, v, src in rates
        ],
        [
            DeadlineRule(kind=DeadlineKind(k), from_year=y, month=m, day=d, year_offset=o,
                         source=src)
            for k, y, m, d, o, src in deadlines
        ],
    )  # fmt: skip


def make_chunk(
    span: Window,
    rates: tuple[RateRow, ...],
    deadlines: tuple[DeadlineRow, ...],
    practices: Sequence[PracticeTask],
    fault_share: float,
) -> Chunk:
    """Inputs, statements and lines of some practices (run in a worker process)."""
    book = _book(rates, deadlines)
    chunk = Chunk()
    months = span.months
    totals: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for practice in practices:
        rng = practice_rng(span.seed, f"payments:{practice.ods_code}")
        facts = _facts(span, practice, rng, chunk)
        lines = _Lines(span, practice, months)
        expectations = [
            e
            for e in schedule.expected(facts, book, until=month_end(span.last))
            if e.due_on <= month_end(span.last)
        ]
        fault = rng.choice(FAULTS) if rng.random() < fault_share else None
        if fault is not None and _plant(fault, expectations, lines, facts, book, rng):
            chunk.faults.append((practice.ods_code, fault))
        for e in expectations:
            if e not in lines.skipped:
                lines.expectation(e)
        _unscheduled(lines, practice, months, rng)
        for month_number, month in enumerate(months):
            chunk.statements.append(
                (lines.statement_id(month_number), practice.ods_code, month, month_end(month),
                 "PCSE Online")
            )  # fmt: skip
        for row in lines.rows:
            total = totals[row[0][1]]
            total[0] += 1
            total[1] += row[1][4]
            chunk.lines.append(row[1])
    chunk.months = {month: (count, pence) for month, (count, pence) in totals.items()}
    return chunk


def _unscheduled(
    lines: _Lines, practice: PracticeTask, months: list[date], rng: random.Random
) -> None:
    """Rent, rates, enhanced services, PCN money and drugs every month; flu in winter; fees
    and prescription charges at a dispensing practice; a training grant where a registrar
    is placed; now and then a locum allowance for sickness."""
    dispensing = rng.random() < 0.15
    training = any(m.role == "registrar" for m in practice.memberships)
    for month in months:
        found = [
            (c, code, rng.randint(low, high), payer) for c, code, low, high, payer in UNSCHEDULED
        ]
        if month.month in FLU_MONTHS:
            found.append(
                (Component.ENHANCED_SERVICE, "ESFLU", rng.randint(20_000, 400_000), "nhs_england")
            )
        if dispensing:
            found += [
                (c, code, rng.randint(low, high), "nhs_england")
                for c, code, low, high in DISPENSING
            ]
        if training:
            found.append(
                (Component.TRAINING_GRANT, "TRGRANT", rng.randint(60_000, 80_000), "nhs_england")
            )
        if rng.random() < 0.03:
            found.append(
                (Component.LOCUM_ALLOWANCE, "LOCSICK", rng.randint(50_000, 200_000), "nhs_england")
            )
        for component, paycode, pence, payer in found:
            lines.add(component, pence, month, month, month_end(month), paycode=paycode,
                      description=DESCRIPTIONS[paycode], paymaster=payer)  # fmt: skip


def _facts(
    span: Window, practice: PracticeTask, rng: random.Random, chunk: Chunk
) -> schedule.PracticeFacts:
    """The practice's declarations, placements and estimates: into ``chunk`` and the facts."""
    code = practice.ods_code
    declarations = []
    for year in range(financial_year(span.first) - 1, financial_year(span.as_of)):
        approved = date(year + 1, 5, 14)
        state = DeclarationState.PAID if date(year + 1, 6, 30) <= month_end(span.last) else (
            DeclarationState.APPROVED if approved <= span.as_of
            else DeclarationState.AWAITING_COMMISSIONER_APPROVAL
        )  # fmt: skip
        declaration = QofDeclaration(
            ods_code=code, financial_year=year,
            achievement_pence=practice.list_size * rng.randint(1_600, 2_400),
            state=state, declared_on=date(year + 1, 4, 20),
            approved_on=approved if state in schedule.APPROVED else None,
        )  # fmt: skip
        declarations.append(declaration)
        chunk.declarations.append(
            (code, year, declaration.achievement_pence, state.value, declaration.declared_on,
             declaration.approved_on)
        )  # fmt: skip
    placements, estimates, memberships = [], [], []
    for m in practice.memberships:
        memberships.append(
            PerformerMembership(gmc_number=m.gmc_number, ods_code=code, role=m.role,
                                start_date=m.start_date, end_date=m.end_date)
        )  # fmt: skip
        if m.role == "registrar":
            placement = TraineePlacement(
                ods_code=code, gmc_number=m.gmc_number, starts_on=m.start_date,
                ends_on=m.end_date or m.start_date + timedelta(days=364),
                monthly_pence=rng.randint(3_900_00, 4_600_00),
            )  # fmt: skip
            placements.append(placement)
            chunk.placements.append(
                (code, m.gmc_number, placement.starts_on, placement.ends_on,
                 placement.monthly_pence)
            )  # fmt: skip
        if m.role not in PENSIONABLE:
            continue
        for year in range(financial_year(span.first), financial_year(span.as_of) + 1):
            if m.start_date > date(year + 1, 3, 31) or (
                m.end_date and m.end_date < date(year, 4, 1)
            ):
                continue
            pay = PENSIONABLE[m.role] + rng.randint(-15_000_00, 15_000_00)
            estimate = PensionEstimate(
                gmc_number=m.gmc_number, ods_code=code, financial_year=year,
                pensionable_pay_pence=pay, submitted_on=date(year, 2, 20),
            )  # fmt: skip
            estimates.append(estimate)
            chunk.estimates.append((m.gmc_number, code, year, pay, estimate.submitted_on))
    return schedule.PracticeFacts(
        ods_code=code, list_size=practice.list_size, lmc_code=practice.lmc_code,
        schedule_start=span.first, declarations=declarations, placements=placements,
        estimates=estimates, memberships=memberships,
    )  # fmt: skip


class _Lines:
    """One practice's lines, each with its period; and the expectations left unpaid."""

    def __init__(self, span: Window, practice: PracticeTask, months: list[date]) -> None:
        self.span = span
        self.practice = practice
        self.months = {month: number for number, month in enumerate(months)}
        self.base = practice.index * len(months) + 1
        self.rows: list[tuple[tuple[str, date], tuple[Any, ...]]] = []
        self.skipped: set[schedule.Expectation] = set()

    def statement_id(self, month_number: int) -> int:
        return self.base + month_number

    def add(
        self,
        component: Component,
        amount: int,
        period: date,
        covers_from: date,
        covers_to: date,
        *,
        paid_on: date | None = None,
        gmc_number: str | None = None,
        paycode: str | None = None,
        description: str | None = None,
        paymaster: str = "nhs_england",
    ) -> None:
        paid = paid_on or month_end(period)
        self.rows.append(
            (
                (self.practice.ods_code, period),
                (self.statement_id(self.months[period]), component.value,
                 paycode or schedule.PAYCODES.get(component, "OTHER"),
                 description or component.value.replace("_", " ").capitalize(), amount,
                 covers_from, covers_to, paymaster, "PCSE Online",
                 "ICB" if paymaster == "icb" else "NHS England", "paid", covers_from, paid, paid,
                 None, None, gmc_number, self.span.run_id(period)),
            )
        )  # fmt: skip

    def expectation(
        self, e: schedule.Expectation, *, amount: int | None = None, late_days: int = 0
    ) -> None:
        paid = e.due_on + timedelta(days=late_days)
        self.add(
            e.component, e.amount_pence if amount is None else amount, paid.replace(day=1),
            e.covers_from, e.covers_to, paid_on=paid, gmc_number=e.gmc_number,
        )  # fmt: skip


def _plant(  # noqa: PLR0911, PLR0917 - one branch per kind of fault reads best
    fault: str,
    expectations: list[schedule.Expectation],
    lines: _Lines,
    facts: schedule.PracticeFacts,
    book: RateBook,
    rng: random.Random,
) -> bool:
    """Make ``fault`` happen to the practice; False when it has nothing it could happen to."""
    last = lines.span.last
    recent = add_months(last, -12)

    def pick(component: Component, *, before: date = last) -> schedule.Expectation | None:
        found = [
            e for e in expectations
            if e.component is component and recent <= e.covers_from < before
        ]  # fmt: skip
        return rng.choice(found) if found else None

    pensions = [e for e in expectations if e.component is Component.EMPLOYEE_SUPERANNUATION]
    if fault == "missing" and (e := pick(Component.GLOBAL_SUM)):
        lines.skipped.add(e)
        return True
    if fault == "late" and (e := pick(Component.GLOBAL_SUM)):
        lines.skipped.add(e)
        lines.expectation(e, late_days=14)
        return True
    if fault == "duplicate":
        month = rng.choice(list(lines.months)[-12:])
        for _ in range(2):
            lines.add(Component.ENHANCED_SERVICE, 184_250, month, month, month_end(month),
                      paycode="ESFLU", description="Seasonal flu immunisations")  # fmt: skip
        return True
    if fault == "incorrect_amount" and (e := pick(Component.QOF_ASPIRATION)):
        lines.skipped.add(e)
        lines.expectation(e, amount=e.amount_pence * 6 // 7)  # 60% of achievement, not 70%
        return True
    if not pensions:
        return False
    gmcs = sorted({e.gmc_number or "" for e in pensions if e.covers_from >= recent})
    gmc = rng.choice(gmcs) if gmcs else None
    mine = sorted(
        (
            e
            for e in expectations
            if e.gmc_number == gmc and e.is_pension and e.covers_from >= recent
        ),
        key=lambda e: e.covers_from,
    )
    employee = [e for e in mine if e.component is Component.EMPLOYEE_SUPERANNUATION]
    if fault == "pension_gap" and len(employee) >= 6 and employee[-1].covers_from == last:
        # Deductions stopped three months ago: nothing taken since.
        lines.skipped.update(e for e in mine if e.covers_from > add_months(last, -3))
        return True
    if fault == "pension_catch_up" and len(employee) >= 6:
        first = employee[-6:-2]
        lines.skipped.update(first)
        lines.add(
            Component.EMPLOYEE_SUPERANNUATION, sum(e.amount_pence for e in first),
            first[-1].covers_from, first[0].covers_from, first[-1].covers_to, gmc_number=gmc,
        )  # fmt: skip
        return True
    if fault == "wrong_tier" and employee:
        e = employee[-1]
        tiers = [t.value for t in book.tiers(date(financial_year(e.covers_from), 4, 1))]
        if e.rate not in tiers or tiers.index(e.rate) == 0:
            return False
        lower = tiers[tiers.index(e.rate) - 1]
        lines.skipped.add(e)
        lines.add(
            Component.EMPLOYEE_SUPERANNUATION, -percent_of(e.pensionable_pence or 0, lower),
            e.covers_from, e.covers_from, e.covers_to, gmc_number=gmc,
        )  # fmt: skip
        return True
    if fault == "leaver_superannuation":
        return _leaver(expectations, lines, facts)
    return False


def _leaver(
    expectations: list[schedule.Expectation], lines: _Lines, facts: schedule.PracticeFacts
) -> bool:
    """Superannuation still taken for two months after a GP left."""
    for m in facts.memberships:
        end = m.end_date
        if end is None or add_months(end.replace(day=1), 2) > lines.span.last:
            continue
        taken = [
            e for e in expectations
            if e.gmc_number == m.gmc_number and e.component is Component.EMPLOYEE_SUPERANNUATION
            and e.covers_from == end.replace(day=1)
        ]  # fmt: skip
        if not taken:
            continue
        for months in (1, 2):
            month = add_months(end.replace(day=1), months)
            lines.add(
                Component.EMPLOYEE_SUPERANNUATION, taken[0].amount_pence, month, month,
                month_end(month), gmc_number=m.gmc_number,
            )  # fmt: skip
        return True
    return False


async def load_reference(connection: asyncpg.Connection[Any], nation: Nation) -> None:
    """The directory copies and the rates: the global sum, and most LMCs' levies."""
    rng = random.Random(f"{nation.seed}:payments-rates")
    await connection.copy_records_to_table(
        "practice_directory",
        records=[(p.ods_code, p.name, p.lmc_code, p.list_size, p.status) for p in nation.practices],
        columns=["ods_code", "name", "lmc_code", "list_size", "status"],
    )
    await connection.copy_records_to_table(
        "performer_membership",
        records=[
            (m.id, m.gmc_number, m.ods_code, m.role, m.start_date, m.end_date)
            for m in nation.memberships
        ],
        columns=["membership_id", "gmc_number", "ods_code", "role", "start_date", "end_date"],
    )
    rates: list[tuple[Any, ...]] = [
        ("global_sum", "", date(year, 4, 1), Decimal(pence), f"{SOURCE}: global sum")
        for year, pence in GLOBAL_SUM.items()
    ]
    for lmc in nation.lmcs:
        if rng.random() < 0.15:
            continue
        statutory, voluntary = rng.randint(30, 60), rng.choice((0, 0, 4, 6, 8))
        rates.append(("lmc_statutory", lmc.code, date(2019, 4, 1), Decimal(statutory), SOURCE))
        if voluntary:
            rates.append(("lmc_voluntary", lmc.code, date(2019, 4, 1), Decimal(voluntary), SOURCE))
    await connection.copy_records_to_table(
        "rate", records=rates, columns=["kind", "scope", "effective_from", "value", "source"]
    )


def practice_tasks(nation: Nation) -> list[PracticeTask]:
    """Every open practice, with its memberships: a closed or dormant one has no statements."""
    members = nation.memberships_of
    return [
        PracticeTask(p.index, p.ods_code, p.list_size, p.lmc_code, tuple(members[p.ods_code]))
        for p in nation.practices
        if p.status == "active"
    ]


async def rate_book_rows(
    connection: asyncpg.Connection[Any],
) -> tuple[tuple[RateRow, ...], tuple[DeadlineRow, ...]]:
    """The rates and deadline rules as plain rows, for the workers to build a rate book from."""
    rates = tuple(
        (r["kind"], r["scope"], r["effective_from"], r["band_from_pence"], r["band_to_pence"],
         r["value"], r["source"])
        for r in await connection.fetch(
            "SELECT kind, scope, effective_from, band_from_pence, band_to_pence, value::text "
            "AS value, source FROM rate ORDER BY id"
        )
    )  # fmt: skip
    deadlines = tuple(
        (r["kind"], r["from_year"], r["month"], r["day"], r["year_offset"], r["source"])
        for r in await connection.fetch("SELECT * FROM deadline_rule ORDER BY kind, from_year")
    )
    return rates, deadlines


async def load_statements(
    connection: asyncpg.Connection[Any], nation: Nation, *, workers: int
) -> Chunk:
    """Every practice's inputs, statements and lines, made in ``workers`` processes and copied
    in chunk order; returns the faults planted and the totals per month (no rows)."""
    span = window(nation)
    rates, deadlines = await rate_book_rows(connection)
    tasks = practice_tasks(nation)
    share = FAULT_SHARE.get(nation.size.name, 0.05)
    summary = Chunk()
    totals: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    with pool_of(workers) as pool:
        pending = [
            pool(make_chunk, span, rates, deadlines, tasks[i : i + CHUNK], share)
            for i in range(0, len(tasks), CHUNK)
        ]
        for number, future in enumerate(pending):
            chunk = await future
            await _copy_chunk(connection, chunk)
            summary.faults += chunk.faults
            for month, (count, pence) in chunk.months.items():
                totals[month][0] += count
                totals[month][1] += pence
            if number % 20 == 19:
                print(f"    payments: {(number + 1) * CHUNK:>6,} practices", flush=True)
    summary.months = {month: (count, pence) for month, (count, pence) in totals.items()}
    codes = sorted(t.ods_code for t in tasks)
    await connection.executemany(
        "INSERT INTO payment_run (run_id, imported_at, imported_by, line_count, statement_count,"
        " total_pence, practice_codes, digest) VALUES ($1, $2, 'national-data-set', $3, $4, $5,"
        " $6, 'synthetic')",
        [
            (span.run_id(month), datetime.combine(month_end(month), datetime.min.time(), UTC),
             count, len(codes), pence, codes)
            for month, (count, pence) in sorted(summary.months.items())
        ],
    )  # fmt: skip
    await continue_ids(connection, "statement")
    return summary


async def _copy_chunk(connection: asyncpg.Connection[Any], chunk: Chunk) -> None:
    await connection.copy_records_to_table(
        "qof_declaration",
        records=chunk.declarations,
        columns=["ods_code", "financial_year", "achievement_pence", "state", "declared_on",
                 "approved_on"],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "trainee_placement",
        records=chunk.placements,
        columns=["ods_code", "gmc_number", "starts_on", "ends_on", "monthly_pence"],
    )
    await connection.copy_records_to_table(
        "pension_estimate",
        records=chunk.estimates,
        columns=["gmc_number", "ods_code", "financial_year", "pensionable_pay_pence",
                 "submitted_on"],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "statement",
        records=chunk.statements,
        columns=["id", "ods_code", "period", "payment_date", "source_system"],
    )
    await connection.copy_records_to_table(
        "statement_line", records=chunk.lines, columns=LINE_COLUMNS
    )


@dataclass
class Disputes:
    opened: int = 0
    resolved: int = 0


async def load_disputes(
    connection: asyncpg.Connection[Any], nation: Nation, codes: Sequence[str]
) -> Disputes:
    """Practices query about half the anomalies found; a third of those queries are settled."""
    rng = random.Random(f"{nation.seed}:disputes")
    found = await connection.fetch(
        "SELECT id, ods_code, kind, component, covers_from FROM anomaly "
        "WHERE resolved_at IS NULL AND ods_code = ANY($1::text[]) ORDER BY id",
        list(codes),
    )
    result = Disputes()
    disputes: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    noon = datetime.combine(nation.as_of, datetime.min.time(), UTC) + timedelta(hours=12)
    for row in found:
        if rng.random() >= 0.5:
            continue
        opened = noon - timedelta(days=rng.randint(1, 150), minutes=rng.randint(0, 600))
        resolved = opened + timedelta(days=rng.randint(5, 60)) if rng.random() < 0.33 else None
        if resolved is not None and resolved > noon:
            resolved = None
        number = len(disputes) + 1
        what = row["kind"].replace("_", " ").capitalize()
        subject = f"{what}: {row['component']} from {row['covers_from']}"
        disputes.append(
            (number, f"PAY-N{number:09d}", row["ods_code"], row["id"], subject[:300], opened,
             f"manager@{row['ods_code'].lower()}", resolved,
             "Paid in the next run" if resolved else None)
        )  # fmt: skip
        events.append(
            (number, "opened", opened.date(), subject[:2000], opened, "national-data-set")
        )
        if resolved is not None:
            events.append(
                (number, "resolved", resolved.date(), "Paid in the next run", resolved,
                 "national-data-set")
            )  # fmt: skip
            result.resolved += 1
    result.opened = len(disputes)
    await connection.copy_records_to_table(
        "dispute",
        records=disputes,
        columns=["id", "reference", "ods_code", "anomaly_id", "subject", "opened_at",
                 "opened_by", "resolved_at", "outcome"],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "dispute_event",
        records=events,
        columns=["dispute_id", "kind", "occurred_on", "note", "recorded_at", "recorded_by"],
    )
    await continue_ids(connection, "dispute")
    return result
