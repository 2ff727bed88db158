"""Compensation from what the other services publish, through the gateway: a practice records
its staff time on a harm review in the records service, and an application for inclusion at
the practice is approved more than 16 weeks after it was complete in the performers service;
both reach the payments service through the streams (never its tables) and appear as the
practice's compensation facts with their source, priced at the practice's own costings in a
claim it can submit.

Figures by hand: 95 minutes at £18.40 an hour = 95 x 1,840p / 60 = 2,913.33p, half up £29.13;
an application complete 130 days ago passed 16 weeks (112 days) 18 days ago: 2 whole weeks
beyond, x 6 sessions a week x £95.00 = £1,140.00.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from pcse_kit.dates import today

if TYPE_CHECKING:
    from stack import Stack

# A kernow practice no other end-to-end test reads.
PRACTICE = "N87150"
GMC = "8715001"
TODAY = today()

WORKLIST = """
query { practice(odsCode: "N87150") {
  harmReviews { items(outstandingOnly: true, first: 100) { nodes { id } } } } }
"""
RECORD_TIME = """
mutation ($id: ID!) {
  recordHarmReview(input: {reviewId: $id, minutesSpent: 95, patientInformed: true,
    nhsEnglandNotified: false, idempotencyKey: "e2e-compensation-review-1"}) { minutesSpent }
}
"""
APPLY = """
mutation ($on: Date!) {
  applyForInclusion(input: {gmcNumber: "8715001", givenName: "Test", familyName: "Delayed",
      dateOfBirth: "1980-04-01", gmcRegisteredOn: "2004-08-06", gpRegisterOn: "2016-08-03",
      registrar: false, odsCode: "N87150", receivedOn: $on, completeOn: $on,
      evidence: "NPL1 received by PCSE, acknowledgement on file",
      idempotencyKey: "e2e-compensation-apply-1"}) { reference completeOn }
}
"""
DECIDE = """
mutation ($ref: String!, $on: Date!) {
  decideChangeRequest(input: {reference: $ref, outcome: APPROVED, decidedOn: $on,
                              idempotencyKey: "e2e-compensation-decide-1"}) { outcome }
}
"""
FACTS = """
query { practice(odsCode: "N87150") { payments {
  compensationFacts { kind sourceStream sourceEventType sourceKey on minutesSpent
    weeksBeyondSixteen daysBeyondSixteenWeeks staffTimeAmount claimReference }
} } }
"""
COSTING = """
mutation ($kind: CostingKind!, $amount: Decimal!, $key: String!) {
  setCompensationCosting(input: {odsCode: "N87150", kind: $kind, amount: $amount,
    effectiveFrom: "2015-09-01", basis: "The practice's payroll and locum costs",
    idempotencyKey: $key}) { kind amount }
}
"""
CLAIM = """
mutation {
  openCompensationClaimFromFacts(input: {odsCode: "N87150", sessionsAWeek: 6,
      idempotencyKey: "e2e-compensation-claim-1"}) {
    reference state claimed annualRatePercent
    losses { kind amount source sourceStream sourceEventType sourceKey description }
  }
}
"""


def ask(stack: Stack, role: str, scope: list[str], query: str, **variables: Any) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {stack.token(role, scope)}"},
        timeout=30,
    )
    return response.json()


def ok(body: Any) -> Any:
    assert "errors" not in body, body
    return body["data"]


def test_a_harm_review_and_a_late_inclusion_become_the_practices_compensation_claim(
    stack: Stack,
) -> None:
    practice = ("practice", [PRACTICE])
    reviews = ok(ask(stack, *practice, WORKLIST))["practice"]["harmReviews"]["items"]["nodes"]
    assert reviews, "the demo gives the practice a harm-review worklist"
    review_id = reviews[0]["id"]
    recorded = ok(ask(stack, *practice, RECORD_TIME, id=review_id))
    assert recorded["recordHarmReview"]["minutesSpent"] == 95

    operator = ("operator", ["performers"])
    complete = TODAY - timedelta(days=130)
    applied = ok(ask(stack, *operator, APPLY, on=complete.isoformat()))["applyForInclusion"]
    decided = ok(ask(stack, *operator, DECIDE, ref=applied["reference"], on=TODAY.isoformat()))
    assert decided["decideChangeRequest"]["outcome"] == "APPROVED"

    deadline = time.monotonic() + 30
    while True:
        facts = ok(ask(stack, *practice, FACTS))["practice"]["payments"]["compensationFacts"]
        mine = {f["sourceKey"]: f for f in facts}
        if (str(review_id) in mine and applied["reference"] in mine) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert mine[str(review_id)] == {
        "kind": "HARM_REVIEW", "sourceStream": "records",
        "sourceEventType": "harm_review.recorded", "sourceKey": str(review_id),
        "on": TODAY.isoformat(), "minutesSpent": 95, "weeksBeyondSixteen": None,
        "daysBeyondSixteenWeeks": None, "staffTimeAmount": None, "claimReference": None,
    }  # fmt: skip
    assert mine[applied["reference"]] == {
        "kind": "INCLUSION_DELAY", "sourceStream": "performers",
        "sourceEventType": "change_request.goodwill_compensation_may_apply",
        "sourceKey": applied["reference"],
        "on": (complete + timedelta(days=112)).isoformat(), "minutesSpent": None,
        "weeksBeyondSixteen": 2, "daysBeyondSixteenWeeks": 18, "staffTimeAmount": None,
        "claimReference": None,
    }  # fmt: skip

    # Another practice and the LMC see none of it.
    other = ask(stack, "practice", ["A81001"], FACTS)
    assert {e["extensions"]["code"] for e in other["errors"]} == {"FORBIDDEN"}

    ok(ask(stack, *practice, COSTING, kind="STAFF_HOUR", amount="18.40", key="e2e-comp-hour"))
    ok(ask(stack, *practice, COSTING, kind="GP_SESSION", amount="95.00", key="e2e-comp-session"))
    claim = ok(ask(stack, *practice, CLAIM))["openCompensationClaimFromFacts"]
    assert (claim["state"], claim["annualRatePercent"]) == ("DRAFT", None)
    losses = {loss["sourceKey"]: loss for loss in claim["losses"]}
    assert {k: losses[str(review_id)][k] for k in ("kind", "amount", "source")} == {
        "kind": "STAFF_TIME",
        "amount": "29.13",
        "source": f"records stream, harm_review.recorded, review {review_id}",
    }
    delay = losses[applied["reference"]]
    assert (delay["kind"], delay["amount"], delay["sourceStream"]) == (
        "SESSIONS_LOST",
        "1140.00",
        "performers",
    )
    assert "never due" in delay["description"]
