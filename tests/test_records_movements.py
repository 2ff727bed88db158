"""Records through the real gateway: one movement's whole life, and the LMC summary on the
demo data, which must never hold a patient identifier."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from stack import Stack

RECEIVER = "A81001"  # in kernow
SENDER = "F83424"  # in essex
NHS_NUMBER = "9990001111"  # test range; the check digit is 1
WRONG_NHS_NUMBER = "9990000026"
# Any 10-digit run: an NHS number in any spelling the services could produce.
TEN_DIGITS = re.compile(r"(?<!\d)\d{10}(?!\d)|\d{3} \d{3} \d{4}")
DIRECTORY_WAIT_SECONDS = 30.0

SUMMARY = """
query ($code: String!) {
  lmc(code: $code) {
    name
    recordsSummary {
      practiceCount
      statusCounts { status incoming outgoing }
      open { open awaitingCollection inTransit missing lost inStorage wrongRecord overdue
             ages { label count } }
      overdueByTimer { timer count }
      incidentsByKind { kind count }
      harmReviews { total reviewed outstanding overdue byGrade { grade count } minutesSpent }
      practices { odsCode name open overdue incidents harmReviewsOutstanding }
      trends { kind months { month count suppressed per100Practices
                             england100: englandMedianPer100Practices } }
    }
  }
}
"""
MOVEMENT = """
query ($number: String!) {
  recordMovement(movementNumber: $number) {
    movementNumber nhsNumber status labelNumber breachedTimers
    timers { kind state }
    history { kind fromStatus toStatus recordedByRole }
    incidents { kind foundNhsNumber }
  }
}
"""


def ask(
    stack: Stack,
    role: str,
    scope: list[str],
    query: str,
    variables: dict[str, Any],
    *,
    subject: str | None = None,
) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {stack.token(role, scope, subject=subject)}"},
        timeout=10,
    )
    return response.json()


def summary_of(stack: Stack, code: str) -> tuple[dict[str, Any], str]:
    """The LMC's summary once records has heard of its practices from the performers stream."""
    deadline = time.monotonic() + DIRECTORY_WAIT_SECONDS
    while True:
        response = httpx.post(
            stack.gateway_url,
            json={"query": SUMMARY, "variables": {"code": code}},
            headers={"authorization": f"Bearer {stack.token('lmc', [code])}"},
            timeout=10,
        )
        body = response.json()
        assert "errors" not in body, body
        summary: dict[str, Any] = body["data"]["lmc"]["recordsSummary"]
        if summary["practiceCount"] or time.monotonic() > deadline:
            return summary, response.text
        time.sleep(0.2)


def test_each_lmc_sees_its_areas_records_and_never_a_patient_identifier(
    stack: Stack, directory: dict[str, Any]
) -> None:
    kinds: set[str] = set()
    breached: set[str] = set()
    kinds_of_incident = 8
    for lmc in directory["lmcs"]:
        summary, text = summary_of(stack, lmc["code"])
        area = sorted(p["odsCode"] for p in directory["practices"] if p["lmcCode"] == lmc["code"])

        assert not TEN_DIGITS.search(text), text
        assert "nhsNumber" not in text
        assert summary["practiceCount"] == len(area)
        assert [p["odsCode"] for p in summary["practices"]] == area
        assert sum(c["incoming"] + c["outgoing"] for c in summary["statusCounts"]) > 0
        assert summary["open"]["overdue"] > 0
        progress = summary["harmReviews"]
        assert progress["total"] == progress["reviewed"] + progress["outstanding"] > 0
        # Twelve months of each problem; a count is suppressed (1-7) or a multiple of 5, and a
        # rate shown only with a count.
        assert len(summary["trends"]) == kinds_of_incident
        for trend in summary["trends"]:
            assert len(trend["months"]) == 12
            for month in trend["months"]:
                count = month["count"]
                assert (count is None) == month["suppressed"]
                assert count is None or count % 5 == 0
                assert (month["per100Practices"] is None) == (count is None)
                assert month["england100"] >= 0
        kinds |= {c["kind"] for c in summary["incidentsByKind"] if c["count"]}
        breached |= {c["timer"] for c in summary["overdueByTimer"] if c["count"]}

    assert kinds == {
        "WRONG_RECORD_DELIVERED", "ERRONEOUS_ARCHIVING", "EMPTY_ENVELOPE", "INCOMPLETE_RECORD",
        "LABEL_NOT_RECEIVED", "LABEL_WRONG", "RECORD_NOT_RECEIVED", "INCORRECT_REMOVAL",
    }  # fmt: skip
    assert breached == {
        "LABEL", "COLLECTION", "DELIVERY", "GP2GP", "URGENT", "REQUEST", "SEARCH", "LOST",
    }  # fmt: skip


def test_another_lmc_and_a_practice_are_refused_the_summary(stack: Stack) -> None:
    other = ask(stack, "lmc", ["essex"], SUMMARY, {"code": "kernow"})
    assert other["data"]["lmc"] is None
    practice = ask(stack, "practice", [RECEIVER], SUMMARY, {"code": "kernow"})
    assert practice["data"]["lmc"]["recordsSummary"] is None
    assert {e["extensions"]["code"] for e in practice["errors"]} == {"FORBIDDEN"}


