"""Each rule of the schedule and each kind of anomaly: a case that must raise it and one that
must not, with the figures worked out by hand beside them; and an anomaly's history.

The rates are the ones the migrations seed from their sources (the global sum per weighted
patient £123.34 for 2025/26, decided on 7 August 2025 and backdated to April from £121.79; the
out-of-hours deduction 4.75%; the employer's 14.38%; the 2025/26 contribution tiers).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from payments.detection import repository as detection_repository
from payments.detection import service
from payments.models import (
    Anomaly,
    AnomalyKind,
    ChainStatus,
    ClaimState,
    Component,
    ContractValue,
    DeclarationState,
    Direction,
    PensionEstimate,
    PerformerStatusChange,
    PracticeClaim,
    QofDeclaration,
    RateKind,
    TraineePlacement,
)
from payments.schedule import facts
from payments.schedule.rules import NoteKind
from pcse_kit.db import StatementCounter
from pcse_kit.testing import graphql
from sqlalchemy import select, text

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

WEIGHTED = Decimal("12000.00")
REGISTERED = 11_500
GLOBAL_SUM = 12_334_000  # 12,000 weighted x £123.34 / 12 = £123,340.00
OLD_GLOBAL_SUM = 12_179_000  # 12,000 x £121.79 / 12 = £121,790.00, before the August uplift
GP = "1234567"
PAY = 6_000_000  # £60,000 a year: the 10.7% tier in 2025/26
EMPLOYEE = -53_500  # £60,000 x 10.7% / 12 = £535.00
EMPLOYER = -71_900  # £60,000 x 14.38% / 12 = £719.00

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
APR, MAY, JUN, JUL = (date(2025, m, 1) for m in (4, 5, 6, 7))


@pytest.fixture
async def practice(make_practice: Any, make_list_size: Any) -> str:
    """A GMS practice, in the directory, on a weighted list of 12,000 all year."""
    code = str(await make_practice(list_size=REGISTERED))
    for quarter in (date(2025, 4, 1), date(2025, 7, 1), date(2025, 10, 1), date(2026, 1, 1)):
        await make_list_size(quarter=quarter, registered=REGISTERED, weighted=WEIGHTED)
    return code


async def detect(app: FastAPI, today: date, code: str = "A81001") -> list[Anomaly]:
    async with app.state.sessionmaker.begin() as session:
        await service.sync_anomalies(session, [code], today=today)
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(Anomaly).where(Anomaly.resolved_at.is_(None)).order_by(Anomaly.id)
        )
        return list(rows)


async def add(app: FastAPI, *rows: Any) -> None:
    async with app.state.sessionmaker.begin() as session:
        session.add_all(rows)


def kinds(rows: list[Anomaly]) -> list[tuple[AnomalyKind, Component, date]]:
    return [(r.kind, r.component, r.covers_from) for r in rows]


def only(rows: list[Anomaly], component: Component) -> list[Anomaly]:
    return [r for r in rows if r.component is component]


async def gsum(make_line: Any, month: date, amount: int = GLOBAL_SUM, **extra: Any) -> int:
    line: int = await make_line(
        period=extra.pop("period", month), component=Component.GLOBAL_SUM, amount=amount,
        covers_from=month, **extra,
    )  # fmt: skip
    return line


# -------------------------------------------------------------------------------- global sum


@pytest.mark.usefixtures("practice", "client")
async def test_a_month_with_no_global_sum_is_missing(app: FastAPI, make_line: Any) -> None:
    await gsum(make_line, JAN)
    await make_line(period=FEB, component=Component.PREMISES, amount=300_00, paycode="PREMRENT")

    [missing] = await detect(app, today=date(2026, 3, 5))

    assert kinds([missing]) == [(AnomalyKind.MISSING, Component.GLOBAL_SUM, FEB)]
    assert (missing.amount_at_stake_pence, missing.direction) == (
        GLOBAL_SUM,
        Direction.OWED_TO_PRACTICE,
    )
    derivation = dict(missing.evidence["derivation"])
    assert derivation["List"] == (
        "quarter from 2026-01-01: 11,500 registered, 12,000.00 weighted (test)"
    )
    assert derivation["Global sum"] == "£123,340.00 = 12,000.00 weighted x rate / 12"
    assert "the practice's ICB" in derivation["Commissioner"]


@pytest.mark.usefixtures("practice", "client")
async def test_a_zero_line_is_missing_too(app: FastAPI, make_line: Any) -> None:
    await gsum(make_line, JAN, amount=0)

    [missing] = await detect(app, today=date(2026, 2, 5))

    assert missing.kind is AnomalyKind.MISSING
    assert "£0.00 line" in missing.summary
    assert len(missing.evidence["lineIds"]) == 1


@pytest.mark.usefixtures("practice", "client")
async def test_paid_every_month_on_time_is_no_anomaly(app: FastAPI, make_line: Any) -> None:
    for month in (JAN, FEB):
        await gsum(make_line, month)
    # March is not due until its last day.
    assert await detect(app, today=date(2026, 3, 20)) == []


@pytest.mark.usefixtures("practice", "client")
async def test_paid_after_the_due_date_is_late(app: FastAPI, make_line: Any) -> None:
    await make_line(period=JAN, component=Component.PREMISES, amount=300_00, paycode="PREMRENT")
    await gsum(make_line, JAN, period=FEB, paid_on=date(2026, 2, 10))

    [late] = await detect(app, today=date(2026, 2, 20))

    assert kinds([late]) == [(AnomalyKind.LATE, Component.GLOBAL_SUM, JAN)]
    assert late.amount_at_stake_pence == GLOBAL_SUM
    assert ["Days late", "10"] in late.evidence["facts"]  # due Saturday 31 January


@pytest.mark.usefixtures("practice", "client")
async def test_due_on_a_weekend_and_paid_the_next_working_day_is_not_late(
    app: FastAPI, make_line: Any
) -> None:
    # 31 January 2026 is a Saturday: Monday 2 February is the first day a credit can land.
    await gsum(make_line, JAN, period=FEB, paid_on=date(2026, 2, 2))
    assert await detect(app, today=date(2026, 2, 20)) == []


@pytest.mark.usefixtures("practice", "client")
async def test_paid_twice_is_a_duplicate_until_one_is_reversed(
    app: FastAPI, make_line: Any
) -> None:
    for _ in range(2):
        await gsum(make_line, JAN)

    [duplicate] = await detect(app, today=date(2026, 2, 5))
    assert duplicate.kind is AnomalyKind.DUPLICATE
    assert (duplicate.amount_at_stake_pence, duplicate.direction) == (
        GLOBAL_SUM,
        Direction.REPAYABLE_BY_PRACTICE,
    )

    await gsum(make_line, JAN, period=FEB, status=ChainStatus.REVERSED)
    assert await detect(app, today=date(2026, 2, 5)) == []


@pytest.mark.parametrize(
    ("lines", "found"),
    [
        # A top-up: 120,000.00 then 3,340.00 makes the 123,340.00 due.
        pytest.param((12_000_000, 334_000), [], id="top-up"),
        # A recovery: 125,000.00 then -1,660.00.
        pytest.param((12_500_000, -166_000), [], id="recovery"),
        # A second line that does not make it right: judged by the net, short 1,000.00.
        pytest.param((12_000_000, 234_000), [(AnomalyKind.INCORRECT_AMOUNT, 100_000)], id="short"),
    ],
)
@pytest.mark.usefixtures("practice", "client")
async def test_a_second_line_for_the_same_month_is_an_adjustment_judged_by_the_net(
    app: FastAPI, make_line: Any, lines: tuple[int, int], found: list[tuple[AnomalyKind, int]]
) -> None:
    first, second = lines
    await gsum(make_line, JAN, amount=first)
    await gsum(make_line, JAN, amount=second, period=FEB, paid_on=date(2026, 2, 27))

    rows = await detect(app, today=date(2026, 2, 28))  # February itself not yet due

    assert [(r.kind, r.amount_at_stake_pence) for r in only(rows, Component.GLOBAL_SUM)] == found


@pytest.mark.usefixtures("practice", "client")
async def test_a_deduction_taken_twice_is_a_duplicate_but_two_gps_are_not(
    app: FastAPI, make_line: Any
) -> None:
    await gsum(make_line, JAN)
    for gmc in ("1111111", "2222222"):
        await make_line(
            period=JAN, component=Component.EMPLOYER_SUPERANNUATION, amount=-500_00,
            paycode="SUPERER", gmc_number=gmc,
        )  # fmt: skip
    assert await detect(app, today=date(2026, 2, 5)) == []

    for _ in range(2):
        await make_line(
            period=JAN, component=Component.LMC_STATUTORY_LEVY, amount=-450_00, paycode="LMCSTAT"
        )
    [duplicate] = await detect(app, today=date(2026, 2, 5))
    assert (duplicate.kind, duplicate.component, duplicate.direction) == (
        AnomalyKind.DUPLICATE,
        Component.LMC_STATUTORY_LEVY,
        Direction.OWED_TO_PRACTICE,
    )
    assert duplicate.amount_at_stake_pence == 450_00


@pytest.mark.usefixtures("practice", "client")
async def test_two_registrars_reimbursed_in_one_month_are_not_a_duplicate(
    app: FastAPI, make_line: Any
) -> None:
    await gsum(make_line, JAN)
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


@pytest.mark.parametrize(
    ("variance", "direction"),
    [
        (50_00, Direction.REPAYABLE_BY_PRACTICE),
        (-50_00, Direction.OWED_TO_PRACTICE),
        # Within 0.01% of £123,340.00 (£12.33): rounding between PCSE's arithmetic and ours.
        (12_00, None),
    ],
)
@pytest.mark.usefixtures("practice", "client")
async def test_an_amount_off_the_expectation_is_incorrect_beyond_rounding(
    app: FastAPI, make_line: Any, variance: int, direction: Direction | None
) -> None:
    await gsum(make_line, JAN, amount=GLOBAL_SUM + variance)

    found = await detect(app, today=date(2026, 2, 5))

    if direction is None:
        assert found == []
        return
    [incorrect] = found
    assert incorrect.kind is AnomalyKind.INCORRECT_AMOUNT
    assert (incorrect.amount_at_stake_pence, incorrect.direction) == (abs(variance), direction)
    assert incorrect.evidence["derivation"]


@pytest.mark.usefixtures("client")
async def test_the_out_of_hours_deduction_is_part_of_the_global_sum(
    app: FastAPI, make_practice: Any, make_list_size: Any, make_line: Any
) -> None:
    await make_practice(list_size=REGISTERED, out_of_hours_opt_out=True)
    await make_list_size(quarter=date(2026, 1, 1), registered=REGISTERED, weighted=WEIGHTED)
    # 4.75% of £123,340.00 = £5,858.65: £117,481.35 net.
    await gsum(make_line, JAN)
    await make_line(period=JAN, component=Component.GLOBAL_SUM, amount=-5_858_65, paycode="GSUMOOH")
    assert await detect(app, today=date(2026, 2, 5)) == []

    await gsum(make_line, FEB)  # the deduction not taken in February
    [over] = await detect(app, today=date(2026, 3, 5))
    assert (over.kind, over.covers_from, over.amount_at_stake_pence, over.direction) == (
        AnomalyKind.INCORRECT_AMOUNT,
        FEB,
        5_858_65,
        Direction.REPAYABLE_BY_PRACTICE,
    )


@pytest.mark.usefixtures("practice", "client")
async def test_a_backdated_uplift_is_arrears_due_by_its_date_and_missing_arrears_are_short(
    app: FastAPI, make_line: Any
) -> None:
    # April to July 2025 were paid at £121.79 (£121,790.00 a month), right until the uplift to
    # £123.34 was decided on 7 August 2025; the £1,550.00 a month difference is due by 30
    # September 2025.
    for month in (APR, MAY, JUN, JUL):
        await gsum(make_line, month, amount=OLD_GLOBAL_SUM)
    for month in (date(2025, 8, 1), date(2025, 9, 1)):  # decided: paid at the new rate
        await gsum(make_line, month)
    assert await detect(app, today=date(2025, 8, 20)) == []

    short = await detect(app, today=date(2025, 10, 2))
    assert [(r.kind, r.covers_from, r.amount_at_stake_pence) for r in short] == [
        (AnomalyKind.INCORRECT_AMOUNT, month, 155_000) for month in (APR, MAY, JUN, JUL)
    ]

    # One arrears line covering April to July settles all four: 4 x £1,550.00.
    await make_line(
        period=date(2025, 9, 1), component=Component.GLOBAL_SUM, amount=620_000,
        paycode="GSUMARR", covers_from=APR, covers_to=date(2025, 7, 31),
        paid_on=date(2025, 9, 30),
    )  # fmt: skip
    assert await detect(app, today=date(2025, 10, 2)) == []


@pytest.mark.usefixtures("client")
async def test_without_a_weighted_list_a_missing_payment_is_found_but_no_amount_judged(
    app: FastAPI, make_practice: Any, make_line: Any
) -> None:
    await make_practice(list_size=REGISTERED)  # no quarterly list recorded yet
    await gsum(make_line, JAN, amount=11_000_000)

    rows = await detect(app, today=date(2026, 3, 5))

    [missing] = rows
    assert (missing.kind, missing.covers_from) == (AnomalyKind.MISSING, FEB)
    assert "the weighted list is not known" in dict(missing.evidence["derivation"])["List"]


@pytest.mark.usefixtures("client")
async def test_a_quarters_list_not_recorded_yet_carries_the_last_forward_and_says_so(
    app: FastAPI, make_practice: Any, make_list_size: Any, make_line: Any
) -> None:
    await make_practice(list_size=REGISTERED)
    await make_list_size(quarter=date(2025, 10, 1), registered=REGISTERED, weighted=WEIGHTED)
    await gsum(make_line, JAN)  # January is in a quarter not recorded yet

    assert await detect(app, today=date(2026, 2, 5)) == []
    async with app.state.sessionmaker() as session:
        snapshot = await facts.snapshot(session, ["A81001"])
    [january] = [
        e for e in snapshot.expected("A81001", until=JAN) if e.component is Component.GLOBAL_SUM
    ]
    assert (
        "not recorded yet: the quarter from 2025-10-01 carried forward"
        in dict(january.derivation)["List"]
    )
    assert NoteKind.FACT_MISSING in {n.kind for n in snapshot.notes("A81001", until=JAN)}


@pytest.mark.usefixtures("client")
async def test_an_unknown_contract_type_is_read_from_the_statements(
    app: FastAPI, make_practice: Any, make_list_size: Any, make_line: Any
) -> None:
    await make_practice(list_size=REGISTERED, contract_type=None)
    await make_list_size(quarter=date(2026, 1, 1), registered=REGISTERED, weighted=WEIGHTED)
    await gsum(make_line, JAN)

    [missing] = await detect(app, today=date(2026, 3, 5))

    assert (missing.kind, missing.component, missing.covers_from) == (
        AnomalyKind.MISSING,
        Component.GLOBAL_SUM,
        FEB,
    )
    assert "taken from the core payment lines" in dict(missing.evidence["derivation"])["Contract"]


@pytest.mark.usefixtures("client")
async def test_a_pms_practice_is_expected_its_baseline_not_a_global_sum(
    app: FastAPI, make_practice: Any, make_list_size: Any, make_line: Any
) -> None:
    await make_practice(list_size=REGISTERED, contract_type="PMS")
    await make_list_size(quarter=date(2026, 1, 1), registered=REGISTERED, weighted=WEIGHTED)
    await add(
        app,
        ContractValue(
            ods_code="A81001", effective_from=date(2025, 4, 1), contract_type="PMS",
            annual_pence=1_500_000_00, source="test: PMS agreement",
        ),
    )  # fmt: skip
    # £1,500,000.00 a year / 12 = £125,000.00 a month.
    await make_line(period=JAN, component=Component.PMS_BASELINE, amount=125_000_00,
                    paycode="PMSBASE")  # fmt: skip

    [missing] = await detect(app, today=date(2026, 3, 5))

    assert (missing.kind, missing.component, missing.covers_from) == (
        AnomalyKind.MISSING,
        Component.PMS_BASELINE,
        FEB,
    )
    assert missing.amount_at_stake_pence == 125_000_00


# ---------------------------------------------------------------------- levies, the chain


@pytest.mark.usefixtures("practice", "client")
async def test_a_quarterly_levy_line_is_judged_across_the_months_it_covers(
    app: FastAPI, make_line: Any, make_rate: Any
) -> None:
    await make_rate(kind=RateKind.LMC_STATUTORY, value=Decimal(42), scope="kernow")
    for month in (JAN, FEB, MAR):
        await gsum(make_line, month)
    # 11,500 registered x 42p / 12 = £402.50 a month: £1,207.50 for the quarter at once.
    await make_line(
        period=JAN, component=Component.LMC_STATUTORY_LEVY, amount=-1_207_50, paycode="LMCSTAT",
        covers_from=JAN, covers_to=date(2026, 3, 31),
    )  # fmt: skip
    assert await detect(app, today=date(2026, 4, 5)) == []


@pytest.mark.usefixtures("practice", "client")
async def test_a_line_stuck_in_the_payment_chain_is_the_finding_not_a_missing_payment(
    app: FastAPI, make_line: Any
) -> None:
    await gsum(make_line, JAN, status=ChainStatus.AUTHORISED)
    assert await detect(app, today=date(2026, 1, 20)) == []

    [stuck] = await detect(app, today=date(2026, 2, 5))
    assert (stuck.kind, stuck.component, stuck.amount_at_stake_pence, stuck.direction) == (
        AnomalyKind.STUCK,
        Component.GLOBAL_SUM,
        GLOBAL_SUM,
        Direction.OWED_TO_PRACTICE,
    )

    # Paid in a later run, the chain moved on: nothing is stuck or missing.
    await gsum(make_line, JAN, period=FEB, paid_on=date(2026, 2, 2))
    assert await detect(app, today=date(2026, 2, 5)) == []


@pytest.mark.usefixtures("practice", "client")
async def test_a_failed_payment_not_run_again_is_stuck(app: FastAPI, make_line: Any) -> None:
    await gsum(make_line, JAN, status=ChainStatus.FAILED)
    [stuck] = await detect(app, today=date(2026, 2, 5))
    assert stuck.kind is AnomalyKind.STUCK
    assert "failed" in stuck.summary


# ---------------------------------------------------------------------------------- pensions


@pytest.fixture
async def estimate(app: FastAPI, practice: str, make_membership: Any) -> str:
    """GP 1234567's £60,000 at the practice in 2025/26, with the 10.7% tier declared."""
    await make_membership(gmc_number=GP)
    await add(
        app,
        PensionEstimate(
            gmc_number=GP, ods_code=practice, financial_year=2025, pensionable_pay_pence=PAY,
            submitted_on=date(2025, 2, 20), declared_tier=Decimal("10.7"),
        ),
    )  # fmt: skip
    return GP


