"""Compensation claims: interest on money owed to a practice that came late or has not come,
at the practice's own overdraft rate, worked out by hand below; then the claim's states."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from payments.compensation import service
from payments.models import (
    Anomaly,
    AnomalyKind,
    CompensationClaim,
    CompensationItem,
    CompensationState,
    Component,
    Direction,
    Severity,
)
from pcse_kit.auth import Principal, Role
from pcse_kit.errors import BadUserInput, Conflict
from sqlalchemy import func, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

MANAGER = Principal(subject="manager@a81001", role=Role.PRACTICE, scope=frozenset({"A81001"}))
TODAY = date(2026, 12, 3)


def _anomaly(kind: AnomalyKind, pence: int, facts: list[list[str]], **extra: Any) -> Anomaly:
    return Anomaly(
        fingerprint=f"{kind.value}-{pence}", ods_code="A81001", kind=kind,
        severity=Severity.HIGH, component=Component.GLOBAL_SUM, covers_from=date(2026, 1, 1),
        amount_at_stake_pence=pence, summary=f"{kind.value} test", evidence={"facts": facts},
        **extra,
    )  # fmt: skip


@pytest.fixture
async def late_and_missing(app: FastAPI, make_practice: Any, client: httpx.AsyncClient) -> None:
    """A81001: January's global sum, £10,278.33, paid 30 days late; an approved claim,
    £1,234.50, due by 31 October 2026 and still missing; and a payment made twice (repayable:
    no interest is owed on it)."""
    await make_practice(ods_code="A81001", lmc_code="kernow")
    async with app.state.sessionmaker.begin() as session:
        session.add_all(
            [
                _anomaly(AnomalyKind.LATE, 1_027_833, [["Due", "2026-01-31"], ["Days late", "30"]]),
                _anomaly(AnomalyKind.MISSING, 1_234_50, [["Expected", "£1,234.50 by 2026-10-31"]]),
                _anomaly(AnomalyKind.DUPLICATE, 500_00, [["Paid", "twice"]],
                         direction=Direction.REPAYABLE_BY_PRACTICE),
            ]
        )  # fmt: skip


async def _open(app: FastAPI, **changes: Any) -> str:
    arguments: dict[str, Any] = {
        "ods_code": "A81001", "dispute_reference": None, "annual_rate": Decimal("7.9"),
        "rate_basis": "Overdraft at 7.9% a year (bank letter, 1 April 2026)",
        "idempotency_key": "compensation-1", "today": TODAY,
    }  # fmt: skip
    arguments.update(changes)
    written = await service.open_claim(app.state.sessionmaker, MANAGER, **arguments)
    return written.key


async def _step(
    app: FastAPI, reference: str, state: CompensationState, on: date, **kw: Any
) -> None:
    await service.record_step(
        app.state.sessionmaker, MANAGER, reference=reference, state=state, on=on,
        offered_pence=kw.get("offered"), note=None, idempotency_key=f"step-{state}-{on}",
        today=TODAY,
    )  # fmt: skip


async def test_interest_on_late_and_missing_money_then_an_offer_accepted(
    app: FastAPI, late_and_missing: None
) -> None:
    reference = await _open(app)
    async with app.state.sessionmaker() as session:
        claim = await session.scalar(select(CompensationClaim))
        items = list(await session.scalars(select(CompensationItem).order_by(CompensationItem.id)))
    assert claim is not None
    # 10,278.33 x 7.9% x 30/365 = 66.7387 -> £66.74.
    # 1,234.50 x 7.9% x 33/365 (31 Oct to 3 Dec) = 8.8174 -> £8.82. The duplicate owes nothing.
    assert [(i.principal_pence, i.days, i.amount_pence) for i in items] == [
        (1_027_833, 30, 66_74),
        (1_234_50, 33, 8_82),
    ]
    assert claim.claimed_pence == 75_56
    assert (claim.state, claim.as_of) == (CompensationState.DRAFT, TODAY)
    assert items[0].source.startswith("anomaly ")

    await _step(app, reference, CompensationState.SUBMITTED, date(2026, 12, 3))
    with pytest.raises(BadUserInput) as no_amount:
        await _step(app, reference, CompensationState.OFFERED, date(2026, 12, 3))
    assert no_amount.value.field == "offeredAmount"
    await _step(app, reference, CompensationState.OFFERED, date(2026, 12, 3), offered=50_00)
    await _step(app, reference, CompensationState.ACCEPTED, date(2026, 12, 3))
    with pytest.raises(Conflict) as closed:
        await _step(app, reference, CompensationState.WITHDRAWN, date(2026, 12, 3))
    assert closed.value.field == "state"
    async with app.state.sessionmaker() as session:
        claim = await session.scalar(select(CompensationClaim))
    assert claim is not None
    assert (claim.state, claim.offered_pence, claim.decided_on) == (
        CompensationState.ACCEPTED,
        50_00,
        date(2026, 12, 3),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"annual_rate": Decimal(0)}, "annualRatePercent"),
        ({"annual_rate": Decimal("101")}, "annualRatePercent"),
        ({"annual_rate": Decimal("7.9001")}, "annualRatePercent"),
        ({"rate_basis": " "}, "rateBasis"),
        ({"dispute_reference": "PAY-NOPE"}, "disputeReference"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    app: FastAPI, late_and_missing: None, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadUserInput) as refused:
        await _open(app, **change)
    assert refused.value.field == field
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(CompensationClaim)) == 0


async def test_nothing_late_or_missing_is_nothing_to_claim(
    app: FastAPI, make_practice: Any, client: httpx.AsyncClient
) -> None:
    await make_practice(ods_code="A81001", lmc_code="kernow")
    with pytest.raises(BadUserInput) as refused:
        await _open(app)
    assert refused.value.field == "odsCode"
