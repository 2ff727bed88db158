"""No patient identifier in free text: every free-text input of every service refuses a value
holding a valid NHS number, with BAD_USER_INPUT naming the field, and writes nothing.

Free text (an incident's detail, a cancellation's reason, a dispute's note) is shown to
operators and admins and kept in the audit trail, none of whom may see a patient's NHS number.
Each request is made by a caller who may make it, so that the refusal is the text's alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from stack import Stack

# 943 476 5919 is the NHS Data Dictionary's worked example of the modulus-11 check.
SPELLINGS = ["9434765919", "943 476 5919", "943-476-5919"]

# name: (caller role, scope, mutation with TEXT where the free text goes, the field named)
FREE_TEXT: dict[str, tuple[str, list[str], str, str]] = {
    "reportRecordIncident.detail": (
        "operator",
        ["records"],
        'reportRecordIncident(input: {movementNumber: "MV00000001", kind: EMPTY_ENVELOPE, '
        'detail: TEXT, idempotencyKey: "free-text-1"}) { reference }',
        "detail",
    ),
    "cancelRecordMovement.reason": (
        "operator",
        ["records"],
        'cancelRecordMovement(input: {movementNumber: "MV00000001", reason: TEXT, '
        'idempotencyKey: "free-text-2"}) { status }',
        "reason",
    ),
    "recordHarmReview.reviewer": (
        "operator",
        ["records"],
        'recordHarmReview(input: {reviewId: "1", minutesSpent: 10, patientInformed: false, '
        'nhsEnglandNotified: false, harmGrade: NONE, reviewer: TEXT, reviewedOn: "2026-01-05", '
        'idempotencyKey: "free-text-3"}) { harmGrade }',
        "reviewer",
    ),
    "resolveRecordIncident.resolution": (
        "operator",
        ["records"],
        'resolveRecordIncident(input: {reference: "INC-D000000001", outcome: OTHER, '
        'resolvedOn: "2026-01-05", resolution: TEXT, idempotencyKey: "free-text-resolve"}) '
        "{ status }",
        "resolution",
    ),
    "recordListDecision.decision": (
        "operator",
        ["performers"],
        'recordListDecision(input: {gmcNumber: "9071747", toStatus: SUSPENDED, '
        'effectiveDate: "2026-01-05", decision: TEXT, source: "NHS England", '
        'idempotencyKey: "free-text-4"}) { status }',
        "decision",
    ),
    "recordListDecision.source": (
        "operator",
        ["performers"],
        'recordListDecision(input: {gmcNumber: "9071747", toStatus: SUSPENDED, '
        'effectiveDate: "2026-01-05", decision: "PLDP, reg 12", source: TEXT, '
        'idempotencyKey: "free-text-5"}) { status }',
        "source",
    ),
    "openDispute.subject": (
        "practice",
        ["A81001"],
        'openDispute(input: {odsCode: "A81001", lineId: "1", subject: TEXT, '
        'idempotencyKey: "free-text-6"}) { reference }',
        "subject",
    ),
    "addDisputeEvent.note": (
        "practice",
        ["A81001"],
        'addDisputeEvent(input: {reference: "D-1", kind: SENT, occurredOn: "2026-01-05", '
        'note: TEXT, idempotencyKey: "free-text-7"}) { reference }',
        "note",
    ),
    "addDisputeEvent.evidence": (
        "practice",
        ["A81001"],
        'addDisputeEvent(input: {reference: "D-1", kind: SENT, occurredOn: "2026-01-05", '
        'note: "Sent the form", evidence: [{label: "Patient", value: TEXT}], '
        'idempotencyKey: "free-text-8"}) { reference }',
        "evidence",
    ),
    "resolveDispute.outcome": (
        "practice",
        ["A81001"],
        'resolveDispute(input: {reference: "D-1", outcome: TEXT, '
        'idempotencyKey: "free-text-9"}) { reference }',
        "outcome",
    ),
    "recordRate.source": (
        "operator",
        ["payments"],
        'recordRate(input: {kind: EMPLOYER, effectiveFrom: "2031-04-01", '
        'value: "1.00", source: TEXT, idempotencyKey: "free-text-10"}) { value }',
        "source",
    ),
}


def _ask(stack: Stack, role: str, scope: list[str], mutation: str) -> dict[str, Any]:
    token = stack.token(role, scope, subject=f"free-text-{role}")
    response = httpx.post(
        stack.gateway_url,
        json={"query": f"mutation {{ {mutation} }}"},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("name", list(FREE_TEXT))
def test_free_text_holding_an_nhs_number_is_refused(stack: Stack, name: str, spelling: str) -> None:
    role, scope, mutation, field = FREE_TEXT[name]
    text = f'"Patient {spelling} was seen at the surgery"'
    body = _ask(stack, role, scope, mutation.replace("TEXT", text))

    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert error["extensions"]["field"] == field
    assert "NHS number" in error["message"]
    assert spelling not in error["message"]


def test_ten_digits_that_fail_the_check_are_ordinary_text(stack: Stack) -> None:
    """A reference that is not an NHS number (its check digit is wrong) is let through, so the
    refusal is about NHS numbers, not about digits."""
    role, scope, mutation, _ = FREE_TEXT["recordListDecision.decision"]
    # A performer that does not exist, so that nothing is written either way.
    mutation = mutation.replace('"9071747"', '"0000001"')
    body = _ask(stack, role, scope, mutation.replace("TEXT", '"Case 9434765918"'))
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"], body
