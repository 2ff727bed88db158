"""Disputes, the LMC summary, a performer's pensions and the directory copy from events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from payments.detection import service
from payments.directory import consumer as directory
from payments.models import (
    Anomaly,
    AnomalyKind,
    CertificateType,
    Component,
    Direction,
    Dispute,
    PensionCertificate,
    PerformerMembership,
    PracticeDirectory,
    Severity,
)
from pcse_kit.dates import today
from pcse_kit.db import StatementCounter
from pcse_kit.events import Event, MalformedEvent
from pcse_kit.testing import Token, graphql
from sqlalchemy import select, update

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

GP = "1234567"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.fixture
async def missing(app: FastAPI, make_practice: Any, make_list_size: Any, make_line: Any) -> int:
    """A81001 (kernow) with January's global sum missing; the anomaly's id. On a weighted list
    of 1,000 at £123.34 a weighted patient, a month is 1,000 x 123.34 / 12 = £10,278.33."""
    await make_practice(ods_code="A81001", lmc_code="kernow", list_size=1_000)
    for quarter in (date(2025, 10, 1), date(2026, 1, 1)):
        await make_list_size(quarter=quarter, registered=1_000, weighted=Decimal("1000.00"))
    await make_practice(ods_code="B82002", lmc_code="essex")
    await make_line(period=date(2025, 12, 1), component=Component.GLOBAL_SUM, amount=1_027_833)
    await make_line(period=date(2026, 1, 1), component=Component.DRUGS, amount=500, paycode="DRUGS")
    async with app.state.sessionmaker.begin() as session:
        await service.sync_anomalies(session, ["A81001"], today=date(2026, 2, 10))
        anomaly = await session.scalar(
            select(Anomaly).where(Anomaly.covers_from == date(2026, 1, 1))
        )
    assert anomaly is not None
    anomaly_id: int = anomaly.id
    return anomaly_id


OPEN = """
mutation ($ods: String!, $anomaly: ID, $line: ID, $key: String!) {
  openDispute(input: {odsCode: $ods, anomalyId: $anomaly, lineId: $line,
                      subject: "January global sum not paid", idempotencyKey: $key}) {
    reference ageDays escalatable timeline { kind note evidence { label value } }
  }
}
"""
STEP = """
mutation ($ref: String!, $key: String!, $on: Date!) {
  addDisputeEvent(input: {reference: $ref, kind: RECEIPT, occurredOn: $on,
      note: "Acknowledged", evidence: [{label: "CAS number", value: "CAS-0000123-A1B2C3"}],
      idempotencyKey: $key}) {
    timeline { kind } latePaymentNotice
  }
}
"""


async def test_a_practice_disputes_an_anomaly_with_a_timeline_and_a_notice(
    app: FastAPI, missing: int, client: httpx.AsyncClient, token: Token
) -> None:
    practice = token("practice", ["A81001"], subject="manager@a81001")
    opened = await graphql(
        client,
        OPEN,
        {"ods": "A81001", "anomaly": str(missing), "key": "dispute-0001"},
        token=practice,
    )
    dispute = opened["data"]["openDispute"]
    assert dispute["reference"].startswith("PAY-")
    assert (dispute["ageDays"], dispute["escalatable"]) == (0, False)
    [step] = dispute["timeline"]
    assert step["kind"] == "OPENED"
    assert {"label": "Expected", "value": "£10,278.33 by 2026-01-31"} in step["evidence"]

    added = await graphql(
        client,
        STEP,
        {"ref": dispute["reference"], "key": "dispute-step-1", "on": str(today())},
        token=practice,
    )
    assert [s["kind"] for s in added["data"]["addDisputeEvent"]["timeline"]] == [
        "OPENED",
        "RECEIPT",
    ]

    # Forty-one days on, the LMC may escalate it, and the notice says so.
    async with app.state.sessionmaker.begin() as session:
        await session.execute(update(Dispute).values(raised_on=today() - timedelta(days=41)))
    later = await graphql(
        client,
        "query ($ods: String!) { practicePayments(odsCode: $ods) { disputes { reference ageDays "
        "escalatable latePaymentNotice anomaly { kind } } } }",
        {"ods": "A81001"},
        token=practice,
    )
    [shown] = later["data"]["practicePayments"]["disputes"]
    assert (shown["ageDays"], shown["escalatable"]) == (41, True)
    assert shown["anomaly"] == {"kind": "MISSING"}
    notice = shown["latePaymentNotice"]
    for expected in (
        dispute["reference"],
        "£10,278.33",
        "CAS-0000123-A1B2C3",
        "escalate",
        "41 days",
    ):
        assert expected in notice


async def test_another_practice_can_neither_dispute_nor_see_a_practices_lines(
    missing: int, make_line: Any, client: httpx.AsyncClient, token: Token
) -> None:
    line = await make_line(
        ods_code="B82002", period=date(2026, 1, 1), component=Component.DRUGS, amount=1,
        paycode="DRUGS",
    )  # fmt: skip
    own = token("practice", ["A81001"])
    theirs = await graphql(
        client, OPEN, {"ods": "A81001", "line": str(line), "key": "dispute-0002"}, token=own
    )
    other = await graphql(
        client, OPEN, {"ods": "B82002", "anomaly": str(missing), "key": "dispute-0003"}, token=own
    )
    assert theirs["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "lineId"}
    assert codes(other) == ["FORBIDDEN"]


SUMMARY = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Lmc { code paymentsSummary { practices escalatableDisputes
      anomalies { kind count amountAtStake owedToPractices repayableByPractices
                  suppressed practicesAffected practiceCodes }
      openDisputes { reference odsCode ageDays } } }
  }
}
"""


