"""Keeping the list true through the API: new entrants, registrations, decisions that take
effect, corrections with evidence, the published list, and who may do each."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.dates import today
from pcse_kit.testing import Token, graphql
from performers.models import AuditEvent, ChangeKind, ListStatus, Membership, Outbox, Role
from sqlalchemy import select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

TODAY = today()


@pytest.fixture
async def practice(make_lmc: Any, make_practice: Any) -> str:
    await make_lmc()
    return str(await make_practice())


APPLY = """
mutation ($gmc: String!, $key: String!, $received: Date, $evidence: String) {
  applyForInclusion(input: {gmcNumber: $gmc, givenName: "Ada", familyName: "Okafor",
      dateOfBirth: "1990-02-03", gmcRegisteredOn: "2014-08-06", gpRegisterOn: "2023-08-02",
      odsCode: "A81001", receivedOn: $received, evidence: $evidence, idempotencyKey: $key}) {
    reference kind submittedOn completeOn decisionDueBy goodwillFrom open
  }
}
"""
OPEN_JOINING = """
mutation ($gmc: String!, $key: String!, $start: Date!) {
  openChangeRequest(input: {kind: JOINING, gmcNumber: $gmc, odsCode: "A81001",
                            role: SALARIED, effectiveOn: $start, idempotencyKey: $key}) {
    reference submittedOn
  }
}
"""
DECIDE = """
mutation ($ref: String!, $key: String!, $on: Date!) {
  decideChangeRequest(input: {reference: $ref, outcome: APPROVED, decidedOn: $on,
                              idempotencyKey: $key}) { outcome decidedOn }
}
"""
PERFORMER = """
query ($gmc: String!) { performer(gmcNumber: $gmc) {
  status gpRegisterOn statusHistory { fromStatus toStatus }
  memberships { role startDate practice { odsCode } }
} }
"""


async def outbox(app: FastAPI) -> list[tuple[str, str]]:
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(Outbox).order_by(Outbox.c.id))).all()
    return [(row.type, row.key) for row in rows]


async def test_a_new_entrant_applies_is_included_and_joins_a_practice(
    app: FastAPI, practice: str, client: httpx.AsyncClient, token: Token
) -> None:
    own = token("practice", ["A81001"])
    applied = await graphql(client, APPLY, {"gmc": "7000001", "key": "apply-0001"})
    application = applied["data"]["applyForInclusion"]
    assert application == {
        "reference": application["reference"],
        "kind": "INCLUSION",
        "submittedOn": str(TODAY),
        "completeOn": str(TODAY),
        "decisionDueBy": str(TODAY + timedelta(weeks=12)),
        "goodwillFrom": str(TODAY + timedelta(weeks=16)),
        "open": True,
    }
    # Until an operator approves a joining, the practice sees nothing of the GP.
    hidden = await graphql(client, PERFORMER, {"gmc": "7000001"}, token=own)
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    included = await graphql(
        client, DECIDE, {"ref": application["reference"], "key": "decide-0001", "on": str(TODAY)}
    )
    assert included["data"]["decideChangeRequest"]["outcome"] == "APPROVED"

    joining = await graphql(
        client,
        OPEN_JOINING,
        {"gmc": "7000001", "key": "join-00001", "start": str(TODAY)},
        token=own,
    )
    reference = joining["data"]["openChangeRequest"]["reference"]
    assert joining["data"]["openChangeRequest"]["submittedOn"] == str(TODAY)
    await graphql(client, DECIDE, {"ref": reference, "key": "decide-0002", "on": str(TODAY)})

    seen = await graphql(client, PERFORMER, {"gmc": "7000001"}, token=own)
    assert seen["data"]["performer"] == {
        "status": "INCLUDED",
        "gpRegisterOn": "2023-08-02",
        "statusHistory": [
            {"fromStatus": None, "toStatus": "PENDING"},
            {"fromStatus": "PENDING", "toStatus": "INCLUDED"},
        ],
        "memberships": [
            {"role": "SALARIED", "startDate": str(TODAY), "practice": {"odsCode": "A81001"}}
        ],
    }
    assert await outbox(app) == [
        ("performer.status_changed", "7000001"),
        ("change_request.opened", application["reference"]),
        ("performer.status_changed", "7000001"),
        ("change_request.decided", application["reference"]),
        ("change_request.opened", reference),
        ("membership.started", "7000001"),
        ("lmc.list_movement", "kernow"),
        ("change_request.decided", reference),
    ]


async def test_an_approval_past_16_weeks_publishes_the_facts_of_a_goodwill_claim(
    app: FastAPI, practice: str, client: httpx.AsyncClient
) -> None:
    received = TODAY - timedelta(days=130)
    applied = await graphql(
        client,
        APPLY,
        {
            "gmc": "7000002",
            "key": "apply-0002",
            "received": str(received),
            "evidence": "NPL1 received by post, date-stamped",
        },
    )
    reference = applied["data"]["applyForInclusion"]["reference"]
    await graphql(client, DECIDE, {"ref": reference, "key": "decide-0003", "on": str(TODAY)})

    async with app.state.sessionmaker() as session:
        payload = (
            await session.execute(
                select(Outbox.c.payload).where(
                    Outbox.c.type == "change_request.goodwill_compensation_may_apply"
                )
            )
        ).scalar_one()
    # 16 weeks = 112 days after receipt; decided 130 days after: 18 days, 2 whole weeks.
    assert payload["reference"] == reference
    assert payload["gmcNumber"] == "7000002"
    assert payload["odsCode"] == "A81001"
    assert payload["lmcCode"] == "kernow"
    assert payload["completeOn"] == str(received)
    assert payload["decidedOn"] == str(TODAY)
    assert payload["sixteenWeeksPassedOn"] == str(received + timedelta(days=112))
    assert payload["daysBeyondSixteenWeeks"] == 18
    assert payload["weeksBeyondSixteen"] == 2


async def test_approvals_take_effect_by_kind(
    app: FastAPI, practice: str, make_performer: Any, client: httpx.AsyncClient, token: Token
) -> None:
    registrar = await make_performer(
        cct_date=None, under_training_supervision=True, role=Role.REGISTRAR
    )
    own = token("practice", ["A81001"])
    opened = await graphql(
        client,
        """mutation ($gmc: String!) {
          cct: openChangeRequest(input: {kind: CCT, gmcNumber: $gmc, odsCode: "A81001",
              effectiveOn: "2026-02-04", idempotencyKey: "cct-000001"}) { reference }
          register: openChangeRequest(input: {kind: GP_REGISTER, gmcNumber: $gmc,
              odsCode: "A81001", effectiveOn: "2026-02-05", idempotencyKey: "gpr-000001"}) {
              reference }
          status: openChangeRequest(input: {kind: STATUS_CHANGE, gmcNumber: $gmc,
              odsCode: "A81001", requestedStatus: SUSPENDED, idempotencyKey: "sts-000001"}) {
              reference }
        }""",
        {"gmc": registrar},
        token=own,
    )
    for n, name in enumerate(("cct", "register", "status")):
        reference = opened["data"][name]["reference"]
        await graphql(client, DECIDE, {"ref": reference, "key": f"dec-{n:06d}", "on": str(TODAY)})

    body = await graphql(
        client,
        "query ($gmc: String!) { performer(gmcNumber: $gmc) { status cctDate gpRegisterOn "
        "underTrainingSupervision } }",
        {"gmc": registrar},
    )
    assert body["data"]["performer"] == {
        "status": "SUSPENDED",
        "cctDate": "2026-02-04",
        "gpRegisterOn": "2026-02-05",
        "underTrainingSupervision": False,
    }


async def test_an_approval_the_regulations_forbid_changes_nothing(
    app: FastAPI,
    practice: str,
    make_performer: Any,
    make_change_request: Any,
    client: httpx.AsyncClient,
) -> None:
    suspended = await make_performer(status=ListStatus.SUSPENDED)
    reference = await make_change_request(
        gmc_number=suspended, kind=ChangeKind.RETIREMENT, submitted_on=TODAY
    )
    body = await graphql(client, DECIDE, {"ref": reference, "key": "ret-000001", "on": str(TODAY)})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "outcome"}
    async with app.state.sessionmaker() as session:
        still = (
            await session.scalars(select(Membership).where(Membership.gmc_number == suspended))
        ).one()
    assert still.end_date is None
    assert await outbox(app) == []


MEMBERSHIP = """
mutation ($gmc: String!, $key: String!) {
  addMembership(input: {gmcNumber: $gmc, odsCode: "A81001", role: PARTNER,
                        startDate: "2024-01-01", idempotencyKey: $key}) { id }
}
"""


async def test_a_practice_cannot_make_itself_a_gps_employer(
    practice: str, make_practice: Any, make_performer: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_practice(ods_code="B82002")
    elsewhere = await make_performer(at="B82002")
    own = token("practice", ["A81001"])

    known = await graphql(client, MEMBERSHIP, {"gmc": elsewhere, "key": "mem-000001"}, token=own)
    unknown = await graphql(client, MEMBERSHIP, {"gmc": "0000009", "key": "mem-000002"}, token=own)
    leaving = await graphql(
        client,
        """mutation ($gmc: String!) { openChangeRequest(input: {kind: LEAVING,
            gmcNumber: $gmc, odsCode: "A81001", effectiveOn: "2026-01-01",
            idempotencyKey: "lea-000001"}) { reference } }""",
        {"gmc": elsewhere},
        token=own,
    )

    # The same answer whether the GP exists or not, and nothing unlocked.
    assert known["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    assert unknown["errors"][0] == {**known["errors"][0], "path": unknown["errors"][0]["path"]}
    assert leaving["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    details = await graphql(
        client,
        "query ($g: String!) { performer(gmcNumber: $g) { name } }",
        {"g": elsewhere},
        token=own,
    )
    assert details["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_operator_corrects_the_complete_date_with_evidence_in_the_audit_trail(
    app: FastAPI, practice: str, client: httpx.AsyncClient
) -> None:
    applied = await graphql(client, APPLY, {"gmc": "7000003", "key": "apply-0003"})
    reference = applied["data"]["applyForInclusion"]["reference"]
    mutation = """
    mutation ($ref: String!, $on: Date!, $evidence: String!) {
      correctChangeRequestDates(input: {reference: $ref, completeOn: $on, evidence: $evidence,
                                        idempotencyKey: "fix-000001"}) { completeOn }
    }
    """
    before = await graphql(
        client, mutation, {"ref": reference, "on": str(TODAY - timedelta(days=1)), "evidence": "x"}
    )
    assert before["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "completeOn"}
    blank = await graphql(client, mutation, {"ref": reference, "on": str(TODAY), "evidence": " "})
    assert blank["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "evidence"}

    registration = await graphql(
        client,
        """mutation { recordRegistration(input: {gmcNumber: "7000003",
            designatedBody: "Royal Cornwall Hospitals NHS Trust",
            evidence: "GMC LRMP, 3 Dec", idempotencyKey: "reg-000001"}) { designatedBody } }""",
    )
    assert registration["data"]["recordRegistration"] == {
        "designatedBody": "Royal Cornwall Hospitals NHS Trust"
    }
    async with app.state.sessionmaker() as session:
        audited = (
            await session.execute(
                select(AuditEvent.c.after).where(AuditEvent.c.action == "record_registration")
            )
        ).scalar_one()
    assert audited["evidence"] == "GMC LRMP, 3 Dec"


async def test_a_public_list_check_makes_an_entitled_gp_a_finding(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    gmc = await make_performer()
    body = await graphql(
        client,
        """mutation ($gmc: String!) { recordPublicListCheck(input: {gmcNumber: $gmc, entries: 0,
            checkedOn: "2026-01-05", idempotencyKey: "pub-000001"}) { publicListVisible } }""",
        {"gmc": gmc},
    )
    assert body["data"]["recordPublicListCheck"] == {"publicListVisible": False}
    found = await graphql(
        client, '{ practice(odsCode: "A81001") { findings { kind gmcNumber since } } }'
    )
    assert found["data"]["practice"]["findings"] == [
        {"kind": "ENTITLED_NOT_VISIBLE", "gmcNumber": gmc, "since": "2026-01-05"}
    ]


async def test_practice_details_are_published_whole_for_payments(
    app: FastAPI, practice: str, client: httpx.AsyncClient
) -> None:
    body = await graphql(
        client,
        """mutation { setPracticeDetails(input: {odsCode: "A81001", contractType: PMS,
            dispensing: true, idempotencyKey: "det-000001"}) {
            contractType dispensing trainingPractice outOfHoursOptOut } }""",
    )
    assert body["data"]["setPracticeDetails"] == {
        "contractType": "PMS",
        "dispensing": True,
        "trainingPractice": None,
        "outOfHoursOptOut": None,
    }
    async with app.state.sessionmaker() as session:
        payload = (await session.execute(select(Outbox.c.payload))).scalar_one()
    assert payload["contractType"] == "PMS"
    assert payload["dispensing"] is True
    assert payload["trainingPractice"] is None
    assert payload["icbCode"] == "QT6"


@pytest.mark.parametrize(
    ("role", "scope"),
    [("practice", ["A81001"]), ("lmc", ["kernow"]), ("operator", ["payments"])],
)
async def test_only_operators_keep_the_list(
    app: FastAPI,
    practice: str,
    make_performer: Any,
    client: httpx.AsyncClient,
    token: Token,
    role: str,
    scope: list[str],
) -> None:
    gmc = await make_performer()
    caller = token(role, scope)
    apply = await graphql(client, APPLY, {"gmc": "7000009", "key": "nop-000000"}, token=caller)
    assert apply["errors"][0]["extensions"]["code"] == "FORBIDDEN", apply
    for mutation in (
        f'mutation {{ recordRegistration(input: {{gmcNumber: "{gmc}", gpRegisterOn: '
        '"2010-01-01", evidence: "x", idempotencyKey: "nop-000001"}) { status } }',
        f'mutation {{ recordPublicListCheck(input: {{gmcNumber: "{gmc}", entries: 1, '
        'checkedOn: "2026-01-05", idempotencyKey: "nop-000002"}) { status } }',
        'mutation { setPracticeDetails(input: {odsCode: "A81001", dispensing: true, '
        'idempotencyKey: "nop-000003"}) { odsCode } }',
        'mutation { correctChangeRequestDates(input: {reference: "CR-NONE", completeOn: '
        '"2026-01-05", evidence: "x", idempotencyKey: "nop-000004"}) { reference } }',
    ):
        body = await graphql(
            client,
            mutation,
            {"key": "nop-000009", "received": None, "evidence": None},
            token=caller,
        )
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (mutation, body)
    assert await outbox(app) == []


async def test_can_start_through_the_service(
    practice: str, make_performer: Any, client: httpx.AsyncClient, token: Token
) -> None:
    gmc = await make_performer(cct_date=None, gp_register_on=date(2006, 3, 31))
    query = """query ($ods: String!, $gmc: String!) { canStart(odsCode: $ods, gmcNumber: $gmc) {
        canStart reasons { code effect } } }"""
    mine = await graphql(
        client, query, {"ods": "A81001", "gmc": gmc}, token=token("practice", ["A81001"])
    )
    other = await graphql(
        client, query, {"ods": "A81001", "gmc": gmc}, token=token("practice", ["B82002"])
    )
    assert mine["data"]["canStart"] == {
        "canStart": True,
        "reasons": [
            {"code": "INCLUDED", "effect": "ALLOWS"},
            {"code": "ON_GP_REGISTER", "effect": "ALLOWS"},
        ],
    }
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("outcome", "status"), [("REJECTED", "REFUSED"), ("WITHDRAWN", "WITHDRAWN")]
)
async def test_an_application_refused_or_withdrawn_ends_the_pending_entry(
    practice: str, client: httpx.AsyncClient, outcome: str, status: str
) -> None:
    applied = await graphql(client, APPLY, {"gmc": "7000010", "key": "apply-0010"})
    reference = applied["data"]["applyForInclusion"]["reference"]
    decided = await graphql(
        client,
        """mutation ($ref: String!, $outcome: ChangeOutcome!, $on: Date!) {
          decideChangeRequest(input: {reference: $ref, outcome: $outcome, decidedOn: $on,
                                      idempotencyKey: "dec-000010"}) { outcome } }""",
        {"ref": reference, "outcome": outcome, "on": str(TODAY)},
    )
    assert decided["data"]["decideChangeRequest"] == {"outcome": outcome}
    body = await graphql(client, PERFORMER, {"gmc": "7000010"})
    assert body["data"]["performer"]["status"] == status


async def test_can_start_shows_a_practice_only_the_requests_made_at_it(
    practice: str,
    make_practice: Any,
    make_performer: Any,
    make_change_request: Any,
    client: httpx.AsyncClient,
    token: Token,
) -> None:
    await make_practice(ods_code="B82002")
    gmc = await make_performer(at="B82002")
    here = await make_change_request(
        gmc_number=gmc, ods_code="A81001", kind=ChangeKind.JOINING, submitted_on=TODAY
    )
    await make_change_request(
        gmc_number=gmc, ods_code="B82002", kind=ChangeKind.LEAVING, submitted_on=TODAY
    )
    await make_change_request(
        gmc_number=gmc, ods_code=None, kind=ChangeKind.CCT, submitted_on=TODAY
    )
    query = """query ($gmc: String!) { canStart(odsCode: "A81001", gmcNumber: $gmc) {
        reasons { code detail } } }"""

    as_practice = await graphql(client, query, {"gmc": gmc}, token=token("practice", ["A81001"]))
    as_operator = await graphql(client, query, {"gmc": gmc})

    def requests(body: dict[str, Any]) -> list[str]:
        return [
            r["detail"].split(" request ")[1].split(":")[0]
            for r in body["data"]["canStart"]["reasons"]
            if r["code"] == "OPEN_REQUEST"
        ]

    assert requests(as_practice) == [here]
    assert len(requests(as_operator)) == 2  # here, and the one naming no practice