async def deduct(make_line: Any, month: date, amount: int, **extra: Any) -> None:
    await make_line(
        period=extra.pop("period", month), component=Component.EMPLOYEE_SUPERANNUATION,
        amount=amount, paycode=extra.pop("paycode", "SUPEREE"), gmc_number=GP,
        covers_from=extra.pop("covers_from", month), **extra,
    )  # fmt: skip


def pension_kinds(rows: list[Anomaly]) -> list[tuple[AnomalyKind, date]]:
    return [(r.kind, r.covers_from) for r in only(rows, Component.EMPLOYEE_SUPERANNUATION)]


@pytest.mark.usefixtures("estimate", "client")
async def test_months_without_the_estimated_deduction_are_a_pension_gap(
    app: FastAPI, make_line: Any
) -> None:
    await deduct(make_line, APR, EMPLOYEE)
    await deduct(make_line, JUN, EMPLOYEE)

    found = await detect(app, today=date(2025, 7, 10))

    [gap] = only(found, Component.EMPLOYEE_SUPERANNUATION)
    assert (gap.kind, gap.covers_from, gap.amount_at_stake_pence, gap.direction) == (
        AnomalyKind.PENSION_GAP,
        MAY,
        53_500,
        Direction.REPAYABLE_BY_PRACTICE,
    )


