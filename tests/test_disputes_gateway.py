"""A practice disputes an unpaid claim through the real gateway, as a practice app would: the
query it raised with PCSE weeks ago with its read receipt, refused escalation before day 41, an
escalation from day 41, and its LMC (and no other LMC) seeing it with its pack."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from pcse_kit import dates

if TYPE_CHECKING:
    from stack import Stack

PRACTICE = "A81001"  # in kernow


def ask(stack: Stack, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.json()


RECORD_CLAIM = """
mutation ($ref: String!, $from: Date!, $to: Date!, $claimed: Date!, $approved: Date!,
          $key: String!) {
  recordClaim(input: {odsCode: "A81001", reference: $ref, component: ENHANCED_SERVICE,
      description: "Childhood immunisations", coversFrom: $from, coversTo: $to,
      amount: "1234.50", claimedOn: $claimed, approvedOn: $approved, state: APPROVED,
      idempotencyKey: $key}) {
    claims { id reference }
  }
}
"""
OPEN = """
mutation ($claim: ID!, $raised: Date!, $key: String!) {
  openDispute(input: {odsCode: "A81001", claimId: $claim, raisedOn: $raised,
      subject: "Approved immunisations claim not paid", healthServiceBody: false,
      idempotencyKey: $key}) {
    reference raisedOn ageDays escalatableOn escalatable timeline { id kind occurredOn }
  }
}
"""
RECEIPT = """
mutation ($ref: String!, $on: Date!, $cas: String!, $key: String!) {
  addDisputeEvent(input: {reference: $ref, kind: RECEIPT, occurredOn: $on,
      note: "PCSE read our enquiry", casReference: $cas,
      evidence: [{label: "Read receipt", value: "Read by PCSE Contact Us"}],
      idempotencyKey: $key}) {
    casReference timeline { id kind occurredOn evidence { label value } }
  }
}
"""
ATTACH = """
mutation ($ref: String!, $step: ID!, $content: String!, $key: String!) {
  attachDisputeEvidence(input: {reference: $ref, stepId: $step, fileName: "read-receipt.eml",
      mediaType: "message/rfc822", content: $content, idempotencyKey: $key}) {
    attachments { fileName sizeBytes sha256 stepId }
  }
}
"""
ESCALATE = """
mutation ($ref: String!, $key: String!) {
  escalateDispute(input: {reference: $ref, idempotencyKey: $key}) { escalatedOn }
}
"""
ESCALATIONS = """
query ($code: String!) {
  lmc(code: $code) {
    disputeEscalations(first: 20) {
      reference odsCode casReference escalatedOn escalationPack escalationPackPdf
    }
  }
}
"""
RECEIPT_EMAIL = (
    b"From: PCSE Contact Us <noreply@pcse.england.nhs.uk>\r\n"
    b"Subject: Read: Unpaid enhanced service claim\r\n\r\n"
    b"Your message was read.\r\n"
)


def _claim(stack: Stack, practice: str, raised: date) -> str:
    """An approved claim, two months before the query, never paid; its id."""
    reference = f"ES-{uuid.uuid4().hex[:8].upper()}"
    month = (raised.replace(day=1) - timedelta(days=40)).replace(day=1)
    body = ask(
        stack,
        practice,
        RECORD_CLAIM,
        {"ref": reference, "from": str(month), "to": str(month + timedelta(days=27)),
         "claimed": str(month + timedelta(days=28)), "approved": str(month + timedelta(days=30)),
         "key": f"claim-{reference}"},
    )  # fmt: skip
    assert "errors" not in body, body
    [found] = [c for c in body["data"]["recordClaim"]["claims"] if c["reference"] == reference]
    claim_id: str = found["id"]
    return claim_id


def _dispute(stack: Stack, practice: str, raised: date, cas: str) -> dict[str, Any]:
    """The query as the practice raised it on ``raised``, read by PCSE the same day."""
    run = uuid.uuid4().hex[:8]
    opened = ask(
        stack,
        practice,
        OPEN,
        {"claim": _claim(stack, practice, raised), "raised": str(raised), "key": f"open-{run}"},
    )
    assert "errors" not in opened, opened
    dispute: dict[str, Any] = opened["data"]["openDispute"]
    receipt = ask(
        stack,
        practice,
        RECEIPT,
        {"ref": dispute["reference"], "on": str(raised), "cas": cas, "key": f"receipt-{run}"},
    )
    assert "errors" not in receipt, receipt
    step = receipt["data"]["addDisputeEvent"]["timeline"][-1]
    assert (step["kind"], step["occurredOn"]) == ("RECEIPT", str(raised))
    attached = ask(
        stack,
        practice,
        ATTACH,
        {"ref": dispute["reference"], "step": step["id"],
         "content": base64.b64encode(RECEIPT_EMAIL).decode(), "key": f"attach-{run}"},
    )  # fmt: skip
    assert "errors" not in attached, attached
    return dispute


def _escalated(stack: Stack, lmc: str, as_lmc: str) -> Any:
    return ask(stack, stack.token("lmc", [as_lmc]), ESCALATIONS, {"code": lmc})


def test_a_practice_disputes_an_unpaid_claim_and_escalates_it_from_day_41_to_its_lmc(
    stack: Stack,
) -> None:
    practice = stack.token("practice", [PRACTICE], subject="manager@a81001")
    today = dates.today()

    # Raised with PCSE 35 days ago and read the same day: day 35, not yet escalatable.
    early = _dispute(stack, practice, today - timedelta(days=35), "CAS-35350-R3AD35")
    assert (early["ageDays"], early["escalatable"]) == (35, False)
    assert early["escalatableOn"] == str(today + timedelta(days=6))  # day 41
    refused = ask(stack, practice, ESCALATE, {"ref": early["reference"], "key": uuid.uuid4().hex})
    assert refused["data"] is None
    [error] = refused["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "BAD_USER_INPUT",
        "reference",
    )
    assert f"from {today + timedelta(days=6)}, day 41" in error["message"]

    # The same story raised 41 days ago: day 41, escalated.
    raised = today - timedelta(days=41)
    late = _dispute(stack, practice, raised, "CAS-41410-R3AD41")
    assert (late["ageDays"], late["escalatable"]) == (41, True)
    escalated = ask(stack, practice, ESCALATE, {"ref": late["reference"], "key": uuid.uuid4().hex})
    assert escalated == {"data": {"escalateDispute": {"escalatedOn": str(today)}}}

    # The LMC sees the escalated one (and not the one that was refused), with its pack.
    body = _escalated(stack, "kernow", "kernow")
    assert "errors" not in body, body
    shown = {d["reference"]: d for d in body["data"]["lmc"]["disputeEscalations"]}
    assert early["reference"] not in shown
    mine = shown[late["reference"]]
    assert (mine["odsCode"], mine["casReference"]) == (PRACTICE, "CAS-41410-R3AD41")
    pack = mine["escalationPack"]
    assert pack["amount"]["pounds"] == "£1,234.50"
    assert pack["dates"]["raisedOn"] == str(raised)
    assert pack["dates"]["escalatableOn"] == str(today)
    assert pack["dates"]["escalatedOn"] == str(today)
    assert [s["kind"] for s in pack["timeline"]] == ["OPENED", "RECEIPT", "ESCALATED"]
    [attachment] = pack["timeline"][1]["attachments"]
    assert attachment["sha256"] == hashlib.sha256(RECEIPT_EMAIL).hexdigest()
    assert pack["query"]["about"].startswith("claim ES-")
    assert base64.b64decode(mine["escalationPackPdf"]).startswith(b"%PDF-")

    # Another LMC sees neither kernow's list nor this dispute in its own.
    other = _escalated(stack, "kernow", "essex")
    assert other["data"]["lmc"] is None or other["data"]["lmc"]["disputeEscalations"] is None
    assert {e["extensions"]["code"] for e in other["errors"]} == {"FORBIDDEN"}
    own = _escalated(stack, "essex", "essex")
    assert late["reference"] not in {
        d["reference"] for d in own["data"]["lmc"]["disputeEscalations"]
    }
