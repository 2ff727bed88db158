"""Requesting, receiving and reporting on movements; harm reviews; who may do each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.dates import today
from pcse_kit.testing import Token, graphql
from records.models import AuditEvent, HarmReview, Incident, MovementEvent, MovementStatus, Place
from sqlalchemy import func, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

S = MovementStatus
NHS = "9434765919"
OTHER_NHS = "9990000026"  # test range, valid check digit
MOVEMENT_FIELDS = """
  movementNumber nhsNumber status urgency reason deductedOn
  sending { place odsCode siteCode } receiving { place odsCode siteCode }
  timers { kind dueOn state } history { kind toStatus }
"""
REQUEST = f"""
mutation ($input: RequestMovementInput!) {{
  requestRecordMovement(input: $input) {{ {MOVEMENT_FIELDS} }}
}}
"""
RECEIPT = """
mutation ($input: ConfirmReceiptInput!) {
  confirmRecordReceipt(input: $input) {
    matched
    movement { status receivedAt history { kind } }
    incident { kind odsCode foundNhsNumber }
  }
}
"""
REPORT = """
mutation ($input: ReportIncidentInput!) {
  reportRecordIncident(input: $input) { reference kind odsCode movementNumber foundNhsNumber }
}
"""
COLLECT = """
mutation ($input: CourierScanInput!) {
  recordCourierScan(input: $input) { status incidents { kind odsCode } }
}
"""
WORKLIST = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Practice {
      harmReviews {
        progress { total reviewed outstanding noHarm harm needsFollowUp }
        items { nodes { id movementNumber nhsNumber outcome reviewer reviewedOn } }
      }
    }
  }
}
"""
REVIEW = """
mutation ($input: HarmReviewInput!) {
  recordHarmReviewOutcome(input: $input) { id outcome reviewer reviewedOn nhsNumber }
}
"""


def request_input(**overrides: Any) -> dict[str, Any]:
    return {
        "nhsNumber": NHS,
        "sending": {"place": "PRACTICE", "odsCode": "B82002"},
        "receiving": {"place": "PRACTICE", "odsCode": "A81001"},
        "reason": "REGISTRATION_ELSEWHERE",
        "urgency": "ROUTINE",
        "deductedOn": str(today() - timedelta(days=2)),
        "idempotencyKey": "request-0001",
        **overrides,
    }


async def counts(app: FastAPI) -> dict[str, int]:
    """Rows in each table a write touches: a refused one leaves them all at zero."""
    tables: dict[str, Any] = {
        "movement_event": MovementEvent,
        "incident": Incident,
        "harm_review": HarmReview,
        "audit_event": AuditEvent,
    }
    async with app.state.sessionmaker() as session:
        return {
            name: await session.scalar(select(func.count()).select_from(table)) or 0
            for name, table in tables.items()
        }


