"""Deterministic demo payments for the demo directory, showing every kind of anomaly.

Statements are built from the expected schedule itself (so everything reconciles), then a few
things are made to go wrong, as they did for real practices:

- A81001 (Kernow): its 2020/21 QOF achievement, approved in May 2021, was never paid (the
  2021 story, with a dispute and its timeline); its March 2026 global sum came two weeks late;
  an enhanced service paid twice; an aspiration worked out at 60% instead of 70%; one GP's
  superannuation missed for three months then taken at once, another's missing since
  September, a third's taken at the wrong tier; a Type 1 certificate overdue that blocks the
  next year; and a locum form past the 10-week rule.
- The next Kernow practice was paid its 2020/21 QOF achievement a month late; the one after
  that on 30 June 2021, in the extra run, on time, and had its LMC levy deducted twice.
- D88199: superannuation still taken after a salaried GP left in November 2025.

Every other practice gets a clean year of statements from November 2025.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime
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
    Component,
    DeclarationState,
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    LocumForm,
    LocumPensionForm,
    Paymaster,
    PensionCertificate,
    PensionEstimate,
    PerformerMembership,
    PracticeDirectory,
    QofDeclaration,
    Rate,
    RateKind,
    Statement,
    TraineePlacement,
)
from payments.rates import add_months, month_end, percent_of
from payments.schedule import facts
from payments.schedule import rules as schedule
from payments.settings import PaymentsSettings
from payments.statements import ingest
from payments.statements import service as statements_service

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SEED = 5
FIRST_PERIOD = date(2025, 11, 1)
LAST_PERIOD = date(2026, 10, 1)
HISTORY_FROM = date(2020, 4, 1)
"""The story practices' statements go back to 2020/21."""
PCSE_ONLINE_FROM = date(2021, 6, 1)
STORY = "A81001"
LEAVER_PRACTICE = "D88199"
DEMO_RUN = "demo-history"
LEAVER_YEAR = 2025
ICB, NHSE = Paymaster.ICB, Paymaster.NHS_ENGLAND
DEMO_ACTOR = "demo-loader"

# Illustrative figures: the global sum per patient, and the levies of the demo LMCs
# (pence per patient a year, statutory and voluntary).
GLOBAL_SUM_PENCE = 11_207
LMC_LEVY_PENCE = {"kernow": (45, 6), "essex": (42, 6), "humberside": (55, 1), "llr": (42, 6)}


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _rates() -> list[dict[str, Any]]:
    since = date(2020, 4, 1)
    rows: list[dict[str, Any]] = [
        {"kind": RateKind.GLOBAL_SUM, "scope": "", "effective_from": since,
         "value": Decimal(GLOBAL_SUM_PENCE), "source": "Demo: global sum per patient"},
    ]  # fmt: skip
    for lmc, (statutory, voluntary) in LMC_LEVY_PENCE.items():
        for kind, value in (
            (RateKind.LMC_STATUTORY, statutory),
            (RateKind.LMC_VOLUNTARY, voluntary),
        ):
            rows.append(
                {"kind": kind, "scope": lmc, "effective_from": since, "value": Decimal(value),
                 "source": f"Demo: {lmc} levy, as the LMC asked PCSE to deduct"}
            )  # fmt: skip
    return rows


class _Builder:
    """Turns expectations into lines, and records what must go wrong."""

    def __init__(self) -> None:
        self.lines: list[ingest.ParsedLine] = []

    def add(
        self,
        code: str,
        component: Component,
        amount: int,
        *,
        period: date,
        covers_from: date,
        covers_to: date,
        paid_on: date,
        gmc_number: str | None = None,
        paycode: str | None = None,
        description: str | None = None,
        paymaster: Paymaster = Paymaster.NHS_ENGLAND,
        authoriser: str | None = "NHS England",
    ) -> None:
        self.lines.append(
            ingest.ParsedLine(
                ods_code=code,
                period=period,
                component=component,
                paycode=paycode or schedule.PAYCODES.get(component, "OTHER"),
                description=description or component.value.replace("_", " ").capitalize(),
                amount_pence=amount,
                covers_from=covers_from,
                covers_to=covers_to,
                paymaster=paymaster,
                source_system="PCSE Online" if period >= PCSE_ONLINE_FROM else "NHAIS",
                authoriser=authoriser,
                status=ChainStatus.PAID,
                dates=(covers_from, paid_on, paid_on, None, None),
                gmc_number=gmc_number,
            )
        )

    def from_expectation(self, e: schedule.Expectation, *, paid_on: date | None = None) -> None:
        period = e.due_on.replace(day=1)
        self.add(
            e.ods_code,
            e.component,
            e.amount_pence,
            period=period,
            covers_from=e.covers_from,
            covers_to=e.covers_to,
            paid_on=paid_on or e.due_on,
            gmc_number=e.gmc_number,
        )