@pytest.mark.parametrize(
    ("role", "scope", "allowed"),
    [
        ("lmc", ["kernow"], True),
        ("operator", ["payments"], True),
        ("admin", [], True),
        ("lmc", ["essex"], False),
        ("practice", ["A81001"], False),
        ("accountant", [], False),
        ("operator", ["performers"], False),
    ],
)
async def test_the_lmc_summary_is_for_the_lmc_and_payments_operators(
    missing: int,
    client: httpx.AsyncClient,
    token: Token,
    role: str,
    scope: list[str],
    allowed: bool,
) -> None:
    body = await graphql(
        client,
        SUMMARY,
        {"reps": [{"__typename": "Lmc", "code": "kernow"}]},
        token=token(role, scope),
    )
    [entity] = body["data"]["_entities"]
    if not allowed:
        assert entity["paymentsSummary"] is None
        assert codes(body) == ["FORBIDDEN"]
        return
    summary = entity["paymentsSummary"]
    assert summary["practices"] == 1
    by_kind = {a["kind"]: a for a in summary["anomalies"]}
    assert len(by_kind) == 10
    if role == "lmc":
        # One practice's missing global sum: the LMC learns which practice, never how much.
        assert by_kind["MISSING"] == {
            "kind": "MISSING",
            "count": None,
            "amountAtStake": None,
            "owedToPractices": None,
            "repayableByPractices": "0.00",
            "suppressed": True,
            "practicesAffected": 1,
            "practiceCodes": ["A81001"],
        }
    else:
        assert by_kind["MISSING"] == {
            "kind": "MISSING",
            "count": 1,
            "amountAtStake": "10278.33",
            "owedToPractices": "10278.33",
            "repayableByPractices": "0.00",
            "suppressed": False,
            "practicesAffected": 1,
            "practiceCodes": ["A81001"],
        }
    assert by_kind["LATE"]["count"] == 0
    assert by_kind["LATE"]["suppressed"] is False
    assert summary["openDisputes"] == []