async def test_a_practice_requests_a_movement_and_its_timers_start(
    client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(
        client,
        REQUEST,
        {"input": request_input(urgency="URGENT")},
        token=token("practice", ["A81001"]),
    )

    movement = body["data"]["requestRecordMovement"]
    assert movement["movementNumber"].startswith("MV")
    assert movement["nhsNumber"] == NHS
    assert movement["status"] == "REQUESTED"
    assert {t["kind"]: t["state"] for t in movement["timers"]} == {
        "LABEL": "RUNNING",
        "URGENT": "RUNNING",
    }
    assert movement["history"] == [{"kind": "REQUESTED", "toStatus": "REQUESTED"}]


async def test_a_replayed_request_returns_the_same_movement_and_writes_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await graphql(client, REQUEST, {"input": request_input()})
    replay = await graphql(client, REQUEST, {"input": request_input()})
    reused = await graphql(client, REQUEST, {"input": request_input(urgency="URGENT")})

    assert first == replay
    assert reused["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "idempotencyKey"}
    assert (await counts(app))["movement_event"] == 1


async def test_a_branch_site_and_another_nation_are_ends_too(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        REQUEST,
        {
            "input": request_input(
                sending={"place": "PRACTICE", "odsCode": "A81001", "siteCode": "A81001002"},
                receiving={"place": "WALES"},
                reason="EMIGRATION",
            )
        },
    )
    movement = body["data"]["requestRecordMovement"]
    assert movement["sending"] == {
        "place": "PRACTICE",
        "odsCode": "A81001",
        "siteCode": "A81001002",
    }
    assert movement["receiving"] == {"place": "WALES", "odsCode": None, "siteCode": None}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"nhsNumber": "9876544321"}, "nhsNumber"),  # the often-quoted example fails the check
        ({"nhsNumber": "943476591"}, "nhsNumber"),
        ({"nhsNumber": "94347659190"}, "nhsNumber"),
        ({"deductedOn": None}, "deductedOn"),
        ({"reason": "REQUEST"}, "deductedOn"),
        ({"deductedOn": str(today() + timedelta(days=1))}, "deductedOn"),
        ({"sending": {"place": "PRACTICE", "odsCode": "b82002"}}, "sending.odsCode"),
        ({"sending": {"place": "PRACTICE"}}, "sending.odsCode"),
        ({"sending": {"place": "WALES", "odsCode": "B82002"}}, "sending.odsCode"),
        ({"receiving": {"place": "PRACTICE", "odsCode": "A81001", "siteCode": "B82002001"}},
         "receiving.siteCode"),
        ({"receiving": {"place": "PRACTICE", "odsCode": "A81001", "siteCode": "A81001"}},
         "receiving.siteCode"),
        ({"receiving": {"place": "PRACTICE", "odsCode": "B82002"}}, "receiving.odsCode"),
        ({"sending": {"place": "CENTRAL_STORAGE"}, "receiving": {"place": "WALES"}},
         "receiving.place"),
        ({"idempotencyKey": "short"}, "idempotencyKey"),
    ],
)  # fmt: skip
async def test_bad_requests_are_typed_errors_and_write_nothing(
    app: FastAPI, client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    body = await graphql(client, REQUEST, {"input": request_input(**overrides)})

    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert body["data"] is None
    assert "9876544321" not in body["errors"][0]["message"]
    assert set((await counts(app)).values()) == {0}


@pytest.mark.parametrize(
    ("role", "scope"),
    [("practice", ["C83003"]), ("lmc", ["kernow"]), ("accountant", []), ("operator", ["payments"])],
)
async def test_only_the_two_ends_and_records_operators_request_movements(
    app: FastAPI, client: httpx.AsyncClient, token: Token, role: str, scope: list[str]
) -> None:
    body = await graphql(client, REQUEST, {"input": request_input()}, token=token(role, scope))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert set((await counts(app)).values()) == {0}


async def test_receipt_with_the_right_nhs_number_delivers_the_movement(
    make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    collected = datetime.now(UTC) - timedelta(days=2)
    number = await make_movement(status=S.COLLECTED, collected_at=collected)

    body = await graphql(
        client,
        RECEIPT,
        {
            "input": {
                "movementNumber": number,
                "nhsNumber": "943 476 5919",
                "idempotencyKey": "receipt-1",
            }
        },
        token=token("practice", ["A81001"]),
    )

    result = body["data"]["confirmRecordReceipt"]
    assert result["matched"] is True
    assert result["incident"] is None
    assert result["movement"]["status"] == "DELIVERED"
    assert result["movement"]["receivedAt"] is not None
    assert [h["kind"] for h in result["movement"]["history"]] == ["RECEIVED"]


async def test_receipt_of_another_patients_record_raises_a_wrong_record_incident(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    delivered = datetime.now(UTC) - timedelta(days=1)
    number = await make_movement(
        status=S.DELIVERED, collected_at=delivered - timedelta(days=3), delivered_at=delivered
    )

    body = await graphql(
        client,
        RECEIPT,
        {
            "input": {
                "movementNumber": number,
                "nhsNumber": OTHER_NHS,
                "idempotencyKey": "receipt-2",
            }
        },
        token=token("practice", ["A81001"]),
    )

    result = body["data"]["confirmRecordReceipt"]
    assert result["matched"] is False
    assert result["incident"] == {
        "kind": "WRONG_RECORD_DELIVERED",
        "odsCode": "A81001",
        "foundNhsNumber": OTHER_NHS,
    }
    # Still waiting for the right record.
    assert result["movement"]["status"] == "DELIVERED"
    assert result["movement"]["receivedAt"] is None
    async with app.state.sessionmaker() as session:
        keys = (await session.scalars(select(AuditEvent.c.entity_key))).all()
    assert all(NHS not in key and OTHER_NHS not in key for key in keys)


@pytest.mark.parametrize("status", [S.REQUESTED, S.READY_FOR_COLLECTION, S.CANCELLED, S.LOST])
async def test_a_receipt_for_a_movement_not_in_transit_is_refused(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, status: MovementStatus
) -> None:
    number = await make_movement(status=status)
    body = await graphql(
        client,
        RECEIPT,
        {"input": {"movementNumber": number, "nhsNumber": NHS, "idempotencyKey": "receipt-3"}},
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
    assert set((await counts(app)).values()) == {0}


async def test_only_the_receiving_practice_confirms_receipt(
    make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    number = await make_movement(status=S.COLLECTED, collected_at=datetime.now(UTC))
    variables = {
        "input": {"movementNumber": number, "nhsNumber": NHS, "idempotencyKey": "receipt-4"}
    }
    for role, scope in (("practice", ["B82002"]), ("practice", ["C83003"]), ("lmc", ["kernow"])):
        body = await graphql(client, RECEIPT, variables, token=token(role, scope))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # A movement that does not exist is refused the same way.
    missing = {"input": {**variables["input"], "movementNumber": "MV77777777"}}
    body = await graphql(client, RECEIPT, missing, token=token("practice", ["A81001"]))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_erroneous_archiving_puts_each_patient_once_on_the_practices_worklist(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    archived = [
        await make_movement(status=S.IN_CENTRAL_STORAGE, sender="B82002", receiver="A81001")
        for _ in range(2)  # the same patient's record archived twice
    ]
    for index, number in enumerate(archived):
        body = await graphql(
            client,
            REPORT,
            {
                "input": {
                    "movementNumber": number,
                    "kind": "ERRONEOUS_ARCHIVING",
                    "detail": "Found in storage at reconciliation.",
                    "idempotencyKey": f"archive-{index:04d}",
                }
            },
            token=token("operator", ["records"]),
        )
        assert body["data"]["reportRecordIncident"]["odsCode"] == "A81001"

    practice = token("practice", ["A81001"])
    reps = {"reps": [{"__typename": "Practice", "odsCode": "A81001"}]}
    worklist = (await graphql(client, WORKLIST, reps, token=practice))["data"]["_entities"][0]
    [item] = worklist["harmReviews"]["items"]["nodes"]
    assert item["nhsNumber"] == NHS
    assert worklist["harmReviews"]["progress"]["outstanding"] == 1

    reviewed_on = str(today())
    review = {"reviewId": item["id"], "outcome": "NEEDS_FOLLOW_UP", "reviewer": "Dr A Patel",
              "reviewedOn": reviewed_on, "idempotencyKey": "review-0001"}  # fmt: skip
    body = await graphql(client, REVIEW, {"input": review}, token=practice)
    assert body["data"]["recordHarmReviewOutcome"] == {
        "id": item["id"],
        "outcome": "NEEDS_FOLLOW_UP",
        "reviewer": "Dr A Patel",
        "reviewedOn": reviewed_on,
        "nhsNumber": NHS,
    }
    worklist = (await graphql(client, WORKLIST, reps, token=practice))["data"]["_entities"][0]
    assert worklist["harmReviews"]["progress"] == {
        "total": 1,
        "reviewed": 1,
        "outstanding": 0,
        "noHarm": 0,
        "harm": 0,
        "needsFollowUp": 1,
    }
    # Another practice cannot record it, nor tell whether the item exists.
    other = await graphql(
        client,
        REVIEW,
        {"input": {**review, "idempotencyKey": "review-0002"}},
        token=token("practice", ["B82002"]),
    )
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("setup", "incident", "field"),
    [
        ({"status": S.DELIVERED}, {"kind": "ERRONEOUS_ARCHIVING"}, "kind"),
        ({"status": S.IN_CENTRAL_STORAGE, "receiver": None}, {"kind": "ERRONEOUS_ARCHIVING"},
         "kind"),
        ({"status": S.COLLECTED}, {"kind": "EMPTY_ENVELOPE"}, "kind"),
        ({"status": S.REQUESTED},
         {"kind": "WRONG_RECORD_DELIVERED", "foundNhsNumber": OTHER_NHS}, "status"),
        ({"status": S.DELIVERED}, {"kind": "WRONG_RECORD_DELIVERED"}, "foundNhsNumber"),
        ({"status": S.DELIVERED},
         {"kind": "WRONG_RECORD_DELIVERED", "foundNhsNumber": "9990000027"}, "foundNhsNumber"),
        ({"status": S.DELIVERED},
         {"kind": "WRONG_RECORD_DELIVERED", "foundNhsNumber": NHS}, "foundNhsNumber"),
        ({"status": S.DELIVERED}, {"kind": "EMPTY_ENVELOPE", "detail": " "}, "detail"),
    ],
)  # fmt: skip
async def test_incidents_that_do_not_fit_the_movement_are_refused(
    app: FastAPI,
    make_movement: Any,
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    incident: dict[str, Any],
    field: str,
) -> None:
    collected = {"collected_at": datetime.now(UTC)} if setup["status"] is not S.REQUESTED else {}
    number = await make_movement(**setup, **collected)
    report = {"movementNumber": number, "detail": "x", "idempotencyKey": "bad-incident", **incident}

    body = await graphql(client, REPORT, {"input": report})

    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert set((await counts(app)).values()) == {0}


async def test_a_collection_for_another_nation_without_the_printout_is_an_empty_envelope(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    numbers = []
    for printout in (False, True):
        number = await make_movement(
            status=S.READY_FOR_COLLECTION,
            sender="A81001",
            receiver=None,
            receiver_place=Place.SCOTLAND,
        )
        numbers.append(number)
        scan = {"scanId": f"e-{number}", "movementNumber": number, "kind": "COLLECTION",
                "scannedAt": at, "printoutIncluded": printout}  # fmt: skip
        body = await graphql(client, COLLECT, {"input": scan})
        incidents = body["data"]["recordCourierScan"]["incidents"]
        assert incidents == ([] if printout else [{"kind": "EMPTY_ENVELOPE", "odsCode": "A81001"}])

    seen = await graphql(
        client,
        """query ($reps: [_Any!]!) { _entities(representations: $reps) {
             ... on Practice { recordIncidents { nodes { kind movementNumber } } } } }""",
        {"reps": [{"__typename": "Practice", "odsCode": "A81001"}]},
        token=token("practice", ["A81001"]),
    )
    nodes = seen["data"]["_entities"][0]["recordIncidents"]["nodes"]
    assert nodes == [{"kind": "EMPTY_ENVELOPE", "movementNumber": numbers[0]}]
