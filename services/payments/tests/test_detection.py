"""Each kind of anomaly: a case that must raise it and one that must not; and their history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from payments.detection import service
from payments.models import (
    Anomaly,
    AnomalyKind,
    ChainStatus,
    Component,
    DeclarationState,
    PensionEstimate,
    QofDeclaration,
    RateKind,
)
from pcse_kit.testing import graphql
from sqlalchemy import insert, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

LIST_SIZE = 12_000
GLOBAL_SUM = 11_207 * LIST_SIZE // 12  # 11,207p a patient a year, monthly: exact here
GP = "1234567"
PAY = 6_000_000  # £60,000 a year: the 10.7% tier in 2025/26
MONTHLY_PAY = PAY // 12
EMPLOYEE = -(MONTHLY_PAY * 107 // 1000)  # 10.7% of £5,000


@pytest.fixture
async def practice(make_practice: Any, make_rate: Any) -> str:
    await make_rate(kind=RateKind.GLOBAL_SUM, value=Decimal(11_207))
    return str(await make_practice(list_size=LIST_SIZE))


async def detect(app: FastAPI, today: date, code: str = "A81001") -> list[Anomaly]:
    async with app.state.sessionmaker.begin() as session:
        await service.sync_anomalies(session, [code], today=today)
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(Anomaly).where(Anomaly.resolved_at.is_(None)).order_by(Anomaly.id)
        )
        return list(rows)


def qof(rows: list[Anomaly]) -> list[Anomaly]:
    return [r for r in rows if r.component is Component.QOF_ACHIEVEMENT]


def kinds(rows: list[Anomaly]) -> list[tuple[AnomalyKind, Component, date]]:
    return [(r.kind, r.component, r.covers_from) for r in rows]


JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


@pytest.mark.usefixtures("practice", "client")
async def test_a_month_with_no_global_sum_is_missing(app: FastAPI, make_line: Any) -> None:
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)
    await make_line(period=FEB, component=Component.PREMISES, amount=300_00, paycode="PREMRENT")

    [missing] = await detect(app, today=date(2026, 3, 5))

    assert kinds([missing]) == [(AnomalyKind.MISSING, Component.GLOBAL_SUM, FEB)]
    assert missing.amount_at_stake_pence == GLOBAL_SUM
    assert ["List size", "12,000 registered patients (practice directory)"] in missing.evidence[
        "derivation"
    ]


@pytest.mark.usefixtures("practice", "client")
async def test_a_zero_line_is_missing_too(app: FastAPI, make_line: Any) -> None:
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=0)

    [missing] = await detect(app, today=date(2026, 2, 5))

    assert missing.kind is AnomalyKind.MISSING
    assert "£0.00 line" in missing.summary
    assert len(missing.evidence["lineIds"]) == 1


@pytest.mark.usefixtures("practice", "client")
async def test_paid_every_month_on_time_is_no_anomaly(app: FastAPI, make_line: Any) -> None:
    for month in (JAN, FEB):
        await make_line(period=month, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)
    # March is not due until its last day.
    assert await detect(app, today=date(2026, 3, 20)) == []


@pytest.mark.usefixtures("practice", "client")
async def test_paid_after_the_due_date_is_late(app: FastAPI, make_line: Any) -> None:
    await make_line(period=JAN, component=Component.PREMISES, amount=300_00, paycode="PREMRENT")
    await make_line(
        period=FEB, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM, covers_from=JAN,
        paid_on=date(2026, 2, 10),
    )  # fmt: skip

    [late] = await detect(app, today=date(2026, 2, 20))

    assert kinds([late]) == [(AnomalyKind.LATE, Component.GLOBAL_SUM, JAN)]
    assert ["Days late", "10"] in late.evidence["facts"]


@pytest.mark.usefixtures("practice", "client")
async def test_paid_twice_is_a_duplicate_until_one_is_reversed(
    app: FastAPI, make_line: Any
) -> None:
    for _ in range(2):
        await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)

    [duplicate] = await detect(app, today=date(2026, 2, 5))
    assert duplicate.kind is AnomalyKind.DUPLICATE
    assert duplicate.amount_at_stake_pence == GLOBAL_SUM

    await make_line(
        period=FEB, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM, covers_from=JAN,
        status=ChainStatus.REVERSED,
    )  # fmt: skip
    assert await detect(app, today=date(2026, 2, 5)) == []


@pytest.mark.usefixtures("practice", "client")
async def test_a_deduction_taken_twice_is_a_duplicate_but_two_gps_are_not(
    app: FastAPI, make_line: Any
) -> None:
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)
    for gmc in ("1111111", "2222222"):
        await make_line(
            period=JAN, component=Component.EMPLOYER_SUPERANNUATION, amount=-500_00,
            paycode="SUPERER", gmc_number=gmc,
        )  # fmt: skip
    assert await detect(app, today=date(2026, 2, 5)) == []

    await make_line(
        period=JAN, component=Component.LMC_STATUTORY_LEVY, amount=-450_00, paycode="LMCSTAT"
    )
    await make_line(
        period=JAN, component=Component.LMC_STATUTORY_LEVY, amount=-450_00, paycode="LMCSTAT"
    )
    [duplicate] = await detect(app, today=date(2026, 2, 5))
    assert (duplicate.kind, duplicate.component) == (
        AnomalyKind.DUPLICATE,
        Component.LMC_STATUTORY_LEVY,
    )
    assert duplicate.amount_at_stake_pence == 450_00


@pytest.mark.usefixtures("practice", "client")
async def test_two_registrars_reimbursed_in_one_month_are_not_a_duplicate(
    app: FastAPI, make_line: Any
) -> None:
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)
    for gmc in ("3333333", "4444444"):
        await make_line(
            period=JAN, component=Component.TRAINEE_REIMBURSEMENT, amount=4_123_50,
            paycode="TRAINEE", gmc_number=gmc,
        )  # fmt: skip
    assert await detect(app, today=date(2026, 2, 5)) == []

    await make_line(
        period=JAN, component=Component.TRAINEE_REIMBURSEMENT, amount=4_123_50,
        paycode="TRAINEE", gmc_number="4444444",
    )  # fmt: skip
    [duplicate] = await detect(app, today=date(2026, 2, 5))
    assert (duplicate.kind, duplicate.gmc_number) == (AnomalyKind.DUPLICATE, "4444444")
    assert duplicate.amount_at_stake_pence == 4_123_50


@pytest.mark.parametrize(("variance", "flagged"), [(50_00, True), (-50_00, True), (50, False)])
@pytest.mark.usefixtures("practice", "client")
async def test_an_amount_off_the_expectation_is_incorrect_beyond_rounding(
    app: FastAPI, make_line: Any, variance: int, flagged: bool
) -> None:
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM + variance)

    found = await detect(app, today=date(2026, 2, 5))

    if flagged:
        [incorrect] = found
        assert incorrect.kind is AnomalyKind.INCORRECT_AMOUNT
        assert incorrect.amount_at_stake_pence == abs(variance)
        assert incorrect.evidence["derivation"]
    else:
        assert found == []


@pytest.fixture
async def estimate(app: FastAPI, practice: str, make_membership: Any) -> str:
    await make_membership(gmc_number=GP)
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(PensionEstimate).values(
                gmc_number=GP, ods_code=practice, financial_year=2025,
                pensionable_pay_pence=PAY, submitted_on=date(2025, 2, 20),
            )
        )  # fmt: skip
    return GP


APR, MAY, JUN, JUL = (date(2025, m, 1) for m in (4, 5, 6, 7))


async def deduct(make_line: Any, month: date, amount: int, **extra: Any) -> None:
    await make_line(
        period=month, component=Component.EMPLOYEE_SUPERANNUATION, amount=amount,
        paycode="SUPEREE", gmc_number=GP, **extra,
    )  # fmt: skip


def pension_kinds(rows: list[Anomaly]) -> list[tuple[AnomalyKind, date]]:
    return [
        (r.kind, r.covers_from) for r in rows if r.component is Component.EMPLOYEE_SUPERANNUATION
    ]


@pytest.mark.usefixtures("estimate", "client")
async def test_months_without_the_estimated_deduction_are_a_pension_gap(
    app: FastAPI, make_line: Any
) -> None:
    await deduct(make_line, APR, EMPLOYEE)
    await deduct(make_line, JUN, EMPLOYEE)

    found = await detect(app, today=date(2025, 7, 10))

    assert pension_kinds(found) == [(AnomalyKind.PENSION_GAP, MAY)]


@pytest.mark.usefixtures("estimate", "client")
async def test_deductions_as_estimated_are_no_pension_anomaly(app: FastAPI, make_line: Any) -> None:
    for month in (APR, MAY, JUN):
        await deduct(make_line, month, EMPLOYEE)
    assert pension_kinds(await detect(app, today=date(2025, 7, 10))) == []


@pytest.mark.usefixtures("estimate", "client")
async def test_a_lump_after_a_gap_is_a_catch_up_and_closes_the_gap(
    app: FastAPI, make_line: Any
) -> None:
    await deduct(make_line, APR, EMPLOYEE)
    assert pension_kinds(await detect(app, today=date(2025, 6, 10))) == [
        (AnomalyKind.PENSION_GAP, MAY)
    ]

    await deduct(make_line, JUN, 2 * EMPLOYEE, covers_from=MAY, covers_to=date(2025, 6, 30))
    found = await detect(app, today=date(2025, 7, 10))

    assert pension_kinds(found) == [(AnomalyKind.PENSION_CATCH_UP, MAY)]
    [catch_up] = [a for a in found if a.component is Component.EMPLOYEE_SUPERANNUATION]
    assert ["Months in one deduction", "2"] in catch_up.evidence["facts"]
    async with app.state.sessionmaker() as session:
        gap = await session.scalar(select(Anomaly).where(Anomaly.kind == AnomalyKind.PENSION_GAP))
    assert gap is not None
    assert gap.resolved_at is not None


@pytest.mark.usefixtures("estimate", "client")
async def test_one_month_taken_at_twice_the_estimate_is_a_catch_up(
    app: FastAPI, make_line: Any
) -> None:
    await deduct(make_line, APR, 2 * EMPLOYEE)
    assert pension_kinds(await detect(app, today=date(2025, 5, 10))) == [
        (AnomalyKind.PENSION_CATCH_UP, APR)
    ]


@pytest.mark.parametrize(
    ("amount", "kind"),
    [
        (-(MONTHLY_PAY * 98 // 1000), AnomalyKind.WRONG_TIER),  # 9.8%: the tier below
        (-(MONTHLY_PAY * 125 // 1000), AnomalyKind.WRONG_TIER),  # 12.5%: the top tier
        (EMPLOYEE + 200_00, AnomalyKind.INCORRECT_AMOUNT),  # no tier's rate at all
        (EMPLOYEE, None),
    ],
)
@pytest.mark.usefixtures("estimate", "client")
async def test_a_deduction_at_another_tiers_rate_is_the_wrong_tier(
    app: FastAPI, make_line: Any, amount: int, kind: AnomalyKind | None
) -> None:
    await deduct(make_line, APR, amount)

    found = pension_kinds(await detect(app, today=date(2025, 5, 10)))

    assert found == ([] if kind is None else [(kind, APR)])


@pytest.mark.usefixtures("practice", "client")
async def test_superannuation_after_the_gp_left_is_flagged(
    app: FastAPI, make_line: Any, make_membership: Any
) -> None:
    await make_membership(gmc_number=GP, end=date(2026, 1, 15))
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)
    await make_line(period=FEB, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)
    await deduct(make_line, JAN, -500_00)  # the month they left: still theirs
    assert await detect(app, today=date(2026, 2, 20)) == []

    await deduct(make_line, FEB, -500_00)
    [leaver] = await detect(app, today=date(2026, 2, 20))

    assert (leaver.kind, leaver.gmc_number, leaver.covers_from) == (
        AnomalyKind.LEAVER_SUPERANNUATION,
        GP,
        FEB,
    )
    assert ["Left the practice", "2026-01-15 (performers list)"] in leaver.evidence["facts"]


@pytest.mark.usefixtures("practice", "client")
async def test_a_resolved_anomaly_keeps_its_history_and_a_recurrence_is_a_new_one(
    app: FastAPI, make_line: Any
) -> None:
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM)
    [first] = await detect(app, today=date(2026, 2, 5))
    reversal = {"period": FEB, "component": Component.GLOBAL_SUM, "amount": GLOBAL_SUM}
    await make_line(**reversal, covers_from=JAN, status=ChainStatus.REVERSED)
    assert await detect(app, today=date(2026, 2, 5)) == []
    await make_line(period=FEB, component=Component.GLOBAL_SUM, amount=GLOBAL_SUM, covers_from=JAN)
    [again] = await detect(app, today=date(2026, 2, 5))

    async with app.state.sessionmaker() as session:
        history = list(await session.scalars(select(Anomaly).order_by(Anomaly.id)))
    assert [(a.id, a.resolved_at is None) for a in history] == [(first.id, False), (again.id, True)]
    assert history[0].first_detected_at < history[1].first_detected_at


QOF_2020 = 183_987_00


async def qof_story(app: FastAPI, make_line: Any) -> None:
    """A practice whose 2020/21 declaration was approved on 14 May 2021; June's main run on
    15 June paid its aspiration but no achievement."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(QofDeclaration).values(
                ods_code="A81001", financial_year=2020, achievement_pence=QOF_2020,
                state=DeclarationState.APPROVED, declared_on=date(2021, 4, 20),
                approved_on=date(2021, 5, 14),
            )
        )  # fmt: skip
    await make_line(
        period=date(2021, 6, 1), component=Component.OTHER, amount=1_000_00, paycode="OTHER",
        paid_on=date(2021, 6, 15),
    )  # fmt: skip


