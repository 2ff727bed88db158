"""Deterministic demo payments for the demo directory, showing every kind of anomaly.

Every practice gets the last twelve months of statements, as PCSE issues them, from its facts:
its contract (GMS, PMS or APMS, from the directory), quarterly lists, QOF declarations, pension
estimates with their declared tiers, placements and claims (``payments.statements.synthetic``
writes the lines). Then a few things go wrong, as they did for real practices; the months are
counted back from the last one paid, so the stories stay in view whenever the demo is loaded:

- A81001 (Kernow): its 2020/21 QOF achievement, approved in May 2021, was never paid (the 2021
  story, with a dispute and its timeline); one month's contract payment came two weeks late;
  a flu claim paid twice; an aspiration paid at 70% instead of 80%; one GP's contributions
  missed for three months then taken at once, another's stopped two months ago, a third's taken
  at the tier below the one declared; a Type 1 certificate overdue that blocks the next year;
  a locum form past the 10-week rule.
- The next Kernow practice was paid its 2020/21 QOF achievement a month late; the one after that
  on 30 June 2021, in the extra run, on time, and had a month's LMC levy deducted twice.
- D88199: superannuation still taken after a salaried GP left in November 2025.
- An Essex practice's rent authorised and never entered; a Humberside practice's last QOF
  declaration never signed off in CQRS; an LLR practice's immunisation claim approved and
  never paid. Two things that look wrong and are not, shown as notes: a suspended GP's
  contributions, and an Essex salaried GP deducted at the top tier their estimate declares.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pcse_kit import dates
from sqlalchemy import exists, insert, select

from payments.detection import service as detection_service
from payments.models import (
    Anomaly,
    AnomalyKind,
    CertificateType,
    ChainStatus,
    ClaimState,
    Component,
    ContractValue,
    DeclarationState,
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    LocumForm,
    LocumPensionForm,
    PensionCertificate,
    PensionEstimate,
    PerformerMembership,
    PerformerStatusChange,
    PracticeClaim,
    PracticeDirectory,
    PracticeListSize,
    QofDeclaration,
    Rate,
    RateKind,
    Statement,
    TraineePlacement,
)
from payments.rates import (
    add_months,
    financial_year,
    month_end,
    month_start,
    months_between,
)
from payments.schedule import facts
from payments.schedule import rules as schedule
from payments.settings import PaymentsSettings
from payments.statements import ingest, synthetic
from payments.statements import service as statements_service

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from payments.rates import RateBook

SEED = 5
HISTORY_FROM = date(2020, 4, 1)
"""The story practices' statements go back to 2020/21."""
STORY = "A81001"
LEAVER_PRACTICE = "D88199"
DEMO_RUN = "demo-history"
DEMO_ACTOR = "demo-loader"
LMC_LEVY_PENCE = {"kernow": (45, 6), "essex": (42, 6), "humberside": (55, 1), "llr": (42, 6)}
"""Illustrative levies of the demo LMCs (pence per patient a year, statutory and voluntary)."""
QUARTERLY_LEVIES = "humberside"
ILLUSTRATIVE_GLOBAL_SUM = {2020: 9_346, 2021: 9_678}
"""Pence per weighted patient for the two years the migrations have no sourced figure for, so
the story practices' history has one (illustrative, and labelled so)."""
CONTRACT_PER_WEIGHTED = {"PMS": Decimal(128), "APMS": Decimal(131)}
"""Illustrative PMS baseline and APMS contract price, pounds a weighted patient a year."""


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def window(today: date) -> tuple[date, date]:
    """The first and last months paid: the twelve months before today's."""
    last = add_months(month_start(today), -1)
    return add_months(last, -11), last


def _rates() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"kind": RateKind.GLOBAL_SUM, "scope": "", "effective_from": date(year, 4, 1),
         "value": Decimal(pence), "source": "Demo: illustrative global sum"}
        for year, pence in ILLUSTRATIVE_GLOBAL_SUM.items()
    ]  # fmt: skip
    for lmc, (statutory, voluntary) in LMC_LEVY_PENCE.items():
        for kind, value in (
            (RateKind.LMC_STATUTORY, statutory),
            (RateKind.LMC_VOLUNTARY, voluntary),
        ):
            rows.append(
                {"kind": kind, "scope": lmc, "effective_from": HISTORY_FROM,
                 "value": Decimal(value), "source": f"Demo: {lmc} levy, as the LMC asked PCSE"}
            )  # fmt: skip
    return rows


