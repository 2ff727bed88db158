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
    CertificateType,
    Component,
    Dispute,
    PensionCertificate,
    PerformerMembership,
    PracticeDirectory,
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
      note: "Acknowledged", evidence: [{label: "CAS number", value: "CAS-0000123"}],
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
        await session.execute(
            update(Dispute).values(opened_at=datetime.now(UTC) - timedelta(days=41))
        )
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
    for expected in (dispute["reference"], "£10,278.33", "CAS-0000123", "escalate", "41 days"):
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
                  practicesAffected practiceCodes }
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
    assert by_kind["MISSING"] == {
        "kind": "MISSING",
        "count": 1,
        "amountAtStake": "10278.33",
        "owedToPractices": "10278.33",
        "repayableByPractices": "0.00",
        "practicesAffected": 1,
        "practiceCodes": ["A81001"],
    }
    assert by_kind["LATE"]["count"] == 0
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
