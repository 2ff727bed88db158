"""Signed webhooks through the gateway: a practice subscribes (the secret shown once), its
receiver is down while statements arrive, and once it is back it receives every event exactly
once, each signed so that a tampered body or signature is detected; the delivery log shows the
attempts, a replay sends the same webhook-id again, and another practice's subscriber hears
nothing of it. The test stack retries from 0.2 s (tests/conftest.py) instead of a minute."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from stack import Stack

PRACTICE = "L86614"  # kernow; no other test reads it
OTHER_PRACTICE = "K84871"  # kernow


def ask(stack: Stack, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.json()


def wait_for(what: str, check: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(0.2)


class Received:
    """What a receiver was sent: (path, headers, body), in arrival order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def of(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(h, b) for p, h, b in self.requests if p == path]


def receiver(port: int, received: Received) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with received.lock:
                received.requests.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def port() -> int:
    """A port with nothing listening on it (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free: int = probe.getsockname()[1]
    return free


CREATE = """
mutation ($url: String!, $key: String!) {
  createWebhookSubscription(input: {url: $url, eventTypes: [STATEMENT_PUBLISHED,
    STATEMENT_CHANGED], description: "Practice app", idempotencyKey: $key}) {
    secret subscription { id kind odsCodes status eventTypes }
  }
}
"""
LOG = """
query ($id: ID!) { webhookSubscriptions(id: $id) { id deliveries(first: 20) { nodes { id
    webhookId eventId eventType odsCode status attempts lastResponseStatus lastError
    nextAttemptAt lastAttemptAt deliveredAt } } } }
