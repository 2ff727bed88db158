"""Requesting, receiving and reporting on movements; harm reviews; who may do each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.dates import today
from pcse_kit.testing import Token, graphql
from records.models import (
    AuditEvent,
    HarmReview,
    Incident,
    MovementEvent,
    MovementStatus,
    Outbox,
    Place,
)
from sqlalchemy import func, select, update

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
    movement { status open receivedAt history { kind } timers { kind state } }
    incident { kind odsCode foundNhsNumber }
    returnMovement {
      movementNumber status reason nhsNumber
      sending { place odsCode siteCode } receiving { place odsCode siteCode }
    }
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
        progress { total reviewed outstanding minutesSpent patientsInformed }
        items { nodes { id movementNumber nhsNumber harmGrade reviewer reviewedOn dueOn
                        recordArrived } }
      }
    }
  }
}
"""
REVIEW = """
mutation ($input: HarmReviewInput!) {
  recordHarmReview(input: $input) {
    id harmGrade reviewer reviewedOn nhsNumber minutesSpent patientInformed nhsEnglandNotified
  }
}
"""
READY = """
mutation ($input: MarkReadyInput!) {
  markRecordReady(input: $input) { status printoutAttested timers { kind state } }
}
"""
UPDATE = """
mutation ($input: UpdateMovementInput!) {
  updateRecordMovement(input: $input) { status printoutAttested }
}
"""
INCIDENT_FIELDS = "reference status pcseReference outcome escalatable escalatableFrom nextStep"
RAISE = f"""
mutation ($input: RaiseIncidentInput!) {{
  raiseRecordIncidentWithPcse(input: $input) {{ {INCIDENT_FIELDS} }}
}}
"""
RESOLVE = f"""
mutation ($input: ResolveIncidentInput!) {{
  resolveRecordIncident(input: $input) {{ {INCIDENT_FIELDS} }}
}}
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


async def test_receipt_with_the_right_nhs_number_puts_the_record_in_storage_at_the_practice(
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
    assert result["returnMovement"] is None
    assert result["movement"]["status"] == "IN_STORAGE_AT_PRACTICE"
    assert result["movement"]["open"] is False
    assert result["movement"]["receivedAt"] is not None
    assert [h["kind"] for h in result["movement"]["history"]] == ["RECEIVED"]


async def test_receipt_of_another_patients_record_keeps_the_movement_open_and_sends_it_back(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    delivered = datetime.now(UTC) - timedelta(days=1)
    number = await make_movement(
        status=S.DELIVERED, collected_at=delivered - timedelta(days=3), delivered_at=delivered
    )
    receiver = token("practice", ["A81001"])

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
        token=receiver,
    )

    result = body["data"]["confirmRecordReceipt"]
    assert result["matched"] is False
    assert result["incident"] == {
        "kind": "WRONG_RECORD_DELIVERED",
        "odsCode": "A81001",
        "foundNhsNumber": OTHER_NHS,
    }
    # Still waiting for the right record: open, in the backlog, its delivery still owed.
    moved = result["movement"]
    assert (moved["status"], moved["open"], moved["receivedAt"]) == (
        "WRONG_RECORD_DELIVERED",
        True,
        None,
    )
    assert {t["kind"]: t["state"] for t in moved["timers"]}["DELIVERY"] == "RUNNING"
    # The record that came goes back to the practice it came from; only the practice holding
    # it sees whose it is.
    back = result["returnMovement"]
    assert back["sending"] == {"place": "PRACTICE", "odsCode": "A81001", "siteCode": None}
    assert back["receiving"] == {"place": "PRACTICE", "odsCode": "B82002", "siteCode": None}
    assert (back["reason"], back["status"], back["nhsNumber"]) == (
        "WRONG_RECORD_RETURN",
        "REQUESTED",
        OTHER_NHS,
    )
    seen = """query ($n: String!) { recordMovement(movementNumber: $n) {
        nhsNumber incidents { foundNhsNumber nhsNumber } } }"""
    sender = token("practice", ["B82002"])
    at_sender = await graphql(client, seen, {"n": back["movementNumber"]}, token=sender)
    assert at_sender["data"]["recordMovement"]["nhsNumber"] is None
    original = await graphql(client, seen, {"n": number}, token=sender)
    assert original["data"]["recordMovement"] == {
        "nhsNumber": NHS,
        "incidents": [{"foundNhsNumber": None, "nhsNumber": NHS}],
    }
    async with app.state.sessionmaker() as session:
        keys = (await session.scalars(select(AuditEvent.c.entity_key))).all()
    assert all(NHS not in key and OTHER_NHS not in key for key in keys)


@pytest.mark.parametrize(
    "status", [S.READY_FOR_COLLECTION, S.CANCELLED, S.IN_STORAGE_AT_PRACTICE, S.NO_PAPER_RECORD]
)
async def test_a_receipt_for_a_movement_not_owed_is_refused_and_only_audited(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, token: Token, status: S
) -> None:
    number = await make_movement(status=status)
    body = await graphql(
        client,
        RECEIPT,
        {"input": {"movementNumber": number, "nhsNumber": NHS, "idempotencyKey": "receipt-3"}},
        token=token("practice", ["A81001"]),
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
    assert await counts(app) == {
        "movement_event": 0,
        "incident": 0,
        "harm_review": 0,
        "audit_event": 1,  # the refusal, with no NHS number in it
    }
    async with app.state.sessionmaker() as session:
        [action] = (await session.scalars(select(AuditEvent.c.action))).all()
    assert action == "refused_confirmRecordReceipt"


async def test_only_the_receiving_practice_confirms_receipt(
    make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    number = await make_movement(status=S.COLLECTED, collected_at=datetime.now(UTC))
    variables = {
        "input": {"movementNumber": number, "nhsNumber": NHS, "idempotencyKey": "receipt-4"}
    }
    for role, scope in (
        ("practice", ["B82002"]),
        ("practice", ["C83003"]),
        ("lmc", ["kernow"]),
        # Operators and admins never see the NHS number, so they may not compare one with it.
        ("operator", ["records"]),
        ("admin", []),
    ):
        body = await graphql(client, RECEIPT, variables, token=token(role, scope))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # A movement that does not exist is refused the same way.
    missing = {"input": {**variables["input"], "movementNumber": "MV77777777"}}
    body = await graphql(client, RECEIPT, missing, token=token("practice", ["A81001"]))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def release(app: FastAPI, make_movement: Any, *, receiver: str = "A81001") -> None:
    """The archived patient's record released from storage and received at the practice."""
    now = datetime.now(UTC)
    await make_movement(
        sender=None,
        receiver=receiver,
        status=S.IN_STORAGE_AT_PRACTICE,
        requested_days_ago=3,
        collected_at=now - timedelta(days=2),
        delivered_at=now - timedelta(days=1),
        received_at=now - timedelta(days=1),
    )


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
    assert item["recordArrived"] is False
    # Due 30 days (the default) after the patient joined the worklist, today.
    assert item["dueOn"] == str(today() + timedelta(days=30))
    assert worklist["harmReviews"]["progress"]["outstanding"] == 1

    reviewed_on = str(today())
    work = {"reviewId": item["id"], "minutesSpent": 20, "patientInformed": False,
            "nhsEnglandNotified": False, "idempotencyKey": "review-0001"}  # fmt: skip
    # Time can be recorded at once; the review cannot be completed before the record arrives.
    body = await graphql(client, REVIEW, {"input": work}, token=practice)
    assert body["data"]["recordHarmReview"]["minutesSpent"] == 20
    complete = {**work, "minutesSpent": 55, "patientInformed": True, "harmGrade": "LOW",
                "reviewer": "Dr A Patel", "reviewedOn": reviewed_on}  # fmt: skip
    early = await graphql(
        client, REVIEW, {"input": {**complete, "idempotencyKey": "review-0002"}}, token=practice
    )
    assert early["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "harmGrade"}

    await release(app, make_movement)
    body = await graphql(
        client, REVIEW, {"input": {**complete, "idempotencyKey": "review-0003"}}, token=practice
    )
    assert body["data"]["recordHarmReview"] == {
        "id": item["id"],
        "harmGrade": "LOW",
        "reviewer": "Dr A Patel",
        "reviewedOn": reviewed_on,
        "nhsNumber": NHS,
        "minutesSpent": 55,
        "patientInformed": True,
        "nhsEnglandNotified": False,
    }
    worklist = (await graphql(client, WORKLIST, reps, token=practice))["data"]["_entities"][0]
    progress = worklist["harmReviews"]["progress"]
    assert (progress["total"], progress["reviewed"], progress["outstanding"]) == (1, 1, 0)
    assert (progress["minutesSpent"], progress["patientsInformed"]) == (55, 1)
    # Another practice cannot record it, nor tell whether the item exists.
    other = await graphql(
        client,
        REVIEW,
        {"input": {**complete, "idempotencyKey": "review-0004"}},
        token=token("practice", ["B82002"]),
    )
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # What the bus carries: the practice, the grade and the time; never the patient.
    async with app.state.sessionmaker() as session:
        events = (
            await session.execute(
                select(Outbox.c.type, Outbox.c.key, Outbox.c.payload).order_by(Outbox.c.id)
            )
        ).all()
    recorded = [payload for kind, _, payload in events if kind == "harm_review.recorded"]
    assert [(p["minutesSpent"], p["harmGrade"], p["completed"]) for p in recorded] == [
        (20, None, False),
        (55, "low", True),
    ]
    assert all(p["odsCode"] == "A81001" for p in recorded)
    assert NHS not in str(events)


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
        ({"status": S.COLLECTED}, {"kind": "INCOMPLETE_RECORD"}, "status"),
        ({"status": S.COLLECTED}, {"kind": "LABEL_WRONG"}, "status"),
        ({"status": S.REQUESTED, "label_number": "PCS00000001"}, {"kind": "LABEL_NOT_RECEIVED"},
         "kind"),
        ({"status": S.REQUESTED}, {"kind": "RECORD_NOT_RECEIVED"}, "kind"),
        ({"status": S.REQUESTED}, {"kind": "INCORRECT_REMOVAL"}, "kind"),
    ],
)  # fmt: skip
async def test_incidents_that_do_not_fit_the_movement_are_refused(
    app: FastAPI,
    make_movement: Any,
    client: httpx.AsyncClient,
    token: Token,
    setup: dict[str, Any],
    incident: dict[str, Any],
    field: str,
) -> None:
    collected = {"collected_at": datetime.now(UTC)} if setup["status"] is not S.REQUESTED else {}
    number = await make_movement(**setup, **collected)
    report = {"movementNumber": number, "detail": "x", "idempotencyKey": "bad-incident", **incident}
    # A wrong record is the receiving practice's to report; everything else, an operator's too.
    wrong = incident["kind"] == "WRONG_RECORD_DELIVERED"
    caller = token("practice", ["A81001"]) if wrong else token("operator", ["records"])

    body = await graphql(client, REPORT, {"input": report}, token=caller)

    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    written = await counts(app)
    # A refused report naming a valid NHS number leaves its trace in the audit trail, and only
    # that; an invalid one is refused at the edge, and could match no patient.
    refusals = 1 if incident.get("foundNhsNumber") in {NHS, OTHER_NHS} else 0
    assert written == {
        "movement_event": 0,
        "incident": 0,
        "harm_review": 0,
        "audit_event": refusals,
    }