class _Plan:
    """The demo's facts, worked out once from the directory and a seeded generator."""

    def __init__(self, directory: dict[str, Any], today: date) -> None:
        self.rng = random.Random(SEED)
        self.today = today
        self.first, self.last = window(today)
        self.practices = directory["practices"]
        self.memberships = directory["memberships"]
        self.performers = {p["gmcNumber"]: p for p in directory["performers"]}
        self.kernow = sorted(p["odsCode"] for p in self.practices if p["lmcCode"] == "kernow")
        self.story = {STORY, *self.kernow[1:3]}
        self.trainers = {m["odsCode"] for m in self.memberships if m["role"] == "registrar"}
        self.top_tier = next(
            m["gmcNumber"]
            for m in sorted(self.memberships, key=lambda m: (m["odsCode"], m["gmcNumber"]))
            if m["role"] == "salaried" and m["odsCode"] in self.area("essex") and not m["endDate"]
        )
        """A salaried GP whose work elsewhere puts them on the top tier: a note, no problem."""

    def start(self, code: str) -> date:
        return HISTORY_FROM if code in self.story else self.first

    def area(self, lmc: str) -> list[str]:
        return sorted(p["odsCode"] for p in self.practices if p["lmcCode"] == lmc)


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    directory = json.loads(PaymentsSettings().demo_directory.read_text())
    today = dates.today()
    plan = _Plan(directory, today)
    async with sessionmaker.begin() as session:
        if await session.scalar(select(exists().select_from(Statement))):
            return False
        await session.execute(insert(Rate), _rates())
        await _directory(session, plan)
        await _inputs(session, plan)
        lines = await _statements(session, plan)
        parsed = ingest.ParsedRun(lines=lines, digest="demo")
        await statements_service.load_run(
            session, run_id=DEMO_RUN, parsed=parsed, imported_by=DEMO_ACTOR, publish=False
        )
        await detection_service.sync_anomalies(
            session, [p["odsCode"] for p in plan.practices], today=today
        )
        await _disputes(session)
    return True


async def _directory(session: AsyncSession, plan: _Plan) -> None:
    """This service's copy of the directory, as the performers stream would bring it: contract
    facts, quarterly lists, memberships, and one suspension."""
    rows = []
    sizes = []
    for practice in plan.practices:
        code, contract = practice["odsCode"], practice["contractType"]
        rows.append(
            {"ods_code": code, "name": practice["name"], "lmc_code": practice["lmcCode"],
             "list_size": practice["listSize"], "status": practice["status"],
             "contract_type": contract, "icb_code": practice["icbCode"],
             # As the performers stream brings them, so its events change nothing here.
             "training_practice": practice.get("trainingPractice"),
             "dispensing": practice.get("dispensing"),
             "out_of_hours_opt_out": practice.get("outOfHoursOptOut")}
        )  # fmt: skip
        weighting = Decimal(plan.rng.randint(92, 112)) / 100
        quarters = months_between(add_months(plan.start(code), -15), month_end(plan.today))
        registered = int(practice["listSize"] * 0.97)
        for quarter in quarters:
            if quarter.month not in {1, 4, 7, 10}:
                continue
            registered += plan.rng.randint(-20, 60)
            sizes.append(
                {"ods_code": code, "quarter_start": quarter, "registered_patients": registered,
                 "weighted_patients": (registered * weighting).quantize(Decimal("0.01")),
                 "source": "Demo: quarterly list"}
            )  # fmt: skip
    await session.execute(insert(PracticeDirectory), rows)
    await session.execute(insert(PracticeListSize), sizes)
    await session.execute(
        insert(PerformerMembership),
        [
            {"gmc_number": m["gmcNumber"], "ods_code": m["odsCode"], "role": m["role"],
             "start_date": _day(m["startDate"]), "end_date": _day(m["endDate"])}
            for m in plan.memberships
        ],
    )  # fmt: skip
    suspended = next(
        m["gmcNumber"]
        for m in plan.memberships
        if plan.performers[m["gmcNumber"]]["status"] == "suspended" and m["role"] == "partner"
    )
    session.add(
        PerformerStatusChange(
            gmc_number=suspended, effective_date=add_months(plan.last, -3), from_status="included",
            to_status="suspended", decision="Performers List Decision Panel (reg 12)",
        )
    )  # fmt: skip