@pytest.mark.usefixtures("estimate", "client")
async def test_employer_contributions_are_the_practices_14_38_percent(
    app: FastAPI, make_line: Any
) -> None:
    await deduct(make_line, APR, EMPLOYEE)
    await make_line(
        period=APR, component=Component.EMPLOYER_SUPERANNUATION, amount=EMPLOYER,
        paycode="SUPERER", gmc_number=GP,
    )  # fmt: skip
    found = await detect(app, today=date(2025, 5, 10))
    assert [r.summary for r in found if r.component is not Component.GLOBAL_SUM] == []


@pytest.mark.usefixtures("estimate", "client")
async def test_the_levy_beside_the_employer_line_is_its_own_0_08_percent(
    app: FastAPI, make_line: Any
) -> None:
    # £60,000 x 14.30% / 12 = £715.00 and £60,000 x 0.08% / 12 = £4.00.
    await deduct(make_line, APR, EMPLOYEE)
    await make_line(
        period=APR, component=Component.EMPLOYER_SUPERANNUATION, amount=-715_00,
        paycode="SUPERER", gmc_number=GP,
    )  # fmt: skip
    await make_line(
        period=APR, component=Component.PENSION_ADMIN_LEVY, amount=-4_00, paycode="SUPADMIN",
        gmc_number=GP,
    )  # fmt: skip
    found = await detect(app, today=date(2025, 5, 10))
    assert [r.summary for r in found if r.component is not Component.GLOBAL_SUM] == []


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

    [catch_up] = only(found, Component.EMPLOYEE_SUPERANNUATION)
    assert (catch_up.kind, catch_up.covers_from, catch_up.amount_at_stake_pence) == (
        AnomalyKind.PENSION_CATCH_UP,
        JUN,  # taken in June
        53_500,  # what was taken beyond one month
    )
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
    ("amount", "kind", "direction"),
    [
        # 9.8%: £490.00, the tier below the declared 10.7%; £45.00 still owed by the practice.
        (-49_000, AnomalyKind.WRONG_TIER, Direction.REPAYABLE_BY_PRACTICE),
        # 12.5%: £625.00, the top tier; £90.00 taken too much.
        (-62_500, AnomalyKind.WRONG_TIER, Direction.OWED_TO_PRACTICE),
        (EMPLOYEE + 200_00, AnomalyKind.INCORRECT_AMOUNT, Direction.REPAYABLE_BY_PRACTICE),
        (EMPLOYEE, None, None),
    ],
)
@pytest.mark.usefixtures("estimate", "client")
async def test_a_deduction_at_a_tier_not_declared_is_the_wrong_tier(
    app: FastAPI,
    make_line: Any,
    amount: int,
    kind: AnomalyKind | None,
    direction: Direction | None,
) -> None:
    await deduct(make_line, APR, amount)

    found = only(await detect(app, today=date(2025, 5, 10)), Component.EMPLOYEE_SUPERANNUATION)

    assert [(r.kind, r.direction) for r in found] == ([] if kind is None else [(kind, direction)])


