"""Faults under load: a subgraph stopped and started again, PostgreSQL restarted under writes,
the broker restarted under writes, a consumer down for a while."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from stack import ROOT

if TYPE_CHECKING:
    import uuid

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
        assert body["data"] is not None, body
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


# --------------------------------------------------------------------------------------------
# Events: the broker restarted under load, a consumer down for a while

ADD_MEMBERSHIP = (
    "mutation ($gmc: String!, $ods: String!, $on: Date!, $k: String!) { addMembership(input: "
    "{gmcNumber: $gmc, odsCode: $ods, role: LOCUM, startDate: $on, endDate: $on, "
    "idempotencyKey: $k}) { id } }"
)
CONSUMERS = {"payments": "payments-directory", "records": "records-directory"}


class Memberships:
    """Adds short locum memberships of one GP, each a day of its own: two events each
    (``membership.started`` then ``membership.ended``), whose order payments' copy shows."""

    def __init__(self, stack: Stack, directory: dict[str, Any], first_day: date) -> None:
        self.stack = stack
        member = directory["memberships"][-1]
        self.gmc, self.ods = member["gmcNumber"], member["odsCode"]
        self.headers = {"authorization": f"Bearer {stack.token('operator', ['performers'])}"}
        self._days = iter(range(100_000))
        self._first_day = first_day
        self._lock = threading.Lock()

    def add(self) -> int | None:
        with self._lock:
            day = self._first_day + timedelta(days=next(self._days))
        try:
            body = httpx.post(
                self.stack.gateway_url,
                json={
                    "query": ADD_MEMBERSHIP,
                    "variables": {
                        "gmc": self.gmc,
                        "ods": self.ods,
                        "on": day.isoformat(),
                        "k": f"fault-{day.isoformat()}",
                    },
                },
                headers=self.headers,
                timeout=10,
            ).json()
        except (httpx.HTTPError, ValueError):
            return None
        added = (body.get("data") or {}).get("addMembership")
        return int(added["id"]) if added else None


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


def _events_of(stack: Stack, memberships: set[int]) -> list[uuid.UUID]:
    """The performers outbox's events about ``memberships``, in outbox order."""
    rows = asyncio.run(
        _fetch(
            stack.database_urls["performers"],
            "SELECT event_id FROM outbox WHERE type LIKE 'membership.%' "
            "AND (payload->>'membershipId')::bigint = ANY($1::bigint[]) ORDER BY id",
            sorted(memberships),
        )
    )
    return [row["event_id"] for row in rows]


def _applied(stack: Stack, service: str, events: list[uuid.UUID]) -> list[asyncpg.Record]:
    """Inbox rows of ``events`` in ``service``, in the order they were applied."""
    return asyncio.run(
        _fetch(
            stack.database_urls[service],
            "SELECT event_id, position FROM inbox WHERE consumer = $1 "
            "AND event_id = ANY($2::uuid[]) ORDER BY applied_at, position",
            CONSUMERS[service],
            events,
        )
    )


def _wait_until_applied(stack: Stack, events: list[uuid.UUID], within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(len(_applied(stack, service, events)) == len(events) for service in CONSUMERS):
            return
        time.sleep(0.25)


def _assert_each_applied_once_in_order(
    stack: Stack, memberships: set[int], events: list[uuid.UUID]
) -> None:
    for service in CONSUMERS:
        applied = _applied(stack, service, events)
        # The inbox's key is (consumer, event): present means applied exactly once.
        assert {row["event_id"] for row in applied} == set(events), f"{service} lost events"
        positions = [row["position"] for row in applied]
        assert positions == sorted(positions), f"{service} applied out of stream order"
    # Each membership's ended event came after its started one: payments' copy says ended.
    copies = asyncio.run(
        _fetch(
            stack.database_urls["payments"],
            "SELECT membership_id, start_date, end_date FROM performer_membership "
            "WHERE membership_id = ANY($1::bigint[])",
            sorted(memberships),
        )
    )
    assert {row["membership_id"] for row in copies} == memberships
    assert all(row["end_date"] == row["start_date"] for row in copies)


def test_the_broker_restarted_under_load_loses_no_event_and_each_applies_once(
    stack: Stack, directory: dict[str, Any]
) -> None:
    assert stack.nats is not None
    adding = Memberships(stack, directory, date(1990, 1, 1))

    with Load(adding.add, threads=3, limit=400) as load:
        load.wait_for(20)
        stack.nats.stop()
        restarted_from = load.count()
        time.sleep(1.0)  # writes go on meanwhile: their events wait in the outbox
        stack.nats.start()
        load.wait_for(20)

    memberships = {m for m in load.results if m is not None}
    assert len(memberships) >= 40
    assert any(m is not None for m in load.results[restarted_from:])
    events = _events_of(stack, memberships)
    assert len(events) == 2 * len(memberships)
    _wait_until_applied(stack, events)
    _assert_each_applied_once_in_order(stack, memberships, events)


def test_a_consumer_down_for_a_while_catches_up_in_order(
    stack: Stack, directory: dict[str, Any]
) -> None:
    adding = Memberships(stack, directory, date(1980, 1, 1))
    stack.stop_service("payments")
    try:
        memberships = {m for m in (adding.add() for _ in range(15)) if m is not None}
        events = _events_of(stack, memberships)
        # Records, still running, has them; payments has none yet.
        _wait_until_applied_by(stack, "records", events)
    finally:
        stack.start_service("payments")

    assert len(memberships) == 15
    assert len(events) == 30
    _wait_until_applied(stack, events)
    _assert_each_applied_once_in_order(stack, memberships, events)


def _wait_until_applied_by(
    stack: Stack, service: str, events: list[uuid.UUID], within: float = 30.0
) -> None:
    deadline = time.monotonic() + within
    while len(_applied(stack, service, events)) < len(events):
        assert time.monotonic() < deadline, f"{service} did not apply the events"
        time.sleep(0.2)
