"""Payments' own events reach its stream on the broker, through the outbox and the relay: a
practice imports its own statement through the gateway, and `statement.published` for it is
on the `payments` stream moments later; the demo's anomalies were raised there too."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable

    from stack import Stack


def test_a_statement_a_practice_imports_is_published_on_the_payments_stream(
    stack: Stack, payments_events: Callable[[], list[dict[str, Any]]]
) -> None:
    csv = (
        "ods_code,period,paycode,component,amount,status,paid_on\\n"
        "A81001,2019-03,OTHER,other,12.34,paid,2019-03-29\\n"
    )
    body = httpx.post(
        stack.gateway_url,
        json={
            "query": 'mutation { importPaymentRun(input: {runId: "e2e-stream-1", csv: "'
            + csv
            + '"}) { runId } }'
        },
        headers={"authorization": f"Bearer {stack.token('practice', ['A81001'])}"},
        timeout=30,
    ).json()
    assert body == {"data": {"importPaymentRun": {"runId": "A81001:e2e-stream-1"}}}, body

    deadline = time.monotonic() + 30
    while True:
        events = payments_events()
        published = [
            e
            for e in events
            if e["type"] == "statement.published" and e["payload"]["runId"] == "A81001:e2e-stream-1"
        ]
        if published or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    [event] = published
    assert event["subject"] == "payments.statement.published"
    assert event["key"] == "A81001"
    assert event["payload"]["period"] == "2019-03-01"
    # The demo's anomalies were raised through the same outbox when it was loaded.
    assert any(e["type"] == "anomaly.raised" for e in events)
    assert all(e["key"] == e["payload"]["odsCode"] for e in events)