@pytest.mark.usefixtures("client")
async def test_a_declared_tier_above_the_pay_known_here_is_a_note_not_an_anomaly(
    app: FastAPI, practice: str, make_membership: Any, make_line: Any
) -> None:
    # £46,800 here alone is the 9.8% tier; the practice declared 12.5% because of pay in other
    # posts. PCSE deducts at the declared tier: £46,800 x 12.5% / 12 = £487.50.
    await make_membership(gmc_number=GP)
    await add(
        app,
        PensionEstimate(
            gmc_number=GP, ods_code=practice, financial_year=2025, pensionable_pay_pence=46_800_00,
            submitted_on=date(2025, 3, 3), declared_tier=Decimal("12.5"),
        ),
    )  # fmt: skip
    await deduct(make_line, APR, -487_50)

    assert only(await detect(app, today=date(2025, 5, 10)), Component.EMPLOYEE_SUPERANNUATION) == []
    async with app.state.sessionmaker() as session:
        snapshot = await facts.snapshot(session, [practice])
    [note] = [n for n in snapshot.notes(practice, until=APR) if n.kind is NoteKind.TIER_DIFFERS]
    assert note.gmc_number == GP
    assert "declares 12.5%" in note.summary
    assert "9.8% tier" in note.summary


@pytest.mark.usefixtures("estimate", "client")
async def test_a_year_end_line_never_fills_a_month_nor_is_a_duplicate(
    app: FastAPI, make_line: Any
) -> None:
    await deduct(make_line, APR, EMPLOYEE)
    await deduct(make_line, JUN, EMPLOYEE)
    for _ in range(2):  # the same balancing figure twice is two years' balancing, not a repeat
        await deduct(
            make_line, date(2026, 4, 1), -1_000_00, paycode="SUPEEYE", covers_from=APR,
            covers_to=date(2026, 3, 31),
        )  # fmt: skip

    found = only(await detect(app, today=date(2025, 7, 10)), Component.EMPLOYEE_SUPERANNUATION)

    assert [(r.kind, r.covers_from) for r in found] == [(AnomalyKind.PENSION_GAP, MAY)]


