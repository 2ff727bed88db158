"""The broker as the stack runs it: who may publish and read what, and a malformed event.

The users and permissions are the real ones (deploy/nats/nats.conf), with the passwords the
stack handed to each service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import nats.errors
import nats.js.errors
import pytest

if TYPE_CHECKING:
    from nats.js import api as js_api

    from stack import Stack


async def _stream_last_seq(stack: Stack, stream: str) -> int:
    bus = stack.bus("reader")
    try:
        js = await bus.jetstream()
        info = await js.stream_info(stream)
        return int(info.state.last_seq)
    finally:
        await bus.close()


async def _try_publish(stack: Stack, user: str, subject: str) -> tuple[bool, str | None]:
    """(whether the broker stored it, the connection's last error)."""
    bus = stack.bus(user)
    try:
        js = await bus.jetstream()
        try:
            await js.publish(
                subject,
                json.dumps({"eventId": str(uuid.uuid4())}).encode(),
                headers={"Nats-Msg-Id": str(uuid.uuid4())},
                timeout=1.0,
            )
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError):
            stored = False
        else:
            stored = True
        await asyncio.sleep(0.1)  # the broker's -ERR arrives on its own
        return stored, bus.last_error
    finally:
        await bus.close()


@pytest.mark.parametrize("user", ["payments", "records", "reader"])
def test_only_the_owner_may_publish_on_a_stream(stack: Stack, user: str) -> None:
    before = asyncio.run(_stream_last_seq(stack, "performers"))

    stored, error = asyncio.run(_try_publish(stack, user, "performers.practice.upserted"))

    assert not stored
    assert error is not None
    assert "permissions violation" in error.lower()
    assert asyncio.run(_stream_last_seq(stack, "performers")) == before


def test_a_service_may_publish_on_its_own_stream_subjects_only(stack: Stack) -> None:
    # The broker lets payments' own subject through: no permissions violation.
    _, error = asyncio.run(_try_publish(stack, "payments", "payments.statement.published"))
    assert error is None or "permissions violation" not in error.lower()
    _, error = asyncio.run(_try_publish(stack, "payments", "records.movement.requested"))
    assert error is not None
    assert "permissions violation" in error.lower()


async def _read_consumer_as(stack: Stack, user: str, consumer: str) -> str | None:
    bus = stack.bus(user)
    try:
        js = await bus.jetstream()
        with contextlib.suppress(nats.errors.Error, nats.js.errors.Error, TimeoutError):
            await js.consumer_info("performers", consumer, timeout=1.0)
        await asyncio.sleep(0.1)
        return bus.last_error
    finally:
        await bus.close()


def test_a_service_cannot_read_another_services_consumer(stack: Stack) -> None:
    error = asyncio.run(_read_consumer_as(stack, "records", "payments-directory"))
    assert error is not None
    assert "permissions violation" in error.lower()
    assert asyncio.run(_read_consumer_as(stack, "records", "records-directory")) is None


async def _publish_malformed(stack: Stack) -> int:
    """A message on performers' stream that is not an event: what a broken producer sends."""
    bus = stack.bus("performers")
    try:
        js = await bus.jetstream()
        ack: js_api.PubAck = await js.publish(
            "performers.practice.upserted",
            b'{"eventId": "not a uuid", "type": "practice.upserted"}',
            headers={"Nats-Msg-Id": f"malformed-{uuid.uuid4()}"},
        )
        return int(ack.seq)
    finally:
        await bus.close()


async def _dead_letters(url: str, position: int) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT consumer, stream, subject, event_id, message, error FROM dead_letter "
            "WHERE stream = 'performers' AND position = $1",
            position,
        )
        return [dict(row) for row in rows]
    finally:
        await connection.close()


async def _inbox_after(url: str, consumer: str, position: int) -> int:
    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1 AND stream = 'performers' "
            "AND position > $2",
            consumer,
            position,
        )
        return count
    finally:
        await connection.close()


def test_a_malformed_event_is_dead_lettered_by_every_consumer_and_the_stream_goes_on(
    stack: Stack, directory: dict[str, Any]
) -> None:
    position = asyncio.run(_publish_malformed(stack))
    # A real change after it: each consumer must get past the malformed one to apply it.
    membership = next(m for m in directory["memberships"] if m["endDate"] is None)
    added = httpx.post(
        stack.gateway_url,
        json={
            "query": "mutation ($gmc: String!, $ods: String!) { addMembership(input: "
            '{gmcNumber: $gmc, odsCode: $ods, role: LOCUM, startDate: "2026-02-01", '
            'endDate: "2026-02-02", idempotencyKey: "e2e-after-malformed"}) { id } }',
            "variables": {"gmc": membership["gmcNumber"], "ods": membership["odsCode"]},
        },
        headers={"authorization": f"Bearer {stack.token('operator', ['performers'])}"},
        timeout=10,
    ).json()
    assert "errors" not in added, added

    consumers = {"payments": "payments-directory", "records": "records-directory"}
    # Generous: payments may still be working through the demo directory's events, each of
    # which re-detects a practice's anomalies, and the machine may be busy.
    deadline = time.monotonic() + 120
    letters: dict[str, list[dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        letters = {
            service: asyncio.run(_dead_letters(stack.database_urls[service], position))
            for service in consumers
        }
        went_on = all(
            asyncio.run(_inbox_after(stack.database_urls[service], consumer, position)) >= 2
            for service, consumer in consumers.items()
        )
        both = {x["consumer"] for x in letters.get("payments", [])} >= {"payments-compensation"}
        if all(letters.values()) and went_on and both:
            break
        time.sleep(0.2)

    for service, consumer in consumers.items():
        # Payments reads the performers stream twice (its directory and its compensation
        # facts): each of its consumers sets the message aside on its own.
        assert {x["consumer"] for x in letters[service]} == (
            {consumer, "payments-compensation"} if service == "payments" else {consumer}
        )
        [letter] = [x for x in letters[service] if x["consumer"] == consumer]
        assert letter["subject"] == "performers.practice.upserted"
        assert letter["event_id"] is None
        assert "not a uuid" in letter["message"]
        assert letter["error"].startswith("not an event")
        assert asyncio.run(_inbox_after(stack.database_urls[service], consumer, position)) >= 2
    for service in consumers:
        scraped = httpx.get(stack.service_url(service).replace("/graphql", "/metrics"), timeout=5)
        assert 'pcse_events_dead_lettered_total{consumer="' in scraped.text