PENSIONS = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Performer { gmcNumber pensions {
      firstMissingYear
      years { financialYear label posts { odsCode } tierRate certificateStatus blockedBy
              expectedDeductions takenDeductions }
      locumForms { odsCode pensionable dueOn problems }
    } }
  }
}
"""


@pytest.fixture
async def pension(
    app: FastAPI, make_practice: Any, make_membership: Any, client: httpx.AsyncClient
) -> None:
    await make_practice(ods_code="A81001")
    await make_practice(ods_code="B82002", lmc_code="essex")
    await make_membership(gmc_number=GP, ods_code="A81001")
    operator = {"authorization": client.headers["authorization"]}
    del operator  # the admin client records the facts
    for year, pay in ((2024, "61000.00"), (2025, "64000.00")):
        body = await graphql(
            client,
            """mutation ($y: Int!, $pay: Decimal!, $key: String!) {
              recordPensionEstimate(input: {gmcNumber: "1234567", odsCode: "A81001",
                financialYear: $y, pensionablePay: $pay, submittedOn: "2024-02-20",
                idempotencyKey: $key}) { gmcNumber } }""",
            {"y": year, "pay": pay, "key": f"estimate-{year}"},
        )
        assert "errors" not in body, body
    async with app.state.sessionmaker.begin() as session:
        session.add(
            PensionCertificate(
                gmc_number=GP, financial_year=2024, certificate_type=CertificateType.TYPE_1,
                ods_code="A81001", submitted_on=date(2026, 1, 5), processed_on=None,
            )
        )  # fmt: skip
    form = await graphql(
        client,
        """mutation { recordLocumForm(input: {gmcNumber: "1234567", odsCode: "A81001", form: A,
            workFrom: "2026-06-01", workTo: "2026-06-30", submittedOn: "2026-08-20",
            bacsReference: "12345678LOCJUN2026", pensionablePay: "5000.00",
            idempotencyKey: "locum-form-1"}) { gmcNumber } }""",
    )
    assert "errors" not in form, form


@pytest.mark.usefixtures("pension")
async def test_a_practice_sees_its_gps_pension_years_certificates_and_forms(
    client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(
        client, PENSIONS, {"reps": [{"__typename": "Performer", "gmcNumber": GP}]},
        token=token("practice", ["A81001"]),
    )  # fmt: skip

    assert "errors" not in body, body
    pensions = body["data"]["_entities"][0]["pensions"]
    years = {y["financialYear"]: y for y in pensions["years"]}
    assert years[2024]["tierRate"] == "10.7000"  # £61,000 in 2024/25
    assert years[2025]["tierRate"] == "10.7000"  # £64,000 in 2025/26
    assert years[2024]["certificateStatus"] == "SUBMITTED"
    assert years[2025]["certificateStatus"] == "NOT_YET_DUE"  # due 28 February 2027
    assert pensions["firstMissingYear"] is None
    [form] = pensions["locumForms"]
    assert form["dueOn"] == "2026-07-07"
    assert form["pensionable"] is False  # 80 days after the work began
    assert len(form["problems"]) == 2


@pytest.mark.usefixtures("pension")
async def test_a_missing_certificate_blocks_every_later_year(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker.begin() as session:
        session.add(
            PensionCertificate(
                gmc_number=GP, financial_year=2022, certificate_type=CertificateType.TYPE_1,
                ods_code="A81001", submitted_on=date(2023, 12, 1), processed_on=date(2024, 1, 9),
            )
        )  # fmt: skip
    body = await graphql(client, PENSIONS, {"reps": [{"__typename": "Performer", "gmcNumber": GP}]})

    pensions = body["data"]["_entities"][0]["pensions"]
    years = {y["financialYear"]: y for y in pensions["years"]}
    assert years[2022]["certificateStatus"] == "PROCESSED"
    assert years[2023]["certificateStatus"] == "OVERDUE"  # due 28 February 2025
    assert years[2024]["blockedBy"] == 2023
    assert pensions["firstMissingYear"] == 2023


@pytest.mark.parametrize(
    ("role", "scope"),
    [("practice", ["B82002"]), ("lmc", ["kernow"]), ("accountant", []), ("operator", ["records"])],
)
@pytest.mark.usefixtures("pension")
async def test_no_one_else_sees_a_gps_pension(
    client: httpx.AsyncClient, token: Token, role: str, scope: list[str]
) -> None:
    body = await graphql(
        client, PENSIONS, {"reps": [{"__typename": "Performer", "gmcNumber": GP}]},
        token=token(role, scope),
    )  # fmt: skip
    assert body["data"]["_entities"][0]["pensions"] is None
    assert codes(body) == ["FORBIDDEN"]


def event(type_: str, payload: dict[str, Any]) -> Event:
    return Event(
        event_id=uuid.uuid4(), stream="performers", type=type_, key="k", payload=payload,
        occurred_at=datetime.now(UTC), position=1,
    )  # fmt: skip


MEMBERSHIP = {
    "membershipId": 77, "gmcNumber": GP, "odsCode": "A81001", "role": "salaried",
    "startDate": "2020-01-01", "endDate": None,
}  # fmt: skip


@pytest.mark.usefixtures("client")
async def test_directory_events_keep_the_copy_and_a_leaver_is_flagged_at_once(
    app: FastAPI, make_line: Any
) -> None:
    await make_line(
        period=date(2026, 3, 1), component=Component.EMPLOYEE_SUPERANNUATION, amount=-400_00,
        paycode="SUPEREE", gmc_number=GP,
    )  # fmt: skip
    practice = {
        "odsCode": "A81001", "name": "Abbey Fields", "lmcCode": "kernow", "icbCode": "QT6",
        "subIcbCode": "11N", "status": "active", "listSize": 9000,
    }  # fmt: skip
    async with app.state.sessionmaker.begin() as session:
        await directory.apply(session, event("practice.upserted", practice))
        await directory.apply(session, event("practice.upserted", {**practice, "listSize": 9100}))
        await directory.apply(session, event("membership.started", MEMBERSHIP))
        # A type payments has no use for is skipped.
        await directory.apply(session, event("performer.registration_recorded", {"gmcNumber": GP}))
    # A payload it cannot read is the consumer's to dead-letter, and writes nothing.
    async with app.state.sessionmaker() as session:
        with pytest.raises(MalformedEvent, match=r"membership\.started"):
            await directory.apply(session, event("membership.started", {"odsCode": 7}))
    async with app.state.sessionmaker() as session:
        copy = await session.get(PracticeDirectory, "A81001")
        assert copy is not None
        assert copy.list_size == 9100
        assert await session.scalar(select(Anomaly)) is None

    async with app.state.sessionmaker.begin() as session:
        await directory.apply(
            session, event("membership.ended", {**MEMBERSHIP, "endDate": "2026-01-31"})
        )
    async with app.state.sessionmaker() as session:
        [membership] = list(await session.scalars(select(PerformerMembership)))
        leaver = await session.scalar(select(Anomaly))
    assert (membership.membership_id, membership.end_date) == (77, date(2026, 1, 31))
    assert leaver is not None
    assert leaver.kind.value == "leaver_superannuation"


@pytest.mark.usefixtures("client")
async def test_an_event_that_changes_nothing_judges_nothing_again(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole directory published again (a replay, a new consumer) costs a write an event.
    judged: list[list[str]] = []

    async def sync(_session: Any, codes: list[str], **_: Any) -> None:
        judged.append(list(codes))

    monkeypatch.setattr(service, "sync_anomalies", sync)
    practice = {"odsCode": "A81001", "name": "Abbey Fields", "lmcCode": "kernow",
                "listSize": 9000, "contractType": "GMS"}  # fmt: skip
    quarter = {"odsCode": "A81001", "quarterStart": "2026-01-01", "registeredPatients": 9000,
               "weightedPatients": "9450.25"}  # fmt: skip
    status = {"gmcNumber": GP, "effectiveDate": "2026-02-01", "from": "included",
              "to": "suspended"}  # fmt: skip
    async with app.state.sessionmaker.begin() as session:
        session.add(PracticeDirectory(ods_code="A81001", name="Abbey Fields", lmc_code="kernow",
                                      list_size=9000, status="active"))  # fmt: skip
    for _ in range(2):
        async with app.state.sessionmaker.begin() as session:
            await directory.apply(session, event("practice.upserted", practice))
            await directory.apply(session, event("practice.list_size_recorded", quarter))
            await directory.apply(session, event("membership.started", MEMBERSHIP))
            await directory.apply(session, event("performer.status_changed", status))
    # The contract type is new, the rest was not known: judged once each, then not again.
    assert judged == [["A81001"]] * 4


@pytest.mark.usefixtures("client")
async def test_a_membership_loaded_from_the_demo_converges_with_its_events(app: FastAPI) -> None:
    async with app.state.sessionmaker.begin() as session:
        session.add(
            PerformerMembership(
                gmc_number=GP, ods_code="A81001", role="salaried", start_date=date(2020, 1, 1)
            )
        )
    async with app.state.sessionmaker.begin() as session:
        await directory.apply(
            session, event("membership.ended", {**MEMBERSHIP, "endDate": "2026-01-31"})
        )
    async with app.state.sessionmaker() as session:
        [membership] = list(await session.scalars(select(PerformerMembership)))
    assert (membership.membership_id, membership.end_date) == (77, date(2026, 1, 31))


async def test_anomalies_of_many_practices_cost_a_constant_number_of_statements(
    app: FastAPI, make_line: Any, client: httpx.AsyncClient
) -> None:
    practices = [f"A{81001 + i}" for i in range(20)]
    for code in practices:
        await make_line(
            ods_code=code,
            period=date(2026, 1, 1),
            component=Component.DRUGS,
            amount=1,
            paycode="DRUGS",
        )
        await make_line(
            ods_code=code,
            period=date(2026, 1, 1),
            component=Component.DRUGS,
            amount=1,
            paycode="DRUGS",
        )
    async with app.state.sessionmaker.begin() as session:
        await service.sync_anomalies(session, practices, today=date(2026, 2, 1))
    query = """
    query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Practice {
      payments { anomalies { nodes { kind lines { amount } } } expected { amount } } } } }
    """
    counts = []
    for batch in (practices[:1], practices):
        reps = [{"__typename": "Practice", "odsCode": code} for code in batch]
        with StatementCounter().attached(app.state.engine) as counter:
            body = await graphql(client, query, {"reps": reps})
        assert "errors" not in body, body
        assert all(e["payments"]["anomalies"]["nodes"] for e in body["data"]["_entities"])
        counts.append(counter.count)
    assert counts[0] == counts[1]


async def _open_anomalies(app: FastAPI, found: list[tuple[str, str, int, Direction]]) -> None:
    """Open anomalies as detection keeps them: (practice, kind, pence at stake, direction)."""
    async with app.state.sessionmaker.begin() as session:
        for n, (code, kind, pence, direction) in enumerate(found):
            session.add(
                Anomaly(
                    fingerprint=f"test-{n}", ods_code=code, kind=AnomalyKind(kind),
                    severity=Severity.HIGH, component=Component.GLOBAL_SUM,
                    covers_from=date(2026, 1, 1), covers_to=date(2026, 1, 31),
                    amount_at_stake_pence=pence, direction=direction, summary="test",
                    evidence={},
                )
            )  # fmt: skip


async def test_an_lmc_sees_no_figure_made_from_fewer_than_eight_practices(
    app: FastAPI, make_practice: Any, client: httpx.AsyncClient, token: Token
) -> None:
    codes = [f"K0000{n}" for n in range(1, 10)]  # nine practices in kernow
    for code in codes:
        await make_practice(ods_code=code, lmc_code="kernow")
    owed, repayable = Direction.OWED_TO_PRACTICE, Direction.REPAYABLE_BY_PRACTICE
    await _open_anomalies(
        app,
        # MISSING at 8 practices, £100.00 each, and a second one of £50.00 at K00001.
        [(code, "missing", 100_00, owed) for code in codes[:8]]
        + [("K00001", "missing", 50_00, owed)]
        # WRONG_TIER at 7 practices, £10.00 each to repay.
        + [(code, "wrong_tier", 10_00, repayable) for code in codes[:7]]
        # LATE at all 9: 8 owed £20.00 each, and K00009 £5.00 to repay.
        + [(code, "late", 20_00, owed) for code in codes[:8]]
        + [("K00009", "late", 5_00, repayable)],
    )

    body = await graphql(
        client, SUMMARY, {"reps": [{"__typename": "Lmc", "code": "kernow"}]},
        token=token("lmc", ["kernow"]),
    )  # fmt: skip

    assert "errors" not in body, body
    by_kind = {a["kind"]: a for a in body["data"]["_entities"][0]["paymentsSummary"]["anomalies"]}
    assert (
        by_kind["MISSING"]
        == {
            "kind": "MISSING",
            "count": 10,  # 9 anomalies, rounded to the nearest 5
            "amountAtStake": "850.00",  # 8 x 100.00 + 50.00, from 8 practices
            "owedToPractices": "850.00",
            "repayableByPractices": "0.00",  # no practice
            "suppressed": False,
            "practicesAffected": 8,
            "practiceCodes": codes[:8],
        }
    )
    assert (
        by_kind["WRONG_TIER"]
        == {
            "kind": "WRONG_TIER",
            "count": None,  # 7 practices: which ones, not how many nor how much
            "amountAtStake": None,
            "owedToPractices": "0.00",
            "repayableByPractices": None,
            "suppressed": True,
            "practicesAffected": 7,
            "practiceCodes": codes[:7],
        }
    )
    assert by_kind["LATE"] == {
        "kind": "LATE",
        "count": 10,  # 9 anomalies
        # 165.00 less the 160.00 owed would be K00009's 5.00: the total is withheld too.
        "amountAtStake": None,
        "owedToPractices": "160.00",  # 8 x 20.00, from 8 practices
        "repayableByPractices": None,  # one practice's 5.00
        "suppressed": True,
        "practicesAffected": 9,
        "practiceCodes": codes,
    }
    assert by_kind["DUPLICATE"]["count"] == 0
    assert by_kind["DUPLICATE"]["amountAtStake"] == "0.00"


TRENDS = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) { ... on Lmc { paymentsSummary { trends(months: 3) {
    kind component paymaster
    months { month raised amountRaised raisedPer100Practices englandMedianRaisedPer100Practices
             amountPerPractice englandMedianAmountPerPractice resolved medianDaysToResolve
             englandMedianDaysToResolve suppressed }
  } } } }
}
"""