@pytest.mark.usefixtures("practice", "client")
async def test_superannuation_after_the_gp_left_is_flagged(
    app: FastAPI, make_line: Any, make_membership: Any
) -> None:
    await make_membership(gmc_number=GP, end=date(2026, 1, 15))
    await gsum(make_line, JAN)
    await gsum(make_line, FEB)
    await deduct(make_line, JAN, -500_00)  # the month they left: still theirs
    assert await detect(app, today=date(2026, 2, 20)) == []

    await deduct(make_line, FEB, -500_00)
    [leaver] = await detect(app, today=date(2026, 2, 20))

    assert (leaver.kind, leaver.gmc_number, leaver.covers_from, leaver.direction) == (
        AnomalyKind.LEAVER_SUPERANNUATION,
        GP,
        FEB,
        Direction.OWED_TO_PRACTICE,
    )
    assert ["Left the practice", "2026-01-15 (performers list)"] in leaver.evidence["facts"]


@pytest.mark.usefixtures("estimate", "client")
async def test_a_suspended_gps_contributions_are_a_note_but_a_removed_gps_are_an_anomaly(
    app: FastAPI, make_line: Any
) -> None:
    # Suspended from 1 May 2025: a practice claiming locum cover must keep paying the GP at
    # least 90%, and NHS England may make suspension payments, so contributions can go on.
    await add(
        app,
        PerformerStatusChange(
            gmc_number=GP, effective_date=date(2025, 5, 1), from_status="included",
            to_status="suspended", decision="Performers List Decision Panel",
        ),
    )  # fmt: skip
    for month in (APR, MAY, JUN):
        await deduct(make_line, month, EMPLOYEE)
    assert only(await detect(app, today=date(2025, 7, 10)), Component.EMPLOYEE_SUPERANNUATION) == []
    async with app.state.sessionmaker() as session:
        snapshot = await facts.snapshot(session, ["A81001"])
    suspended = [
        n.covers_from
        for n in snapshot.notes("A81001", until=JUN)
        if n.kind is NoteKind.PERFORMER_SUSPENDED
    ]
    assert suspended == [MAY]  # once, from the suspension's first month

    # Removed from the list on 15 June: nothing is due for July, and what was taken is repaid.
    await add(
        app,
        PerformerStatusChange(
            gmc_number=GP, effective_date=date(2025, 6, 15), from_status="suspended",
            to_status="removed", decision="Performers List Decision Panel",
        ),
    )  # fmt: skip
    await deduct(make_line, JUL, EMPLOYEE)
    [removed] = only(await detect(app, today=date(2025, 8, 10)), Component.EMPLOYEE_SUPERANNUATION)
    assert (removed.kind, removed.covers_from, removed.amount_at_stake_pence) == (
        AnomalyKind.LEAVER_SUPERANNUATION,
        JUL,
        53_500,
    )