async def _inputs(session: AsyncSession, plan: _Plan) -> None:
    """Contract values, declarations, estimates, placements, claims, certificates, forms."""
    book = await facts.rate_book(session)
    lists = {
        (row.ods_code, row.quarter_start): row
        for row in await session.scalars(select(PracticeListSize))
    }
    values: list[ContractValue] = []
    declarations: list[QofDeclaration] = []
    placements: list[TraineePlacement] = []
    claims: list[PracticeClaim] = []
    for practice in plan.practices:
        code, contract = practice["odsCode"], practice["contractType"]
        start = plan.start(code)
        if contract in CONTRACT_PER_WEIGHTED:
            quarter = lists[(code, date(start.year, (start.month - 1) // 3 * 3 + 1, 1))]
            annual = int((quarter.weighted_patients or 0) * CONTRACT_PER_WEIGHTED[contract]) * 100
            values.append(
                ContractValue(ods_code=code, effective_from=start, contract_type=contract,
                              annual_pence=annual, source=f"Demo: {contract} contract")
            )  # fmt: skip
        declarations += _declarations(plan, code, start)
        if code in plan.trainers:
            registrar = next(
                m["gmcNumber"]
                for m in plan.memberships
                if m["odsCode"] == code and m["role"] == "registrar"
            )
            placements.append(
                TraineePlacement(
                    ods_code=code, gmc_number=registrar, starts_on=plan.first + timedelta(days=5),
                    ends_on=add_months(plan.first, 12) + timedelta(days=4),
                    monthly_pence=695_076,
                )
            )  # fmt: skip
        claims += _claims(plan, code, start)
    estimates = _estimates(plan, book)
    session.add_all([*values, *declarations, *estimates, *placements, *claims])
    session.add_all(
        [
            *(
                PensionCertificate(
                    gmc_number="9071747", financial_year=year, ods_code=STORY,
                    certificate_type=CertificateType.TYPE_1,
                    submitted_on=date(year + 2, 1, 30), processed_on=date(year + 2, 4, 2),
                )
                for year in (2020, 2021, 2022)
            ),
            PensionCertificate(
                gmc_number="9071747", financial_year=2024, ods_code=STORY,
                certificate_type=CertificateType.TYPE_1, submitted_on=date(2026, 2, 10),
                processed_on=None,
            ),
            LocumPensionForm(
                gmc_number="6120457", ods_code=STORY, form=LocumForm.A,
                work_from=add_months(plan.last, -3) + timedelta(days=1),
                work_to=month_end(add_months(plan.last, -3)) - timedelta(days=3),
                submitted_on=month_end(add_months(plan.last, -3)) + timedelta(days=3),
                bacs_reference=f"41234567LOC{add_months(plan.last, -3):%b%Y}".upper(),
                pensionable_pence=640_000,
            ),
            LocumPensionForm(
                gmc_number="6120457", ods_code=STORY, form=LocumForm.B,
                work_from=add_months(plan.last, -2) + timedelta(days=5),
                work_to=month_end(add_months(plan.last, -2)),
                submitted_on=month_end(add_months(plan.last, -2)) + timedelta(days=52),
                bacs_reference="41234567LOCJUN2026",
                pensionable_pence=720_000, income_month=add_months(plan.last, -1),
            ),
        ]
    )  # fmt: skip
    await session.flush()


def _declarations(plan: _Plan, code: str, start: date) -> list[QofDeclaration]:
    """Each year's CQRS declaration: approved in May, paid in June; one never signed off."""
    declarations = []
    years = [
        y
        for y in range(financial_year(start) - 1, financial_year(plan.today))
        if date(y + 1, 5, 14) <= plan.today
    ]
    previous = 0
    for year in years:
        declared: date | None = date(year + 1, 4, 20)
        approved: date | None = date(year + 1, 5, 14)
        achievement = plan.rng.randint(90_000, 240_000) * 100
        if code in plan.story and year == 2020:  # noqa: PLR2004 - the 2021 story
            # Above the year before's, so a balance is owed to the practice in June 2021.
            achievement = max(achievement, int(previous * 1.15))
        previous = achievement
        story = (code, year) == (STORY, 2020)
        paid = date(year + 1, 6, 30) < plan.today and not story
        state = DeclarationState.PAID if paid else DeclarationState.APPROVED
        if (
            code == plan.area("humberside")[0]
            and year == years[-1]
            and (date(year + 1, 5, 31) < plan.today)
        ):
            # Never signed off in CQRS by the practice: stuck, and nothing is due yet.
            state, declared, approved = DeclarationState.AWAITING_PROVIDER_APPROVAL, None, None
        declarations.append(
            QofDeclaration(
                ods_code=code, financial_year=year, achievement_pence=achievement,
                state=state, declared_on=declared, approved_on=approved,
                # 2025/26 retired 32 indicators: about a third of the 2024/25 achievement.
                retired_pence=achievement // 3 if year == 2024 else None,  # noqa: PLR2004
                aspiration_paid_pence=int(achievement * 0.8)
                if date(year, 4, 1) < start
                else None,
            )
        )  # fmt: skip
    return declarations


def _claims(plan: _Plan, code: str, start: date) -> list[PracticeClaim]:
    """A childhood immunisations claim each month, approved in the next month."""
    claims = []
    for month in months_between(start if code in plan.story else plan.first, plan.last):
        doses = plan.rng.randint(40, 80)
        approved = month_end(month) + timedelta(days=9)
        if approved > plan.today:
            continue
        claims.append(
            PracticeClaim(
                ods_code=code, reference=f"ES-CHILD-{month:%Y-%m}",
                component=Component.ENHANCED_SERVICE, paycode="ESCHILD",
                description=f"Childhood immunisations {doses} x £12.06", covers_from=month,
                covers_to=month_end(month), amount_pence=doses * 1206,
                claimed_on=month_end(month) + timedelta(days=4), approved_on=approved,
                state=ClaimState.APPROVED,
            )
        )  # fmt: skip
    return claims


def _estimates(plan: _Plan, book: RateBook) -> list[PensionEstimate]:
    """Each GP's estimate of pensionable pay a year, with the tier the practice declared."""
    estimates = []
    for m in plan.memberships:
        pay = {"partner": 95_000, "salaried": 62_000, "retainer": 30_000}.get(m["role"])
        joined, left = _day(m["startDate"]), _day(m["endDate"])
        if pay is None or joined is None:
            continue
        for year in range(financial_year(plan.start(m["odsCode"])), financial_year(plan.today) + 1):
            if joined > date(year + 1, 3, 31) or (left and left < date(year, 4, 1)):
                continue
            pence = (pay + plan.rng.randint(-9_000, 9_000)) * 100
            if m["gmcNumber"] == plan.top_tier:
                pence = 52_000_00  # paid here on the 10.7% tier
            tier = book.tier(pence, date(year, 4, 1))
            tier_declared = None if tier is None else tier.value
            if m["gmcNumber"] == plan.top_tier and tier is not None:
                # Work elsewhere puts this salaried GP on the top tier: a note, not a problem.
                tier_declared = Decimal("12.5")
            estimates.append(
                PensionEstimate(
                    gmc_number=m["gmcNumber"], ods_code=m["odsCode"], financial_year=year,
                    pensionable_pay_pence=pence, submitted_on=date(year, 2, 20),
                    declared_tier=tier_declared,
                )
            )  # fmt: skip
    return estimates


async def _statements(session: AsyncSession, plan: _Plan) -> list[ingest.ParsedLine]:
    """Each practice's statements: its schedule paid as PCSE pays it, rent beside, and the
    stories' problems."""
    codes = [p["odsCode"] for p in plan.practices]
    snapshot = await facts.snapshot(session, codes, with_lines=False)
    split = {code for code in codes if plan.rng.random() < 0.3}  # noqa: PLR2004
    out: list[ingest.ParsedLine] = []
    for code in codes:
        built = synthetic.Statements(
            code, plan.last, quarterly_levies=code in plan.area(QUARTERLY_LEVIES),
            first=plan.start(code),
        )  # fmt: skip
        known = replace(
            snapshot.facts[code],
            schedule_start=plan.start(code),
            lines=schedule.LineSummary(levy_beside=code in split),
        )
        problems = _Problems(plan, code, built, snapshot.book)
        expected = synthetic.issue(
            built, known, snapshot.book,
            # A quarter's levy is deducted in its first month: the schedule runs to its end.
            until=month_end(add_months(plan.last, 2)), known_on=plan.today,
            skip=problems.skip,
        )  # fmt: skip
        for month in months_between(plan.start(code), plan.last):
            built.add(
                Component.PREMISES, "PREMRENT", plan.rng.randint(150_000, 600_000),
                covers_from=month, covers_to=month_end(month),
                paid_on=synthetic.run_day(month_end(month)), description="Premises: notional rent",
            )  # fmt: skip
        problems.apply(expected)
        out += [_parsed(line) for line in built.lines]
    return out


def _parsed(line: synthetic.Line) -> ingest.ParsedLine:
    authorised = line.paid_on - timedelta(days=14)
    status_dates: tuple[date | None, ...] = (
        (authorised, line.paid_on - timedelta(days=5), line.paid_on, None, None)
        if line.status is ChainStatus.PAID
        else (authorised, None, None, None, None)
    )
    return ingest.ParsedLine(
        ods_code=line.ods_code, period=line.period, component=line.component,
        paycode=line.paycode, description=line.text[:200], amount_pence=line.amount_pence,
        covers_from=line.covers_from, covers_to=line.covers_to, paymaster=line.paymaster,
        source_system="PCSE Online" if line.period >= date(2021, 6, 1) else "NHAIS",
        authoriser=line.authoriser, status=line.status,
        dates=status_dates,  # type: ignore[arg-type]
        gmc_number=line.gmc_number,
        remittance_ref=line.remittance_ref if line.status is ChainStatus.PAID else None,
    )  # fmt: skip


class _Problems:
    """What goes wrong at the story practices, counted back from the last month paid."""

    def __init__(
        self,
        plan: _Plan,
        code: str,
        built: synthetic.Statements,
        book: RateBook,
    ) -> None:
        self.plan, self.code, self.built, self.book = plan, code, built, book
        self.by_key: dict[object, schedule.Expectation] = {}
        last = plan.last
        self.late = add_months(last, -8)
        self.wrong_share = add_months(last, -2)
        self.caught_up = [add_months(last, -n) for n in (5, 4, 3, 2)]
        self.stopped = add_months(last, -1)
        self.tier_from = date(financial_year(last), 4, 1)

    def skip(self, e: schedule.Expectation) -> bool:  # noqa: PLR0911 - one story a branch
        """Whether the story leaves ``e`` unpaid (or pays it otherwise, in :meth:`apply`)."""
        month, plan = e.covers_from, self.plan
        if e.component is Component.QOF_ACHIEVEMENT and e.covers_from.year == 2020:  # noqa: PLR2004
            return self.code in plan.story  # the 2021 story: paid otherwise, below
        if self.code == STORY:
            if e.component is Component.APMS_CONTRACT and month == self.late:
                return True  # paid late, below
            if e.component is Component.QOF_ASPIRATION and month == self.wrong_share:
                return True  # paid at the wrong share, below
            if e.gmc_number == "9071747" and month in self.caught_up:
                return e.component is Component.EMPLOYEE_SUPERANNUATION  # caught up at once
            if e.gmc_number == "9177420" and month >= self.stopped:
                return e.is_pension  # deductions stopped: a gap
            if e.gmc_number == "1774373" and e.component is Component.EMPLOYEE_SUPERANNUATION:
                return month >= self.tier_from  # taken at the tier below, below
        return e.basis is schedule.Basis.CLAIM and e.claim_reference == self._unpaid_claim

    @property
    def _unpaid_claim(self) -> str | None:
        if self.code != self.plan.area("llr")[0]:
            return None
        return f"ES-CHILD-{add_months(self.plan.last, -4):%Y-%m}"

    def apply(self, expected: list[schedule.Expectation]) -> None:
        """The stories' lines, once the schedule is paid."""
        self.by_key = {e.key: e for e in expected}
        balances = [e for e in expected if e.basis is schedule.Basis.BALANCE]
        built, code, plan = self.built, self.code, self.plan
        if code == STORY:
            self._story(built)
        if code in plan.kernow[1:3]:
            for e in balances:
                if e.covers_from.year == 2020:  # noqa: PLR2004 - the 2021 story
                    paid = date(2021, 7, 30) if code == plan.kernow[1] else date(2021, 6, 30)
                    built.expectation(e, late_days=(paid - e.due_on).days)
        if code == plan.kernow[2]:
            # A month's levy deducted twice.
            levy = self.by_key.get(
                (Component.LMC_STATUTORY_LEVY, add_months(plan.last, -6), None, None)
            )
            if levy is not None:
                built.expectation(levy)
        if code == LEAVER_PRACTICE:
            self._leaver(built)
        if code == plan.area("essex")[0]:
            # Rent authorised by the ICB and never entered for payment.
            month = add_months(plan.last, -3)
            built.add(
                Component.PREMISES, "PREMRATES", 1_842_000, covers_from=month,
                covers_to=month_end(month), paid_on=synthetic.run_day(month_end(month)),
                description="Premises: business rates", status=ChainStatus.AUTHORISED,
            )  # fmt: skip

    def _story(self, built: synthetic.Statements) -> None:
        by_key, plan = self.by_key, self.plan
        late = by_key.get((Component.APMS_CONTRACT, self.late, None, None))
        if late is not None:
            built.expectation(late, late_days=14)
        share = by_key.get((Component.QOF_ASPIRATION, self.wrong_share, None, None))
        if share is not None:  # 70% of last year's achievement, not 80%
            built.expectation(share, amount=share.amount_pence * 7 // 8)
        flu = add_months(plan.last, -9)
        for _ in range(2):
            built.add(
                Component.ENHANCED_SERVICE, "ESFLU", 184_250, covers_from=flu,
                covers_to=month_end(flu), paid_on=synthetic.cqrs_day(add_months(flu, 1)),
                description="Seasonal flu immunisations",
            )  # fmt: skip
        months = self.caught_up
        firsts = [
            by_key.get((Component.EMPLOYEE_SUPERANNUATION, m, "9071747", None)) for m in months
        ]
        if all(firsts):
            built.add(
                Component.EMPLOYEE_SUPERANNUATION, "SUPEREE",
                sum(e.amount_pence for e in firsts if e), covers_from=months[0],
                covers_to=month_end(months[-1]), paid_on=synthetic.run_day(month_end(months[-1])),
                gmc_number="9071747",
            )  # fmt: skip
        for month in months_between(self.tier_from, plan.last):
            e = by_key.get((Component.EMPLOYEE_SUPERANNUATION, month, "1774373", None))
            tiers = [t.value for t in self.book.tiers(self.tier_from)]
            if e is None or e.rate not in tiers or not e.pensionable_pence:
                continue
            lower = tiers[max(tiers.index(e.rate) - 1, 0)]
            built.add(
                Component.EMPLOYEE_SUPERANNUATION, "SUPEREE",
                -round(Decimal(e.pensionable_pence) * lower / 100 / 12), covers_from=month,
                covers_to=month_end(month), paid_on=synthetic.run_day(month_end(month)),
                gmc_number="1774373",
            )  # fmt: skip

    def _leaver(self, built: synthetic.Statements) -> None:
        """Contributions still taken for two months after a salaried GP left."""
        left = next(
            _day(m["endDate"]) for m in self.plan.memberships if m["gmcNumber"] == "8534438"
        )
        assert left is not None
        months = [m for m in months_between(self.plan.first, self.plan.last) if m > left][:2]
        for month in months:
            built.add(
                Component.EMPLOYEE_SUPERANNUATION, "SUPEREE", -52_000, covers_from=month,
                covers_to=month_end(month), paid_on=synthetic.run_day(month_end(month)),
                gmc_number="8534438",
            )  # fmt: skip


async def _disputes(session: AsyncSession) -> None:
    """The practice's query about its missing 2020/21 QOF achievement, and its timeline."""
    anomaly = await session.scalar(
        select(Anomaly).where(
            Anomaly.ods_code == STORY,
            Anomaly.kind == AnomalyKind.MISSING,
            Anomaly.component == Component.QOF_ACHIEVEMENT,
        )
    )
    if anomaly is None:
        return
    dispute = Dispute(
        reference="PAY-DEMO2021QOF", ods_code=STORY, anomaly_id=anomaly.id,
        subject="QOF achievement 2020/21 not paid by 30 June 2021", raised_on=date(2021, 7, 5),
        cas_reference="CAS-2107-448120", health_service_body=False,
        opened_at=datetime(2021, 7, 5, 9, 12, tzinfo=UTC), opened_by="manager@a81001",
    )  # fmt: skip
    session.add(dispute)
    await session.flush()
    steps = [
        (DisputeEventKind.OPENED, date(2021, 7, 5), "QOF achievement 2020/21 not paid", []),
        (DisputeEventKind.SENT, date(2021, 7, 5), "Enquiry through PCSE Contact Us",
         [["CQRS declaration", "approved 14 May 2021"],
          ["Statement", "June 2021, no QOFACH line"]]),
        (DisputeEventKind.RECEIPT, date(2021, 7, 6), "PCSE acknowledged the enquiry",
         [["CAS number", "CAS-2107-448120"]]),
        (DisputeEventKind.RESPONSE, date(2021, 8, 20), "PCSE: under investigation with NHSE", []),
    ]  # fmt: skip
    session.add_all(
        DisputeEvent(
            dispute_id=dispute.id, kind=kind, occurred_on=on, note=note, evidence=evidence,
            recorded_by=DEMO_ACTOR,
        )
        for kind, on, note, evidence in steps
    )  # fmt: skip
