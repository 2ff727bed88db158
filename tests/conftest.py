"""End-to-end fixtures: the whole stack, started per worker on free ports, with demo data."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from stack import ROOT, Stack, StackConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pcse_kit.postgres import EmbeddedPostgres


@pytest.fixture(scope="session")
def stack(postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    config = StackConfig.free_ports(
        data_dir,
        server_url=postgres.dsn(),
        seed_demo=True,
        trust_dev_key=True,
        traces_dir=data_dir / "traces",
    )
    # Tests send far more than a person would (the fuzzing especially); the rate limit has its
    # own gateway in test_gateway_edge.py.
    config.extra_env["GATEWAY_RATE_LIMIT"] = "0"
    # Webhook retries in seconds rather than minutes (test_webhooks.py): 0.2 s, 0.4 s, 0.8 s...
    config.extra_env["PAYMENTS_WEBHOOKS_BACKOFF_BASE_SECONDS"] = "0.2"
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="session")
def directory() -> dict[str, Any]:
    """The demo directory every service's demo data is built from."""
    data: dict[str, Any] = json.loads((ROOT / "demo" / "directory.json").read_text())
    return data


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    """A client of the gateway, as an admin unless a test sends its own Authorization."""
    with httpx.Client(
        base_url=stack.gateway_url.removesuffix("/graphql"),
        timeout=10,
        headers={"authorization": f"Bearer {stack.token('admin')}"},
    ) as client:
        yield client


@pytest.fixture
def payments_events(stack: Stack) -> Callable[[], list[dict[str, Any]]]:
    """Reads every event on the payments stream so far, as the read-only user."""

    async def read() -> list[dict[str, Any]]:
        bus = stack.bus("reader")
        try:
            js = await bus.jetstream()
            info = await js.stream_info("payments")
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg("payments", seq)
                found.append({"subject": message.subject, **json.loads(message.data or b"{}")})
            # Only events: a test stores a bare message on a payments subject to show the
            # broker lets payments publish there.
            return [event for event in found if "type" in event and "payload" in event]
        finally:
            await bus.close()

    return lambda: asyncio.run(read())