# ---------------------------------------------------------------------------------- training


@pytest.mark.usefixtures("client")
async def test_a_part_month_of_a_placement_is_reimbursed_pro_rata_with_the_trainers_grant(
    app: FastAPI, make_practice: Any, make_line: Any
) -> None:
    await make_practice(contract_type=None, training_practice=True)
    await add(
        app,
        TraineePlacement(
            ods_code="A81001", gmc_number="3333333", starts_on=date(2026, 1, 15),
            ends_on=date(2027, 1, 14), monthly_pence=4_000_00,
        ),
    )  # fmt: skip
    # 17 of January's 31 days: £4,000.00 x 17 / 31 = £2,193.548 -> £2,193.55; the trainer's
    # grant £9,794 a year: £9,794 / 12 x 17 / 31 = £447.577 -> £447.58.
    await make_line(
        period=JAN, component=Component.TRAINEE_REIMBURSEMENT, amount=2_193_55, paycode="TRAINEE",
        gmc_number="3333333",
    )  # fmt: skip
    await make_line(
        period=JAN, component=Component.TRAINING_GRANT, amount=447_58, paycode="TRGRANT"
    )
    assert await detect(app, today=date(2026, 2, 5)) == []


# ------------------------------------------------------------------------------------- claims


@pytest.mark.usefixtures("practice", "client")
async def test_an_approved_claim_not_paid_by_the_end_of_the_next_month_is_missing(
    app: FastAPI, make_line: Any
) -> None:
    await gsum(make_line, JAN)
    await add(
        app,
        PracticeClaim(
            ods_code="A81001", reference="ES-CHILD-2026-01", component=Component.ENHANCED_SERVICE,
            paycode="ESCHILD", description="Childhood immunisations", covers_from=JAN,
            covers_to=date(2026, 1, 31), amount_pence=795_96, claimed_on=date(2026, 2, 4),
            approved_on=date(2026, 2, 9), state=ClaimState.APPROVED,
        ),
    )  # fmt: skip
    for month in (FEB, MAR):
        await gsum(make_line, month)
    assert only(await detect(app, today=date(2026, 3, 31)), Component.ENHANCED_SERVICE) == []

    [unpaid] = only(await detect(app, today=date(2026, 4, 1)), Component.ENHANCED_SERVICE)
    assert (unpaid.kind, unpaid.claim_reference, unpaid.amount_at_stake_pence) == (
        AnomalyKind.MISSING,
        "ES-CHILD-2026-01",
        795_96,
    )

    # Paid at more than was approved: the excess is repayable.
    await make_line(
        period=MAR, component=Component.ENHANCED_SERVICE, amount=850_00, paycode="ESCHILD",
        covers_from=JAN, covers_to=date(2026, 1, 31),
    )  # fmt: skip
    [over] = only(await detect(app, today=date(2026, 4, 1)), Component.ENHANCED_SERVICE)
    assert (over.kind, over.amount_at_stake_pence, over.direction) == (
        AnomalyKind.INCORRECT_AMOUNT,
        54_04,
        Direction.REPAYABLE_BY_PRACTICE,
    )