async def test_a_collection_for_another_nation_is_an_empty_envelope_only_unconfirmed(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    sender = token("practice", ["A81001"])
    numbers = []
    # The sending practice confirms the printout, says there is none, or says nothing (an
    # operator marked it ready).
    for printout in (True, False, None):
        number = await make_movement(
            status=S.IN_PROGRESS, sender="A81001", receiver=None, receiver_place=Place.SCOTLAND
        )
        numbers.append(number)
        if printout is None:
            update = {"movementNumber": number, "status": "READY_FOR_COLLECTION",
                      "idempotencyKey": f"ready-{number}"}  # fmt: skip
            body = await graphql(client, UPDATE, {"input": update})
            assert body["data"]["updateRecordMovement"]["printoutAttested"] is None
        else:
            ready = {"movementNumber": number, "printoutIncluded": printout,
                     "idempotencyKey": f"ready-{number}"}  # fmt: skip
            body = await graphql(client, READY, {"input": ready}, token=sender)
            assert body["data"]["markRecordReady"]["printoutAttested"] is printout
        scan = {"scanId": f"e-{number}", "movementNumber": number, "kind": "COLLECTION",
                "scannedAt": at}  # fmt: skip
        body = await graphql(client, COLLECT, {"input": scan})
        incidents = body["data"]["recordCourierScan"]["incidents"]
        expected = [] if printout else [{"kind": "EMPTY_ENVELOPE", "odsCode": "A81001"}]
        assert incidents == expected

    seen = await graphql(
        client,
        """query ($reps: [_Any!]!) { _entities(representations: $reps) {
             ... on Practice { recordIncidents { nodes { kind movementNumber } } } } }""",
        {"reps": [{"__typename": "Practice", "odsCode": "A81001"}]},
        token=sender,
    )
    nodes = seen["data"]["_entities"][0]["recordIncidents"]["nodes"]
    assert sorted(n["movementNumber"] for n in nodes) == sorted(numbers[1:])
    assert {n["kind"] for n in nodes} == {"EMPTY_ENVELOPE"}


@pytest.mark.parametrize(
    ("place", "printout", "field"),
    [(Place.SCOTLAND, None, "printoutIncluded"), (Place.PRACTICE, True, "printoutIncluded")],
)
async def test_the_printout_is_confirmed_for_another_nation_and_only_then(
    make_movement: Any,
    client: httpx.AsyncClient,
    token: Token,
    place: Place,
    printout: bool | None,
    field: str,
) -> None:
    number = await make_movement(
        status=S.IN_PROGRESS,
        sender="A81001",
        receiver="B82002" if place is Place.PRACTICE else None,
        receiver_place=place,
    )
    ready = {"movementNumber": number, "printoutIncluded": printout, "idempotencyKey": "ready-0001"}
    body = await graphql(client, READY, {"input": ready}, token=token("practice", ["A81001"]))
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    # Only the sending practice (or an operator) marks its record ready.
    refused = await graphql(
        client,
        READY,
        {"input": {**ready, "printoutIncluded": None}},
        token=token("practice", ["B82002"]),
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_incident_is_raised_with_pcse_escalates_after_40_days_and_is_resolved(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    number = await make_movement(status=S.IN_PROGRESS, sender="A81001", receiver="B82002")
    sender = token("practice", ["A81001"])
    report = {"movementNumber": number, "kind": "LABEL_WRONG", "detail": "Another practice's.",
              "idempotencyKey": "label-0001"}  # fmt: skip
    opened = (await graphql(client, REPORT, {"input": report}, token=sender))["data"]
    reference = opened["reportRecordIncident"]["reference"]
    assert opened["reportRecordIncident"]["odsCode"] == "A81001"

    # Raised with PCSE 41 days ago: an LMC may escalate it from day 41. The report itself
    # is today, so the raise is refused as before it; back-date the report as a practice
    # that found it then would have.
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(Incident)
            .where(Incident.reference == reference)
            .values(reported_at=datetime.now(UTC) - timedelta(days=50))
        )
    raised_on = today() - timedelta(days=41)
    raise_ = {"reference": reference, "pcseReference": "cas-1234567-x1y2",
              "raisedOn": str(raised_on), "idempotencyKey": "raise-0001"}  # fmt: skip
    body = await graphql(client, RAISE, {"input": raise_}, token=sender)
    raised = body["data"]["raiseRecordIncidentWithPcse"]
    assert raised["status"] == "RAISED_WITH_PCSE"
    assert raised["pcseReference"] == "CAS-1234567-X1Y2"
    assert raised["escalatableFrom"] == str(raised_on + timedelta(days=41))
    assert raised["escalatable"] is True
    assert raised["nextStep"].startswith("PCSE has it (CAS-1234567-X1Y2)")

    # The receiving practice does not bear it: refused, saying nothing.
    resolve = {"reference": reference, "outcome": "LABEL_RECEIVED", "resolvedOn": str(today()),
               "resolution": "A new label came.", "idempotencyKey": "resolve-0001"}  # fmt: skip
    other = await graphql(client, RESOLVE, {"input": resolve}, token=token("practice", ["B82002"]))
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await graphql(client, RESOLVE, {"input": resolve}, token=sender)
    resolved = body["data"]["resolveRecordIncident"]
    assert (resolved["status"], resolved["outcome"], resolved["escalatable"]) == (
        "RESOLVED",
        "LABEL_RECEIVED",
        False,
    )
    assert resolved["nextStep"] is None
    again = await graphql(
        client, RESOLVE, {"input": {**resolve, "idempotencyKey": "resolve-0002"}}, token=sender
    )
    assert again["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "reference"}
    async with app.state.sessionmaker() as session:
        types = (await session.scalars(select(Outbox.c.type).order_by(Outbox.c.id))).all()
    assert types == ["incident.opened", "incident.raised", "incident.resolved"]


LIST = """
mutation ($input: HarmReviewListInput!) {
  loadHarmReviewList(input: $input) { listReference patients added }
}
"""


async def test_nhs_englands_list_goes_onto_the_worklist_once_each_with_its_due_date(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient, token: Token
) -> None:
    # NHS sent the practice three patients; one (NHS) is on its worklist already.
    archived = await make_movement(status=S.IN_CENTRAL_STORAGE, sender="B82002", receiver="A81001")
    report = {"movementNumber": archived, "kind": "ERRONEOUS_ARCHIVING", "detail": "Stored.",
              "idempotencyKey": "archive-list"}  # fmt: skip
    await graphql(client, REPORT, {"input": report}, token=token("operator", ["records"]))
    practice = token("practice", ["A81001"])
    listed = {"odsCode": "A81001", "listReference": "NHSE/2019/0417", "receivedOn": "2026-05-11",
              "nhsNumbers": [NHS, OTHER_NHS, "999 000 1111", OTHER_NHS],
              "idempotencyKey": "list-0001"}  # fmt: skip

    body = await graphql(client, LIST, {"input": listed}, token=practice)

    # Three patients (one named twice); two new to the worklist.
    assert body["data"]["loadHarmReviewList"] == {
        "listReference": "NHSE/2019/0417",
        "patients": 3,
        "added": 2,
    }
    reps = {"reps": [{"__typename": "Practice", "odsCode": "A81001"}]}
    items = (await graphql(client, WORKLIST, reps, token=practice))["data"]["_entities"][0]
    due = {i["nhsNumber"]: i["dueOn"] for i in items["harmReviews"]["items"]["nodes"]}
    # Received 11 May 2026: due 30 days later, 10 June.
    assert due == {NHS: str(today() + timedelta(days=30)), OTHER_NHS: "2026-06-10",
                   "9990001111": "2026-06-10"}  # fmt: skip
    # The same list again is a conflict; another practice may not load one for A81001.
    again = await graphql(
        client, LIST, {"input": {**listed, "idempotencyKey": "list-0002"}}, token=practice
    )
    assert again["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "listReference"}
    other = await graphql(
        client,
        LIST,
        {"input": {**listed, "idempotencyKey": "list-0003"}},
        token=token("practice", ["B82002"]),
    )
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await graphql(
        client,
        LIST,
        {"input": {**listed, "nhsNumbers": ["9876544321"], "idempotencyKey": "list-0004"}},
        token=practice,
    )
    assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "nhsNumbers"}
    assert "9876544321" not in str(bad)
