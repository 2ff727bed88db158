"""A dispute recorded through the gateway whose first day with PCSE is more than 40 days past
is announced on the payments stream as `dispute.escalatable` moments later, once, with its age
counted from that first day."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable

    from stack import Stack

OPEN = """
mutation ($raised: Date!) {
  openDispute(input: {odsCode: "A81001", raisedOn: $raised,
    item: {component: TRAINING_GRANT, amountClaimed: "2130.00"},
    subject: "Training grant for our registrar, August, not paid",
    idempotencyKey: "e2e-escalatable-notice-1"}) { reference raisedOn escalatable }
}
"""


def test_a_dispute_recorded_past_day_40_is_announced_once_on_the_payments_stream(
    stack: Stack, payments_events: Callable[[], list[dict[str, Any]]]
) -> None:
    raised = date.today() - timedelta(days=50)
    body = httpx.post(
        stack.gateway_url,
        json={"query": OPEN, "variables": {"raised": raised.isoformat()}},
        headers={"authorization": f"Bearer {stack.token('practice', ['A81001'])}"},
        timeout=30,
    ).json()
    assert "errors" not in body, body
    opened = body["data"]["openDispute"]
    assert opened["escalatable"] is True
    reference = opened["reference"]

    deadline = time.monotonic() + 30
    while True:
        found = [
            e
            for e in payments_events()
            if e["type"] == "dispute.escalatable" and e["payload"]["reference"] == reference
        ]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    [event] = found
    assert event["subject"] == "payments.dispute.escalatable"
    assert event["key"] == "A81001"
    assert event["payload"] == {
        "reference": reference,
        "odsCode": "A81001",
        "lmcCode": event["payload"]["lmcCode"],
        "openedOn": raised.isoformat(),
        "ageDays": 50,
        "amountClaimed": "2130.00",
    }
    assert event["payload"]["lmcCode"]  # the demo's A81001 has its LMC
