"""Tokens at every door: a malformed token is 401 at the gateway and at each subgraph (never a
500), and a subgraph stops trusting a key its identity provider withdrew.

The subgraphs check tokens themselves, so these go straight to them as well as through the
gateway: a request that bypasses the gateway meets the same rules.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pcse_kit.auth import SigningKey
from pcse_kit.testing import (
    TEST_AUDIENCE,
    TEST_ISSUER,
    client_for,
    malformed_tokens,
    running_service,
)
from performers.definition import SERVICE as PERFORMERS

from stack import ROOT, SERVICES, TOKEN_AUDIENCE, TOKEN_ISSUER

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pcse_kit.postgres import EmbeddedPostgres

    from stack import Stack

QUERY = {"query": "{ __typename }"}


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "token-tests",
        "role": "admin",
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        **extra,
    }


@pytest.mark.parametrize("target", ["gateway", *SERVICES])
def test_every_malformed_token_is_401_at_the_gateway_and_each_subgraph(
    stack: Stack, target: str
) -> None:
    url = stack.gateway_url if target == "gateway" else stack.service_url(target)
    answers = {}
    for case, token in malformed_tokens(stack.signing_key, _claims()).items():
        response = httpx.post(
            url, json=QUERY, headers={"authorization": f"Bearer {token}"}, timeout=10
        )
        codes = [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]
        answers[case] = (response.status_code, codes)
    assert answers == {case: (401, ["UNAUTHENTICATED"]) for case in answers}


# --- a withdrawn key, at a subgraph ----------------------------------------------------------


class IdentityProvider:
    """A JWKS endpoint on a local port whose keys the test changes."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, private: rsa.RSAPrivateKey, kid: str) -> None:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        self.keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[IdentityProvider]:
    running = IdentityProvider()
    yield running
    running.close()


MAX_AGE_SECONDS = 1.0


async def test_a_subgraph_stops_trusting_a_key_withdrawn_from_the_jwks(
    postgres: EmbeddedPostgres, public_key_file: Path, provider: IdentityProvider
) -> None:
    """The subgraphs cached the provider's keys with no expiry: a withdrawn (compromised) key
    kept working until each service restarted. Now the set is fetched again once it is
    AUTH_JWKS_MAX_AGE_SECONDS old (ten minutes by default; one second here)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.publish(key, "2026-01")
    claims = _claims(iss=TEST_ISSUER, aud=TEST_AUDIENCE)
    token = jwt.encode(claims, key, "RS256", headers={"kid": "2026-01"})
    headers = {"authorization": f"Bearer {token}"}
    async with (
        running_service(
            PERFORMERS,
            postgres,
            public_key_file,
            auth_jwks_url=provider.url,
            auth_jwks_max_age_seconds=MAX_AGE_SECONDS,
        ) as app,
        client_for(app) as client,
    ):
        trusted = await client.post("/graphql", json=QUERY, headers=headers)
        assert trusted.json() == {"data": {"__typename": "Query"}}

        provider.keys.clear()  # the provider withdraws the key
        await asyncio.sleep(MAX_AGE_SECONDS + 0.2)
        refused = await client.post("/graphql", json=QUERY, headers=headers)

    assert refused.status_code == httpx.codes.UNAUTHORIZED
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["UNAUTHENTICATED"]


# --- production never trusts the development key ---------------------------------------------


def _start(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GATEWAY_", "PAYMENTS_", "RECORDS_", "PERFORMERS_"))
    }
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_in_production_refuses_the_development_key(stack: Stack, service: str) -> None:
    prefix = service.upper()
    result = _start(
        [sys.executable, "-m", service, "serve"],
        {
            f"{prefix}_ENVIRONMENT": "production",
            f"{prefix}_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
            f"{prefix}_AUTH_PUBLIC_KEY_FILE": str(stack.config.keys_dir / "public.pem"),
            f"{prefix}_AUTH_ALLOW_KEY_FILE": "true",
            f"{prefix}_PORT": "0",
        },
    )
    assert result.returncode != 0
    assert "is the development key; production never trusts it" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"GATEWAY_AUTH_ALLOW_KEY_FILE": "1"},
            "is the development key; production never trusts it",
            id="the development key, even allowed",
        ),
        pytest.param(
            {"GATEWAY_AUTH_PUBLIC_KEY_FILE": "OWN"},
            "set GATEWAY_AUTH_ALLOW_KEY_FILE=1",
            id="a key file not allowed",
        ),
        pytest.param(
            {
                "GATEWAY_AUTH_PUBLIC_KEY_FILE": "OWN",
                "GATEWAY_AUTH_ALLOW_KEY_FILE": "1",
                "GATEWAY_AUTH_ISSUER": TOKEN_ISSUER,
            },
            "production does not accept development tokens",
            id="the development issuer",
        ),
    ],
)
def test_a_gateway_in_production_refuses_development_trust(
    stack: Stack, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    own = tmp_path / "own.pem"
    own.write_bytes(SigningKey.generate().public_pem)
    settings = {
        "GATEWAY_ENVIRONMENT": "production",
        "GATEWAY_PORT": "0",
        "GATEWAY_AUTH_PUBLIC_KEY_FILE": str(stack.config.keys_dir / "public.pem"),
        **env,
    }
    if settings["GATEWAY_AUTH_PUBLIC_KEY_FILE"] == "OWN":
        settings["GATEWAY_AUTH_PUBLIC_KEY_FILE"] = str(own)
    result = _start(["node", str(ROOT / "gateway" / "server.mjs")], settings)
    assert result.returncode == 1
    assert result.stdout == ""
    assert message in result.stderr
