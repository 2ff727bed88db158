"""Following one request and one event through every process: traces, logs, metrics, health.

The stack writes each part's spans to a file (``traces_dir``) and each part's log to
``log_dir``; no collector is involved.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from stack import ROOT

if TYPE_CHECKING:
    from pcse_kit.postgres import EmbeddedPostgres

    from stack import Stack

PARTS = ("gateway", "payments", "records", "performers")
SERVICES = ("payments", "records", "performers")
PRACTICE_STATUS = (ROOT / "demo" / "practice-status.graphql").read_text()


def traceparent() -> tuple[str, str, str]:
    """(trace id, parent span id, the header): a caller's sampled W3C trace context."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def spans_of(stack: Stack, part: str, trace_id: str) -> list[dict[str, Any]]:
    return [span for span in stack.traces(part) if span["trace_id"] == trace_id]


def log_lines_of(stack: Stack, part: str, trace_id: str) -> list[dict[str, Any]]:
    lines = []
    for line in (stack.log_dir / f"{part}.log").read_text(errors="replace").splitlines():
        if trace_id in line and line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def wait_for(check: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.2)


def test_one_request_is_one_trace_through_the_gateway_and_every_service(stack: Stack) -> None:
    trace_id, caller_span, header = traceparent()

    response = httpx.post(
        stack.gateway_url,
        json={"query": PRACTICE_STATUS, "variables": {"ods": "A81001"}},
        headers={
            "authorization": f"Bearer {stack.token('practice', ['A81001'])}",
            "traceparent": header,
        },
        timeout=20,
    )
    assert response.status_code == httpx.codes.OK
    assert "errors" not in response.json()

    wait_for(lambda: all(spans_of(stack, part, trace_id) for part in PARTS))
    gateway = spans_of(stack, "gateway", trace_id)
    [root] = [span for span in gateway if span["parent_span_id"] == caller_span]
    assert root["kind"] == "server"
    subgraph_calls = {s["span_id"] for s in gateway if s["kind"] == "client"}
    assert subgraph_calls
    for service in SERVICES:
        spans = spans_of(stack, service, trace_id)
        [server] = [s for s in spans if s["kind"] == "server"]
        # The service continues the gateway's call to it, not a trace of its own.
        assert server["parent_span_id"] in subgraph_calls
        assert server["attributes"]["graphql.outcome"] == "ok"
        queries = [s for s in spans if s["kind"] == "client"]
        assert queries, f"{service} traced no SQL statement"
        assert all(q["attributes"]["db.system"] == "postgresql" for q in queries)
        assert all(q["attributes"]["db.statement"] for q in queries)

    for part in PARTS:
        lines = log_lines_of(stack, part, trace_id)
        assert lines, f"no log line of {part} carries the trace id"
        assert all(line["trace_id"] == trace_id for line in lines)
        assert any(line.get("http_route") == "/graphql" for line in lines)


ADD_MEMBERSHIP = (
    "mutation ($gmc: String!, $ods: String!) { addMembership(input: {gmcNumber: $gmc, "
    'odsCode: $ods, role: LOCUM, startDate: "1970-06-01", endDate: "1970-06-02", '
    'idempotencyKey: "traced-membership"}) { id } }'
)


PERFORMERS_CONSUMERS = {
    "payments": {"payments-directory", "payments-compensation"},
    "records": {"records-directory"},
}
"""Each service's consumers of the performers stream."""


def test_an_event_carries_the_trace_of_the_change_to_every_consumer(
    stack: Stack, directory: dict[str, Any]
) -> None:
    trace_id, _, header = traceparent()
    member = directory["memberships"][-2]

    body = httpx.post(
        stack.gateway_url,
        json={
            "query": ADD_MEMBERSHIP,
            "variables": {"gmc": member["gmcNumber"], "ods": member["odsCode"]},
        },
        headers={
            "authorization": f"Bearer {stack.token('operator', ['performers'])}",
            "traceparent": header,
        },
        timeout=20,
    ).json()
    assert "errors" not in body, body

    def consumed_everywhere() -> bool:
        return all(
            any(
                s["kind"] == "consumer"
                and s["attributes"]["messaging.consumer.group.name"] == f"{service}-directory"
                for s in spans_of(stack, service, trace_id)
            )
            for service in ("payments", "records")
        )

    wait_for(consumed_everywhere)
    published = [s for s in spans_of(stack, "performers", trace_id) if s["kind"] == "producer"]
    # Among them, the membership's own events (performers publishes others beside them).
    assert {s["name"] for s in published} >= {
        "publish performers.membership.started",
        "publish performers.membership.ended",
    }
    publish_ids = {s["span_id"] for s in published}
    for service in ("payments", "records"):
        spans = spans_of(stack, service, trace_id)
        # The performers events, to each consumer of that stream; payments' own events,
        # relayed in the same trace when the change raised an anomaly, go on to its webhooks
        # consumer, a child of payments' relay rather than of performers'.
        consumed = [
            s
            for s in spans
            if s["kind"] == "consumer"
            and s["attributes"]["messaging.destination.name"].startswith("performers.")
        ]
        assert consumed
        assert {s["parent_span_id"] for s in consumed} <= publish_ids
        groups = {s["attributes"]["messaging.consumer.group.name"] for s in consumed}
        assert f"{service}-directory" in groups
        assert groups <= PERFORMERS_CONSUMERS[service]
    # Payments' own SQL for the event (its inbox, its copy, the anomalies) is in the trace.
    payments = spans_of(stack, "payments", trace_id)
    consumer_ids = {s["span_id"] for s in payments if s["kind"] == "consumer"}
    assert any(s["kind"] == "client" and s["parent_span_id"] in consumer_ids for s in payments), (
        "payments traced no statement under the event"
    )