# ---------------------------------------------------------------------------------------- QOF


QOF_2024 = 100_000_00
QOF_2025 = 90_000_00
ASPIRATION = 6_666_67  # 80% x £100,000.00 / 12 = £6,666.666 -> £6,666.67


async def qof_year(app: FastAPI, make_line: Any, *, skip: date | None = None) -> None:
    """2024/25 approved at £100,000.00; 2025/26's aspiration paid monthly (but ``skip``)."""
    await add(
        app,
        QofDeclaration(
            ods_code="A81001", financial_year=2024, achievement_pence=QOF_2024,
            state=DeclarationState.PAID, declared_on=date(2025, 4, 15),
            approved_on=date(2025, 4, 20), aspiration_paid_pence=80_000_00,
        ),
    )  # fmt: skip
    for number in range(12):
        month = date(2025 + (number + 3) // 12, (number + 3) % 12 + 1, 1)
        await gsum(make_line, month)
        if month != skip:
            await make_line(
                period=month,
                component=Component.QOF_ASPIRATION,
                amount=ASPIRATION,
                paycode="QOFASP",
            )
    await make_line(
        period=date(2025, 6, 1), component=Component.QOF_ACHIEVEMENT, amount=20_000_00,
        paycode="QOFACH", covers_from=date(2024, 4, 1), covers_to=date(2025, 3, 31),
        paid_on=date(2025, 6, 17),
    )  # fmt: skip


async def declare_2025(app: FastAPI) -> None:
    await add(
        app,
        QofDeclaration(
            ods_code="A81001", financial_year=2025, achievement_pence=QOF_2025,
            state=DeclarationState.APPROVED, declared_on=date(2026, 4, 14),
            approved_on=date(2026, 5, 20),
        ),
    )  # fmt: skip


@pytest.mark.usefixtures("practice", "client")
async def test_qof_aspiration_is_80_percent_and_the_balance_is_achievement_less_aspiration_paid(
    app: FastAPI, make_line: Any
) -> None:
    await qof_year(app, make_line)
    await declare_2025(app)
    # Balance: £90,000.00 - 12 x £6,666.67 (£80,000.04) = £9,999.96, paid in two parts.
    for amount, paid in ((5_000_00, date(2026, 6, 12)), (4_999_96, date(2026, 6, 30))):
        await make_line(
            period=date(2026, 6, 1), component=Component.QOF_ACHIEVEMENT, amount=amount,
            paycode="QOFACH", covers_from=date(2025, 4, 1), covers_to=date(2026, 3, 31),
            paid_on=paid,
        )  # fmt: skip

    found = await detect(app, today=date(2026, 7, 31))

    # 2025/26 settled; 2026/27's aspiration (from this balance's year) is not what is tested.
    qof = [
        r for r in found if r.component.value.startswith("qof") and r.covers_from < date(2026, 4, 1)
    ]
    assert [r.summary for r in qof] == []


@pytest.mark.usefixtures("practice", "client")
async def test_a_missing_aspiration_month_is_found_until_the_balance_settles_the_year(
    app: FastAPI, make_line: Any
) -> None:
    await qof_year(app, make_line, skip=date(2025, 9, 1))
    [missing] = only(await detect(app, today=date(2025, 10, 5)), Component.QOF_ASPIRATION)
    assert (missing.kind, missing.covers_from, missing.amount_at_stake_pence) == (
        AnomalyKind.MISSING,
        date(2025, 9, 1),
        ASPIRATION,
    )

    # The June balance is worked out on the aspiration actually paid (11 months): £90,000.00
    # - £73,333.37 = £16,666.63. Paid in full, it settles the year and the month with it.
    await declare_2025(app)
    await make_line(
        period=date(2026, 6, 1), component=Component.QOF_ACHIEVEMENT, amount=16_666_63,
        paycode="QOFACH", covers_from=date(2025, 4, 1), covers_to=date(2026, 3, 31),
        paid_on=date(2026, 6, 30),
    )  # fmt: skip
    found = await detect(app, today=date(2026, 7, 31))
    assert [
        r.summary
        for r in found
        if r.component.value.startswith("qof") and r.covers_from < date(2026, 4, 1)
    ] == []


@pytest.mark.parametrize(
    ("state", "dates", "today", "stuck"),
    [
        pytest.param(
            DeclarationState.AWAITING_PROVIDER_APPROVAL, {}, date(2026, 5, 31), False,
            id="awaiting sign-off, before the deadline",
        ),
        pytest.param(
            DeclarationState.AWAITING_PROVIDER_APPROVAL, {}, date(2026, 6, 1), True,
            id="awaiting sign-off, after 31 May",
        ),
        pytest.param(
            DeclarationState.AWAITING_COMMISSIONER_APPROVAL, {"declared_on": date(2026, 4, 20)},
            date(2026, 5, 20), False, id="awaiting the commissioner 30 days",
        ),
        pytest.param(
            DeclarationState.AWAITING_COMMISSIONER_APPROVAL, {"declared_on": date(2026, 4, 20)},
            date(2026, 5, 21), True, id="awaiting the commissioner 31 days",
        ),
        pytest.param(
            DeclarationState.APPEALED, {"declared_on": date(2026, 4, 20),
                                        "appealed_on": date(2026, 5, 2)},
            date(2026, 7, 31), False, id="under appeal",
        ),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("practice", "client")
async def test_a_declaration_awaiting_too_long_is_stuck_and_not_also_missing(
    app: FastAPI,
    make_line: Any,
    state: DeclarationState,
    dates: dict[str, date],
    today: date,
    stuck: bool,
) -> None:
    await qof_year(app, make_line)
    await add(
        app,
        QofDeclaration(
            ods_code="A81001", financial_year=2025, achievement_pence=QOF_2025, state=state,
            **dates,
        ),
    )  # fmt: skip

    found = [r for r in await detect(app, today=today) if r.component.value.startswith("qof")]

    if not stuck:
        assert found == []
        return
    [declaration] = found
    # £90,000.00 - 12 x £6,666.67 = £9,999.96 waits on it.
    assert (declaration.kind, declaration.amount_at_stake_pence, declaration.covers_to) == (
        AnomalyKind.STUCK_DECLARATION,
        9_999_96,
        date(2026, 3, 31),
    )


# ------------------------------------------------------------------------------------ history


@pytest.mark.usefixtures("practice", "client")
async def test_a_resolved_anomaly_keeps_its_history_and_a_recurrence_is_a_new_one(
    app: FastAPI, make_line: Any
) -> None:
    await gsum(make_line, JAN)
    await gsum(make_line, JAN)
    [first] = await detect(app, today=date(2026, 2, 5))
    await gsum(make_line, JAN, period=FEB, status=ChainStatus.REVERSED)
    assert await detect(app, today=date(2026, 2, 5)) == []
    await gsum(make_line, JAN, period=FEB)
    [again] = await detect(app, today=date(2026, 2, 5))

    async with app.state.sessionmaker() as session:
        history = list(await session.scalars(select(Anomaly).order_by(Anomaly.id)))
    assert [(a.id, a.resolved_at is None) for a in history] == [(first.id, False), (again.id, True)]
    assert history[0].first_detected_at < history[1].first_detected_at


QOF_2020 = 183_987_00


async def qof_story(app: FastAPI, make_line: Any) -> None:
    """A practice whose 2020/21 declaration was approved on 14 May 2021; June's main run on
    15 June paid its aspiration but no achievement."""
    await add(
        app,
        QofDeclaration(
            ods_code="A81001", financial_year=2020, achievement_pence=QOF_2020,
            state=DeclarationState.APPROVED, declared_on=date(2021, 4, 20),
            approved_on=date(2021, 5, 14),
        ),
    )  # fmt: skip
    await make_line(
        period=date(2021, 6, 1), component=Component.OTHER, amount=1_000_00, paycode="OTHER",
        paid_on=date(2021, 6, 15),
    )  # fmt: skip


def qof(rows: list[Anomaly]) -> list[Anomaly]:
    return only(rows, Component.QOF_ACHIEVEMENT)


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
              direction derivation { label value } } }
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
    assert missing["amountAtStake"] == "183987.00"
    assert missing["direction"] == "OWED_TO_PRACTICE"
    assert {"label": "CQRS state", "value": "approved"} in missing["derivation"]
    assert {
        "component": "QOF_ACHIEVEMENT",
        "dueOn": "2021-06-30",
        "declarationState": "APPROVED",
    } in payments["expected"]


async def test_the_practices_are_locked_in_one_statement_however_many(app: FastAPI) -> None:
    """Re-detection locks each practice it touches for the transaction: one round trip for
    every practice of a run, where there had been one each (6,000 for a national run)."""
    codes = [f"Z{n:05d}" for n in range(250, 0, -1)]
    async with app.state.sessionmaker.begin() as session:
        with StatementCounter().attached(app.state.engine) as counter:
            await detection_repository.lock_practices(session, codes)
        held = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks"
                " WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
            )
        )
    assert counter.count == 1
    assert held == 250