@pytest.mark.usefixtures("practice", "client")
async def test_the_2021_qof_story_an_approved_achievement_missing_on_30_june(
    app: FastAPI, make_line: Any
) -> None:
    await qof_story(app, make_line)
    assert qof(await detect(app, today=date(2021, 6, 30))) == []  # due by the end of the day

    [missing] = qof(await detect(app, today=date(2021, 7, 1)))

    assert (missing.kind, missing.component, missing.amount_at_stake_pence) == (
        AnomalyKind.MISSING,
        Component.QOF_ACHIEVEMENT,
        QOF_2020,
    )
    assert "QOF achievement 2020/21" in missing.summary
    assert ["CQRS state", "approved"] in missing.evidence["derivation"]
    assert ["Approved", "2021-05-14"] in missing.evidence["derivation"]


@pytest.mark.usefixtures("practice", "client")
async def test_the_2021_qof_story_paid_in_the_30_june_extra_run_is_no_anomaly(
    app: FastAPI, make_line: Any
) -> None:
    await qof_story(app, make_line)
    await make_line(
        period=date(2021, 6, 1), component=Component.QOF_ACHIEVEMENT, amount=QOF_2020,
        paycode="QOFACH", covers_from=date(2020, 4, 1), covers_to=date(2021, 3, 31),
        paid_on=date(2021, 6, 30),
    )  # fmt: skip
    assert qof(await detect(app, today=date(2021, 7, 1))) == []