def scrape(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=10)
    assert response.status_code == httpx.codes.OK
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def test_every_process_answers_metrics_in_prometheus_format(stack: Stack) -> None:
    # One request first, so that the request metrics have samples.
    httpx.post(
        stack.gateway_url,
        json={"query": PRACTICE_STATUS, "variables": {"ods": "A81001"}},
        headers={"authorization": f"Bearer {stack.token('practice', ['A81001'])}"},
        timeout=20,
    )
    gateway = scrape(stack.metrics_url("gateway"))
    assert {
        "pcse_http_requests",
        "pcse_http_request_duration_seconds",
        "graphql_yoga_http_duration",
        "graphql_gateway_subgraph_execute_duration",
    } <= set(gateway)
    operations = {
        sample.labels["operationName"]
        for sample in gateway["graphql_yoga_http_duration"].samples
        if sample.name.endswith("_count")
    }
    assert "PracticeStatus" in operations
    # The public port serves no metrics.
    assert httpx.get(stack.gateway_url.replace("/graphql", "/metrics")).status_code != 200

    for service in SERVICES:
        families = scrape(stack.metrics_url(service))
        assert {
            "pcse_http_requests",
            "pcse_http_request_duration_seconds",
            "pcse_graphql_operations",
            "pcse_graphql_operation_duration_seconds",
            "pcse_db_pool_connections",
            "pcse_db_pool_size",
        } <= set(families), service
        outcomes = {
            (s.labels["operation_type"], s.labels["outcome"])
            for s in families["pcse_graphql_operations"].samples
        }
        assert ("query", "ok") in outcomes
    performers = scrape(stack.metrics_url("performers"))
    [backlog] = performers["pcse_outbox_backlog_events"].samples
    assert backlog.labels == {"stream": "performers"}
    consumers = {
        "payments": {"payments-directory", "payments-compensation", "payments-webhooks"},
        "records": {"records-directory"},
    }
    for service, names in consumers.items():
        lag = scrape(stack.metrics_url(service))["pcse_consumer_lag_events"].samples
        assert {s.labels["consumer"] for s in lag} == names


def readiness(stack: Stack, service: str) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(stack.service_url(service).replace("/graphql", "/readyz"), timeout=5)
    except httpx.TransportError:
        return 0, {}
    return response.status_code, response.json()


def test_readiness_fails_while_the_database_is_down_and_recovers(
    stack: Stack, postgres: EmbeddedPostgres
) -> None:
    for service in SERVICES:
        assert readiness(stack, service) == (
            200,
            {"status": "ready", "checks": {"database": "ok", "broker": "ok"}},
        )
    postgres.stop()
    try:
        wait_for(lambda: all(readiness(stack, s)[0] == 503 for s in SERVICES))
        for service in SERVICES:
            _, body = readiness(stack, service)
            assert body["checks"]["database"] == "unavailable"
            # Alive all the same: nothing to restart.
            live = httpx.get(stack.service_url(service).replace("/graphql", "/healthz"))
            assert live.status_code == httpx.codes.OK
    finally:
        postgres.start()
    wait_for(lambda: all(readiness(stack, s)[0] == 200 for s in SERVICES), within=30)


def test_readiness_fails_while_the_broker_is_down_and_recovers(stack: Stack) -> None:
    assert stack.nats is not None
    stack.nats.stop()
    try:
        wait_for(lambda: all(readiness(stack, s)[0] == 503 for s in SERVICES))
        for service in SERVICES:
            assert readiness(stack, service)[1]["checks"] == {
                "database": "ok",
                "broker": "unavailable",
            }
    finally:
        stack.nats.start()
    wait_for(lambda: all(readiness(stack, s)[0] == 200 for s in SERVICES), within=30)