def _skip(code: str, e: schedule.Expectation, kernow: list[str]) -> bool:  # noqa: PLR0911
    """Expectations the demo leaves unpaid or pays some other way, to show a problem."""
    month = e.covers_from
    if code == STORY:
        if e.component is Component.QOF_ACHIEVEMENT and e.covers_from.year == 2020:  # noqa: PLR2004
            return True  # missing: the 2021 story
        if e.component is Component.GLOBAL_SUM and month == date(2026, 3, 1):
            return True  # paid late, below
        if e.component is Component.QOF_ASPIRATION and month == date(2026, 1, 1):
            return True  # paid at the wrong share, below
        if e.gmc_number == "9071747" and month in {date(2026, m, 1) for m in (6, 7, 8, 9)}:
            return e.component is Component.EMPLOYEE_SUPERANNUATION  # caught up in September
        if e.gmc_number == "9177420" and month >= date(2026, 9, 1):
            return e.is_pension  # deductions stopped: a gap
        if e.gmc_number == "1774373" and e.component is Component.EMPLOYEE_SUPERANNUATION:
            return month >= date(2026, 4, 1)  # taken at the wrong tier, below
    if code in kernow[1:3]:
        return e.component is Component.QOF_ACHIEVEMENT and e.covers_from.year == 2020  # noqa: PLR2004
    return False


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    directory = json.loads(PaymentsSettings().demo_directory.read_text())
    rng = random.Random(SEED)
    async with sessionmaker.begin() as session:
        if await session.scalar(select(exists().select_from(Statement))):
            return False
        await session.execute(insert(Rate), _rates())
        practices = directory["practices"]
        await session.execute(
            insert(PracticeDirectory),
            [
                {"ods_code": p["odsCode"], "name": p["name"], "lmc_code": p["lmcCode"],
                 "list_size": p["listSize"], "status": p["status"]}
                for p in practices
            ],
        )  # fmt: skip
        await session.execute(
            insert(PerformerMembership),
            [
                {"gmc_number": m["gmcNumber"], "ods_code": m["odsCode"], "role": m["role"],
                 "start_date": _day(m["startDate"]), "end_date": _day(m["endDate"])}
                for m in directory["memberships"]
            ],
        )  # fmt: skip
        kernow = sorted(p["odsCode"] for p in practices if p["lmcCode"] == "kernow")
        story = {STORY, *kernow[1:3]}
        await _inputs(session, practices, directory["memberships"], story, rng)
        builder = _Builder()
        await _statements(
            session, practices=practices, story=story, kernow=kernow, builder=builder, rng=rng
        )
        parsed = ingest.ParsedRun(lines=builder.lines, digest="demo")
        await statements_service.load_run(
            session, run_id=DEMO_RUN, parsed=parsed, imported_by=DEMO_ACTOR
        )
        await detection_service.sync_anomalies(
            session, [p["odsCode"] for p in practices], today=dates.today()
        )
        await _disputes(session)
    return True