"""
IMPORT = """
mutation ($run: String!, $csv: String!) {
  importPaymentRun(input: {runId: $run, csv: $csv}) { runId }
}
"""
HEADER = "ods_code,period,paycode,component,amount,status,paid_on\n"


def log(stack: Stack, token: str, subscription: str) -> list[dict[str, Any]]:
    body = ask(stack, token, LOG, {"id": subscription})
    assert "errors" not in body, body
    [found] = [s for s in body["data"]["webhookSubscriptions"] if s["id"] == subscription]
    nodes: list[dict[str, Any]] = found["deliveries"]["nodes"]
    return nodes


def test_a_receiver_that_was_down_receives_every_event_once_signed(stack: Stack, port: int) -> None:  # noqa: PLR0915 - one story
    practice = stack.token("practice", [PRACTICE], subject=f"manager@{PRACTICE}")
    other = stack.token("practice", [OTHER_PRACTICE], subject=f"manager@{OTHER_PRACTICE}")
    url = f"http://127.0.0.1:{port}/practice"

    made = ask(stack, practice, CREATE, {"url": url, "key": "e2e-webhooks-practice"})
    created = made["data"]["createWebhookSubscription"]
    secret = created["secret"]
    assert secret.startswith("whsec_")
    subscription = created["subscription"]
    assert subscription["kind"] == "PRACTICE"
    assert subscription["odsCodes"] == [PRACTICE]
    assert subscription["status"] == "ACTIVE"
    # Asked again (the same idempotency key), the secret is not shown; nor is it anywhere else.
    again = ask(stack, practice, CREATE, {"url": url, "key": "e2e-webhooks-practice"})
    assert again["data"]["createWebhookSubscription"] == {
        "secret": None,
        "subscription": subscription,
    }
    hidden = ask(stack, practice, "{ webhookSubscriptions { id secret } }")
    assert hidden["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

    other_made = ask(
        stack,
        other,
        CREATE,
        {"url": f"http://127.0.0.1:{port}/other", "key": "e2e-webhooks-other"},
    )["data"]["createWebhookSubscription"]

    # The receiver is down. Two months arrive in one run, then a supplementary run changes
    # one of them: statement.published twice, statement.changed once.
    runs = [
        (
            "e2e-webhooks-1",
            f"{PRACTICE},2019-04,OTHER,other,10.00,paid,2019-04-26\n"
            f"{PRACTICE},2019-05,OTHER,other,11.00,paid,2019-05-31\n",
        ),
        ("e2e-webhooks-2", f"{PRACTICE},2019-05,OTHER,other,-1.00,paid,2019-06-07\n"),
    ]
    for run, lines in runs:
        imported = ask(stack, practice, IMPORT, {"run": run, "csv": HEADER + lines})
        assert imported == {"data": {"importPaymentRun": {"runId": f"{PRACTICE}:{run}"}}}, imported

    # Each is tried, refused (nothing listens), and scheduled again.
    failing = wait_for(
        "three deliveries, each tried twice in vain",
        lambda: (
            rows
            if len(rows := log(stack, practice, subscription["id"])) == 3
            and all(r["attempts"] >= 2 and r["status"] == "PENDING" for r in rows)
            else None
        ),
    )
    for row in failing:
        assert row["lastResponseStatus"] is None
        assert row["lastError"]
        assert row["nextAttemptAt"] is not None
    assert sorted(r["eventType"] for r in failing) == [
        "statement.changed",
        "statement.published",
        "statement.published",
    ]

    received = Received()
    server = receiver(port, received)
    try:

        def all_delivered() -> list[dict[str, Any]] | None:
            rows = log(stack, practice, subscription["id"])
            return rows if all(r["status"] == "DELIVERED" for r in rows) else None

        delivered = wait_for("every delivery delivered", all_delivered)
        got = received.of("/practice")
        # Every event, exactly once by its webhook-id.
        assert sorted(h["webhook-id"] for h, _ in got) == sorted(r["webhookId"] for r in delivered)
        for row in delivered:
            assert row["attempts"] >= 3  # two refused at least, then the one that arrived
            assert row["lastResponseStatus"] == 204
            assert row["lastError"] is None
            assert row["nextAttemptAt"] is None
            assert row["deliveredAt"] is not None
            assert row["odsCode"] == PRACTICE

        # Each verifies with the secret shown once; a tampered body or signature does not.
        receiving = Webhook(secret)
        bodies = [receiving.verify(body, headers) for headers, body in got]
        assert sorted((b["type"], b["data"]["period"]) for b in bodies) == [
            ("statement.changed", "2019-05-01"),
            ("statement.published", "2019-04-01"),
            ("statement.published", "2019-05-01"),
        ]
        assert {b["data"]["odsCode"] for b in bodies} == {PRACTICE}
        headers, body = got[0]
        with pytest.raises(WebhookVerificationError):
            receiving.verify(body.replace(b"2019", b"2018"), headers)
        with pytest.raises(WebhookVerificationError):
            receiving.verify(body, {**headers, "webhook-signature": "v1," + "A" * 44})
        with pytest.raises(WebhookVerificationError):
            Webhook(other_made["secret"]).verify(body, headers)

        # A replay sends the same webhook-id again, so the receiver can tell it has it.
        replayed_row = delivered[0]
        replay = ask(
            stack,
            practice,
            "mutation ($id: ID!) { replayWebhookDelivery(input: {id: $id, "
            'idempotencyKey: "e2e-webhooks-replay"}) { webhookId status attempts } }',
            {"id": replayed_row["id"]},
        )
        assert replay["data"]["replayWebhookDelivery"] == {
            "webhookId": replayed_row["webhookId"],
            "status": "PENDING",
            "attempts": 0,
        }
        again_got = wait_for(
            "the replay", lambda: got_now if len(got_now := received.of("/practice")) == 4 else None
        )
        assert again_got[3][0]["webhook-id"] == replayed_row["webhookId"]
        receiving.verify(again_got[3][1], again_got[3][0])

        # Another practice may not replay it, and its own subscriber heard nothing of this one.
        refused = ask(
            stack,
            other,
            "mutation ($id: ID!) { replayWebhookDelivery(input: {id: $id, "
            'idempotencyKey: "e2e-webhooks-replay-other"}) { webhookId } }',
            {"id": replayed_row["id"]},
        )
        assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
        assert log(stack, other, other_made["subscription"]["id"]) == []
        assert received.of("/other") == []

        # What operators watch: attempts by outcome, and deliveries pending or failed.
        scraped = httpx.get(stack.metrics_url("payments"), timeout=10).text
        assert 'pcse_webhook_attempts_total{outcome="delivered"}' in scraped
        assert 'pcse_webhook_attempts_total{outcome="failed"}' in scraped
        assert 'pcse_webhook_deliveries{status="failed"}' in scraped
    finally:
        server.shutdown()
        server.server_close()
