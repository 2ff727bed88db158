"""Payments' notices on its stream: ``dispute.escalatable`` once a dispute passes 40 days open,
and ``deadline.approaching`` ahead of a practice's to-do list, each published once with a
marker, so a missed daily run loses nothing and a second run publishes nothing.

Every date below is written out by hand from the published rules: PCSE's escalation process
(more than 40 days since the practice first raised the query: raised 1 Oct, escalatable 11
Nov), Type 1/2 certificates by 28 February a year in arrears, the estimate of pensionable pay
by 1 March, the QOF declaration sign-off by 31 May (the service's assumed date); the leads are
this service's (28 and 7 days for pensions, 14 and 3 for QOF)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from payments.detection import service as detection_service
from payments.disputes import service
from payments.models import (
    CertificateType,
    ClaimState,
    Component,
    DeclarationState,
    Outbox,
    PensionCertificate,
    PensionEstimate,
    PracticeClaim,
    QofDeclaration,
)
from payments.planning import notices
from pcse_kit.auth import Principal, Role
from sqlalchemy import select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

MANAGER = Principal(subject="manager@a81001", role=Role.PRACTICE, scope=frozenset({"A81001"}))
OPERATOR = Principal(subject="ops@pcse", role=Role.OPERATOR, scope=frozenset({"payments"}))


async def published(app: FastAPI, type_: str) -> list[tuple[str, dict[str, Any]]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(Outbox).where(Outbox.c.type == type_).order_by(Outbox.c.id)
        )
        return [(row.key, row.payload) for row in rows]


@pytest.fixture
async def claim(app: FastAPI, make_practice: Any, client: httpx.AsyncClient) -> int:
    """A81001 (kernow) with an approved claim of £1,234.50 never paid. (``client`` empties the
    tables after the test.)"""
    await make_practice(ods_code="A81001", lmc_code="kernow")
    async with app.state.sessionmaker.begin() as session:
        row = PracticeClaim(
            ods_code="A81001", reference="ES-2026-09", component=Component.ENHANCED_SERVICE,
            paycode=None, description="Childhood immunisations, September 2026",
            covers_from=date(2026, 9, 1), covers_to=date(2026, 9, 30), amount_pence=1_234_50,
            claimed_on=date(2026, 9, 5), approved_on=date(2026, 9, 15),
            state=ClaimState.APPROVED,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        claim_id: int = row.id
    return claim_id


async def _open(app: FastAPI, claim: int, *, raised_on: date, today: date, key: str) -> str:
    written = await service.open_dispute(
        app.state.sessionmaker, MANAGER, ods_code="A81001", line_id=None, anomaly_id=None,
        claim_id=claim, item=None, amount_claimed_pence=None,
        subject="Approved September immunisations claim not paid", raised_on=raised_on,
        cas_reference="CAS-20261-Q7K2M9", health_service_body=False, idempotency_key=key,
        today=today,
    )  # fmt: skip
    return written.key


async def _daily(app: FastAPI, today: date) -> int:
    async with app.state.sessionmaker.begin() as session:
        return await service.publish_escalatable(session, today=today)


async def test_a_missed_daily_run_is_made_up_the_next_day_and_a_second_run_publishes_nothing(
    app: FastAPI, claim: int
) -> None:
    reference = await _open(
        app, claim, raised_on=date(2026, 10, 1), today=date(2026, 10, 6), key="dispute-n-1"
    )
    # Day 40 (10 Nov): not yet. The run on 11 Nov (day 41) does not happen.
    assert await _daily(app, date(2026, 11, 10)) == 0
    # 12 Nov, day 42: published, with its true age.
    assert await _daily(app, date(2026, 11, 12)) == 1
    assert await _daily(app, date(2026, 11, 12)) == 0
    assert await _daily(app, date(2026, 11, 13)) == 0
    assert await published(app, "dispute.escalatable") == [
        (
            "A81001",
            {
                "reference": reference,
                "odsCode": "A81001",
                "lmcCode": "kernow",
                "openedOn": "2026-10-01",
                "ageDays": 42,  # 30 days of October after the 1st + 12 of November
                "amountClaimed": "1234.50",
            },
        )
    ]


async def test_on_time_on_day_41_through_the_daily_refresh(app: FastAPI, claim: int) -> None:
    await _open(app, claim, raised_on=date(2026, 10, 1), today=date(2026, 10, 6), key="dispute-n-2")
    first = await detection_service.refresh_anomalies(
        app.state.sessionmaker, OPERATOR, ods_codes=None, today=date(2026, 11, 11)
    )
    again = await detection_service.refresh_anomalies(
        app.state.sessionmaker, OPERATOR, ods_codes=None, today=date(2026, 11, 11)
    )
    assert (first.escalatable, again.escalatable) == (1, 0)
    [(_, payload)] = await published(app, "dispute.escalatable")
    assert (payload["openedOn"], payload["ageDays"]) == ("2026-10-01", 41)


async def test_resolved_before_day_41_it_is_never_published(app: FastAPI, claim: int) -> None:
    reference = await _open(
        app, claim, raised_on=date(2026, 10, 1), today=date(2026, 10, 6), key="dispute-n-3"
    )
    await service.resolve_dispute(
        app.state.sessionmaker, MANAGER, reference=reference, outcome="Paid in the November run",
        idempotency_key="dispute-n-3-resolve", today=date(2026, 11, 9),
    )  # fmt: skip
    assert await _daily(app, date(2026, 11, 11)) == 0
    assert await _daily(app, date(2027, 1, 1)) == 0
    assert await published(app, "dispute.escalatable") == []


async def test_a_dispute_recorded_past_its_day_is_published_when_recorded(
    app: FastAPI, claim: int
) -> None:
    # First raised with PCSE on 1 Oct, typed in here on 20 Nov (day 50): published at once.
    await _open(
        app, claim, raised_on=date(2026, 10, 1), today=date(2026, 11, 20), key="dispute-n-4"
    )
    # One raised on 12 Oct and typed in on 20 Nov is day 39: not yet.
    await _open(
        app, claim, raised_on=date(2026, 10, 12), today=date(2026, 11, 20), key="dispute-n-5"
    )
    assert [(p["openedOn"], p["ageDays"]) for _, p in await published(
        app, "dispute.escalatable"
    )] == [("2026-10-01", 50)]  # fmt: skip
    # The daily run publishes nothing again for the first; the second on its day 41, 22 Nov.
    assert await _daily(app, date(2026, 11, 21)) == 0
    assert await _daily(app, date(2026, 11, 22)) == 1
    assert [(p["openedOn"], p["ageDays"]) for _, p in await published(
        app, "dispute.escalatable"
    )] == [("2026-10-01", 50), ("2026-10-12", 41)]  # fmt: skip


def test_the_lead_whose_day_has_come() -> None:
    # Due 28 Feb 2027, leads 28 and 7: from 31 Jan the 28-day one, from 21 Feb the 7-day one;
    # after the day, none (the to-do list shows it overdue).
    due = date(2027, 2, 28)
    assert notices.lead_for(due, (28, 7), today=date(2027, 1, 30)) is None
    assert notices.lead_for(due, (28, 7), today=date(2027, 1, 31)) == 28
    assert notices.lead_for(due, (28, 7), today=date(2027, 2, 20)) == 28
    assert notices.lead_for(due, (28, 7), today=date(2027, 2, 21)) == 7
    assert notices.lead_for(due, (28, 7), today=date(2027, 2, 28)) == 7
    assert notices.lead_for(due, (28, 7), today=date(2027, 3, 1)) is None


async def _deadlines(app: FastAPI, today: date) -> list[tuple[str, str, str, int, int, Any]]:
    async with app.state.sessionmaker.begin() as session:
        await notices.publish_deadlines(session, today=today)
    return [
        (k, p["kind"], p["dueOn"], p["leadDays"], p["daysLeft"], p["gps"])
        for k, p in await published(app, "deadline.approaching")
    ]


async def test_pension_deadlines_are_told_28_and_7_days_ahead_once_each(
    app: FastAPI, client: httpx.AsyncClient, make_practice: Any, make_membership: Any
) -> None:
    # A81001: two GPs in post since 2015, no certificate for 2025/26, no estimate for 2027/28.
    # B82002: its GP has both. C83003: no GP at all.
    for code in ("A81001", "B82002", "C83003"):
        await make_practice(ods_code=code)
    await make_membership(gmc_number="1234567", ods_code="A81001")
    await make_membership(gmc_number="2345678", ods_code="A81001")
    await make_membership(gmc_number="7654321", ods_code="B82002")
    async with app.state.sessionmaker.begin() as session:
        session.add(
            PensionCertificate(
                gmc_number="7654321", financial_year=2025, certificate_type=CertificateType.TYPE_1,
                ods_code="B82002", submitted_on=date(2026, 12, 1),
            )
        )  # fmt: skip
        session.add(
            PensionEstimate(
                gmc_number="7654321", ods_code="B82002", financial_year=2027,
                pensionable_pay_pence=90_000_00, submitted_on=date(2026, 12, 1),
            )
        )  # fmt: skip

    # 2025/26 certificates are due 28 Feb 2027 (28 days ahead: 31 Jan); the 2027/28 estimate
    # 1 Mar 2027 (28 days ahead: 1 Feb).
    assert await _deadlines(app, date(2027, 1, 30)) == []
    cert28 = ("A81001", "pension_certificate", "2027-02-28", 28, 28, 2)
    assert await _deadlines(app, date(2027, 1, 31)) == [cert28]
    est28 = ("A81001", "pension_estimate", "2027-03-01", 28, 28, 2)
    assert await _deadlines(app, date(2027, 2, 1)) == [cert28, est28]
    # The run on 21 Feb (7 days before the certificates) is missed; 22 Feb makes it up (6
    # days left) and is on time for the estimate (1 Mar less 7 days: 22 Feb).
    cert7 = ("A81001", "pension_certificate", "2027-02-28", 7, 6, 2)
    est7 = ("A81001", "pension_estimate", "2027-03-01", 7, 7, 2)
    assert await _deadlines(app, date(2027, 2, 22)) == [cert28, est28, est7, cert7]
    assert await _deadlines(app, date(2027, 2, 22)) == [cert28, est28, est7, cert7]
    _, payload = (await published(app, "deadline.approaching"))[0]
    assert payload["source"].startswith("PCSE: Type 1 and Type 2 certificates due 28 February")
    assert "Type 1 / Type 2 certificate" in payload["action"]
    assert payload["financialYear"] == 2025


async def test_the_qof_sign_off_is_told_14_and_3_days_ahead_unless_signed(
    app: FastAPI, client: httpx.AsyncClient, make_practice: Any
) -> None:
    for code in ("A81001", "B82002"):
        await make_practice(ods_code=code)
    async with app.state.sessionmaker.begin() as session:
        session.add(
            QofDeclaration(
                ods_code="B82002", financial_year=2026, achievement_pence=150_000_00,
                state=DeclarationState.AWAITING_COMMISSIONER_APPROVAL,
                declared_on=date(2027, 5, 10),
            )
        )  # fmt: skip
    # 2026/27's sign-off by 31 May 2027: 14 days ahead is 17 May, 3 days ahead 28 May.
    assert await _deadlines(app, date(2027, 5, 16)) == []
    assert await _deadlines(app, date(2027, 5, 17)) == [
        ("A81001", "qof_declaration", "2027-05-31", 14, 14, None)
    ]
    assert await _deadlines(app, date(2027, 5, 28)) == [
        ("A81001", "qof_declaration", "2027-05-31", 14, 14, None),
        ("A81001", "qof_declaration", "2027-05-31", 3, 3, None),
    ]
    assert len(await _deadlines(app, date(2027, 6, 1))) == 2  # past the day: nothing more
