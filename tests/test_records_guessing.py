"""An NHS number cannot be confirmed by guessing it, through the real gateway.

Only the receiving practice may compare an NHS number with a movement's (a receipt, a wrong
record), and it sees the movement's number anyway. Anyone else is refused before any
comparison, in words that do not depend on the number, and every refused attempt that named
an NHS number stays in the audit trail: the write is rolled back, the trace is not.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

if TYPE_CHECKING:
    from stack import Stack

RECEIVER = "A81001"
WRONG_GUESS = "9990000026"  # test range, a valid check digit
REPORT = """
mutation ($input: ReportIncidentInput!) {
  reportRecordIncident(input: $input) { reference kind foundNhsNumber }
}
"""
RECEIPT = """
mutation ($input: ConfirmReceiptInput!) {
  confirmRecordReceipt(input: $input) { matched }
}
"""


def ask(stack: Stack, token: str, query: str, variables: dict[str, Any]) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.json()


def collected_movement(stack: Stack) -> tuple[str, str]:
    """A demo movement coming to A81001 and in transit, with its patient's NHS number (the
    receiving practice sees it)."""
    query = """{ practice(odsCode: "A81001") { recordMovements(direction: IN,
        status: [COLLECTED], first: 1) { nodes { movementNumber nhsNumber } } } }"""
    body = ask(stack, stack.token("practice", [RECEIVER]), query, {})
    [node] = body["data"]["practice"]["recordMovements"]["nodes"]
    return node["movementNumber"], node["nhsNumber"]


async def _refusals(stack: Stack, subject: str) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(stack.database_urls["records"])
    try:
        rows = await connection.fetch(
            "SELECT action, entity_key, before::text AS before, after::text AS after "
            "FROM audit_event WHERE actor_subject = $1 ORDER BY id",
            subject,
        )
    finally:
        await connection.close()
    for row in rows:
        # The trace names the movement, never a number tried.
        assert WRONG_GUESS not in f"{row['before']} {row['after']}"
    return [(row["action"], row["entity_key"]) for row in rows]


def without_keys(body: Any) -> Any:
    """The answer, less what differs by the request's own idempotency key."""
    return {"data": body.get("data"), "errors": [
        {k: v for k, v in error.items() if k != "locations"} for error in body["errors"]
    ]}  # fmt: skip


def test_an_operator_guessing_a_patients_nhs_number_gets_one_answer_and_leaves_a_trace(
    stack: Stack,
) -> None:
    number, real = collected_movement(stack)
    subject = f"operator-guess-{uuid.uuid4().hex[:8]}"
    operator = stack.token("operator", ["records"], subject=subject)

    answers = []
    for guess in (real, WRONG_GUESS):
        report = {"movementNumber": number, "kind": "WRONG_RECORD_DELIVERED", "detail": "x",
                  "foundNhsNumber": guess,
                  "idempotencyKey": f"guess-{uuid.uuid4().hex}"}  # fmt: skip
        answers.append(without_keys(ask(stack, operator, REPORT, {"input": report})))
        receipt = {"movementNumber": number, "nhsNumber": guess,
                   "idempotencyKey": f"guess-{uuid.uuid4().hex}"}  # fmt: skip
        answers.append(without_keys(ask(stack, operator, RECEIPT, {"input": receipt})))

    # The right number and a wrong one get the same refusal, for either mutation.
    assert answers[0] == answers[2]
    assert answers[1] == answers[3]
    for answer in answers:
        assert answer["data"] is None
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN"]
        assert real not in str(answer)
    # Four attempts, four rows in the audit trail.
    assert asyncio.run(_refusals(stack, subject)) == [
        ("refused_reportRecordIncident", number),
        ("refused_confirmRecordReceipt", number),
        ("refused_reportRecordIncident", number),
        ("refused_confirmRecordReceipt", number),
    ]
    # Nothing happened to the movement.
    status_query = """query ($n: String!) { recordMovement(movementNumber: $n) {
        status incidents { kind } } }"""
    seen = ask(stack, operator, status_query, {"n": number})["data"]["recordMovement"]
    assert seen == {"status": "COLLECTED", "incidents": []}


def test_the_receiving_practice_sees_the_number_so_its_answers_reveal_nothing_new(
    stack: Stack,
) -> None:
    number, real = collected_movement(stack)
    subject = f"practice-guess-{uuid.uuid4().hex[:8]}"
    practice = stack.token("practice", [RECEIVER], subject=subject)
    report = {"movementNumber": number, "kind": "WRONG_RECORD_DELIVERED", "detail": "x",
              "foundNhsNumber": real, "idempotencyKey": f"guess-{uuid.uuid4().hex}"}  # fmt: skip

    body = ask(stack, practice, REPORT, {"input": report})

    # Its own patient's number: told to confirm receipt instead. It could read the number on
    # the movement, so nothing is confirmed that it did not know; the attempt is still kept.
    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "BAD_USER_INPUT", "field": "foundNhsNumber", "serviceName": "records"}
    ]
    assert asyncio.run(_refusals(stack, subject)) == [("refused_reportRecordIncident", number)]


def test_the_practice_a_wrong_record_goes_back_to_cannot_test_whose_it_is(
    stack: Stack,
) -> None:
    """The return's receiver does not see the other patient's number; a receipt naming one
    would tell it whether a guess was right, so it is refused, whatever the number."""
    number, _ = collected_movement(stack)
    receiver = stack.token("practice", [RECEIVER])
    third = "9990001111"
    receipt = """mutation ($input: ConfirmReceiptInput!) { confirmRecordReceipt(input: $input) {
        movement { sending { odsCode } } returnMovement { movementNumber } } }"""
    sent = ask(stack, receiver, receipt, {"input": {
        "movementNumber": number, "nhsNumber": third,
        "idempotencyKey": f"third-{uuid.uuid4().hex}"}})  # fmt: skip
    sent = sent["data"]["confirmRecordReceipt"]
    back = sent["returnMovement"]["movementNumber"]
    sender = sent["movement"]["sending"]["odsCode"]
    subject = f"return-guess-{uuid.uuid4().hex[:8]}"
    original_sender = stack.token("practice", [sender], subject=subject)

    answers = [
        without_keys(ask(stack, original_sender, RECEIPT, {"input": {
            "movementNumber": back, "nhsNumber": guess,
            "idempotencyKey": f"guess-{uuid.uuid4().hex}"}}))
        for guess in (third, WRONG_GUESS)
    ]  # fmt: skip

    assert answers[0] == answers[1]
    assert [e["extensions"]["code"] for e in answers[0]["errors"]] == ["FORBIDDEN"]
    assert asyncio.run(_refusals(stack, subject)) == [
        ("refused_confirmRecordReceipt", back),
        ("refused_confirmRecordReceipt", back),
    ]