@pytest.mark.usefixtures("practice")
async def test_the_2021_qof_story_through_the_api(
    app: FastAPI, make_line: Any, client: httpx.AsyncClient
) -> None:
    await make_line(
        period=date(2021, 6, 1), component=Component.OTHER, amount=1_000_00, paycode="OTHER",
        paid_on=date(2021, 6, 15),
    )  # fmt: skip
    recorded = await graphql(
        client,
        """
        mutation {
          recordQofDeclaration(input: {odsCode: "A81001", financialYear: 2020,
              achievement: "183987.00", state: APPROVED, declaredOn: "2021-04-20",
              approvedOn: "2021-05-14", idempotencyKey: "qof-2020-a81001"}) {
            qofDeclarations { label state achievement }
            anomalies(kind: MISSING, first: 100) { nodes { component amountAtStake summary
              derivation { label value } } }
            expected(from: "2021-06-01", to: "2021-06-30") { component dueOn declarationState }
          }
        }
        """,
    )
    payments = recorded["data"]["recordQofDeclaration"]
    assert payments["qofDeclarations"] == [
        {"label": "2020/21", "state": "APPROVED", "achievement": "183987.00"}
    ]
    [missing] = [n for n in payments["anomalies"]["nodes"] if n["component"] == "QOF_ACHIEVEMENT"]
    assert missing["component"] == "QOF_ACHIEVEMENT"
    assert missing["amountAtStake"] == "183987.00"
    assert {"label": "CQRS state", "value": "approved"} in missing["derivation"]
    assert {
        "component": "QOF_ACHIEVEMENT",
        "dueOn": "2021-06-30",
        "declarationState": "APPROVED",
    } in payments["expected"]