def _month_back(months: int) -> date:
    first = today().replace(day=1)
    index = first.year * 12 + first.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


async def _trend_anomalies(
    app: FastAPI, found: list[tuple[str, str, Component, int, datetime, datetime | None]]
) -> None:
    """(practice, kind, component, pence, first detected, resolved), owed to the practice."""
    async with app.state.sessionmaker.begin() as session:
        for n, (code, kind, component, pence, first, resolved) in enumerate(found):
            session.add(
                Anomaly(
                    fingerprint=f"trend-{n}", ods_code=code, kind=AnomalyKind(kind),
                    severity=Severity.HIGH, component=component,
                    covers_from=first.date().replace(day=1), covers_to=None,
                    amount_at_stake_pence=pence, direction=Direction.OWED_TO_PRACTICE,
                    summary="test", evidence={}, first_detected_at=first, last_detected_at=first,
                    resolved_at=resolved,
                )
            )  # fmt: skip


@pytest.fixture
async def trends_data(app: FastAPI, make_practice: Any) -> list[date]:
    """Three LMCs: kernow (8 practices), essex (2) and wessex (10, no problem). Two months
    back, kernow's 8 practices each have a global sum of £100.00 missing, 5 of them put right
    30, 32, 34, 36 and 38 days later (last month), and 2 of them a wrong tier; one of essex's
    2 practices has £50.00 missing, put right 10 days later (the same month)."""
    kernow = [f"K0000{n}" for n in range(1, 9)]
    for code in kernow:
        await make_practice(ods_code=code, lmc_code="kernow")
    for code in ("E00001", "E00002"):
        await make_practice(ods_code=code, lmc_code="essex")
    for n in range(10):
        await make_practice(ods_code=f"W0000{n}", lmc_code="wessex")
    two_back, last = _month_back(2), _month_back(1)
    raised = datetime(two_back.year, two_back.month, 10, 12, tzinfo=UTC)
    days = [30, 32, 34, 36, 38, None, None, None]
    await _trend_anomalies(
        app,
        [
            (code, "missing", Component.GLOBAL_SUM, 100_00, raised,
             None if d is None else raised + timedelta(days=d))
            for code, d in zip(kernow, days, strict=True)
        ]
        + [(code, "wrong_tier", Component.EMPLOYEE_SUPERANNUATION, 10_00, raised, None)
           for code in kernow[:2]]
        + [("E00001", "missing", Component.GLOBAL_SUM, 50_00, raised,
            raised + timedelta(days=10))],
    )  # fmt: skip
    return [two_back, last, _month_back(0)]