async def _inputs(
    session: AsyncSession,
    practices: list[dict[str, Any]],
    memberships: list[dict[str, Any]],
    story: set[str],
    rng: random.Random,
) -> None:
    """Declarations, estimates, a placement, certificates and locum forms."""
    declarations = []
    for practice in practices:
        code = practice["odsCode"]
        first = 2019 if code in story else 2024
        for year in range(first, 2026):
            declarations.append(
                {"ods_code": code, "financial_year": year,
                 "achievement_pence": rng.randint(90_000, 240_000) * 100,
                 "state": DeclarationState.APPROVED if year == 2025 or (code, year) == (STORY, 2020)  # noqa: PLR2004
                 else DeclarationState.PAID,
                 "declared_on": date(year + 1, 4, 20), "approved_on": date(year + 1, 5, 14)}
            )  # fmt: skip
    await session.execute(insert(QofDeclaration), declarations)
    estimates = []
    for m in memberships:
        start, end = _day(m["startDate"]), _day(m["endDate"])
        for year in (2025, 2026):
            if start is None or start > date(year + 1, 3, 31) or (end and end < date(year, 4, 1)):
                continue
            pay = {"partner": 95_000, "salaried": 62_000}.get(m["role"], 38_000)
            estimates.append(
                {"gmc_number": m["gmcNumber"], "ods_code": m["odsCode"], "financial_year": year,
                 "pensionable_pay_pence": (pay + rng.randint(-9_000, 9_000)) * 100,
                 "submitted_on": date(year, 2, 20)}
            )  # fmt: skip
    await session.execute(insert(PensionEstimate), estimates)
    await session.execute(
        insert(TraineePlacement).values(
            ods_code=STORY, gmc_number="7310446", starts_on=date(2026, 2, 4),
            ends_on=date(2027, 2, 3), monthly_pence=412_350,
        )
    )  # fmt: skip
    await session.execute(
        insert(PensionCertificate),
        [
            {"gmc_number": "9071747", "financial_year": 2022, "ods_code": STORY,
             "certificate_type": CertificateType.TYPE_1, "submitted_on": date(2024, 1, 30),
             "processed_on": date(2024, 4, 2)},
            {"gmc_number": "9071747", "financial_year": 2024, "ods_code": STORY,
             "certificate_type": CertificateType.TYPE_1, "submitted_on": date(2026, 2, 10),
             "processed_on": None},
        ],
    )  # fmt: skip
    await session.execute(
        insert(LocumPensionForm),
        [
            {"gmc_number": "6120457", "ods_code": STORY, "form": LocumForm.A,
             "work_from": date(2026, 6, 2), "work_to": date(2026, 6, 26),
             "submitted_on": date(2026, 7, 3), "bacs_reference": "41234567LOCJUN2026",
             "pensionable_pence": 640_000},
            {"gmc_number": "6120457", "ods_code": STORY, "form": LocumForm.A,
             "work_from": date(2026, 7, 6), "work_to": date(2026, 7, 31),
             "submitted_on": date(2026, 9, 21), "bacs_reference": "41234567LOCJUN2026",
             "pensionable_pence": 720_000},
        ],
    )  # fmt: skip


async def _statements(
    session: AsyncSession,
    *,
    practices: list[dict[str, Any]],
    story: set[str],
    kernow: list[str],
    builder: _Builder,
    rng: random.Random,
) -> None:
    codes = [p["odsCode"] for p in practices]
    starts = {code: HISTORY_FROM if code in story else FIRST_PERIOD for code in codes}
    snapshot = await facts.snapshot(session, codes, with_lines=False)
    until = month_end(LAST_PERIOD)
    for code in codes:
        known = snapshot.facts[code]
        plan = replace(known, schedule_start=starts[code])
        for e in schedule.expected(plan, snapshot.book, until=until):
            if e.due_on > until or _skip(code, e, kernow):
                continue
            builder.from_expectation(e)
        for month in _months(starts[code]):
            # Lines with no schedule: rent, an enhanced service, drugs.
            for component, paycode, low, high in (
                (Component.PREMISES, "PREMRENT", 150_000, 600_000),
                (Component.ENHANCED_SERVICE, "ESCHILD", 50_000, 300_000),
                (Component.DRUGS, "DRUGS", 20_000, 900_000),
            ):
                builder.add(
                    code, component, rng.randint(low, high), period=month, covers_from=month,
                    covers_to=month_end(month), paid_on=month_end(month), paycode=paycode,
                    paymaster=ICB if component is Component.PREMISES else NHSE,
                    authoriser="ICB" if component is Component.PREMISES else "NHS England",
                )  # fmt: skip
    _problems(snapshot, kernow, builder, until=until)


def _months(first: date) -> list[date]:
    months, current = [], first
    while current <= LAST_PERIOD:
        months.append(current)
        current = add_months(current, 1)
    return months


