"""The nation into the payments service's database.

Each practice's statements are issued from its facts the way the demo's are
(``payments.statements.synthetic``): the service's own expected schedule, paid as PCSE pays
it, on the main monthly run and the mid-month CQRS run, each with its remittance; a global sum
and its out-of-hours deduction as two lines; a PMS baseline or an APMS contract price in
twelfths; a rate decided after the months it applies to paid at the old figure, then arrears;
QOF aspiration and the June balance on the aspiration actually paid; levies monthly or by the
quarter as the LMC collects them; approved claims; trainee pay and the trainer's grant a month
in arrears; employer contributions as one line or two. Rent, rates, other enhanced services,
PCN money and drugs are paid beside, with no schedule to judge them by.

The facts come the way the service learns them: the directory copy with each practice's
contract (GMS, PMS or APMS), dispensing, training and out-of-hours opt-out; a registered and
weighted list each quarter; PMS and APMS contract values; CQRS declarations; placements;
pension estimates with the tier the practice declared; claims.

In a share of practices (``FAULT_SHARE``) one thing goes wrong, of one of the kinds the service
detects; the service's own detection then finds them, and some become disputes. Practices are
made in worker processes, a chunk at a time, each with a generator of its own, so the data do
not depend on how the work was split.
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
    ChainStatus,
    ClaimState,
    CommissionerRule,
    Component,
    ContractValue,
    DeadlineKind,
    DeadlineRule,
    DeclarationState,
    Paymaster,
    PensionEstimate,
    PerformerMembership,
    PracticeClaim,
    PracticeDirectory,
    PracticeListSize,
    QofDeclaration,
    Rate,
    RateKind,
    TimingKind,
    TimingRule,
    TraineePlacement,
)
from payments.rates import RateBook, add_months, financial_year, month_end, months_between
from payments.schedule import rules as schedule
from payments.statements import synthetic

from bench.national import continue_ids, pool_of, practice_rng, quarterly_list, quarters_before

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from bench.national import MembershipSpec, Nation

FAULT_SHARE = {"national": 0.05, "small": 0.5}
FAULTS = (
    "missing", "late", "duplicate", "incorrect_amount", "pension_gap", "pension_catch_up",
    "wrong_tier", "leaver_superannuation", "stuck", "stuck_declaration",
)  # fmt: skip
CHUNK = 40
"""Practices per task: about 60,000 lines at national size."""
PENSIONABLE = {"partner": 95_000_00, "salaried": 62_000_00, "retainer": 30_000_00}
GLOBAL_SUM = {2020: 9_346, 2021: 9_678}
"""Illustrative pence per weighted patient for the years the migrations have no sourced figure
for (the same as the demo's)."""
CONTRACT_PER_WEIGHTED = {"PMS": Decimal(128), "APMS": Decimal(131)}
"""Illustrative PMS baseline and APMS contract price, pounds a weighted patient a year."""
SOURCE = "Synthetic national data set"
LINE_COLUMNS = [
    "statement_id", "component", "paycode", "description", "amount_pence", "covers_from",
    "covers_to", "paymaster", "source_system", "authoriser", "status", "authorised_on",
    "entered_on", "paid_on", "failed_on", "reversed_on", "gmc_number", "run_id",
    "remittance_ref",
]  # fmt: skip
UNSCHEDULED = (
    (Component.PREMISES, "PREMRENT", 150_000, 600_000),
    (Component.PREMISES, "PREMRATES", 20_000, 120_000),
    (Component.ENHANCED_SERVICE, "ESLDHC", 5_000, 60_000),
    (Component.ENHANCED_SERVICE, "ESSHING", 5_000, 80_000),
    (Component.PCN, "PCNPART", 30_000, 150_000),
    (Component.PCN, "PCNARRS", 100_000, 900_000),
    (Component.DRUGS, "DRUGS", 20_000, 900_000),
)
"""Lines with no expected schedule, every month: (component, paycode, pence from, to)."""
DISPENSING = (
    (Component.DISPENSING_FEES, "DISPFEE", 200_000, 1_500_000),
    (Component.DISPENSING_FEES, "PRESFEE", 10_000, 90_000),
    (Component.PRESCRIPTION_CHARGE_INCOME, "PRESCHG", -400_000, -20_000),
)
FLU_MONTHS = frozenset({10, 11, 12, 1, 2, 3})
DESCRIPTIONS = {
    "PREMRENT": "Premises: notional rent", "PREMRATES": "Premises: business rates",
    "ESLDHC": "Enhanced service: learning disability health checks",
    "ESSHING": "Enhanced service: shingles", "ESFLU": "Enhanced service: seasonal influenza",
    "PCNPART": "PCN participation", "PCNARRS": "PCN additional roles reimbursement",
    "DRUGS": "Reimbursement of drugs", "DISPFEE": "Dispensing fees",
    "PRESFEE": "Prescribing fees", "PRESCHG": "Prescription charge income",
    "LOCSICK": "Locum allowance: sickness",
}  # fmt: skip
CHILD_DOSE_PENCE = 1_206
"""Illustrative item of service fee for a childhood immunisation claim."""


@dataclass(frozen=True)
class Window:
    seed: int
    as_of: date
    first: date
    last: date
    """The first and last statement periods."""

    @property
    def months(self) -> list[date]:
        return months_between(self.first, self.last)

    def run_id(self, period: date) -> str:
        return f"national-{period:%Y-%m}"


def span_quarters(span: Window) -> int:
    """The quarters from five before the first statement's to the last one's."""
    months = (span.last.year - span.first.year) * 12 + span.last.month - span.first.month
    return months // 3 + 7


def window(nation: Nation) -> Window:
    last = add_months(nation.as_of.replace(day=1), -1)
    return Window(nation.seed, nation.as_of, add_months(last, -(nation.size.months - 1)), last)


@dataclass(frozen=True)
class PracticeTask:
    index: int
    ods_code: str
    list_size: int
    lmc_code: str
    contract_type: str
    icb_code: str
    dispensing: bool
    training_practice: bool
    out_of_hours_opt_out: bool
    memberships: tuple[MembershipSpec, ...]
    other_posts: tuple[MembershipSpec, ...] = ()
    """The same GPs' memberships at other open practices: a pension tier is for all posts."""


def pensionable_pay(seed: int, membership: MembershipSpec, year: int) -> int | None:
    """A post's pensionable pay for financial ``year`` (pence), or None when the role is not
    pensionable here or the post does not overlap the year; the same wherever it is asked."""
    if membership.role not in PENSIONABLE or membership.start_date > date(year + 1, 3, 31):
        return None
    if membership.end_date and membership.end_date < date(year, 4, 1):
        return None
    rng = practice_rng(seed, f"pay:{membership.gmc_number}:{membership.ods_code}:{year}")
    return PENSIONABLE[membership.role] + rng.randint(-15_000_00, 15_000_00)


def quarterly_levies(seed: int, lmc_code: str) -> bool:
    """Whether the LMC collects its levy by the quarter (one in five)."""
    return practice_rng(seed, f"payments-lmc:{lmc_code}").random() < 0.2


@dataclass
class Chunk:
    """What the workers make of a chunk of practices, ready for COPY."""

    list_sizes: list[tuple[Any, ...]] = field(default_factory=list)
    contract_values: list[tuple[Any, ...]] = field(default_factory=list)
    declarations: list[tuple[Any, ...]] = field(default_factory=list)
    placements: list[tuple[Any, ...]] = field(default_factory=list)
    estimates: list[tuple[Any, ...]] = field(default_factory=list)
    claims: list[tuple[Any, ...]] = field(default_factory=list)
    statements: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[tuple[Any, ...]] = field(default_factory=list)
    faults: list[tuple[str, str]] = field(default_factory=list)
    """(practice, kind) of each fault planted."""
    months: dict[date, tuple[int, int]] = field(default_factory=dict)
    """Lines and pence per statement period."""


@dataclass(frozen=True)
class BookRows:
    """The rate book as plain rows, for worker processes to build it from."""

    rates: tuple[tuple[Any, ...], ...]
    deadlines: tuple[tuple[Any, ...], ...]
    timings: tuple[tuple[Any, ...], ...]
    commissioners: tuple[tuple[Any, ...], ...]


@cache
def _book(rows: BookRows) -> RateBook:
    return RateBook(
        [
            Rate(kind=RateKind(k), scope=s, effective_from=f, band_from_pence=lo,
                 band_to_pence=hi, value=Decimal(v), source=src, decided_on=decided,
                 settle_by=settle)
            for k, s, f, lo, hi, v, src, decided, settle in rows.rates
        ],
        [
            DeadlineRule(kind=DeadlineKind(k), from_year=y, month=m, day=d, year_offset=o,
                         source=src)
            for k, y, m, d, o, src in rows.deadlines
        ],
        [
            TimingRule(kind=TimingKind(k), effective_from=f, days=days, source=src)
            for k, f, days, src in rows.timings
        ],
        [
            CommissionerRule(component=Component(c), paycode=code, effective_from=f,
                             commissioner=Paymaster(who), route=route, source=src)
            for c, code, f, who, route, src in rows.commissioners
        ],
    )  # fmt: skip


def make_chunk(
    span: Window, rows: BookRows, practices: Sequence[PracticeTask], fault_share: float
) -> Chunk:
    """Inputs, statements and lines of some practices (run in a worker process)."""
    book = _book(rows)
    chunk = Chunk()
    months = span.months
    totals: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for practice in practices:
        rng = practice_rng(span.seed, f"payments:{practice.ods_code}")
        fault = rng.choice(FAULTS) if rng.random() < fault_share else None
        made = _Practice(span, practice, rng, book, chunk, fault=fault)
        built = synthetic.Statements(
            practice.ods_code, span.last, quarterly_levies=made.quarterly_levies,
            first=span.first,
        )  # fmt: skip
        # A quarter's levy is deducted in its first month: the schedule runs to its end.
        until = month_end(add_months(span.last, 2))
        planted = None
        if fault is not None:
            planted = _Fault(fault, made, built, book, rng)
            planted.plan(schedule.expected(made.facts, book, until=until, known_on=span.as_of))
        expected = synthetic.issue(
            built, made.facts, book, until=until, known_on=span.as_of,
            skip=planted.skip if planted else lambda _: False,
        )  # fmt: skip
        _unscheduled(built, made, months, rng)
        if planted is not None and planted.apply(expected):
            chunk.faults.append((practice.ods_code, planted.kind))
        base = practice.index * len(months) + 1
        number = {month: n for n, month in enumerate(months)}
        for month, n in number.items():
            chunk.statements.append(
                (base + n, practice.ods_code, month, month_end(month), "PCSE Online")
            )
        for line in built.lines:
            total = totals[line.period]
            total[0] += 1
            total[1] += line.amount_pence
            chunk.lines.append(_row(line, base + number[line.period], span.run_id(line.period)))
    chunk.months = {month: (count, pence) for month, (count, pence) in totals.items()}
    return chunk


def _row(line: synthetic.Line, statement_id: int, run_id: str) -> tuple[Any, ...]:
    paid = line.status is ChainStatus.PAID
    return (
        statement_id, line.component.value, line.paycode, line.text[:200], line.amount_pence,
        line.covers_from, line.covers_to, line.paymaster.value, "PCSE Online", line.authoriser,
        line.status.value, line.paid_on - timedelta(days=14),
        line.paid_on - timedelta(days=5) if paid else None, line.paid_on if paid else None,
        None, None, line.gmc_number, run_id, line.remittance_ref if paid else None,
    )  # fmt: skip


class _Practice:
    """One practice's facts, as the service holds them: into ``chunk`` and ``facts``."""

    def __init__(
        self,
        span: Window,
        practice: PracticeTask,
        rng: random.Random,
        book: RateBook,
        chunk: Chunk,
        *,
        fault: str | None,
    ) -> None:
        self.span, self.practice, self.rng, self.book, self.chunk = span, practice, rng, book, chunk
        code = practice.ods_code
        self.quarterly_levies = quarterly_levies(span.seed, practice.lmc_code)
        directory = PracticeDirectory(
            ods_code=code, name="", lmc_code=practice.lmc_code, list_size=practice.list_size,
            status="active", contract_type=practice.contract_type,
            dispensing=practice.dispensing, training_practice=practice.training_practice,
            out_of_hours_opt_out=practice.out_of_hours_opt_out, icb_code=practice.icb_code,
        )  # fmt: skip
        sizes = self._list_sizes()
        self.facts = schedule.PracticeFacts(
            ods_code=code, directory=directory, schedule_start=span.first, list_sizes=sizes,
            contract_values=self._contract_values(sizes),
            declarations=self._declarations(stuck=fault == "stuck_declaration"),
            placements=self._placements(), estimates=self._estimates(),
            memberships=[
                PerformerMembership(gmc_number=m.gmc_number, ods_code=code, role=m.role,
                                    start_date=m.start_date, end_date=m.end_date)
                for m in practice.memberships
            ],
            claims=self._claims(),
            lines=schedule.LineSummary(levy_beside=rng.random() < 0.3),
        )  # fmt: skip

    def _list_sizes(self) -> list[PracticeListSize]:
        """A registered and a weighted list each quarter, from a year and a quarter before the
        first statement (last year's January list sets this year's QOF aspiration), as the
        performers stream brought them."""
        span, p = self.span, self.practice
        found = []
        for quarter in reversed(quarters_before(add_months(span.last, 2), span_quarters(span))):
            registered, weighted = quarterly_list(p.index, p.list_size, quarter, as_of=span.as_of)
            found.append(
                PracticeListSize(ods_code=p.ods_code, quarter_start=quarter,
                                 registered_patients=registered, weighted_patients=weighted,
                                 source=SOURCE)
            )  # fmt: skip
            self.chunk.list_sizes.append((p.ods_code, quarter, registered, weighted, SOURCE))
        return found

    def _contract_values(self, sizes: list[PracticeListSize]) -> list[ContractValue]:
        contract, code = self.practice.contract_type, self.practice.ods_code
        if contract not in CONTRACT_PER_WEIGHTED:
            return []
        first = next(s for s in sizes if s.quarter_start > add_months(self.span.first, -3))
        annual = int((first.weighted_patients or 0) * CONTRACT_PER_WEIGHTED[contract]) * 100
        source = f"{SOURCE}: {contract} contract"
        self.chunk.contract_values.append((code, self.span.first, None, contract, annual, source))
        return [
            ContractValue(ods_code=code, effective_from=self.span.first, decided_on=None,
                          contract_type=contract, annual_pence=annual, source=source)
        ]  # fmt: skip

    def _declarations(self, *, stuck: bool) -> list[QofDeclaration]:
        """Each year's CQRS declaration: signed off in April, approved in May, paid in June.
        With ``stuck``, the last one is never signed off."""
        span, code = self.span, self.practice.ods_code
        found = []
        years = range(financial_year(span.first) - 1, financial_year(span.as_of))
        for year in years:
            declared: date | None = date(year + 1, 4, 20)
            approved: date | None = date(year + 1, 5, 14)
            achievement = self.practice.list_size * self.rng.randint(1_600, 2_400)
            if span.as_of < date(year + 1, 4, 20):
                state, declared, approved = DeclarationState.AWAITING_PROVIDER_APPROVAL, None, None
            elif span.as_of < date(year + 1, 5, 14):
                state, approved = DeclarationState.AWAITING_COMMISSIONER_APPROVAL, None
            elif date(year + 1, 6, 30) <= month_end(span.last):
                state = DeclarationState.PAID
            else:
                state = DeclarationState.APPROVED
            if stuck and year == years[-1] and span.as_of > date(year + 1, 5, 31):
                state, declared, approved = DeclarationState.AWAITING_PROVIDER_APPROVAL, None, None
            # 2025/26 retired 32 indicators: about a third of the 2024/25 achievement.
            retired = achievement // 3 if year == 2024 else None
            found.append(
                QofDeclaration(ods_code=code, financial_year=year,
                               achievement_pence=achievement, state=state, declared_on=declared,
                               approved_on=approved, retired_pence=retired)
            )  # fmt: skip
            self.chunk.declarations.append(
                (code, year, achievement, state.value, declared, approved, retired)
            )
        return found

    def _placements(self) -> list[TraineePlacement]:
        code, found = self.practice.ods_code, []
        for m in self.practice.memberships:
            if m.role != "registrar":
                continue
            placement = TraineePlacement(
                ods_code=code, gmc_number=m.gmc_number, starts_on=m.start_date,
                ends_on=m.end_date or m.start_date + timedelta(days=364),
                monthly_pence=self.rng.randint(3_900_00, 4_600_00),
            )  # fmt: skip
            found.append(placement)
            self.chunk.placements.append(
                (code, m.gmc_number, placement.starts_on, placement.ends_on,
                 placement.monthly_pence)
            )  # fmt: skip
        return found

    def _estimates(self) -> list[PensionEstimate]:
        """Each GP's pensionable pay a year, with the tier the practice declared for it (one
        in ten declares none, and the tier follows the pay). The tier is for the GP's pay
        across all their posts, as the service works it out: a GP with posts at other
        practices always has it declared, since this practice's own schedule cannot see the
        other posts' pay."""
        span, code, found = self.span, self.practice.ods_code, []
        for m in self.practice.memberships:
            if m.role not in PENSIONABLE:
                continue
            others = [o for o in self.practice.other_posts if o.gmc_number == m.gmc_number]
            for year in range(financial_year(span.first), financial_year(span.as_of) + 1):
                pay = pensionable_pay(span.seed, m, year)
                if pay is None:
                    continue
                total = pay + sum(pensionable_pay(span.seed, o, year) or 0 for o in others)
                several = total != pay
                tier = self.book.tier(total, date(year, 4, 1))
                unsaid = self.rng.random() < 0.1 and not several
                declared = None if tier is None or unsaid else tier.value
                found.append(
                    PensionEstimate(gmc_number=m.gmc_number, ods_code=code, financial_year=year,
                                    pensionable_pay_pence=pay, submitted_on=date(year, 2, 20),
                                    declared_tier=declared)
                )  # fmt: skip
                self.chunk.estimates.append(
                    (m.gmc_number, code, year, pay, date(year, 2, 20), declared)
                )
        return found

    def _claims(self) -> list[PracticeClaim]:
        """Half the practices claim childhood immunisations each month, approved ten days on."""
        if self.rng.random() >= 0.5:
            return []
        code, found = self.practice.ods_code, []
        for month in self.span.months:
            doses = self.rng.randint(20, 120)
            approved = month_end(month) + timedelta(days=9)
            if approved > self.span.as_of:
                continue
            claim = PracticeClaim(
                ods_code=code, reference=f"ES-CHILD-{month:%Y-%m}",
                component=Component.ENHANCED_SERVICE, paycode="ESCHILD",
                description=f"Childhood immunisations {doses} x £12.06", covers_from=month,
                covers_to=month_end(month), amount_pence=doses * CHILD_DOSE_PENCE,
                claimed_on=month_end(month) + timedelta(days=4), approved_on=approved,
                state=ClaimState.APPROVED,
            )  # fmt: skip
            found.append(claim)
            self.chunk.claims.append(
                (code, claim.reference, claim.component.value, claim.paycode, claim.description,
                 claim.covers_from, claim.covers_to, claim.amount_pence, claim.claimed_on,
                 claim.approved_on, claim.state.value)
            )  # fmt: skip
        return found


def _unscheduled(
    built: synthetic.Statements, made: _Practice, months: list[date], rng: random.Random
) -> None:
    """Rent, rates, enhanced services, PCN money and drugs every month; flu in winter; fees
    and prescription charges at a dispensing practice; now and then a locum allowance."""
    for month in months:
        found = [(c, code, rng.randint(low, high)) for c, code, low, high in UNSCHEDULED]
        if month.month in FLU_MONTHS:
            found.append((Component.ENHANCED_SERVICE, "ESFLU", rng.randint(20_000, 400_000)))
        if made.practice.dispensing:
            found += [(c, code, rng.randint(low, high)) for c, code, low, high in DISPENSING]
        if rng.random() < 0.03:
            found.append((Component.LOCUM_ALLOWANCE, "LOCSICK", rng.randint(50_000, 200_000)))
        for component, paycode, pence in found:
            built.add(
                component, paycode, pence, covers_from=month, covers_to=month_end(month),
                paid_on=synthetic.run_day(month_end(month)), description=DESCRIPTIONS[paycode],
            )  # fmt: skip


class _Fault:
    """One thing that goes wrong at a practice: what it leaves unpaid, and what it adds."""

    def __init__(
        self,
        kind: str,
        made: _Practice,
        built: synthetic.Statements,
        book: RateBook,
        rng: random.Random,
    ) -> None:
        self.kind, self.made, self.built, self.book, self.rng = kind, made, built, book, rng
        self.last = made.span.last
        self.recent = add_months(self.last, -12)
        self.skipped: set[tuple[object, ...]] = set()
        self.chosen: list[schedule.Expectation] = []

    def skip(self, e: schedule.Expectation) -> bool:
        return e.key in self.skipped

    def plan(self, expected: list[schedule.Expectation]) -> None:
        """Before the schedule is paid: which of its items the fault takes or changes."""
        kind, rng, last = self.kind, self.rng, self.last

        def pick(components: set[Component], *, this_year: bool = False) -> None:
            found = [
                e
                for e in expected
                if e.component in components
                and e.basis is schedule.Basis.MONTHLY
                and e.interim_pence is None
                and self.recent <= e.covers_from < last
                and (not this_year or financial_year(e.covers_from) == financial_year(last))
            ]
            if found:
                self.chosen = [rng.choice(found)]

        if kind in {"missing", "late"}:
            pick({Component.GLOBAL_SUM, Component.PMS_BASELINE, Component.APMS_CONTRACT})
        elif kind == "incorrect_amount":
            # This year's: an earlier year's shortfall is part of its June balance.
            pick({Component.QOF_ASPIRATION}, this_year=True)
        elif kind in {"pension_gap", "pension_catch_up", "wrong_tier"}:
            self.chosen = self._pensions(expected)
        self.skipped = {e.key for e in self.chosen}

    def _pensions(self, expected: list[schedule.Expectation]) -> list[schedule.Expectation]:
        employee: dict[str, list[schedule.Expectation]] = defaultdict(list)
        for e in expected:
            if (
                e.component is Component.EMPLOYEE_SUPERANNUATION
                and self.recent <= e.covers_from <= self.last
            ):
                employee[e.gmc_number or ""].append(e)
        if not employee:
            return []
        gmc = self.rng.choice(sorted(employee))
        mine = sorted(employee[gmc], key=lambda e: e.covers_from)
        if self.kind == "pension_gap":
            # Deductions stopped three months ago: nothing taken since.
            if len(mine) < 6 or mine[-1].covers_from != self.last:
                return []
            since = add_months(self.last, -3)
            return [
                e
                for e in expected
                if e.gmc_number == gmc and e.is_pension and e.covers_from > since
            ]
        if self.kind == "pension_catch_up":
            return mine[-6:-2] if len(mine) >= 6 else []
        e = mine[-1]
        tiers = [t.value for t in self.book.tiers(date(financial_year(e.covers_from), 4, 1))]
        return [e] if e.rate in tiers and tiers.index(e.rate) > 0 else []

    def apply(self, expected: list[schedule.Expectation]) -> bool:  # noqa: PLR0911
        """Add what the fault adds; False when the practice had nothing it could happen to."""
        built, rng, last, kind, chosen = self.built, self.rng, self.last, self.kind, self.chosen
        if kind in {"missing", "pension_gap"}:
            return bool(chosen)
        if kind == "late" and chosen:
            built.expectation(chosen[0], late_days=14)
            return True
        if kind == "incorrect_amount" and chosen:
            # 70% of last year's achievement where 80% was due (a twelfth of each).
            built.expectation(chosen[0], amount=chosen[0].amount_pence * 7 // 8)
            return True
        if kind == "pension_catch_up" and chosen:
            built.add(
                Component.EMPLOYEE_SUPERANNUATION, "SUPEREE",
                sum(e.amount_pence for e in chosen), covers_from=chosen[0].covers_from,
                covers_to=chosen[-1].covers_to,
                paid_on=synthetic.run_day(month_end(chosen[-1].covers_from)),
                gmc_number=chosen[0].gmc_number,
            )  # fmt: skip
            return True
        if kind == "wrong_tier" and chosen:
            e = chosen[0]
            tiers = [t.value for t in self.book.tiers(date(financial_year(e.covers_from), 4, 1))]
            lower = tiers[tiers.index(e.rate) - 1] if e.rate in tiers else None
            if lower is None or not e.pensionable_pence:
                return False
            built.add(
                Component.EMPLOYEE_SUPERANNUATION, "SUPEREE",
                -round(Decimal(e.pensionable_pence) * lower / 100 / 12),
                covers_from=e.covers_from, covers_to=e.covers_to,
                paid_on=synthetic.run_day(month_end(e.covers_from)), gmc_number=e.gmc_number,
            )  # fmt: skip
            return True
        if kind == "duplicate":
            month = rng.choice(months_between(self.recent, add_months(last, -1)))
            for _ in range(2):
                built.add(
                    Component.ENHANCED_SERVICE, "ESFLU", 184_250, covers_from=month,
                    covers_to=month_end(month),
                    paid_on=synthetic.cqrs_day(add_months(month, 1)),
                    description="Seasonal flu immunisations: catch-up",
                )  # fmt: skip
            return True
        if kind == "stuck":
            month = rng.choice(months_between(self.recent, add_months(last, -1)))
            built.add(
                Component.PREMISES, "PREMRATES", 1_842_000, covers_from=month,
                covers_to=month_end(month), paid_on=synthetic.run_day(month_end(month)),
                description="Premises: business rates revaluation", status=ChainStatus.AUTHORISED,
            )  # fmt: skip
            return True
        if kind == "stuck_declaration":
            return any(
                d.state is DeclarationState.AWAITING_PROVIDER_APPROVAL
                and self.made.span.as_of > date(d.financial_year + 1, 5, 31)
                for d in self.made.facts.declarations
            )
        if kind == "leaver_superannuation":
            return self._leaver(expected)
        return False

    def _leaver(self, expected: list[schedule.Expectation]) -> bool:
        """Superannuation still taken for two months after a GP left."""
        for m in self.made.facts.memberships:
            end = m.end_date
            if end is None or add_months(end.replace(day=1), 2) > self.last:
                continue
            taken = [
                e for e in expected
                if e.gmc_number == m.gmc_number
                and e.component is Component.EMPLOYEE_SUPERANNUATION
                and e.covers_from == end.replace(day=1)
            ]  # fmt: skip
            if not taken:
                continue
            for months in (1, 2):
                month = add_months(end.replace(day=1), months)
                self.built.add(
                    Component.EMPLOYEE_SUPERANNUATION, "SUPEREE", taken[0].amount_pence,
                    covers_from=month, covers_to=month_end(month),
                    paid_on=synthetic.run_day(month_end(month)), gmc_number=m.gmc_number,
                )  # fmt: skip
            return True
        return False


async def load_reference(connection: asyncpg.Connection[Any], nation: Nation) -> None:
    """The directory copies (with each practice's contract facts) and the rates: the global
    sum for the years the migrations have no figure for, and most LMCs' levies."""
    rng = random.Random(f"{nation.seed}:payments-rates")
    await connection.copy_records_to_table(
        "practice_directory",
        records=[
            (p.ods_code, p.name, p.lmc_code, p.list_size, p.status, p.contract_type,
             p.dispensing, p.training_practice, p.out_of_hours_opt_out, p.icb_code)
            for p in nation.practices
        ],
        columns=["ods_code", "name", "lmc_code", "list_size", "status", "contract_type",
                 "dispensing", "training_practice", "out_of_hours_opt_out", "icb_code"],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "performer_membership",
        records=[
            (m.id, m.gmc_number, m.ods_code, m.role, m.start_date, m.end_date)
            for m in nation.memberships
        ],
        columns=["membership_id", "gmc_number", "ods_code", "role", "start_date", "end_date"],
    )
    rates: list[tuple[Any, ...]] = [
        ("global_sum", "", date(year, 4, 1), Decimal(pence), f"{SOURCE}: illustrative global sum")
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
    active = [p for p in nation.practices if p.status == "active"]
    posts: dict[str, list[MembershipSpec]] = {}
    for p in active:
        for m in members[p.ods_code]:
            posts.setdefault(m.gmc_number, []).append(m)
    return [
        PracticeTask(p.index, p.ods_code, p.list_size, p.lmc_code, p.contract_type, p.icb_code,
                     p.dispensing, p.training_practice, p.out_of_hours_opt_out,
                     tuple(members[p.ods_code]),
                     tuple(o for m in members[p.ods_code] for o in posts[m.gmc_number]
                           if o.ods_code != p.ods_code))
        for p in active
    ]  # fmt: skip


async def rate_book_rows(connection: asyncpg.Connection[Any]) -> BookRows:
    """The rates, deadlines, timings and commissioners as plain rows, for the workers."""
    rates = tuple(
        (r["kind"], r["scope"], r["effective_from"], r["band_from_pence"], r["band_to_pence"],
         r["value"], r["source"], r["decided_on"], r["settle_by"])
        for r in await connection.fetch(
            "SELECT kind, scope, effective_from, band_from_pence, band_to_pence, value::text "
            "AS value, source, decided_on, settle_by FROM rate ORDER BY id"
        )
    )  # fmt: skip
    deadlines = tuple(
        (r["kind"], r["from_year"], r["month"], r["day"], r["year_offset"], r["source"])
        for r in await connection.fetch("SELECT * FROM deadline_rule ORDER BY kind, from_year")
    )
    timings = tuple(
        (r["kind"], r["effective_from"], r["days"], r["source"])
        for r in await connection.fetch("SELECT * FROM timing_rule ORDER BY kind, effective_from")
    )
    commissioners = tuple(
        (r["component"], r["paycode"], r["effective_from"], r["commissioner"], r["route"],
         r["source"])
        for r in await connection.fetch(
            "SELECT * FROM commissioner_rule ORDER BY component, paycode, effective_from"
        )
    )  # fmt: skip
    return BookRows(rates, deadlines, timings, commissioners)


async def load_statements(
    connection: asyncpg.Connection[Any], nation: Nation, *, workers: int
) -> Chunk:
    """Every practice's inputs, statements and lines, made in ``workers`` processes and copied
    in chunk order; returns the faults planted and the totals per month (no rows)."""
    span = window(nation)
    rows = await rate_book_rows(connection)
    tasks = practice_tasks(nation)
    share = FAULT_SHARE.get(nation.size.name, 0.05)
    summary = Chunk()
    totals: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    with pool_of(workers) as pool:
        pending = [
            pool(make_chunk, span, rows, tasks[i : i + CHUNK], share)
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
    tables = (
        ("practice_list_size", chunk.list_sizes,
         ["ods_code", "quarter_start", "registered_patients", "weighted_patients", "source"]),
        ("contract_value", chunk.contract_values,
         ["ods_code", "effective_from", "decided_on", "contract_type", "annual_pence", "source"]),
        ("qof_declaration", chunk.declarations,
         ["ods_code", "financial_year", "achievement_pence", "state", "declared_on",
          "approved_on", "retired_pence"]),
        ("trainee_placement", chunk.placements,
         ["ods_code", "gmc_number", "starts_on", "ends_on", "monthly_pence"]),
        ("pension_estimate", chunk.estimates,
         ["gmc_number", "ods_code", "financial_year", "pensionable_pay_pence", "submitted_on",
          "declared_tier"]),
        ("practice_claim", chunk.claims,
         ["ods_code", "reference", "component", "paycode", "description", "covers_from",
          "covers_to", "amount_pence", "claimed_on", "approved_on", "state"]),
        ("statement", chunk.statements,
         ["id", "ods_code", "period", "payment_date", "source_system"]),
        ("statement_line", chunk.lines, LINE_COLUMNS),
    )  # fmt: skip
    for table, records, columns in tables:
        if records:
            await connection.copy_records_to_table(table, records=records, columns=columns)


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
             opened.date(), f"manager@{row['ods_code'].lower()}", resolved,
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
                 "raised_on", "opened_by", "resolved_at", "outcome"],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "dispute_event",
        records=events,
        columns=["dispute_id", "kind", "occurred_on", "note", "recorded_at", "recorded_by"],
    )
    await continue_ids(connection, "dispute")
    return result