def _zero(month: date, *, england_days: float | None = None) -> dict[str, Any]:
    return {
        "month": month.isoformat(), "raised": 0, "amountRaised": "0.00",
        "raisedPer100Practices": 0.0, "englandMedianRaisedPer100Practices": 0.0,
        "amountPerPractice": "0.00", "englandMedianAmountPerPractice": "0.00", "resolved": 0,
        "medianDaysToResolve": None, "englandMedianDaysToResolve": england_days,
        "suppressed": False,
    }  # fmt: skip


async def test_an_lmcs_trends_by_kind_component_and_paymaster_beside_englands_median(
    app: FastAPI, trends_data: list[date], client: httpx.AsyncClient, token: Token
) -> None:
    two_back, last, this = trends_data
    reps = {"reps": [{"__typename": "Lmc", "code": "kernow"}]}

    body = await graphql(client, TRENDS, reps, token=token("lmc", ["kernow"]))

    assert "errors" not in body, body
    missing, wrong_tier = body["data"]["_entities"][0]["paymentsSummary"]["trends"]
    assert (missing["kind"], missing["component"], missing["paymaster"]) == (
        "MISSING", "GLOBAL_SUM", "ICB",  # delegated to the ICBs from 1 July 2022
    )  # fmt: skip
    assert missing["months"] == [
        {
            "month": two_back.isoformat(),
            "raised": 10,  # 8, from 8 practices, rounded to the nearest 5
            "amountRaised": "800.00",  # 8 x 100.00
            "raisedPer100Practices": 125.0,  # 10 x 100 / 8
            # kernow 8 x 100 / 8 = 100, essex 1 x 100 / 2 = 50, wessex 0: the median is 50
            "englandMedianRaisedPer100Practices": 50.0,
            "amountPerPractice": "100.00",  # 800.00 / 8
            # kernow 100.00, essex 50.00 / 2 = 25.00, wessex 0.00: the median is 25.00
            "englandMedianAmountPerPractice": "25.00",
            "resolved": 0,
            "medianDaysToResolve": None,
            "englandMedianDaysToResolve": 10.0,  # essex's one, 10 days
            "suppressed": False,
        },
        {
            **_zero(last, england_days=34.0),  # 30, 32, 34, 36, 38 days: the median is 34
            # 5 put right, at 5 practices: withheld from the LMC
            "resolved": None,
            "suppressed": True,
        },
        _zero(this),
    ]
    assert (wrong_tier["kind"], wrong_tier["component"], wrong_tier["paymaster"]) == (
        "WRONG_TIER", "EMPLOYEE_SUPERANNUATION", None,  # no commissioner rule says whose
    )  # fmt: skip
    assert wrong_tier["months"][0] == {
        **_zero(two_back),
        # 2 practices: withheld
        "raised": None, "amountRaised": None, "raisedPer100Practices": None,
        "amountPerPractice": None, "suppressed": True,
        # kernow 2 x 100 / 8 = 25, essex 0, wessex 0: the median is 0
        "englandMedianRaisedPer100Practices": 0.0,
    }  # fmt: skip

    # Payments operators see the figures withheld from the LMC.
    exact = await graphql(client, TRENDS, reps, token=token("operator", ["payments"]))
    missing_exact = exact["data"]["_entities"][0]["paymentsSummary"]["trends"][0]
    assert missing_exact["months"][0]["raised"] == 8
    assert missing_exact["months"][1]["resolved"] == 5
    assert missing_exact["months"][1]["medianDaysToResolve"] == 34.0