def _problems(
    snapshot: facts.Snapshot, kernow: list[str], builder: _Builder, *, until: date
) -> None:
    """The lines that go wrong, beside the ones the schedule produced."""
    plan = replace(snapshot.facts[STORY], schedule_start=HISTORY_FROM)
    story = {
        (e.component, e.covers_from, e.gmc_number): e
        for e in schedule.expected(plan, snapshot.book, until=until)
    }
    # Late: March's global sum paid on 14 April.
    builder.from_expectation(
        story[(Component.GLOBAL_SUM, date(2026, 3, 1), None)], paid_on=date(2026, 4, 14)
    )
    # Incorrect: January's aspiration at 60% of last year's achievement, not 70%.
    aspiration = story[(Component.QOF_ASPIRATION, date(2026, 1, 1), None)]
    builder.add(
        STORY, Component.QOF_ASPIRATION, aspiration.amount_pence * 6 // 7, period=date(2026, 1, 1),
        covers_from=date(2026, 1, 1), covers_to=date(2026, 1, 31), paid_on=date(2026, 1, 31),
    )  # fmt: skip
    # Duplicate: February's flu immunisations paid twice.
    builder.add(
        STORY, Component.ENHANCED_SERVICE, 184_250, period=date(2026, 2, 1), paycode="ESFLU",
        covers_from=date(2026, 2, 1), covers_to=date(2026, 2, 28), paid_on=date(2026, 2, 27),
    )  # fmt: skip
    builder.add(
        STORY, Component.ENHANCED_SERVICE, 184_250, period=date(2026, 2, 1), paycode="ESFLU",
        covers_from=date(2026, 2, 1), covers_to=date(2026, 2, 28), paid_on=date(2026, 2, 27),
    )  # fmt: skip
    # Catch-up: four months of one GP's superannuation taken at once in September.
    june = story[(Component.EMPLOYEE_SUPERANNUATION, date(2026, 6, 1), "9071747")]
    builder.add(
        STORY, Component.EMPLOYEE_SUPERANNUATION, june.amount_pence * 4, period=date(2026, 9, 1),
        covers_from=date(2026, 6, 1), covers_to=date(2026, 9, 30), paid_on=date(2026, 9, 30),
        gmc_number="9071747",
    )  # fmt: skip
    # Wrong tier: a salaried GP deducted at the tier below the estimate's.
    for month in _months(date(2026, 4, 1)):
        e = story[(Component.EMPLOYEE_SUPERANNUATION, month, "1774373")]
        tiers = [t.value for t in snapshot.book.tiers(date(2026, 4, 1))]
        lower = tiers[max(tiers.index(e.rate) - 1, 0)] if e.rate in tiers else tiers[0]
        builder.add(
            STORY, Component.EMPLOYEE_SUPERANNUATION,
            -percent_of(e.pensionable_pence or 0, lower), period=month, covers_from=month,
            covers_to=month_end(month), paid_on=month_end(month), gmc_number="1774373",
        )  # fmt: skip
    # The 2021 story elsewhere: paid a month late, and paid on time in the 30 June extra run.
    for code, paid in ((kernow[1], date(2021, 7, 30)), (kernow[2], date(2021, 6, 30))):
        plan = replace(snapshot.facts[code], schedule_start=HISTORY_FROM)
        qof = next(
            e for e in schedule.expected(plan, snapshot.book, until=until)
            if e.component is Component.QOF_ACHIEVEMENT and e.covers_from.year == 2020  # noqa: PLR2004
        )  # fmt: skip
        builder.add(
            code, Component.QOF_ACHIEVEMENT, qof.amount_pence, period=paid.replace(day=1),
            covers_from=qof.covers_from, covers_to=qof.covers_to, paid_on=paid, paycode="QOFACH",
        )  # fmt: skip
    # A deduction taken twice: the LMC statutory levy for May 2026.
    third = replace(snapshot.facts[kernow[2]], schedule_start=HISTORY_FROM)
    levy = next(
        e for e in schedule.expected(third, snapshot.book, until=until)
        if e.component is Component.LMC_STATUTORY_LEVY and e.covers_from == date(2026, 5, 1)
    )  # fmt: skip
    builder.from_expectation(levy)
    # A leaver's superannuation: still taken after 25 November 2025.
    leaver = snapshot.facts[LEAVER_PRACTICE]
    pay = next(
        e for e in leaver.estimates if e.gmc_number == "8534438" and e.financial_year == LEAVER_YEAR
    )
    tier = snapshot.book.tier(pay.pensionable_pay_pence, date(2025, 4, 1))
    monthly = pay.pensionable_pay_pence // 12
    for month in (date(2025, 12, 1), date(2026, 1, 1)):
        builder.add(
            LEAVER_PRACTICE, Component.EMPLOYEE_SUPERANNUATION,
            -percent_of(monthly, tier.value if tier else Decimal("9.8")), period=month,
            covers_from=month, covers_to=month_end(month), paid_on=month_end(month),
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
        subject="QOF achievement 2020/21 not paid by 30 June 2021",
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
