"""What ``docker compose up`` promises, on this machine: a token from the development identity
provider opens the practice status query through the gateway and every subgraph, each of which
finds the key in the provider's JWKS, as they would a real provider's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from pcse_kit.testing import server_directory

from stack import SERVICES, TOKEN_AUDIENCE, TOKEN_ISSUER, Stack, StackConfig, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

QUERY = '{ practice(odsCode: "A81001") { name performers { name } recordMovements(first: 1) { nodes { status } } } }'  # noqa: E501


@pytest.fixture(scope="module")
def identity() -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "pcse_kit.dev_identity"],
        env={
            **os.environ,
            "DEV_IDENTITY_PORT": str(port),
            "DEV_IDENTITY_PUBLIC_URL": base,
            # The stack's own issuer and audience, which it also uses for its key file.
            "DEV_IDENTITY_ISSUER": TOKEN_ISSUER,
            "DEV_IDENTITY_AUDIENCE": TOKEN_AUDIENCE,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None
            try:
                httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def jwks_stack(identity: str) -> Iterator[Stack]:
    jwks = f"{identity}/.well-known/jwks.json"
    extra = {f"{name.upper()}_AUTH_JWKS_URL": jwks for name in (*SERVICES, "gateway")}
    with server_directory() as directory:
        config = StackConfig.free_ports(directory, seed_demo=True, durable=False, extra_env=extra)
        with Stack(config) as running:
            yield running


def test_a_token_from_the_development_identity_provider_works_end_to_end(
    identity: str, jwks_stack: Stack
) -> None:
    token = httpx.post(
        f"{identity}/token",
        data={"role": "practice", "scope": "A81001"},
        headers={"accept": "text/plain"},
    ).text.strip()
    answer = httpx.post(
        jwks_stack.gateway_url,
        json={"query": QUERY},
        headers={"authorization": f"Bearer {token}"},
        timeout=20,
    ).json()
    assert "errors" not in answer, answer
    practice = answer["data"]["practice"]
    assert practice["name"]
    assert practice["performers"]  # performers verified the token too
    assert practice["recordMovements"]["nodes"]  # and records

    # A practice's token from it opens nothing of another practice.
    other = httpx.post(
        jwks_stack.gateway_url,
        json={"query": '{ practice(odsCode: "A82806") { name } }'},
        headers={"authorization": f"Bearer {token}"},
        timeout=20,
    ).json()
    assert other["data"]["practice"] is None
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
