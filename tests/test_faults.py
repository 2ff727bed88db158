"""Faults under load: a subgraph stopped and started again, PostgreSQL restarted under writes."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import httpx

from stack import ROOT

if TYPE_CHECKING:
    from pcse_kit.postgres import EmbeddedPostgres

    from stack import Stack

PRACTICE_STATUS = (ROOT / "demo" / "practice-status.graphql").read_text()
LOAD_SECONDS_LIMIT = 60


class Load:
    """Requests sent in a loop from a few threads until stopped; bounded in count and time."""

    def __init__(self, send: Any, *, threads: int = 3, limit: int = 2000) -> None:
        self.send = send
        self.results: list[Any] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(limit,)) for _ in range(threads)]
        self._started = time.monotonic()

    def _run(self, limit: int) -> None:
        while not self._stop.is_set() and len(self.results) < limit:
            if time.monotonic() - self._started > LOAD_SECONDS_LIMIT:
                return
            result = self.send()
            with self._lock:
                self.results.append(result)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def since(self, index: int) -> list[Any]:
        with self._lock:
            return self.results[index:]

    def wait_for(self, more: int) -> None:
        target = self.count() + more
        deadline = time.monotonic() + LOAD_SECONDS_LIMIT
        while self.count() < target and time.monotonic() < deadline:
            time.sleep(0.02)


def test_a_stopped_subgraph_costs_only_its_part_and_the_answer_recovers(stack: Stack) -> None:
    headers = {"authorization": f"Bearer {stack.token('practice', ['A81001'])}"}

    def send() -> tuple[int, Any]:
        response = httpx.post(
            stack.gateway_url,
            json={"query": PRACTICE_STATUS, "variables": {"ods": "A81001"}},
            headers=headers,
            timeout=10,
        )
        return response.status_code, response.json()

    try:
        with Load(send) as load:
            load.wait_for(20)
            stack.stop_service("records")
            outage_from = load.count()
            load.wait_for(30)
            outage_to = load.count()
            stack.start_service("records")
            recovered_from = load.count()
            load.wait_for(20)
    finally:
        if "records" not in {child.name for child in stack.children}:
            stack.start_service("records")

    results = load.results
    assert all(status == httpx.codes.OK for status, _ in results)
    partial = [body for _, body in results if "errors" in body]
    for body in partial:
        practice = body["data"]["practice"]
        # Everything the other services own is still there.
        assert practice["name"]
        assert practice["performers"]
        assert practice["payments"]["statements"]["nodes"]
        assert practice.get("recordMovements") is None
        assert [e["extensions"] for e in body["errors"]] == [
            {"code": "SERVICE_UNAVAILABLE", "serviceName": "records"}
        ]
        assert "Traceback" not in str(body)
        assert "ECONNREFUSED" not in str(body)
    # During the outage every answer was partial; once it is back, every answer is whole.
    assert all("errors" in body for _, body in results[outage_from + 3 : outage_to])
    assert all("errors" not in body for _, body in results[recovered_from + 3 :])
    assert len(results[recovered_from + 3 :]) >= 10


def test_no_acknowledged_write_is_lost_when_postgresql_restarts(
    stack: Stack, postgres: EmbeddedPostgres
) -> None:
    headers = {"authorization": f"Bearer {stack.token('practice', ['A81001'])}"}
    counter = iter(range(1_000_000))
    lock = threading.Lock()

    def send() -> tuple[str, bool]:
        with lock:
            n = next(counter)
        accountant = f"restart-{n}"
        mutation = (
            "mutation ($a: String!, $k: String!) { grantAccountantConsent(input: "
            '{odsCode: "A81001", accountantId: $a, idempotencyKey: $k}) { accountantId } }'
        )
        try:
            response = httpx.post(
                stack.gateway_url,
                json={"query": mutation, "variables": {"a": accountant, "k": f"key-{accountant}"}},
                headers=headers,
                timeout=10,
            )
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return accountant, False
        acknowledged = body.get("data", {}) and (body["data"] or {}).get(
            "grantAccountantConsent"
        ) == {"accountantId": accountant}
        return accountant, bool(acknowledged)

    with Load(send, threads=4) as load:
        load.wait_for(30)
        postgres.stop()
        time.sleep(0.5)
        postgres.start()
        restarted_at = load.count()
        # The pools must heal on their own: writes are acknowledged again soon after.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            recent = [ok for _, ok in load.since(restarted_at)]
            if sum(recent[-10:]) == 10:
                break
            time.sleep(0.1)

    acknowledged = {accountant for accountant, ok in load.results if ok}
    assert len(acknowledged) >= 30
    assert all(ok for _, ok in load.results[-10:]), "writes did not recover after the restart"

    listing = httpx.post(
        stack.gateway_url,
        json={"query": '{ accountantConsents(odsCode: "A81001") { accountantId } }'},
        headers=headers,
        timeout=10,
    ).json()
    stored = {row["accountantId"] for row in listing["data"]["accountantConsents"]}
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)[:5]}"