def mutate(stack: Stack, role: str, scope: list[str], field: str, values: dict[str, Any]) -> Any:
    type_name = {
        "requestRecordMovement": "RequestMovementInput",
        "updateRecordMovement": "UpdateMovementInput",
        "recordCourierScan": "CourierScanInput",
        "confirmRecordReceipt": "ConfirmReceiptInput",
    }[field]
    selection = (
        "matched movement { status } incident { kind foundNhsNumber }"
        if field == "confirmRecordReceipt"
        else "movementNumber status"
    )
    query = f"mutation ($input: {type_name}!) {{ {field}(input: $input) {{ {selection} }} }}"
    body = ask(stack, role, scope, query, {"input": values}, subject=f"{role}-lifecycle")
    assert "errors" not in body, body
    return body["data"][field]


def test_a_movement_from_request_to_receipt(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    operator = ("operator", ["records"])
    requested = mutate(
        stack,
        "practice",
        [RECEIVER],
        "requestRecordMovement",
        {
            "nhsNumber": NHS_NUMBER,
            "sending": {"place": "PRACTICE", "odsCode": SENDER},
            "receiving": {"place": "PRACTICE", "odsCode": RECEIVER},
            "reason": "REQUEST",
            "urgency": "URGENT",
            "idempotencyKey": f"lifecycle-request-{run}",
        },
    )
    number = requested["movementNumber"]
    assert requested["status"] == "REQUESTED"

    labelled = mutate(
        stack,
        *operator,
        "updateRecordMovement",
        {
            "movementNumber": number,
            "status": "READY_FOR_COLLECTION",
            "labelNumber": f"PCS{run.upper()}",
            "idempotencyKey": f"lifecycle-ready-{run}",
        },
    )
    assert labelled["status"] == "READY_FOR_COLLECTION"
    collected_at = datetime.now(UTC)
    delivered_at = collected_at + timedelta(seconds=1)
    for kind, at in (("COLLECTION", collected_at), ("DELIVERY", delivered_at)):
        scanned = mutate(
            stack,
            *operator,
            "recordCourierScan",
            {"scanId": f"{kind[0]}-{run}", "movementNumber": number, "kind": kind,
             "scannedAt": at.isoformat()},
        )  # fmt: skip
        assert scanned["status"] == ("COLLECTED" if kind == "COLLECTION" else "DELIVERED")

    wrong = mutate(
        stack,
        "practice",
        [RECEIVER],
        "confirmRecordReceipt",
        {"movementNumber": number, "nhsNumber": WRONG_NHS_NUMBER,
         "idempotencyKey": f"lifecycle-receipt-1-{run}"},
    )  # fmt: skip
    assert wrong["matched"] is False
    assert wrong["movement"]["status"] == "WRONG_RECORD_DELIVERED"
    assert wrong["incident"] == {
        "kind": "WRONG_RECORD_DELIVERED",
        "foundNhsNumber": WRONG_NHS_NUMBER,
    }
    right = mutate(
        stack,
        "practice",
        [RECEIVER],
        "confirmRecordReceipt",
        {"movementNumber": number, "nhsNumber": NHS_NUMBER,
         "idempotencyKey": f"lifecycle-receipt-2-{run}"},
    )  # fmt: skip
    assert right["matched"] is True

    # The sending practice sees it all, with the patient's NHS number.
    seen = ask(stack, "practice", [SENDER], MOVEMENT, {"number": number})["data"]["recordMovement"]
    assert seen["nhsNumber"] == NHS_NUMBER
    assert seen["status"] == "IN_STORAGE_AT_PRACTICE"
    assert seen["labelNumber"] == f"PCS{run.upper()}"
    assert [h["kind"] for h in seen["history"]] == [
        "REQUESTED",
        "STATUS_CHANGED",
        "LABEL_ISSUED",
        "COLLECTION_SCANNED",
        "DELIVERY_SCANNED",
        "WRONG_RECORD_RECEIVED",
        "STATUS_CHANGED",
        "INCIDENT_REPORTED",
        "RETURN_OPENED",
        "RECEIVED",
    ]
    assert {t["kind"]: t["state"] for t in seen["timers"]} == {
        "COLLECTION": "MET",
        "URGENT": "MET",
        "DELIVERY": "MET",
    }
    # The sending practice is not where the other patient's record arrived: it does not see
    # whose it was.
    assert seen["incidents"] == [{"kind": "WRONG_RECORD_DELIVERED", "foundNhsNumber": None}]

    # A records operator sees it without the NHS numbers; anyone else, not at all.
    as_operator = ask(stack, *operator, MOVEMENT, {"number": number})["data"]["recordMovement"]
    assert as_operator["nhsNumber"] is None
    assert as_operator["incidents"] == [{"kind": "WRONG_RECORD_DELIVERED", "foundNhsNumber": None}]
    for role, scope in (("practice", ["C83838"]), ("lmc", ["kernow"]), ("accountant", [])):
        refused = ask(stack, role, scope, MOVEMENT, {"number": number})
        assert refused["data"]["recordMovement"] is None
        assert {e["extensions"]["code"] for e in refused["errors"]} == {"FORBIDDEN"}
        assert NHS_NUMBER not in str(refused)


def test_an_invalid_nhs_number_is_a_typed_error_through_the_gateway(stack: Stack) -> None:
    query = """mutation ($input: RequestMovementInput!) {
      requestRecordMovement(input: $input) { movementNumber } }"""
    body = ask(
        stack,
        "practice",
        [RECEIVER],
        query,
        {
            "input": {
                "nhsNumber": "9876544321",
                "sending": {"place": "PRACTICE", "odsCode": SENDER},
                "receiving": {"place": "PRACTICE", "odsCode": RECEIVER},
                "reason": "REQUEST",
                "urgency": "ROUTINE",
                "idempotencyKey": f"bad-nhs-{uuid.uuid4().hex[:8]}",
            }
        },
    )
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "nhsNumber"
    assert "9876544321" not in error["message"]