async def test_an_lmcs_trends_take_the_same_statements_however_many_practices_and_lmcs(
    app: FastAPI,
    trends_data: list[date],
    make_practice: Any,
    client: httpx.AsyncClient,
    token: Token,
) -> None:
    """The area's and England's figures in one statement, the areas' sizes in another: never
    a statement per practice or per LMC."""
    reps = {"reps": [{"__typename": "Lmc", "code": "kernow"}]}
    query = TRENDS.replace("paymentsSummary {", "paymentsSummary { practices")
    counts = []
    for more in range(2):
        for n in range(20):
            await make_practice(ods_code=f"X{more}{n:04d}", lmc_code=f"lmc-{more}-{n % 5}")
        with StatementCounter().attached(app.state.engine) as counter:
            body = await graphql(client, query, reps, token=token("lmc", ["kernow"]))
        assert "errors" not in body, body
        counts.append(counter.count)
    # The summary: the area's practices, anomalies by kind, disputes (3); the trends: every
    # LMC's and England's figures, and the LMCs' sizes (2).
    assert counts == [5, 5]


@pytest.mark.parametrize("months", [0, 25])
async def test_trends_over_a_window_out_of_bounds_are_refused(
    client: httpx.AsyncClient, token: Token, months: int
) -> None:
    body = await graphql(
        client,
        "query ($reps: [_Any!]!, $m: Int!) { _entities(representations: $reps) { ... on Lmc { "
        "paymentsSummary { trends(months: $m) { kind } } } } }",
        {"reps": [{"__typename": "Lmc", "code": "kernow"}], "m": months},
        token=token("lmc", ["kernow"]),
    )
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "months"}
